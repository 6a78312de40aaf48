"""Render a (possibly tenant-supplied) template with a case's facts into a message ready to send."""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any, Final

from babel import Locale
from jinja2 import TemplateSyntaxError, UndefinedError, meta
from jinja2.exceptions import SecurityError

from dunning.notify.content.facts import MessageFacts, sample_facts
from dunning.notify.content.locales import FALLBACK_LOCALE, babel_locale
from dunning.notify.content.optout import email_html_with_opt_out, email_text_with_opt_out, sms_with_opt_out
from dunning.notify.content.sandbox import message_environment
from dunning.notify.content.sms import sms_segments
from dunning.notify.content.variables import KNOWN_VARIABLES, template_variables
from dunning.notify.domain.channels import Channel

__all__ = ["RenderedMessage", "TemplateProblem", "TemplateSource", "render", "sms_segments", "validate"]

_BLANK_RUN: Final = re.compile(r"\n{3,}")
_TRAILING_SPACE: Final = re.compile(r"[ \t]+\n")
_ANY_WHITESPACE: Final = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class TemplateSource:
    """Jinja2 source for each part of a message; html only for email, subject not for SMS."""

    subject: str | None
    text: str
    html: str | None


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    subject: str | None
    text: str
    html: str | None


class TemplateProblem(Exception):
    """A template that cannot be rendered; the message is meant for the tenant who wrote it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def render(source: TemplateSource, facts: MessageFacts, *, locale: str, channel: Channel) -> RenderedMessage:
    """Render every part, then make sure an email or SMS says how to opt out."""
    if channel is Channel.EMAIL and not (source.subject or "").strip():
        raise TemplateProblem("subject: an email needs a subject")
    babel = babel_locale(locale)
    variables = template_variables(facts, babel)
    subject = None
    if source.subject is not None and channel is not Channel.SMS:
        # One line, always: a newline in a subject would be a header injection in the mailer.
        subject = _ANY_WHITESPACE.sub(
            " ", _run("subject", source.subject, variables, babel, html=False)
        ).strip()
    text = _tidy(_run("text", source.text, variables, babel, html=False))
    html = None
    if source.html is not None and channel is Channel.EMAIL:
        html = _run("html", source.html, variables, babel, html=True)
    if channel is Channel.EMAIL:
        text = email_text_with_opt_out(text, facts.unsubscribe_url, locale)
        if html is not None:
            html = email_html_with_opt_out(html, facts.unsubscribe_url, locale)
    elif channel is Channel.SMS:
        text = sms_with_opt_out(text, locale)
    return RenderedMessage(subject=subject, text=text, html=html)


def validate(source: TemplateSource, channel: Channel) -> list[str]:
    """Everything wrong with a tenant's template, in words they can act on; empty means it will render."""
    problems = _shape_problems(source, channel)
    env = message_environment(babel_locale(FALLBACK_LOCALE), html=False)
    allowed = KNOWN_VARIABLES | env.globals.keys()
    for part, src in _parts(source):
        try:
            # Analysing the tree compiles it, which is where unknown filters and tests surface.
            used = meta.find_undeclared_variables(env.parse(src))
        except TemplateSyntaxError as exc:
            problems.append(_syntax_message(part, exc))
            continue
        for name in sorted(used - allowed):
            hint = get_close_matches(name, sorted(KNOWN_VARIABLES), n=1)
            suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
            problems.append(f"{part}: unknown variable '{name}'{suggestion}")
    if problems:
        return problems
    # Statically fine; a trial run finds the rest (unknown filters, sandbox refusals, type errors),
    # with every optional fact present and with every optional fact missing.
    minimal = MessageFacts(merchant_name="Acme", amount=1000, currency="USD")
    for facts in (sample_facts(FALLBACK_LOCALE), minimal):
        try:
            render(source, facts, locale=FALLBACK_LOCALE, channel=channel)
        except TemplateProblem as exc:
            if exc.message not in problems:
                problems.append(exc.message)
    return problems


def _shape_problems(source: TemplateSource, channel: Channel) -> list[str]:
    problems = []
    if channel is Channel.EMAIL and not (source.subject or "").strip():
        problems.append("subject: an email needs a subject")
    if not source.text.strip():
        problems.append("text: the plain-text part is empty")
    if channel is Channel.SMS:
        if source.subject is not None:
            problems.append("subject: an SMS has no subject; remove it")
        if source.html is not None:
            problems.append("html: an SMS is plain text only; remove the HTML part")
    elif channel is not Channel.EMAIL and source.html is not None:
        problems.append(f"html: the {channel.value} channel does not use an HTML part; remove it")
    return problems


def _parts(source: TemplateSource) -> list[tuple[str, str]]:
    parts = [("subject", source.subject), ("text", source.text), ("html", source.html)]
    return [(name, src) for name, src in parts if src is not None]


def _run(part: str, src: str, variables: dict[str, Any], locale: Locale, *, html: bool) -> str:
    env = message_environment(locale, html=html)
    try:
        return env.from_string(src).render(variables)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(_syntax_message(part, exc)) from exc
    except SecurityError as exc:
        raise TemplateProblem(f"{part}: not allowed in a template: {exc}") from exc
    except UndefinedError as exc:
        raise TemplateProblem(f"{part}: {exc.message}") from exc
    except Exception as exc:
        # Tenant-written expressions can raise anything (1/0, "a" + 1, runaway recursion); each is
        # a defect of that template, not of the service, and the caller needs one type to report.
        raise TemplateProblem(f"{part}: {type(exc).__name__}: {exc}") from exc


def _syntax_message(part: str, exc: TemplateSyntaxError) -> str:
    return f"{part}: line {exc.lineno}: {exc.message}"


def _tidy(text: str) -> str:
    """Plain text without the blank-line runs left by false {% if %} paragraphs."""
    text = _TRAILING_SPACE.sub("\n", text.replace("\r\n", "\n"))
    return _BLANK_RUN.sub("\n\n", text).strip()
