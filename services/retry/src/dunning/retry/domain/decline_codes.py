"""What each processor and network code says about retrying: Stripe decline/failure/advice codes, card MACs.

Sources: Stripe's decline code reference (docs.stripe.com/declines/codes) and its API error
codes; Visa's reattempt categories (category 1 "issuer will never approve": 04, 07, 12, 14, 15,
41, 43, 46, 57, R0, R1, R3); Mastercard merchant advice codes 01-04, 21, 22, 24-30 as published
by acquirers (Braintree, Cybersource, Heartland). ``classify_decline`` combines them.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import NamedTuple


class DeclineCategory(StrEnum):
    # The method must not be charged again: the card is dead, suspected of fraud, or the
    # customer withdrew consent. Networks fine every reattempt (Visa category 1, MAC 03/21).
    NEVER = "never"
    # The method cannot succeed until the customer acts: fix data, authenticate, call the bank.
    CUSTOMER_ACTION = "customer_action"
    # The issuer may approve later: retry the same method on the schedule.
    SOFT = "soft"


class RetryTiming(StrEnum):
    """When a soft decline is worth retrying, which picks the schedule's shape."""

    PAYDAY = "payday"  # money is missing: aim at a likely payday morning
    SOON = "soon"  # a transient fault: retry within hours
    SPACED = "spaced"  # the issuer said no for no stated reason: growing spacing
    NONE = "none"  # not retried on this method at all


class CodeRule(NamedTuple):
    category: DeclineCategory
    timing: RetryTiming
    why: str
    min_wait: timedelta | None = None
    max_retries: int | None = None
    # None: the category decides (customer-facing categories ask the customer, soft ones not).
    ask_customer: bool | None = None


def _never(why: str) -> CodeRule:
    return CodeRule(DeclineCategory.NEVER, RetryTiming.NONE, why)


def _customer(why: str) -> CodeRule:
    return CodeRule(DeclineCategory.CUSTOMER_ACTION, RetryTiming.NONE, why)


def _soft(
    timing: RetryTiming,
    why: str,
    *,
    min_wait: timedelta | None = None,
    max_retries: int | None = None,
    ask_customer: bool | None = None,
) -> CodeRule:
    return CodeRule(DeclineCategory.SOFT, timing, why, min_wait, max_retries, ask_customer)


_DAY = timedelta(days=1)

# An unrecognised code may be anything from a new soft code to a hard one Stripe added last
# week, so it gets a few spaced retries and no more.
UNKNOWN_CODE_MAX_RETRIES = 3

UNKNOWN_RULE = _soft(
    RetryTiming.SPACED,
    "not a code we know: retried with growing spacing, at most 3 times",
    max_retries=UNKNOWN_CODE_MAX_RETRIES,
)

