"""The demand letter PDF on its own: parsed back with pypdf; the same facts give the same bytes;
Japanese and Korean with the CJK font when the machine has it, else English that says why."""

from __future__ import annotations

import dataclasses
import io
from datetime import date
from decimal import Decimal

import pytest
from pypdf import PdfReader

from dunning.notify.content import demand_letter
from dunning.notify.content.demand_letter import LetterFacts, LetterInvoice, cjk_font, render_letter

FACTS = LetterFacts(
    locale="en",
    letter_date=date(2026, 4, 1),
    threshold_days=30,
    creditor_name="Acme GmbH",
    creditor_email="billing@acme.example",
    debtor_name="Globex SA",
    debtor_id="cus_1",
    invoices=[LetterInvoice("INV-1", 100_000, "EUR", date(2026, 3, 2), 30, 834, 4000)],
    pay_by=date(2026, 4, 15),
    pay_url="https://pay.example.com/i/1",
    payment_terms_days=30,
    statutory=True,
    interest_rate=Decimal("10.15"),
    reference_rate=Decimal("2.15"),
    margin_points=Decimal(8),
)


def text_of(pdf: bytes, *, cjk: bool = False) -> str:
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    # pypdf puts spaces (and NULs) between the glyphs of an embedded CID font; compare without.
    return "".join(text.replace("\x00", "").split()) if cjk else " ".join(text.split())


def test_the_letter_states_amounts_dates_interest_and_the_deadline() -> None:
    text = text_of(render_letter(FACTS))
    assert "Date: Apr 1, 2026" in text
    assert "Amount €1,000.00 | Interest €8.34 | Compensation €40.00" in text
    assert "Total due: €1,048.34" in text
    assert "Please pay €1,048.34 by Apr 15, 2026." in text


def test_the_same_facts_give_the_same_bytes() -> None:
    assert render_letter(FACTS) == render_letter(FACTS)
    assert render_letter(FACTS) != render_letter(dataclasses.replace(FACTS, letter_date=date(2026, 4, 2)))


def test_without_statutory_charges_the_letter_claims_none() -> None:
    plain = dataclasses.replace(
        FACTS,
        statutory=False,
        invoices=[LetterInvoice("INV-1", 100_000, "EUR", date(2026, 3, 2), 30, 0, 0)],
    )
    text = text_of(render_letter(plain))
    assert "Interest" not in text
    assert "Total due: €1,000.00" in text


@pytest.mark.skipif(cjk_font() is None, reason="no CJK font on this machine (Debian: fonts-noto-cjk)")
@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("ja", ["督促状", "ご請求総額", "2026/04/01", "€1,048.34"]),
        ("ko", ["독촉장", "청구 총액", "2026. 4. 1.", "€1,048.34"]),
    ],
)
def test_japanese_and_korean_letters_use_the_cjk_font(locale: str, expected: list[str]) -> None:
    text = text_of(render_letter(dataclasses.replace(FACTS, locale=locale)), cjk=True)
    for phrase in expected:
        assert "".join(phrase.split()) in text


def test_without_a_cjk_font_a_japanese_letter_is_english_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demand_letter, "cjk_font", lambda: None)
    text = text_of(render_letter(dataclasses.replace(FACTS, locale="ja")))
    assert "Demand for payment" in text
    assert "this letter is in English because no Japanese font is installed" in text


def test_a_name_no_font_can_print_is_refused_not_boxed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demand_letter, "cjk_font", lambda: None)
    with pytest.raises(demand_letter.LetterProblem):
        render_letter(dataclasses.replace(FACTS, debtor_name="株式会社グローベックス"))
