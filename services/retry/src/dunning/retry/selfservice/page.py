"""What the self-service page shows for a case, in the visitor's language, and the HTML around it:
Jinja2 with autoescaping, one stylesheet inlined under a CSP hash, no script anywhere."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib.resources import files
from typing import Any, Final
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

from dunning.common.selfservice_link import SelfServiceLinks
from dunning.retry.collections.service import MAX_DISPUTE_DETAILS, SelfServiceView
from dunning.retry.selfservice.wording import LANGUAGES, Wording

FORMS: Final = ("method", "promise", "plan", "dispute")
DONE: Final = ("promise", "plan", "dispute")
_UNPAID: Final = frozenset({"open", "paused", "exhausted"})

_CSS: Final = files("dunning.retry.selfservice").joinpath("templates", "page.css").read_text("utf-8").strip()
_CSS_HASH: Final = base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()
# No script-src at all: default-src 'none' forbids every script. The payment-method form's
# answer redirects to the processor's page, and form-action also governs that redirect.
CONTENT_SECURITY_POLICY: Final = (
    f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; img-src 'self'; "
    "form-action 'self' https:; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
}

_templates = Environment(
    loader=PackageLoader("dunning.retry.selfservice", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def state_of(view: SelfServiceView) -> str:
    """What a form was shown against: a form sent after this changed is a replay or stale."""
    plan = "plan" if view.plan else ""
    return "|".join((view.status, str(view.promise_by or ""), plan, view.dispute_reason or ""))


def local_today(view: SelfServiceView, now: datetime) -> date:
    try:
        zone = ZoneInfo(view.time_zone) if view.time_zone else UTC
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    return now.astimezone(zone).date()


@dataclass(slots=True)
class PageInput:
    """What the visitor sent, shown back with the errors beside the fields it concerns."""

    errors: dict[str, str] = field(default_factory=dict)
    general_error: str | None = None
    pay_by: str = ""
    instalments: str = ""
    reason: str = ""
    details: str = ""


def page_url(token: str, lang_override: str | None, **query: str) -> str:
    params = {**({"lang": lang_override} if lang_override else {}), **query}
    return f"/pay/{token}" + (f"?{urlencode(params)}" if params else "")


def _reason(view: SelfServiceView, t: Wording) -> str:
    kind = view.reason_kind or "none"
    return t(f"reason.{kind}") if t.has(f"reason.{kind}") else t("reason.none")


def _states(view: SelfServiceView, t: Wording, merchant: str) -> list[str]:
    lines = []
    if view.status == "recovered":
        lines.append(t("state.recovered"))
    elif view.status not in _UNPAID:
        lines.append(t("state.closed"))
    if view.dispute_reason:
        reason = t(f"dispute.{view.dispute_reason}") if t.has(f"dispute.{view.dispute_reason}") else ""
        lines.append(t("state.dispute", reason=reason or view.dispute_reason, merchant=merchant))
    if view.promise_by:
        lines.append(t("state.promise", date=t.day(view.promise_by)))
    if view.plan:
        lines.append(t("state.plan"))
    return lines


def render_page(
    *,
    view: SelfServiceView,
    token: str,
    links: SelfServiceLinks,
    t: Wording,
    merchant: str,
    lang_override: str | None,
    now: datetime,
    done: str | None = None,
    given: PageInput | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    given = given or PageInput()
    state = state_of(view)
    today = local_today(view, now)
    unpaid = view.status in _UNPAID
    forms = {
        "method": unpaid and bool(view.customer_id or view.hosted_invoice_url),
        "promise": view.promise_latest is not None,
        "plan": bool(view.plan_options),
        "dispute": bool(view.dispute_reasons),
    }
    name = (view.customer_name or "").strip()
    context: dict[str, Any] = {
        "t": t,
        "lang": t.lang,
        "css": _CSS,
        "title": t("page_title", merchant=merchant),
        "merchant": merchant,
        "greeting": t("greeting", name=name) if name else t("greeting_anonymous"),
        "amount": t.money(view.amount_due, view.currency) if view.currency else "",
        "invoice_number": view.invoice_number,
        "due_date": t.day(view.due_date) if view.due_date else None,
        "reason": _reason(view, t) if unpaid else None,
        "states": _states(view, t, merchant),
        "plan_rows": [
            {
                "number": row.number,
                "due": t.day(row.due),
                "amount": t.money(row.amount, view.currency),
                "status": t(f"instalment.{row.status}") if t.has(f"instalment.{row.status}") else row.status,
            }
            for row in view.plan or []
        ],
        "done": t(f"done.{done}", merchant=merchant) if done in DONE else None,
        "errors": given.errors,
        "general_error": given.general_error,
        "forms": {
            form: links.form_token(token, form, "" if form == "method" else state) if shown else None
            for form, shown in forms.items()
        },
        "actions": {name: page_url(f"{token}/{name}", lang_override) for name in FORMS},
        "promise": {
            "min": today.isoformat(),
            "max": view.promise_latest.isoformat() if view.promise_latest else "",
            "hint": t("promise_hint", latest=t.day(view.promise_latest)) if view.promise_latest else "",
            "value": given.pay_by,
        },
        "plan_options": [
            {
                "value": option.instalments,
                "checked": given.instalments == str(option.instalments),
                "label": t(
                    "plan_option",
                    count=option.instalments,
                    amount=t.money(option.amount_each, view.currency),
                    first=t.day(option.first_due),
                    last=t.day(option.last_due),
                ),
            }
            for option in view.plan_options
        ],
        "dispute_options": [
            {
                "value": reason,
                "checked": given.reason == reason,
                "label": t(f"dispute.{reason}") if t.has(f"dispute.{reason}") else reason,
            }
            for reason in view.dispute_reasons
        ],
        "details": given.details,
        "details_max": MAX_DISPUTE_DETAILS,
        "languages": [
            {
                "code": code,
                "name": Wording(code).language_name(),
                "current": code == t.lang,
                "url": page_url(token, code),
            }
            for code in LANGUAGES
        ],
    }
    html = _templates.get_template("page.html").render(context)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def render_error(
    t: Wording,
    kind: str,
    status_code: int,
    *,
    back_url: str | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A page that says what went wrong in the visitor's language; kind: invalid, expired, form, ..."""
    html = _templates.get_template("error.html").render(
        t=t,
        lang=t.lang,
        css=_CSS,
        title=t(f"page.{kind}.title"),
        body=t(f"page.{kind}.body"),
        back_url=back_url,
    )
    return HTMLResponse(html, status_code=status_code, headers={**SECURITY_HEADERS, **(headers or {})})
