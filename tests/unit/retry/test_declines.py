"""Decline classification: every code in the tables, advice precedence, unknown and malformed input."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dunning.retry.domain import DeclineCategory, RetryTiming, classify_decline
from dunning.retry.domain.decline_codes import (
    MASTERCARD_ADVICE_CODES,
    STRIPE_ADVICE_CODES,
    STRIPE_DECLINE_CODES,
    STRIPE_FAILURE_CODES,
    VISA_ADVICE_CODES,
)

NEVER = DeclineCategory.NEVER
CUSTOMER = DeclineCategory.CUSTOMER_ACTION
SOFT = DeclineCategory.SOFT

# Written out by hand, not derived from the tables, so a changed table entry fails here.
EXPECTED_DECLINE_CODES: dict[str, tuple[DeclineCategory, RetryTiming]] = {
    "stolen_card": (NEVER, RetryTiming.NONE),
    "lost_card": (NEVER, RetryTiming.NONE),
    "pickup_card": (NEVER, RetryTiming.NONE),
    "fraudulent": (NEVER, RetryTiming.NONE),
    "merchant_blacklist": (NEVER, RetryTiming.NONE),
    "restricted_card": (NEVER, RetryTiming.NONE),
    "security_violation": (NEVER, RetryTiming.NONE),
    "revocation_of_authorization": (NEVER, RetryTiming.NONE),
    "revocation_of_all_authorizations": (NEVER, RetryTiming.NONE),
    "stop_payment_order": (NEVER, RetryTiming.NONE),
    "invalid_account": (NEVER, RetryTiming.NONE),
    "transaction_not_allowed": (NEVER, RetryTiming.NONE),
    "not_permitted": (NEVER, RetryTiming.NONE),
    "service_not_allowed": (NEVER, RetryTiming.NONE),
    "do_not_try_again": (NEVER, RetryTiming.NONE),
    "testmode_decline": (NEVER, RetryTiming.NONE),
    "test_mode_live_card": (NEVER, RetryTiming.NONE),
    "expired_card": (CUSTOMER, RetryTiming.NONE),
    "incorrect_cvc": (CUSTOMER, RetryTiming.NONE),
    "invalid_cvc": (CUSTOMER, RetryTiming.NONE),
    "incorrect_number": (CUSTOMER, RetryTiming.NONE),
    "invalid_number": (CUSTOMER, RetryTiming.NONE),
    "incorrect_zip": (CUSTOMER, RetryTiming.NONE),
    "invalid_expiry_month": (CUSTOMER, RetryTiming.NONE),
    "invalid_expiry_year": (CUSTOMER, RetryTiming.NONE),
    "authentication_required": (CUSTOMER, RetryTiming.NONE),
    "card_not_supported": (CUSTOMER, RetryTiming.NONE),
    "currency_not_supported": (CUSTOMER, RetryTiming.NONE),
    "invalid_amount": (CUSTOMER, RetryTiming.NONE),
    "new_account_information_available": (CUSTOMER, RetryTiming.NONE),
    "incorrect_pin": (CUSTOMER, RetryTiming.NONE),
    "invalid_pin": (CUSTOMER, RetryTiming.NONE),
    "offline_pin_required": (CUSTOMER, RetryTiming.NONE),
    "online_or_offline_pin_required": (CUSTOMER, RetryTiming.NONE),
    "pin_try_exceeded": (CUSTOMER, RetryTiming.NONE),
    "insufficient_funds": (SOFT, RetryTiming.PAYDAY),
    "card_velocity_exceeded": (SOFT, RetryTiming.PAYDAY),
    "withdrawal_count_limit_exceeded": (SOFT, RetryTiming.SPACED),
    "processing_error": (SOFT, RetryTiming.SOON),
    "try_again_later": (SOFT, RetryTiming.SOON),
    "issuer_not_available": (SOFT, RetryTiming.SOON),
    "reenter_transaction": (SOFT, RetryTiming.SOON),
    "approve_with_id": (SOFT, RetryTiming.SOON),
    "do_not_honor": (SOFT, RetryTiming.SPACED),
    "generic_decline": (SOFT, RetryTiming.SPACED),
    "no_action_taken": (SOFT, RetryTiming.SPACED),
    "call_issuer": (SOFT, RetryTiming.SPACED),
    "duplicate_transaction": (SOFT, RetryTiming.SPACED),
}

EXPECTED_FAILURE_CODES: dict[str, DeclineCategory] = {
    "card_declined": SOFT,
    "incorrect_address": CUSTOMER,
    "postal_code_invalid": CUSTOMER,
    "payment_intent_authentication_failure": CUSTOMER,
    "setup_intent_authentication_failure": CUSTOMER,
    "payment_intent_action_required": CUSTOMER,
    "invoice_payment_intent_requires_action": CUSTOMER,
    "card_decline_rate_limit_exceeded": SOFT,
    "rate_limit": SOFT,
    "lock_timeout": SOFT,
    "payment_method_provider_timeout": SOFT,
    "payment_method_not_available": SOFT,
    "payment_method_provider_decline": SOFT,
    "generic_could_not_process": SOFT,
    "expired_payment_method": CUSTOMER,
    "payment_method_unactivated": CUSTOMER,
    "payment_method_customer_decline": CUSTOMER,
    "refer_to_customer": CUSTOMER,
    "billing_invalid_mandate": CUSTOMER,
    "payment_intent_mandate_invalid": CUSTOMER,
    "account_closed": NEVER,
    "no_account": NEVER,
    "account_frozen": NEVER,
    "bank_account_restricted": NEVER,
    "bank_account_unusable": NEVER,
    "bank_account_declined": NEVER,
    "bank_ownership_changed": NEVER,
    "invalid_account_number": CUSTOMER,
    "account_number_invalid": CUSTOMER,
    "routing_number_invalid": CUSTOMER,
    "bank_account_bad_routing_numbers": CUSTOMER,
    "debit_not_authorized": NEVER,
    "india_recurring_payment_mandate_canceled": NEVER,
}

EXPECTED_MASTERCARD: dict[str, tuple[DeclineCategory, timedelta | None]] = {
    "01": (CUSTOMER, None),
    "02": (SOFT, timedelta(hours=72)),
    "03": (NEVER, None),
    "04": (CUSTOMER, None),
    "21": (NEVER, None),
    "22": (CUSTOMER, None),
    "24": (SOFT, timedelta(hours=1)),
    "25": (SOFT, timedelta(hours=24)),
    "26": (SOFT, timedelta(days=2)),
    "27": (SOFT, timedelta(days=4)),
    "28": (SOFT, timedelta(days=6)),
    "29": (SOFT, timedelta(days=8)),
    "30": (SOFT, timedelta(days=10)),
}


def test_every_table_entry_has_a_written_expectation() -> None:
    assert set(STRIPE_DECLINE_CODES) == set(EXPECTED_DECLINE_CODES)
    assert set(STRIPE_FAILURE_CODES) == set(EXPECTED_FAILURE_CODES)
    assert set(MASTERCARD_ADVICE_CODES) == set(EXPECTED_MASTERCARD)
    assert set(STRIPE_ADVICE_CODES) == {"do_not_try_again", "confirm_card_data", "try_again_later"}
    assert set(VISA_ADVICE_CODES) == {"1", "2", "3"}


@pytest.mark.parametrize(("code", "expected"), sorted(EXPECTED_DECLINE_CODES.items()))
def test_stripe_decline_code(code: str, expected: tuple[DeclineCategory, RetryTiming]) -> None:
    advice = classify_decline(decline_code=code, failure_code="card_declined")
    category, timing = expected
    assert advice.category is category
    assert advice.timing is timing
    assert advice.code == code
    assert advice.reason.startswith(f"{code}: ")
    assert advice.retry_same_method is (category is SOFT)
    assert advice.try_other_methods is (category is not SOFT)
    if category is not SOFT:
        assert advice.ask_customer


@pytest.mark.parametrize(("code", "category"), sorted(EXPECTED_FAILURE_CODES.items()))
def test_failure_code_without_decline_code(code: str, category: DeclineCategory) -> None:
    advice = classify_decline(failure_code=code)
    assert advice.category is category
    assert advice.code == code


@pytest.mark.parametrize(("mac", "expected"), sorted(EXPECTED_MASTERCARD.items()))
def test_mastercard_advice_overrides_a_soft_decline_code(
    mac: str, expected: tuple[DeclineCategory, timedelta | None]
) -> None:
    advice = classify_decline(decline_code="do_not_honor", network_advice_code=mac, card_brand="mastercard")
    category, min_wait = expected
    assert advice.category is category
    assert advice.min_wait == min_wait
    assert f"Mastercard advice {mac}" in advice.reason


def test_mastercard_retry_after_keeps_payday_timing_for_missing_funds() -> None:
    advice = classify_decline(
        decline_code="insufficient_funds", network_advice_code="27", card_brand="MasterCard"
    )
    assert advice.category is SOFT
    assert advice.timing is RetryTiming.PAYDAY
    assert advice.min_wait == timedelta(days=4)


def test_mastercard_do_not_try_again_overrides_insufficient_funds() -> None:
    advice = classify_decline(
        decline_code="insufficient_funds", network_advice_code="03", card_brand="mastercard"
    )
    assert advice.category is NEVER
    assert not advice.retry_same_method
    assert "overrides insufficient_funds" in advice.reason


def test_mac_payment_cancellation_is_never() -> None:
    advice = classify_decline(
        decline_code="generic_decline", network_advice_code="21", card_brand="mastercard"
    )
    assert advice.category is NEVER


def test_mac_new_account_information_asks_for_the_updated_card() -> None:
    advice = classify_decline(
        decline_code="generic_decline", network_advice_code="01", card_brand="mastercard"
    )
    assert advice.category is CUSTOMER
    assert advice.ask_customer
    assert advice.try_other_methods


@pytest.mark.parametrize(
    ("advice_code", "category"),
    [("do_not_try_again", NEVER), ("confirm_card_data", CUSTOMER), ("try_again_later", SOFT)],
)
def test_stripe_advice_code_overrides_decline_code(advice_code: str, category: DeclineCategory) -> None:
    # generic_decline is soft; expired_card is customer action: advice decides for both.
    for decline_code in ("generic_decline", "expired_card"):
        advice = classify_decline(decline_code=decline_code, advice_code=advice_code)
        assert advice.category is category, decline_code
        assert f"advice_code {advice_code}" in advice.reason


def test_soft_advice_on_a_customer_action_code_uses_spaced_timing() -> None:
    advice = classify_decline(decline_code="expired_card", advice_code="try_again_later")
    assert advice.category is SOFT
    assert advice.timing is RetryTiming.SPACED
    assert "overrides expired_card" in advice.reason


def test_nothing_softens_a_never_decline_code() -> None:
    advice = classify_decline(
        decline_code="stolen_card",
        advice_code="try_again_later",
        network_advice_code="24",
        card_brand="mastercard",
    )
    assert advice.category is NEVER
    assert "cannot soften" in advice.reason


def test_the_stricter_of_two_advices_wins() -> None:
    advice = classify_decline(
        decline_code="do_not_honor",
        advice_code="try_again_later",
        network_advice_code="03",
        card_brand="mastercard",
    )
    assert advice.category is NEVER
    advice = classify_decline(
        decline_code="do_not_honor",
        advice_code="do_not_try_again",
        network_advice_code="25",
        card_brand="mastercard",
    )
    assert advice.category is NEVER


def test_longest_wait_wins_between_soft_advices() -> None:
    advice = classify_decline(
        decline_code="withdrawal_count_limit_exceeded", network_advice_code="26", card_brand="mastercard"
    )
    assert advice.min_wait == timedelta(days=2)
    advice = classify_decline(
        decline_code="withdrawal_count_limit_exceeded", network_advice_code="24", card_brand="mastercard"
    )
    assert advice.min_wait == timedelta(days=1)


@pytest.mark.parametrize(("code", "category"), [("1", NEVER), ("01", NEVER), ("2", SOFT), ("3", CUSTOMER)])
def test_visa_advice_is_read_as_visa_categories(code: str, category: DeclineCategory) -> None:
    advice = classify_decline(decline_code="do_not_honor", network_advice_code=code, card_brand="visa")
    assert advice.category is category
    assert "Visa category" in advice.reason


def test_the_same_digits_mean_mastercard_advice_on_a_mastercard() -> None:
    # Visa's 1 is "never"; Mastercard's 01 is "get the new card details".
    assert (
        classify_decline(decline_code="do_not_honor", network_advice_code="01", card_brand="visa").category
        is NEVER
    )
    mc = classify_decline(decline_code="do_not_honor", network_advice_code="1", card_brand="mastercard")
    assert mc.category is CUSTOMER


def test_informational_mac_is_ignored() -> None:
    advice = classify_decline(
        decline_code="insufficient_funds", network_advice_code="40", card_brand="mastercard"
    )
    assert advice.category is SOFT
    assert advice.reason == "insufficient_funds: the account lacks the funds"


def test_unknown_code_is_soft_with_a_conservative_cap() -> None:
    advice = classify_decline(decline_code="brand_new_code_2031")
    assert advice.category is SOFT
    assert advice.timing is RetryTiming.SPACED
    assert advice.max_retries == 3
    assert advice.code == "brand_new_code_2031"
    assert "not a code we know" in advice.reason


def test_no_codes_at_all_is_unknown_and_capped() -> None:
    advice = classify_decline()
    assert advice.code == "unknown"
    assert advice.max_retries == 3
    assert "no decline or failure code" in advice.reason


def test_codes_are_normalized() -> None:
    advice = classify_decline(decline_code="  Insufficient-Funds ")
    assert advice.code == "insufficient_funds"
    assert advice.timing is RetryTiming.PAYDAY


def test_card_data_error_in_failure_code_is_customer_action() -> None:
    # Stripe reports some card errors only as the error code, without a decline code.
    assert classify_decline(failure_code="expired_card").category is CUSTOMER
    assert classify_decline(failure_code="incorrect_cvc").category is CUSTOMER
    assert classify_decline(failure_code="processing_error").timing is RetryTiming.SOON


def test_bank_debit_insufficient_funds_is_re_presented_at_most_twice() -> None:
    advice = classify_decline(failure_code="insufficient_funds", payment_method_kind="us_bank_account")
    assert advice.category is SOFT
    assert advice.max_retries == 2
    assert "Nacha" in advice.reason
    card = classify_decline(failure_code="insufficient_funds", payment_method_kind="card")
    assert card.max_retries is None


def test_withdrawal_and_rate_limits_wait_a_day() -> None:
    assert classify_decline(decline_code="withdrawal_count_limit_exceeded").min_wait == timedelta(days=1)
    assert classify_decline(failure_code="card_decline_rate_limit_exceeded").min_wait == timedelta(days=1)


def test_call_issuer_is_soft_but_asks_the_customer() -> None:
    advice = classify_decline(decline_code="call_issuer")
    assert advice.category is SOFT
    assert advice.ask_customer
    assert advice.retry_same_method


_maybe_text = st.one_of(
    st.none(), st.text(max_size=80), st.sampled_from([*EXPECTED_DECLINE_CODES, "01", "24"])
)


@settings(max_examples=500, deadline=None, database=None)
@given(
    decline_code=_maybe_text,
    failure_code=_maybe_text,
    advice_code=st.one_of(_maybe_text, st.sampled_from(sorted(STRIPE_ADVICE_CODES))),
    network_advice_code=st.one_of(
        _maybe_text, st.sampled_from([*EXPECTED_MASTERCARD, "1", "2", "3", "0024"])
    ),
    card_brand=st.one_of(_maybe_text, st.sampled_from(["visa", "mastercard", "amex", "unknown"])),
    payment_method_kind=st.one_of(_maybe_text, st.sampled_from(["card", "sepa_debit", "us_bank_account"])),
)
def test_classification_is_total_and_consistent(
    decline_code: str | None,
    failure_code: str | None,
    advice_code: str | None,
    network_advice_code: str | None,
    card_brand: str | None,
    payment_method_kind: str | None,
) -> None:
    advice = classify_decline(
        decline_code=decline_code,
        failure_code=failure_code,
        advice_code=advice_code,
        network_advice_code=network_advice_code,
        card_brand=card_brand,
        payment_method_kind=payment_method_kind,
    )
    assert advice.reason
    assert advice.code
    assert advice.retry_same_method is (advice.category is SOFT)
    assert (advice.timing is RetryTiming.NONE) is (advice.category is not SOFT)
    assert advice.min_wait is None or advice.min_wait > timedelta(0)
    assert advice.max_retries is None or advice.max_retries >= 0
    # A dead card stays dead whatever else arrives with it.
    if decline_code in {code for code, (cat, _) in EXPECTED_DECLINE_CODES.items() if cat is NEVER}:
        assert advice.category is NEVER
    if advice_code == "do_not_try_again":
        assert advice.category is NEVER
