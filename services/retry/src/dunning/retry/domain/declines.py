"""Decline classification: what a failed charge's codes say about charging the same method again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from dunning.retry.domain.decline_codes import (
    BANK_DEBIT_KINDS,
    BANK_DEBIT_MAX_RETRIES,
    MASTERCARD_ADVICE_CODES,
    STRIPE_ADVICE_CODES,
    STRIPE_DECLINE_CODES,
    STRIPE_FAILURE_CODES,
    UNKNOWN_RULE,
    VISA_ADVICE_CODES,
    CodeRule,
    DeclineCategory,
    RetryTiming,
)
from dunning.retry.domain.networks import CardNetwork, card_network

_SEVERITY = {DeclineCategory.SOFT: 0, DeclineCategory.CUSTOMER_ACTION: 1, DeclineCategory.NEVER: 2}
_SHOWN_CODE_LENGTH = 64


@dataclass(frozen=True, slots=True)
class DeclineAdvice:
    """What to do after one failed charge, and why."""

    category: DeclineCategory
    retry_same_method: bool
    try_other_methods: bool
    ask_customer: bool
    min_wait: timedelta | None
    # A cap on retries of the same method after this decline, tighter than the policy's.
    max_retries: int | None
    timing: RetryTiming
    # The code the decision rests on (decline code, else failure code), also a learning feature.
    code: str
    reason: str


def classify_decline(
    *,
    decline_code: str | None = None,
    failure_code: str | None = None,
    advice_code: str | None = None,
    network_advice_code: str | None = None,
    card_brand: str | None = None,
    payment_method_kind: str | None = None,
) -> DeclineAdvice:
    """Classify a failed charge; total over any strings (unknown codes are soft with a small cap).

    Explicit advice (Stripe's ``advice_code``, the network's merchant advice code) overrides
    the plain decline code, and between two advices the stricter wins; but nothing softens a
    decline code that says the card is dead, because a reattempt on a lost or stolen card is
    what the networks fine, whatever a second signal says.
    """
    decline = _normalized(decline_code)
    failure = _normalized(failure_code)
    code, base = _base_rule(decline, failure)
    advices = [
        rule
        for rule in (
            STRIPE_ADVICE_CODES.get(_normalized(advice_code) or ""),
            _network_rule(network_advice_code, card_brand),
        )
        if rule is not None
    ]
    rule, reason = _combine(code, base, advices)
    kind = _normalized(payment_method_kind)
    if kind in BANK_DEBIT_KINDS and rule.category is DeclineCategory.SOFT:
        cap = (
            BANK_DEBIT_MAX_RETRIES
            if rule.max_retries is None
            else min(rule.max_retries, BANK_DEBIT_MAX_RETRIES)
        )
        rule = rule._replace(max_retries=cap)
        reason += f"; a bank debit is re-presented at most {cap} times (Nacha R01/R09 rule)"
    return _advice(code, rule, reason)


def _normalized(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    # "Insufficient Funds", "insufficient-funds" and " insufficient_funds " are the same code.
    squashed = "_".join(value.strip().lower().replace("-", " ").split())
    return squashed or None


def _shown(code: str) -> str:
    return code if len(code) <= _SHOWN_CODE_LENGTH else code[:_SHOWN_CODE_LENGTH] + "..."


def _base_rule(decline: str | None, failure: str | None) -> tuple[str, CodeRule]:
    if decline is not None:
        known = STRIPE_DECLINE_CODES.get(decline) or STRIPE_FAILURE_CODES.get(decline)
        if known is not None:
            return decline, known
    if failure is not None:
        # Stripe puts card data errors (expired_card, incorrect_cvc) in ``code`` with no
        # decline code, and bank-debit returns only ever arrive as failure codes.
        known = STRIPE_FAILURE_CODES.get(failure) or STRIPE_DECLINE_CODES.get(failure)
        if known is not None and decline is None:
            return failure, known
    code = decline or failure
    if code is None:
        return "unknown", UNKNOWN_RULE._replace(why="no decline or failure code: " + UNKNOWN_RULE.why)
    return _shown(code), UNKNOWN_RULE


def _network_rule(network_advice_code: str | None, card_brand: str | None) -> CodeRule | None:
    raw = _normalized(network_advice_code)
    if raw is None or not raw.isdigit() or len(raw) > 4:
        return None
    number = raw.lstrip("0") or "0"
    if card_network(card_brand) is CardNetwork.VISA:
        return VISA_ADVICE_CODES.get(number)
    # Stripe documents network_advice_code as the network's two-digit advice, which in practice
    # is Mastercard's MAC; an unbranded card is read the same way.
    return MASTERCARD_ADVICE_CODES.get(number.zfill(2))


def _longest_wait(rules: list[CodeRule]) -> timedelta | None:
    waits = [rule.min_wait for rule in rules if rule.min_wait is not None]
    return max(waits) if waits else None


def _tightest_cap(rules: list[CodeRule]) -> int | None:
    caps = [rule.max_retries for rule in rules if rule.max_retries is not None]
    return min(caps) if caps else None


def _combine(code: str, base: CodeRule, advices: list[CodeRule]) -> tuple[CodeRule, str]:
    reason = f"{code}: {base.why}"
    if not advices:
        return base, reason
    strongest = max(advices, key=lambda rule: (_SEVERITY[rule.category], rule.min_wait or timedelta(0)))
    notes = "; ".join(rule.why for rule in advices)
    if base.category is DeclineCategory.NEVER:
        return base, f"{reason}; advice ({notes}) cannot soften a card that must never be retried"
    if strongest.category is not DeclineCategory.SOFT:
        return strongest, f"{notes} (overrides {reason})"
    # Every advice is soft: keep the decline code's idea of timing (a payday for missing funds)
    # and take the longest wait and the tightest cap anyone asked for.
    soft = [rule for rule in (base, *advices) if rule.category is DeclineCategory.SOFT]
    timing = base.timing if base.category is DeclineCategory.SOFT else strongest.timing
    merged = CodeRule(
        DeclineCategory.SOFT,
        timing,
        base.why,
        _longest_wait(soft),
        _tightest_cap(soft),
        base.ask_customer if base.category is DeclineCategory.SOFT else None,
    )
    if base.category is DeclineCategory.SOFT:
        return merged, f"{reason}; {notes}"
    return merged, f"{notes} (overrides {reason})"


def _advice(code: str, rule: CodeRule, reason: str) -> DeclineAdvice:
    soft = rule.category is DeclineCategory.SOFT
    return DeclineAdvice(
        category=rule.category,
        retry_same_method=soft,
        try_other_methods=not soft,
        ask_customer=rule.ask_customer if rule.ask_customer is not None else not soft,
        min_wait=rule.min_wait,
        max_retries=rule.max_retries,
        timing=rule.timing if soft else RetryTiming.NONE,
        code=code,
        reason=reason,
    )
