"""Our own wording for every message, channel and language, used until a tenant writes their own."""

from __future__ import annotations

import html
import re
from functools import cache
from importlib.resources import files
from typing import Final

from dunning.notify.content.locales import negotiate_locale
from dunning.notify.content.render import TemplateSource
from dunning.notify.domain.channels import Channel, TemplateName

__all__ = ["default_template", "negotiate_locale"]

# Wording lives in wording/<locale>/<template>.txt as "=== section ===" blocks, so translators
# edit prose, not Python. _layout.txt holds what every message of a language shares.
_SECTION: Final = re.compile(r"^=== (\w+) ===\n", re.MULTILINE)
_PLACEHOLDER: Final = re.compile(r"<<(\w+)>>")
_JINJA_TAG: Final = re.compile(r"(\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\})", re.DOTALL)
_BRANCH_TAG: Final = re.compile(r"\{%-?\s*(if|elif|else|endif)\b")

_FONTS: Final = {
    "en": "-apple-system,'Segoe UI',Helvetica,Arial,sans-serif",
    "ja": "'Hiragino Sans','Hiragino Kaku Gothic ProN',Meiryo,sans-serif",
    "ko": "'Apple SD Gothic Neo','Malgun Gothic',sans-serif",
}
_PARAGRAPH_STYLE: Final = "margin:0 0 16px;"
_BUTTON_STYLE: Final = (
    "display:inline-block;padding:12px 20px;background-color:#1a56db;color:#ffffff;"
    "text-decoration:none;border-radius:6px;font-weight:bold;"
)
_LINK_STYLE: Final = "color:#1a56db;text-decoration:underline;"
_PRE_DUNNING: Final = frozenset({TemplateName.CARD_EXPIRING, TemplateName.UPCOMING_RENEWAL})


def default_template(template: TemplateName, channel: Channel, locale: str) -> TemplateSource:
    """The default source for a message; a locale we have no wording for gets English."""
    return _compose(template, channel, negotiate_locale([locale]))


@cache
def _compose(template: TemplateName, channel: Channel, lang: str) -> TemplateSource:
    layout = _sections(lang, "_layout")
    wording = _sections(lang, template.value)
    body = _PLACEHOLDER.sub(lambda m: layout[m.group(1)], wording["body"])
    # Messages about money owed lead to the customer's self-service page (pay, promise, plan,
    # dispute) when there is one; the processor's hosted invoice stays as a direct "pay" link.
    # SMS keeps the shorter hosted link: the page's link would cost a second segment.
    owed = template not in _PRE_DUNNING
    link = "self_service_url or update_payment_url" if owed else "update_payment_url"
    action = f"{{% if {link} %}}" + layout["action_line"].replace("<<action>>", wording["action"])
    action = action.replace("<<link>>", f"{{{{ {link} }}}}") + "{% endif %}"
    if owed:
        action += "\n\n{% if self_service_url %}" + layout["options_line"] + "{% endif %}"
        action += "\n\n{% if self_service_url and update_payment_url %}" + layout["pay_now_line"]
        action += "{% endif %}"
    if channel is Channel.SMS:
        return TemplateSource(subject=None, text=wording["sms"], html=None)
    if channel is Channel.IN_APP:
        return TemplateSource(subject=wording["subject"], text=_join(body, action), html=None)
    if channel is Channel.WEBHOOK:
        # The platform sends it under its own name, so no sign-off of ours.
        text = _join(layout["greeting"], body, action, layout["support"])
        return TemplateSource(subject=wording["subject"], text=text, html=None)
    text = _join(layout["greeting"], body, action, layout["support"], layout["signoff"])
    button = (
        f'{{% if {link} %}}<p style="margin:24px 0;"><a href="{{{{ {link} }}}}" '
        f'style="{_BUTTON_STYLE}">{_escape_literal(wording["action"])}</a></p>\n{{% endif %}}'
    )
    if owed:
        button += (
            f'{{% if self_service_url %}}<p style="{_PARAGRAPH_STYLE}">'
            f"{_escape_literal(layout['options_line'])}</p>\n{{% endif %}}"
            f'{{% if self_service_url and update_payment_url %}}<p style="{_PARAGRAPH_STYLE}">'
            f'<a href="{{{{ update_payment_url }}}}" style="{_LINK_STYLE}">'
            f"{_escape_literal(layout['pay_now_link'])}</a></p>\n{{% endif %}}"
        )
    paragraphs = [
        *_html_paragraphs(layout["greeting"]),
        *_html_paragraphs(body),
        button,
        *_html_paragraphs(layout["support"]),
        *_html_paragraphs(layout["signoff"]),
    ]
    page = _html_page(lang, wording["subject"], "".join(paragraphs))
    return TemplateSource(subject=wording["subject"], text=text, html=page)