# Stripe ``decline_code`` values (card issuer declines).
STRIPE_DECLINE_CODES: dict[str, CodeRule] = {
    # -- never: the card is gone, blocked, suspected, or consent was withdrawn
    "stolen_card": _never("the card was reported stolen"),
    "lost_card": _never("the card was reported lost"),
    "pickup_card": _never("the issuer asked for the card to be retained (Visa category 1)"),
    "fraudulent": _never("the issuer suspects fraud"),
    "merchant_blacklist": _never("the payment matches an entry on the block list"),
    "restricted_card": _never("the card is restricted (possibly lost or stolen)"),
    "security_violation": _never("the issuer reported a security violation"),
    "revocation_of_authorization": _never("the customer revoked this merchant's authorization (Visa R1)"),
    "revocation_of_all_authorizations": _never("the customer revoked all authorizations (Visa R3)"),
    "stop_payment_order": _never("the customer ordered the issuer to stop this payment (Visa R0)"),
    "invalid_account": _never("the card account is invalid or closed (Visa 14/46)"),
    "transaction_not_allowed": _never("the issuer does not permit this transaction (Visa 57, category 1)"),
    "not_permitted": _never("the issuer does not permit this transaction (Visa 57, category 1)"),
    "service_not_allowed": _never("the issuer does not permit this kind of payment (Visa 57, category 1)"),
    # Deprecated by Stripe in favour of advice_code do_not_try_again; old events still carry it.
    "do_not_try_again": _never("the issuer said not to try again"),
    "testmode_decline": _never("a Stripe test card, which never succeeds"),
    "test_mode_live_card": _never("a live card used in test mode, which never succeeds"),
    # -- customer action: the data, authentication or card has to change first
    "expired_card": _customer("the card has expired"),
    "incorrect_cvc": _customer("the security code (CVC) is incorrect"),
    "invalid_cvc": _customer("the security code (CVC) is invalid"),
    "incorrect_number": _customer("the card number is incorrect"),
    "invalid_number": _customer("the card number is invalid"),
    "incorrect_zip": _customer("the postal code does not match (AVS)"),
    "invalid_expiry_month": _customer("the expiry month is invalid"),
    "invalid_expiry_year": _customer("the expiry year is invalid"),
    "authentication_required": _customer("the issuer requires authentication (3-D Secure)"),
    "card_not_supported": _customer("the card does not support this kind of purchase"),
    "currency_not_supported": _customer("the card does not support this currency"),
    "invalid_amount": _customer("the amount exceeds what the card allows"),
    # The card was reissued: retrying the old details fails until the customer (or the
    # network's account updater) supplies the new ones, so it behaves like an expired card
    # and not like a dead one. Mastercard's MAC 01 says the same.
    "new_account_information_available": _customer("the card was reissued and the new details are needed"),
    # PIN codes belong to card-present payments; off-session they need the customer.
    "incorrect_pin": _customer("the PIN is incorrect"),
    "invalid_pin": _customer("the PIN is invalid"),
    "offline_pin_required": _customer("the card requires a PIN"),
    "online_or_offline_pin_required": _customer("the card requires a PIN"),
    "pin_try_exceeded": _customer("too many wrong PIN entries"),
    # -- soft: money, limits, or a transient fault
    "insufficient_funds": _soft(RetryTiming.PAYDAY, "the account lacks the funds"),
    "card_velocity_exceeded": _soft(RetryTiming.PAYDAY, "the card is over its balance or credit limit"),
    "withdrawal_count_limit_exceeded": _soft(
        RetryTiming.SPACED, "the card hit its transaction count limit", min_wait=_DAY
    ),
    "processing_error": _soft(RetryTiming.SOON, "a processing error occurred"),
    "try_again_later": _soft(RetryTiming.SOON, "the issuer asked to try again later"),
    "issuer_not_available": _soft(RetryTiming.SOON, "the issuer could not be reached"),
    "reenter_transaction": _soft(RetryTiming.SOON, "the issuer could not process the payment this time"),
    "approve_with_id": _soft(RetryTiming.SOON, "the issuer could not authorize the payment this time"),
    "do_not_honor": _soft(RetryTiming.SPACED, "the issuer declined without a reason"),
    "generic_decline": _soft(RetryTiming.SPACED, "the issuer declined without a reason"),
    "no_action_taken": _soft(RetryTiming.SPACED, "the issuer declined without a reason"),
    "call_issuer": _soft(RetryTiming.SPACED, "the issuer asks the customer to call them", ask_customer=True),
    # The issuer's duplicate check spans about a day; an earlier retry looks like the duplicate.
    "duplicate_transaction": _soft(
        RetryTiming.SPACED, "the issuer saw an identical payment very recently", min_wait=_DAY
    ),
}

_AUTHENTICATE = _customer("the payment needs the customer to authenticate (3-D Secure)")
_BANK_CLOSED = _never("the bank account cannot be debited (closed, missing or blocked)")
_BANK_DETAILS = _customer("the bank account details are invalid")

# Stripe ``failure_code`` / error ``code`` values, read when there is no issuer decline code:
# API-level card failures and bank-debit returns (ACH, SEPA, BACS, BECS).
STRIPE_FAILURE_CODES: dict[str, CodeRule] = {
    "card_declined": _soft(RetryTiming.SPACED, "the card was declined without an issuer reason"),
    "incorrect_address": _customer("the billing address does not match"),
    "postal_code_invalid": _customer("the postal code is invalid"),
    "payment_intent_authentication_failure": _AUTHENTICATE,
    "setup_intent_authentication_failure": _AUTHENTICATE,
    "payment_intent_action_required": _AUTHENTICATE,
    "invoice_payment_intent_requires_action": _AUTHENTICATE,
    # Stripe itself blocks a card for 24 hours after too many declines.
    "card_decline_rate_limit_exceeded": _soft(
        RetryTiming.SPACED, "Stripe blocks the card for a day after repeated declines", min_wait=_DAY
    ),
    "rate_limit": _soft(RetryTiming.SOON, "the processor was rate limiting"),
    "lock_timeout": _soft(RetryTiming.SOON, "the processor timed out on a lock"),
    "payment_method_provider_timeout": _soft(RetryTiming.SOON, "the payment method's provider timed out"),
    "payment_method_not_available": _soft(RetryTiming.SOON, "the payment method was briefly unavailable"),
    "payment_method_provider_decline": _soft(RetryTiming.SPACED, "the payment method's provider declined"),
    "generic_could_not_process": _soft(RetryTiming.SPACED, "the bank could not process the debit"),
    "expired_payment_method": _customer("the payment method has expired"),
    "payment_method_unactivated": _customer("the payment method is not activated"),
    "payment_method_customer_decline": _customer("the customer declined the payment"),
    "refer_to_customer": _customer("the bank asks the customer to contact them"),
    "billing_invalid_mandate": _customer("the debit mandate is invalid and must be set up again"),
    "payment_intent_mandate_invalid": _customer("the debit mandate is invalid and must be set up again"),
    "account_closed": _BANK_CLOSED,
    "no_account": _BANK_CLOSED,
    "account_frozen": _BANK_CLOSED,
    "bank_account_restricted": _BANK_CLOSED,
    "bank_account_unusable": _BANK_CLOSED,
    "bank_account_declined": _BANK_CLOSED,
    "bank_ownership_changed": _BANK_CLOSED,
    "invalid_account_number": _BANK_DETAILS,
    "account_number_invalid": _BANK_DETAILS,
    "routing_number_invalid": _BANK_DETAILS,
    "bank_account_bad_routing_numbers": _BANK_DETAILS,
    # Nacha R10/R29 and SEPA MD06 territory: the customer told their bank we may not debit.
    "debit_not_authorized": _never("the customer told their bank this debit is not authorized"),
    "india_recurring_payment_mandate_canceled": _never("the customer canceled the recurring mandate"),
}

