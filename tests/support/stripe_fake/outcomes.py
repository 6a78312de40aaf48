"""What a card answers when charged: one Outcome per attempt, programmed per card as a CardBehaviour."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# Stripe's wording per decline code (docs.stripe.com/declines/codes). Lost, stolen and fraud
# declines get the generic message on purpose: Stripe never tells the customer the real reason.
_GENERIC = "Your card was declined."
_MESSAGES = {
    "insufficient_funds": "Your card has insufficient funds.",
    "expired_card": "Your card has expired.",
    "incorrect_cvc": "Your card's security code is incorrect.",
    "incorrect_number": "Your card number is incorrect.",
    "processing_error": "An error occurred while processing your card. Try again in a little bit.",
    "authentication_required": "Your card was declined. This transaction requires authentication.",
}
# Declines that Stripe reports under their own error code instead of ``card_declined``.
_OWN_CODE = {"expired_card", "incorrect_cvc", "incorrect_number", "authentication_required"}
# The card field a decline points at, as Stripe's ``param`` does.
_PARAMS = {"expired_card": "exp_month", "incorrect_cvc": "cvc", "incorrect_number": "number"}


class Outcome(BaseModel):
    """One attempt's answer. ``code`` None means the charge succeeds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str | None = None
    decline_code: str | None = None
    message: str | None = None
    advice_code: str | None = None
    network_advice_code: str | None = None
    network_decline_code: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.code is None

    @property
    def param(self) -> str | None:
        return _PARAMS.get(self.code or "")

    def error_message(self) -> str:
        return self.message or _MESSAGES.get(self.decline_code or self.code or "", _GENERIC)


class CardBehaviour(BaseModel):
    """Outcomes consumed one per attempt, then ``then`` for every attempt after them."""

    model_config = ConfigDict(extra="forbid")

    sequence: list[Outcome] = Field(default_factory=list)
    then: Outcome = Field(default_factory=Outcome)

    def next_outcome(self) -> Outcome:
        return self.sequence.pop(0) if self.sequence else self.then


SUCCEED = Outcome()


def decline(
    decline_code: str = "generic_decline",
    *,
    advice_code: str | None = None,
    network_advice_code: str | None = None,
    network_decline_code: str | None = None,
    message: str | None = None,
) -> Outcome:
    """An issuer decline, with the error code Stripe files it under (mostly ``card_declined``)."""
    return Outcome(
        code=decline_code if decline_code in _OWN_CODE else "card_declined",
        decline_code=decline_code,
        message=message,
        advice_code=advice_code,
        network_advice_code=network_advice_code,
        network_decline_code=network_decline_code,
    )


def authentication_required() -> Outcome:
    return decline("authentication_required")


def processing_error() -> Outcome:
    # Stripe sends no decline_code here: the issuer never answered.
    return Outcome(code="processing_error")


def always(outcome: Outcome) -> CardBehaviour:
    return CardBehaviour(then=outcome)


def sequence(*outcomes: Outcome, then: Outcome = SUCCEED) -> CardBehaviour:
    """E.g. ``sequence(decline("insufficient_funds"), decline("insufficient_funds"))``: two
    declines, then success."""
    return CardBehaviour(sequence=list(outcomes), then=then)