@cache
def _sections(lang: str, name: str) -> dict[str, str]:
    source = files("dunning.notify.content").joinpath("wording", lang, f"{name}.txt").read_text("utf-8")
    pieces = _SECTION.split(source)
    # split() yields [preamble, name, body, name, body, ...]; the preamble is empty by convention.
    return {key: content.strip("\n") for key, content in zip(pieces[1::2], pieces[2::2], strict=True)}


def _join(*paragraphs: str) -> str:
    return "\n\n".join(paragraphs)


def _escape_literal(source: str) -> str:
    """Escape the prose of a Jinja source for HTML, leaving its tags alone (they autoescape)."""
    parts = _JINJA_TAG.split(source)
    return "".join(part if i % 2 else html.escape(part, quote=False) for i, part in enumerate(parts))


def _html_paragraphs(source: str) -> list[str]:
    """One <p> per blank-line-separated paragraph of a text source; line breaks become <br>.

    Each paragraph carries its own trailing newline, inside its condition when it has one, so a
    paragraph that is left out leaves neither an empty <p> nor a blank line behind.
    """
    out = []
    for chunk in re.split(r"\n\s*\n", source.strip()):
        chunk = chunk.strip()
        if not chunk:
            continue
        lines = _escape_literal(chunk).replace("\n", "<br>\n")
        condition = _whole_paragraph_condition(chunk)
        if condition is None:
            out.append(f'<p style="{_PARAGRAPH_STYLE}">{lines}</p>\n')
        else:
            opening, inner = condition
            inner_html = _escape_literal(inner).replace("\n", "<br>\n")
            out.append(f'{opening}<p style="{_PARAGRAPH_STYLE}">{inner_html}</p>\n{{% endif %}}')
    return out


def _whole_paragraph_condition(chunk: str) -> tuple[str, str] | None:
    """For '{% if x %}...{% endif %}' spanning the whole paragraph (no else): the opening tag and inside."""
    tags = list(_BRANCH_TAG.finditer(chunk))
    if not tags or tags[0].start() != 0 or tags[0].group(1) != "if" or not chunk.endswith("%}"):
        return None
    depth = 0
    for tag in tags:
        kind = tag.group(1)
        depth += {"if": 1, "endif": -1}.get(kind, 0)
        if depth == 1 and kind in ("else", "elif"):
            return None
        if depth == 0 and tag is not tags[-1]:
            return None
    last = tags[-1]
    if last.group(1) != "endif" or chunk.find("%}", last.start()) + 2 != len(chunk):
        return None
    opening_end = chunk.index("%}") + 2
    return chunk[:opening_end], chunk[opening_end : last.start()]


def _html_page(lang: str, subject: str, content: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_escape_literal(subject)}</title>\n</head>\n"
        f'<body style="margin:0;padding:24px 16px;background-color:#ffffff;color:#1f2328;'
        f'font-family:{_FONTS[lang]};font-size:16px;line-height:1.6;">\n'
        f'<main style="max-width:560px;margin:0 auto;">\n{content}</main>\n</body>\n</html>\n'
    )
