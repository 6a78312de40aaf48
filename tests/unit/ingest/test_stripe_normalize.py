"""Stripe events → canonical payment events, on payloads shaped like Stripe's documented objects.

Fixtures under ``fixtures/stripe/`` are whole webhook bodies; tests edit copies of them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from dunning.common.clock import from_unix
from dunning.common.events.payment import (
    DisputeData,
    InvoicePaymentData,
    PaymentEventType,
    PaymentMethodData,
    SubscriptionData,
    UpcomingInvoiceData,
)
from dunning.ingest.processors.base import CanonicalEvent, MalformedEvent, Normalization
from dunning.ingest.processors.stripe import StripeAdapter

FIXTURES = Path(__file__).parent / "fixtures" / "stripe"
TENANT = "tenant_acme"
CONNECT_ACCOUNT = "acct_1Nv0FGQ9RKHgCVdK"
ADAPTER = StripeAdapter()


@cache
def _fixture_text(name: str) -> str:
    return (FIXTURES / f"{name}.json").read_text()


def fixture(name: str) -> dict[str, Any]:
    """A fresh copy of a stored webhook body, free to edit."""
    event: dict[str, Any] = json.loads(_fixture_text(name))
    return event


def obj(event: dict[str, Any]) -> dict[str, Any]:
    data_object: dict[str, Any] = event["data"]["object"]
    return data_object


def normalize(event: dict[str, Any]) -> Normalization:
    return ADAPTER.normalize(TENANT, ADAPTER.parse(json.dumps(event).encode()))


def one_event(event: dict[str, Any]) -> CanonicalEvent:
    normalization = normalize(event)
    assert normalization.ignored is None
    (canonical,) = normalization.events
    return canonical


def invoice_data(event: dict[str, Any]) -> InvoicePaymentData:
    data = one_event(event).data
    assert isinstance(data, InvoicePaymentData)
    return data


EXPECTED_TYPES = {
    "invoice.payment_failed": PaymentEventType.PAYMENT_FAILED,
    "invoice.payment_failed.expanded": PaymentEventType.PAYMENT_FAILED,
    "invoice.payment_failed.basil": PaymentEventType.PAYMENT_FAILED,
    "invoice.payment_action_required": PaymentEventType.PAYMENT_ACTION_REQUIRED,
    "invoice.overdue": PaymentEventType.INVOICE_OVERDUE,
    "invoice.paid": PaymentEventType.INVOICE_PAID,
    "invoice.payment_succeeded": PaymentEventType.PAYMENT_SUCCEEDED,
    "invoice.voided": PaymentEventType.INVOICE_VOIDED,
    "invoice.marked_uncollectible": PaymentEventType.INVOICE_UNCOLLECTIBLE,
    "invoice.upcoming": PaymentEventType.INVOICE_UPCOMING,
    "payment_intent.payment_failed": PaymentEventType.PAYMENT_FAILED,
    "charge.failed": PaymentEventType.PAYMENT_FAILED,
    "customer.subscription.deleted": PaymentEventType.SUBSCRIPTION_CANCELED,
    "customer.subscription.updated": PaymentEventType.SUBSCRIPTION_CANCELED,
    "payment_method.attached": PaymentEventType.PAYMENT_METHOD_UPDATED,
    "payment_method.detached": PaymentEventType.PAYMENT_METHOD_UPDATED,
    "payment_method.updated": PaymentEventType.PAYMENT_METHOD_UPDATED,
    "payment_method.automatically_updated": PaymentEventType.PAYMENT_METHOD_UPDATED,
    "customer.source.expiring": PaymentEventType.CARD_EXPIRING,
    "customer.source.expiring.source": PaymentEventType.CARD_EXPIRING,
    "charge.dispute.created": PaymentEventType.DISPUTE_OPENED,
    "charge.dispute.closed": PaymentEventType.DISPUTE_CLOSED,
}


def test_every_fixture_is_covered() -> None:
    assert {path.stem for path in FIXTURES.glob("*.json")} == set(EXPECTED_TYPES)


@pytest.mark.parametrize(("name", "expected"), sorted(EXPECTED_TYPES.items()))
def test_each_handled_type_maps_with_the_identity_block(name: str, expected: PaymentEventType) -> None:
    event = fixture(name)
    canonical = one_event(event)
    assert canonical.type is expected
    data = canonical.data
    assert data.tenant_id == TENANT
    assert data.provider == "stripe"
    assert data.provider_event_id == event["id"]
    assert data.provider_event_type == event["type"]
    assert data.provider_account == event.get("account")
    assert data.livemode is False
    assert data.occurred_at == from_unix(event["created"])


def test_invoice_payment_failed_carries_the_dunning_fields() -> None:
    data = invoice_data(fixture("invoice.payment_failed"))
    assert data.provider_account == CONNECT_ACCOUNT
    assert data.invoice_id == "in_1PLb3nKX8bQ2t0eWb6Yq1Zc4"
    assert data.invoice_number == "8F3A2C71-0007"
    assert data.subscription_id == "sub_1OqR2sKX8bQ2t0eWmVgS7pLd"
    assert data.customer_id == "cus_Q8sVq1mT3bZrKc"
    assert data.customer_email == "jenny.rosen@example.com"
    assert (data.amount, data.amount_due, data.currency) == (2900, 2900, "USD")
    assert data.invoice_status == "open"
    assert data.billing_reason == "subscription_cycle"
    assert data.attempt_count == 1
    assert data.next_payment_attempt == datetime(2024, 6, 3, 9, 0, tzinfo=UTC)
    assert data.hosted_invoice_url is not None
    assert data.hosted_invoice_url.startswith("https://invoice.stripe.com/i/")
    assert data.payment_intent_id == "pi_3PLc9QKX8bQ2t0eW1uRw4sVb"
    assert data.charge_id == "ch_3PLc9QKX8bQ2t0eW1gk2Hq7B"
    # Webhooks do not expand the intent: the decline code is not on an unexpanded invoice.
    assert data.decline_code is None


def test_amount_is_what_is_still_owed_not_the_total() -> None:
    event = fixture("invoice.payment_failed")
    obj(event)["amount_remaining"] = 1900  # a credit note took 10.00 off
    data = invoice_data(event)
    assert (data.amount, data.amount_due) == (1900, 2900)


def test_expanded_payment_intent_gives_decline_and_advice_codes() -> None:
    data = invoice_data(fixture("invoice.payment_failed.expanded"))
    assert data.decline_code == "do_not_honor"
    assert data.failure_code == "card_declined"
    assert data.failure_message == "Your card was declined."
    assert data.advice_code == "do_not_try_again"
    assert data.network_advice_code == "03"
    assert data.network_decline_code == "05"
    assert data.payment_method_id == "pm_1OqR1xKX8bQ2t0eWq9ZbT3yA"
    assert data.payment_method_kind == "card"
    assert (data.card_brand, data.card_country) == ("mastercard", "GB")
    assert data.charge_id == "ch_3PLc9QKX8bQ2t0eW1gk2Hq7B"
    # Expanded customer and subscription objects are reduced to their IDs.
    assert data.customer_id == "cus_Q8sVq1mT3bZrKc"
    assert data.subscription_id == "sub_1OqR2sKX8bQ2t0eWmVgS7pLd"
    assert data.attempt_count == 2


def test_expanded_latest_charge_fills_in_when_the_intent_has_no_error() -> None:
    event = fixture("invoice.payment_failed.expanded")
    intent = obj(event)["payment_intent"]
    intent["last_payment_error"] = None
    data = invoice_data(event)
    # From the charge: outcome.reason is the decline code because outcome.type is an issuer decline.
    assert data.decline_code == "do_not_honor"
    assert data.failure_code == "card_declined"
    assert data.advice_code == "do_not_try_again"
    assert data.network_decline_code == "05"
    assert data.payment_method_id == "pm_1OqR1xKX8bQ2t0eWq9ZbT3yA"
    assert (data.card_brand, data.card_country) == ("visa", "US")


def test_intent_error_wins_over_the_charge_field_by_field() -> None:
    event = fixture("invoice.payment_failed.expanded")
    error = obj(event)["payment_intent"]["last_payment_error"]
    error["decline_code"] = "insufficient_funds"
    error["network_advice_code"] = None
    data = invoice_data(event)
    assert data.decline_code == "insufficient_funds"
    assert data.network_advice_code == "03"  # the charge's outcome filled the gap


def test_expanded_charge_on_an_old_invoice_is_read() -> None:
    event = fixture("invoice.payment_failed")
    charge = fixture("charge.failed")["data"]["object"]
    obj(event)["payment_intent"] = None
    obj(event)["charge"] = charge
    data = invoice_data(event)
    assert data.charge_id == charge["id"]
    assert data.payment_intent_id == "pi_3PLc9QKX8bQ2t0eW1uRw4sVb"
    assert data.decline_code == "insufficient_funds"
    assert data.advice_code == "try_again_later"


def test_basil_invoice_reads_subscription_from_parent_and_intent_from_payments() -> None:
    data = invoice_data(fixture("invoice.payment_failed.basil"))
    assert "subscription" not in obj(fixture("invoice.payment_failed.basil"))
    assert data.subscription_id == "sub_1R8cZ9Lz4wQ9pKm0gHf2D5eT"
    assert data.payment_intent_id == "pi_3R8d2gLz4wQ9pKm01xYz9WvU"
    assert (data.amount, data.currency) == (4900, "EUR")
    assert data.customer_id == "cus_S2mXp7dWq0LhNe"


def test_basil_expanded_subscription_in_parent() -> None:
    event = fixture("invoice.payment_failed.basil")
    details = obj(event)["parent"]["subscription_details"]
    details["subscription"] = {"id": "sub_expanded", "object": "subscription"}
    assert invoice_data(event).subscription_id == "sub_expanded"


def test_basil_expanded_payment_intent_in_payments_gives_codes() -> None:
    event = fixture("invoice.payment_failed.basil")
    intent = fixture("payment_intent.payment_failed")["data"]["object"]
    del intent["invoice"]
    obj(event)["payments"]["data"][0]["payment"]["payment_intent"] = intent
    data = invoice_data(event)
    assert data.payment_intent_id == intent["id"]
    assert data.decline_code == "expired_card"


def test_basil_default_invoice_payment_is_chosen() -> None:
    event = fixture("invoice.payment_failed.basil")
    payments = obj(event)["payments"]["data"]
    other = json.loads(json.dumps(payments[0]))
    other["is_default"] = False
    other["payment"]["payment_intent"] = "pi_not_the_default"
    payments.append(other)
    assert invoice_data(event).payment_intent_id == "pi_3R8d2gLz4wQ9pKm01xYz9WvU"


def test_basil_invoice_without_payments_has_no_intent() -> None:
    event = fixture("invoice.payment_failed.basil")
    del obj(event)["payments"]
    data = invoice_data(event)
    assert data.payment_intent_id is None
    assert data.invoice_id == "in_1R8d2fLz4wQ9pKm0ZtYc7uA1"


def test_action_required_carries_the_authentication_decline() -> None:
    data = invoice_data(fixture("invoice.payment_action_required"))
    assert data.payment_intent_id == "pi_3PLd7bKX8bQ2t0eW0pTz5RyC"
    assert data.decline_code == "authentication_required"
    assert data.failure_code == "authentication_required"
    assert (data.amount, data.currency) == (9900, "USD")


def test_overdue_zero_decimal_send_invoice() -> None:
    data = invoice_data(fixture("invoice.overdue"))
    assert (data.amount, data.amount_due, data.currency) == (12000, 12000, "JPY")
    assert data.due_date == datetime(2024, 6, 14, tzinfo=UTC)
    assert data.subscription_id is None
    assert data.attempt_count == 0


@pytest.mark.parametrize("name", ["invoice.paid", "invoice.payment_succeeded"])
def test_paid_events_report_the_amount_paid(name: str) -> None:
    event = fixture(name)
    assert obj(event)["amount_remaining"] == 0
    data = invoice_data(event)
    assert (data.amount, data.amount_due) == (2900, 2900)
    assert data.invoice_status == "paid"
    assert data.charge_id == "ch_3PMe1xKX8bQ2t0eW0sDf4GhJ"


@pytest.mark.parametrize(
    ("name", "status"), [("invoice.voided", "void"), ("invoice.marked_uncollectible", "uncollectible")]
)
def test_terminal_invoice_events_carry_the_status(name: str, status: str) -> None:
    data = invoice_data(fixture(name))
    assert data.invoice_status == status
    assert data.amount > 0


def test_payment_intent_failure_for_an_invoice() -> None:
    data = invoice_data(fixture("payment_intent.payment_failed"))
    assert data.invoice_id == "in_1PLb3nKX8bQ2t0eWb6Yq1Zc4"
    assert data.payment_intent_id == "pi_3PLc9QKX8bQ2t0eW1uRw4sVb"
    assert data.charge_id == "ch_3PLc9QKX8bQ2t0eW1gk2Hq7B"
    assert (data.decline_code, data.failure_code) == ("expired_card", "expired_card")
    assert data.network_decline_code == "54"
    assert data.payment_method_id == "pm_1OqR1xKX8bQ2t0eWq9ZbT3yA"
    assert (data.amount, data.amount_due, data.currency) == (2900, 2900, "USD")
    assert data.customer_id == "cus_Q8sVq1mT3bZrKc"


def test_payment_intent_with_expanded_invoice_takes_its_subscription() -> None:
    event = fixture("payment_intent.payment_failed")
    obj(event)["invoice"] = fixture("invoice.payment_failed")["data"]["object"]
    data = invoice_data(event)
    assert data.invoice_id == "in_1PLb3nKX8bQ2t0eWb6Yq1Zc4"
    assert data.subscription_id == "sub_1OqR2sKX8bQ2t0eWmVgS7pLd"


@pytest.mark.parametrize("name", ["payment_intent.payment_failed", "charge.failed"])
def test_invoice_named_in_metadata_is_used(name: str) -> None:
    event = fixture(name)
    obj(event)["invoice"] = None
    obj(event)["metadata"] = {"invoice_id": "inv_platform_881"}
    assert invoice_data(event).invoice_id == "inv_platform_881"


@pytest.mark.parametrize("name", ["payment_intent.payment_failed", "charge.failed"])
def test_payment_without_an_invoice_is_ignored(name: str) -> None:
    event = fixture(name)
    obj(event)["invoice"] = None
    obj(event)["metadata"] = {"order": "1234"}
    assert normalize(event) == Normalization(ignored="not an invoice payment")


def test_basil_payment_intent_names_no_invoice_and_is_ignored() -> None:
    event = fixture("payment_intent.payment_failed")
    del obj(event)["invoice"]
    assert normalize(event).ignored == "not an invoice payment"


def test_charge_failure_reads_the_outcome() -> None:
    data = invoice_data(fixture("charge.failed"))
    assert data.provider_account == CONNECT_ACCOUNT
    assert data.charge_id == "ch_3PLc9QKX8bQ2t0eW1gk2Hq7B"
    assert data.payment_intent_id == "pi_3PLc9QKX8bQ2t0eW1uRw4sVb"
    assert data.decline_code == "insufficient_funds"
    assert data.failure_code == "card_declined"
    assert data.failure_message == "Your card has insufficient funds."
    assert data.advice_code == "try_again_later"
    assert data.network_decline_code == "51"
    assert (data.payment_method_kind, data.card_brand, data.card_country) == ("card", "visa", "US")


@pytest.mark.parametrize(
    ("outcome_type", "reason"),
    [("blocked", "highest_risk_level"), ("blocked", "rule"), ("invalid", None)],
)
def test_charge_outcome_reason_is_a_decline_code_only_for_issuer_declines(
    outcome_type: str, reason: str | None
) -> None:
    event = fixture("charge.failed")
    obj(event)["outcome"].update(
        type=outcome_type, reason=reason, network_status="not_sent_to_network", advice_code=None
    )
    data = invoice_data(event)
    assert data.decline_code is None
    assert data.failure_code == "card_declined"


def test_subscription_deleted() -> None:
    data = one_event(fixture("customer.subscription.deleted")).data
    assert isinstance(data, SubscriptionData)
    assert data.subscription_id == "sub_1OqR2sKX8bQ2t0eWmVgS7pLd"
    assert data.status == "canceled"
    assert data.customer_id == "cus_Q8sVq1mT3bZrKc"
    assert data.latest_invoice_id == "in_1PLb3nKX8bQ2t0eWb6Yq1Zc4"
    assert data.canceled_at == from_unix(1719500100)
    assert data.cancellation_reason == "payment_failed"


def test_subscription_updated_to_incomplete_expired_is_a_cancellation() -> None:
    event = fixture("customer.subscription.updated")
    obj(event).update(status="incomplete_expired", canceled_at=None, cancellation_details=None)
    data = one_event(event).data
    assert isinstance(data, SubscriptionData)
    assert data.status == "incomplete_expired"
    assert data.canceled_at == from_unix(1719500100)  # from ended_at
    assert data.cancellation_reason is None


@pytest.mark.parametrize("status", ["active", "past_due", "unpaid", "trialing", "paused"])
def test_subscription_update_without_cancellation_is_ignored(status: str) -> None:
    event = fixture("customer.subscription.updated")
    obj(event)["status"] = status
    assert normalize(event) == Normalization(ignored="subscription update without cancellation")


@pytest.mark.parametrize("change", ["attached", "detached", "updated", "automatically_updated"])
def test_payment_method_changes(change: str) -> None:
    event = fixture(f"payment_method.{change}")
    data = one_event(event).data
    assert isinstance(data, PaymentMethodData)
    assert data.change == change
    assert data.payment_method_id == "pm_1OqR1xKX8bQ2t0eWq9ZbT3yA"
    assert data.payment_method_kind == "card"
    assert data.card_brand == "visa"
    # A detached method has no customer; the event's previous_attributes name it.
    assert data.customer_id == "cus_Q8sVq1mT3bZrKc"
    card = obj(event)["card"]
    assert (data.card_last4, data.card_exp_month, data.card_exp_year) == (
        card["last4"],
        card["exp_month"],
        card["exp_year"],
    )


def test_automatic_card_update_carries_the_new_card() -> None:
    data = one_event(fixture("payment_method.automatically_updated")).data
    assert isinstance(data, PaymentMethodData)
    assert (data.card_last4, data.card_exp_month, data.card_exp_year) == ("0341", 11, 2029)


def test_non_card_payment_method_has_no_card_fields() -> None:
    event = fixture("payment_method.attached")
    del obj(event)["card"]
    obj(event)["type"] = "sepa_debit"
    obj(event)["sepa_debit"] = {"bank_code": "37040044", "country": "DE", "last4": "3000"}
    data = one_event(event).data
    assert isinstance(data, PaymentMethodData)
    assert data.payment_method_kind == "sepa_debit"
    assert data.card_brand is None


@pytest.mark.parametrize(
    ("name", "method_id", "brand", "last4"),
    [
        ("customer.source.expiring", "card_1MvoiELkdIwHu7ixOeFh0FKz", "mastercard", "4444"),
        ("customer.source.expiring.source", "src_1PJr0bLkdIwHu7ixW4cMl0Ra", "amex", "8431"),
    ],
)
def test_card_expiring(name: str, method_id: str, brand: str, last4: str) -> None:
    data = one_event(fixture(name)).data
    assert isinstance(data, PaymentMethodData)
    assert data.change == "expiring"
    assert data.payment_method_id == method_id
    assert data.payment_method_kind == "card"
    assert (data.card_brand, data.card_last4) == (brand, last4)
    assert (data.card_exp_month, data.card_exp_year) == (7, 2024)
    assert data.customer_id == "cus_NhD8HD2bY8dP3V"


def test_dispute_opened() -> None:
    data = one_event(fixture("charge.dispute.created")).data
    assert isinstance(data, DisputeData)
    assert data.dispute_id == "dp_1PSy7gKX8bQ2t0eWo7Rs9TuW"
    assert data.charge_id == "ch_3PMe1xKX8bQ2t0eW0sDf4GhJ"
    assert data.payment_intent_id == "pi_3PLc9QKX8bQ2t0eW1uRw4sVb"
    assert (data.amount, data.currency) == (2900, "USD")
    assert (data.reason, data.status) == ("fraudulent", "needs_response")
    assert data.invoice_id is None
    assert data.customer_id is None


def test_dispute_closed_links_invoice_and_customer_through_the_expanded_charge() -> None:
    data = one_event(fixture("charge.dispute.closed")).data
    assert isinstance(data, DisputeData)
    assert data.status == "lost"
    assert data.charge_id == "ch_3PMe1xKX8bQ2t0eW0sDf4GhJ"
    assert data.invoice_id == "in_1PLb3nKX8bQ2t0eWb6Yq1Zc4"
    assert data.customer_id == "cus_Q8sVq1mT3bZrKc"


def test_dispute_invoice_from_metadata() -> None:
    event = fixture("charge.dispute.created")
    obj(event)["metadata"] = {"invoice_id": "in_from_metadata"}
    data = one_event(event).data
    assert isinstance(data, DisputeData)
    assert data.invoice_id == "in_from_metadata"


@pytest.mark.parametrize(
    "event_type", ["invoice.created", "invoice.finalized", "customer.created", "payout.paid"]
)
def test_unhandled_types_are_ignored(event_type: str) -> None:
    event = fixture("invoice.payment_failed")
    event["type"] = event_type
    assert normalize(event) == Normalization(ignored=f"unhandled event type {event_type}")


def test_livemode_and_missing_account() -> None:
    event = fixture("invoice.payment_failed")
    event["livemode"] = True
    del event["account"]
    data = invoice_data(event)
    assert data.livemode is True
    assert data.provider_account is None


def test_livemode_defaults_to_false() -> None:
    event = fixture("invoice.paid")
    del event["livemode"]
    assert ADAPTER.parse(json.dumps(event).encode()).livemode is False


def test_an_upcoming_invoice_names_the_renewal_not_an_invoice() -> None:
    event = fixture("invoice.upcoming")
    data = one_event(event).data
    assert isinstance(data, UpcomingInvoiceData)
    assert (data.customer_id, data.subscription_id) == ("cus_Q8sVq1mT3bZrKc", "sub_1OqR2sKX8bQ2t0eWmVgS7pLd")
    assert (data.amount_due, data.currency) == (2900, "USD")
    assert data.renews_at == from_unix(1717146000)
    assert data.customer_email == "jenny.rosen@example.com"


def test_an_upcoming_invoice_without_a_customer_is_malformed() -> None:
    event = fixture("invoice.upcoming")
    obj(event)["customer"] = None
    with pytest.raises(MalformedEvent, match="customer is required"):
        normalize(event)
