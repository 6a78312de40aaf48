"""A B2B demand letter as PDF (fpdf2): creditor and debtor, every overdue invoice with statutory
interest and fixed compensation (Directive 2011/7/EU), the total, a deadline and how to pay.

Pure and deterministic: the same facts give the same bytes (the creation date is the letter's
date, not the wall clock). Japanese and Korean need a CJK font; without one on the machine the
letter is written in English and says so, rather than printing missing glyphs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from babel import Locale

from dunning.notify.content.formatting import format_day, format_money

if TYPE_CHECKING:
    from fpdf import FPDF

# Debian's fonts-noto-cjk; the collection's faces are JP (0) and KR (1).
CJK_FONT_FILES = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc"),
)
_CJK_FACE = {"ja": 0, "ko": 1}
_CORE_ENCODING = "windows-1252"  # Helvetica's encoding in fpdf2 once set: Latin-1 plus € and quotes


@dataclass(frozen=True, slots=True)
class LetterInvoice:
    reference: str  # the invoice number, else its id
    amount: int  # minor units
    currency: str
    due: date
    days_overdue: int
    interest: int
    compensation: int

    @property
    def total(self) -> int:
        return self.amount + self.interest + self.compensation


@dataclass(frozen=True, slots=True)
class LetterFacts:
    locale: str
    letter_date: date
    threshold_days: int
    creditor_name: str
    creditor_email: str | None
    debtor_name: str | None
    debtor_id: str
    invoices: Sequence[LetterInvoice]
    pay_by: date
    pay_url: str | None
    payment_terms_days: int | None
    statutory: bool  # interest and compensation apply (b2b and the policy turns them on)
    interest_rate: Decimal  # reference rate + margin, percent a year
    reference_rate: Decimal
    margin_points: Decimal

    def totals(self) -> dict[str, int]:
        owed: dict[str, int] = {}
        for invoice in self.invoices:
            owed[invoice.currency] = owed.get(invoice.currency, 0) + invoice.total
        return dict(sorted(owed.items()))


_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Demand for payment",
        "creditor": "Creditor",
        "debtor": "Debtor",
        "date": "Date",
        "customer": "Customer number",
        "intro": "Despite our reminders, the invoices below are still unpaid, the oldest one {days} days "
        "past its due date.",
        "statutory": "Under Directive 2011/7/EU on late payment in commercial transactions, statutory "
        "interest of {rate}% a year (the reference rate of {ref}% plus {margin} percentage points) "
        "runs from the day after each due date, and a fixed compensation of {comp} per invoice is due.",
        "invoice": "Invoice",
        "due": "Due",
        "days": "Days overdue",
        "amount": "Amount",
        "interest": "Interest",
        "compensation": "Compensation",
        "total": "Total due",
        "deadline": "Please pay {total} by {day}.",
        "pay_online": "Pay online: {url}",
        "terms": "Agreed payment terms: net {days} days.",
        "questions": "Questions: {email}",
        "after": "If payment is not received by then, we reserve the right to take further steps "
        "to recover the debt without further notice.",
        "fallback": "Note: this letter is in English because no {language} font is installed on the "
        "server that wrote it.",
    },
    "ja": {
        "title": "督促状",
        "creditor": "債権者",
        "debtor": "債務者",
        "date": "日付",
        "customer": "顧客番号",
        "intro": "再三のご案内にもかかわらず、下記の請求書が未払いです(最長で支払期日から{days}日経過)。",
        "statutory": "商取引における支払遅延に関するEU指令2011/7/EUに基づき、各支払期日の翌日から年{rate}%"
        "(基準金利{ref}%+{margin}ポイント)の法定遅延利息が発生し、請求書1件につき{comp}の定額補償金が"
        "発生します。",
        "invoice": "請求書",
        "due": "支払期日",
        "days": "経過日数",
        "amount": "金額",
        "interest": "利息",
        "compensation": "補償金",
        "total": "ご請求総額",
        "deadline": "{day}までに{total}をお支払いください。",
        "pay_online": "オンラインでのお支払い: {url}",
        "terms": "お支払い条件: 請求後{days}日以内。",
        "questions": "お問い合わせ: {email}",
        "after": "期日までにお支払いが確認できない場合、予告なく債権回収の手続きに移ることがあります。",
        "fallback": "",
    },
    "ko": {
        "title": "독촉장",
        "creditor": "채권자",
        "debtor": "채무자",
        "date": "일자",
        "customer": "고객 번호",
        "intro": "여러 차례 안내에도 불구하고 아래 청구서가 미납 상태입니다"
        "(가장 오래된 청구서는 지급 기일로부터 {days}일 경과).",
        "statutory": "상거래 지급 지연에 관한 EU 지침 2011/7/EU에 따라 각 지급 기일 다음 날부터 연 {rate}%"
        "(기준 금리 {ref}% + {margin}%포인트)의 법정 지연 이자가 발생하며, 청구서 1건당 {comp}의 정액 "
        "보상금이 발생합니다.",
        "invoice": "청구서",
        "due": "지급 기일",
        "days": "경과 일수",
        "amount": "금액",
        "interest": "이자",
        "compensation": "보상금",
        "total": "청구 총액",
        "deadline": "{day}까지 {total}을(를) 지급해 주십시오.",
        "pay_online": "온라인 결제: {url}",
        "terms": "지급 조건: 청구 후 {days}일 이내.",
        "questions": "문의: {email}",
        "after": "기한까지 지급이 확인되지 않으면 별도 통지 없이 채권 회수 절차를 진행할 수 있습니다.",
        "fallback": "",
    },
}
_LANGUAGE = {"ja": "Japanese", "ko": "Korean"}


@cache
def cjk_font() -> Path | None:
    """The CJK font collection on this machine, if any."""
    return next((path for path in CJK_FONT_FILES if path.is_file()), None)


@cache
def _cjk_coverage(path: Path, face: int) -> frozenset[int]:
    from fontTools.ttLib import TTFont  # type: ignore[import-untyped]  # see render_letter

    font = TTFont(path, fontNumber=face, lazy=True)
    return frozenset(font.getBestCmap())


def letter_language(locale: str) -> str:
    """The language a letter is written in: its locale, or English for ja/ko without a CJK font."""
    if locale in _CJK_FACE and cjk_font() is None:
        return "en"
    return locale if locale in _WORDS else "en"


def render_letter(facts: LetterFacts) -> bytes:
    language = letter_language(facts.locale)
    words = _WORDS[language]
    lines = _lines(facts, language, words)
    # Imported here: fpdf2 takes a second or two to import, and every role loads this module.
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_creation_date(datetime.combine(facts.letter_date, time(0), UTC))
    pdf.set_title(words["title"])
    pdf.set_author(facts.creditor_name)
    pdf.set_producer("Dunning")
    family = _choose_font(pdf, language, "\n".join(text for _, text in lines))
    pdf.set_margins(20, 20, 20)
    pdf.add_page()
    for style, text in lines:
        size = {"title": 16, "head": 10, "row": 9}.get(style, 10)
        pdf.set_font(family, size=size)
        if text:
            pdf.multi_cell(0, size * 0.55, text)
        pdf.ln(size * 0.3 if style == "row" else size * 0.6)
    return bytes(pdf.output())


def letter_text(facts: LetterFacts) -> tuple[str, str]:
    """The email's subject and plain text: the letter itself, for readers who do not open the PDF."""
    language = letter_language(facts.locale)
    words = _WORDS[language]
    lines = _lines(facts, language, words)
    subject = f"{words['title']}: {facts.creditor_name}"
    return subject, "\n\n".join(text for style, text in lines[1:] if text) + "\n"


