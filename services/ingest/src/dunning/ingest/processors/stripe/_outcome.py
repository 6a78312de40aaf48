"""How one payment attempt went, read from a PaymentIntent and/or Charge: method, decline, advice.

Where Stripe puts the codes, and what we take (API reference: PaymentIntent
``last_payment_error``, Charge ``failure_code`` and ``outcome``; docs.stripe.com/declines):

- PaymentIntent ``last_payment_error`` is the authoritative source: ``decline_code`` (the
  issuer's reason, e.g. ``insufficient_funds``), ``code`` (Stripe's error code, e.g.
  ``card_declined``, ``expired_card``), ``message``, ``advice_code``, ``network_advice_code``,
  ``network_decline_code``, the failed ``payment_method`` object and the ``charge`` ID.
- A Charge has no ``decline_code`` field. Its ``failure_code`` / ``failure_message`` are the
  error code and message. Its ``outcome.reason`` holds the issuer's decline code only when
  ``outcome.type`` is ``issuer_declined``; for ``blocked`` it is a Radar reason
  (``highest_risk_level``, ``rule``...), for ``manual_review`` a review reason, so it is taken as
  the decline code for issuer declines only. ``outcome.advice_code``,
  ``outcome.network_advice_code`` and ``outcome.network_decline_code`` map one to one.
- When both are present the PaymentIntent wins field by field and the charge fills the gaps.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from dunning.ingest.processors.stripe._fields import StripeFields

# Legacy Card and Source objects spell brands for humans; PaymentMethods use these codes.
_LEGACY_BRANDS = {
    "American Express": "amex",
    "Diners Club": "diners",
    "Discover": "discover",
    "Eftpos Australia": "eftpos_au",
    "JCB": "jcb",
    "MasterCard": "mastercard",
    "UnionPay": "unionpay",
    "Visa": "visa",
    "Unknown": "unknown",
}


def card_brand(brand: str | None) -> str | None:
    """A card brand as a PaymentMethod code (``visa``), whichever object it came from."""
    return None if brand is None else _LEGACY_BRANDS.get(brand, brand)


@dataclass(frozen=True, slots=True)
class PaymentOutcome:
    payment_intent_id: str | None = None
    charge_id: str | None = None
    payment_method_id: str | None = None
    payment_method_kind: str | None = None
    card_brand: str | None = None
    card_country: str | None = None
    decline_code: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    advice_code: str | None = None
    network_advice_code: str | None = None
    network_decline_code: str | None = None

    def or_else(self, fallback: PaymentOutcome) -> PaymentOutcome:
        """This outcome, with the fields it lacks taken from a less authoritative source."""
        merged = {
            field.name: getattr(self, field.name)
            if getattr(self, field.name) is not None
            else getattr(fallback, field.name)
            for field in fields(self)
        }
        return PaymentOutcome(**merged)


def from_invoice(invoice: StripeFields) -> PaymentOutcome:
    """The attempt behind an invoice event, as far as the invoice shows it."""
    source: StripeFields | None = invoice
    if not (invoice.has("payment_intent") or invoice.has("charge")):
        # API 2025-03-31.basil removed Invoice.payment_intent and .charge; the attempt is then
        # only visible when the sender included the invoice's ``payments`` list.
        source = _default_invoice_payment(invoice)
    if source is None:
        return PaymentOutcome()
    by_intent = _linked_intent(source, "payment_intent")
    by_charge = _linked_charge(source, "charge")
    return by_intent.or_else(by_charge)


def from_payment_intent(intent: StripeFields, *, with_charge: bool = True) -> PaymentOutcome:
    error = intent.child("last_payment_error")
    outcome = PaymentOutcome(payment_intent_id=intent.required_text("id"))
    if error is not None:
        outcome = PaymentOutcome(
            payment_intent_id=outcome.payment_intent_id,
            charge_id=error.text("charge"),
            decline_code=error.text("decline_code"),
            failure_code=error.text("code"),
            failure_message=error.text("message"),
            advice_code=error.text("advice_code"),
            network_advice_code=error.text("network_advice_code"),
            network_decline_code=error.text("network_decline_code"),
        )
        failed_method = error.child("payment_method")
        if failed_method is not None:
            outcome = outcome.or_else(_payment_method(failed_method))
    method = intent.expanded("payment_method")
    if method is not None:
        outcome = outcome.or_else(_payment_method(method))
    else:
        outcome = outcome.or_else(PaymentOutcome(payment_method_id=intent.text("payment_method")))
    if with_charge:
        # The charge does not follow its own payment_intent back: nesting stays bounded.
        return outcome.or_else(_linked_charge(intent, "latest_charge", with_intent=False))
    return outcome.or_else(PaymentOutcome(charge_id=intent.reference("latest_charge")))


def from_charge(charge: StripeFields, *, with_intent: bool = True) -> PaymentOutcome:
    outcome = charge.child("outcome")
    details = charge.child("payment_method_details")
    card = details.child("card") if details is not None else None
    decline_code = None
    if outcome is not None and outcome.text("type") == "issuer_declined":
        decline_code = outcome.text("reason")
    own = PaymentOutcome(
        charge_id=charge.required_text("id"),
        payment_intent_id=charge.reference("payment_intent"),
        payment_method_id=charge.text("payment_method"),
        payment_method_kind=details.text("type") if details is not None else None,
        card_brand=card.text("brand") if card is not None else None,
        card_country=card.text("country") if card is not None else None,
        decline_code=decline_code,
        failure_code=charge.text("failure_code"),
        failure_message=charge.text("failure_message"),
        advice_code=outcome.text("advice_code") if outcome is not None else None,
        network_advice_code=outcome.text("network_advice_code") if outcome is not None else None,
        network_decline_code=outcome.text("network_decline_code") if outcome is not None else None,
    )
    intent = charge.expanded("payment_intent") if with_intent else None
    return own if intent is None else own.or_else(from_payment_intent(intent, with_charge=False))


def _payment_method(method: StripeFields) -> PaymentOutcome:
    card = method.child("card")
    return PaymentOutcome(
        payment_method_id=method.text("id"),
        payment_method_kind=method.text("type"),
        card_brand=card_brand(card.text("brand")) if card is not None else None,
        card_country=card.text("country") if card is not None else None,
    )


def _linked_intent(owner: StripeFields, key: str) -> PaymentOutcome:
    intent = owner.expanded(key)
    if intent is not None:
        return from_payment_intent(intent)
    return PaymentOutcome(payment_intent_id=owner.reference(key))


def _linked_charge(owner: StripeFields, key: str, *, with_intent: bool = True) -> PaymentOutcome:
    charge = owner.expanded(key)
    if charge is not None:
        return from_charge(charge, with_intent=with_intent)
    return PaymentOutcome(charge_id=owner.reference(key))


def _default_invoice_payment(invoice: StripeFields) -> StripeFields | None:
    payments = invoice.child("payments")
    entries = payments.children("data") if payments is not None else []
    if not entries:
        return None
    chosen = next((e for e in entries if e.flag("is_default", default=False)), entries[-1])
    return chosen.child("payment")
