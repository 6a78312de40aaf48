"""Every email and SMS carries a way to opt out, whatever the tenant's template says."""

from __future__ import annotations

import html as html_text
import re
from typing import Final

from markupsafe import escape

from dunning.notify.content.phrases import email_opt_out_link_label, email_opt_out_text, sms_opt_out

# STOP as its own word; a CJK character right after it is fine ("STOPと返信").
_STOP_KEYWORD: Final = re.compile(r"(?<![A-Za-z])STOP(?![A-Za-z])")
# Inside the content column when there is one, else before </body>, else at the very end.
_CLOSERS: Final = (re.compile(r"</main\s*>", re.IGNORECASE), re.compile(r"</body\s*>", re.IGNORECASE))
_FOOTER_STYLE: Final = "margin-top:24px;font-size:12px;color:#555555;"


def email_text_with_opt_out(text: str, unsubscribe_url: str | None, locale: str) -> str:
    footer = email_opt_out_text(unsubscribe_url, locale)
    mechanism = footer if unsubscribe_url is None else unsubscribe_url
    if mechanism in text:
        return text
    return f"{text.rstrip()}\n\n{footer}"


def email_html_with_opt_out(html: str, unsubscribe_url: str | None, locale: str) -> str:
    if unsubscribe_url is None:
        reply = email_opt_out_text(None, locale)
        if html_text.escape(reply, quote=False) in html or reply in html:
            return html
        footer = f'<p style="{_FOOTER_STYLE}">{html_text.escape(reply, quote=False)}</p>'
    else:
        if str(escape(unsubscribe_url)) in html or unsubscribe_url in html:
            return html
        lead, label = email_opt_out_link_label(locale)
        footer = (
            f'<p style="{_FOOTER_STYLE}">{html_text.escape(lead, quote=False)} '
            f'<a href="{escape(unsubscribe_url)}">{html_text.escape(label, quote=False)}</a></p>'
        )
    for closer in _CLOSERS:
        ends = list(closer.finditer(html))
        if ends:
            cut = ends[-1].start()
            return f"{html[:cut]}{footer}\n{html[cut:]}"
    return f"{html.rstrip()}\n{footer}"


def sms_with_opt_out(text: str, locale: str) -> str:
    if _STOP_KEYWORD.search(text):
        return text
    return f"{text.rstrip()}\n{sms_opt_out(locale)}"