def _choose_font(pdf: FPDF, language: str, text: str) -> str:
    """Helvetica when it can print every character, else the CJK font; never a missing glyph."""
    path = cjk_font()
    if language in _CJK_FACE and path is not None:
        pdf.add_font("cjk", fname=str(path), collection_font_number=_CJK_FACE[language])
        return "cjk"
    try:
        text.encode(_CORE_ENCODING)
    except UnicodeEncodeError:
        # A name in another script (a Japanese debtor in an English letter): the CJK font covers
        # Latin too; a character no font here has is refused rather than printed as a box.
        if path is None or any(ord(c) not in _cjk_coverage(path, 0) for c in text if c not in "\n"):
            raise LetterProblem("the letter holds characters no installed font can print") from None
        pdf.add_font("cjk", fname=str(path), collection_font_number=0)
        return "cjk"
    pdf.core_fonts_encoding = _CORE_ENCODING
    return "helvetica"


class LetterProblem(ValueError):
    """The letter cannot be printed faithfully."""


def _lines(facts: LetterFacts, language: str, words: dict[str, str]) -> list[tuple[str, str]]:
    loc = Locale.parse(language)

    def money(minor: int, currency: str) -> str:
        return format_money(minor, currency, loc)

    def day(value: date) -> str:
        return format_day(value, loc)

    debtor = facts.debtor_name or facts.debtor_id
    creditor = facts.creditor_name + (f" <{facts.creditor_email}>" if facts.creditor_email else "")
    oldest = max((i.days_overdue for i in facts.invoices), default=facts.threshold_days)
    lines: list[tuple[str, str]] = [
        ("title", words["title"]),
        ("head", f"{words['creditor']}: {creditor}"),
        ("head", f"{words['debtor']}: {debtor} ({words['customer']}: {facts.debtor_id})"),
        ("head", f"{words['date']}: {day(facts.letter_date)}"),
        ("text", words["intro"].format(days=oldest)),
    ]
    if facts.statutory:
        compensations = sorted({(i.currency, i.compensation) for i in facts.invoices if i.compensation})
        comp = ", ".join(money(amount, cur) for cur, amount in compensations) or money(0, "EUR")
        lines.append(
            (
                "text",
                words["statutory"].format(
                    rate=facts.interest_rate, ref=facts.reference_rate, margin=facts.margin_points, comp=comp
                ),
            )
        )
    for invoice in facts.invoices:
        parts = [
            f"{words['invoice']} {invoice.reference}",
            f"{words['due']} {day(invoice.due)}",
            f"{words['days']} {invoice.days_overdue}",
            f"{words['amount']} {money(invoice.amount, invoice.currency)}",
        ]
        if facts.statutory:
            parts += [
                f"{words['interest']} {money(invoice.interest, invoice.currency)}",
                f"{words['compensation']} {money(invoice.compensation, invoice.currency)}",
            ]
        lines.append(("row", " | ".join(parts)))
    total = ", ".join(money(amount, cur) for cur, amount in facts.totals().items())
    lines += [
        ("head", f"{words['total']}: {total}"),
        ("text", words["deadline"].format(total=total, day=day(facts.pay_by))),
    ]
    if facts.pay_url:
        lines.append(("text", words["pay_online"].format(url=facts.pay_url)))
    if facts.payment_terms_days:
        lines.append(("text", words["terms"].format(days=facts.payment_terms_days)))
    if facts.creditor_email:
        lines.append(("text", words["questions"].format(email=facts.creditor_email)))
    lines.append(("text", words["after"]))
    if language != facts.locale and facts.locale in _LANGUAGE:
        lines.append(("text", words["fallback"].format(language=_LANGUAGE[facts.locale])))
    return lines