# Bank debits settle days later and Nacha allows an R01/R09 (insufficient or uncollected
# funds) entry to be re-presented at most twice; SEPA and BACS schemes are similarly strict.
BANK_DEBIT_KINDS = frozenset(
    {"us_bank_account", "ach_debit", "sepa_debit", "bacs_debit", "au_becs_debit", "acss_debit"}
)
BANK_DEBIT_MAX_RETRIES = 2

# Stripe ``advice_code``, its own summary of the issuer's and network's advice.
STRIPE_ADVICE_CODES: dict[str, CodeRule] = {
    "do_not_try_again": _never("Stripe advises never retrying this card (advice_code do_not_try_again)"),
    "confirm_card_data": _customer(
        "Stripe advises collecting updated card data (advice_code confirm_card_data)"
    ),
    "try_again_later": _soft(
        RetryTiming.SPACED, "Stripe advises retrying later (advice_code try_again_later)"
    ),
}


def _mac_retry_after(code: str, wait: timedelta, label: str) -> CodeRule:
    return _soft(RetryTiming.SPACED, f"Mastercard advice {code}: retry after {label}", min_wait=wait)


# Mastercard merchant advice codes (``network_advice_code`` on a Mastercard decline).
# 40/41/43 only describe prepaid or virtual cards and carry no retry advice, so they are absent.
MASTERCARD_ADVICE_CODES: dict[str, CodeRule] = {
    "01": _customer("Mastercard advice 01: new account information available, get the updated card"),
    # Acquirers (e.g. Everonet's MAC guide) recommend waiting 72 hours on MAC 02.
    "02": _soft(
        RetryTiming.SPACED,
        "Mastercard advice 02: cannot approve at this time, try again later",
        min_wait=timedelta(hours=72),
    ),
    "03": _never("Mastercard advice 03: do not try again"),
    "04": _customer("Mastercard advice 04: token requirements not fulfilled for this token type"),
    "21": _never("Mastercard advice 21: payment cancellation, the cardholder stopped recurring payments"),
    "22": _customer("Mastercard advice 22: the merchant does not qualify for this card's product code"),
    "24": _mac_retry_after("24", timedelta(hours=1), "1 hour"),
    "25": _mac_retry_after("25", timedelta(hours=24), "24 hours"),
    "26": _mac_retry_after("26", timedelta(days=2), "2 days"),
    "27": _mac_retry_after("27", timedelta(days=4), "4 days"),
    "28": _mac_retry_after("28", timedelta(days=6), "6 days"),
    "29": _mac_retry_after("29", timedelta(days=8), "8 days"),
    "30": _mac_retry_after("30", timedelta(days=10), "10 days"),
}

# Visa's advice on a decline is its reattempt category, sent as a one-digit code where a
# processor passes it through (Cybersource: 1 never approves, 2 cannot approve at this time,
# 3 data quality). It shares digits with Mastercard's codes, so the card brand decides.
VISA_ADVICE_CODES: dict[str, CodeRule] = {
    "1": _never("Visa category 1: the issuer will never approve"),
    "2": _soft(RetryTiming.SPACED, "Visa category 2: the issuer cannot approve at this time"),
    "3": _customer("Visa category 3: data quality, revalidate the payment details"),
}
