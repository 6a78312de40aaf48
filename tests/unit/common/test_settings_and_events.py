"""Settings refuse a half-configured production; event ids and subjects are stable contracts."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from dunning.common.events.envelope import CloudEvent, decode_event, deterministic_event_id, encode_event
from dunning.common.events.payment import DisputeData, InvoicePaymentData, PaymentMethodData, event_subject
from dunning.common.settings import CommonSettings, MissingSettings

WHEN = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
IDENTITY = {
    "tenant_id": "ten_1",
    "provider": "stripe",
    "provider_event_id": "evt_1",
    "provider_event_type": "x",
    "livemode": False,
    "occurred_at": WHEN,
}


def test_a_role_names_every_setting_it_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DUNNING_DATABASE_URL", "DUNNING_KAFKA_BOOTSTRAP", "DUNNING_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings = CommonSettings()
    with pytest.raises(MissingSettings) as error:
        settings.require("database_url", "kafka_bootstrap", "secret_key")
    assert str(error.value) == (
        "missing required settings: DUNNING_DATABASE_URL, DUNNING_KAFKA_BOOTSTRAP, DUNNING_SECRET_KEY"
    )
    monkeypatch.setenv("DUNNING_DATABASE_URL", "postgresql://db/dunning")
    CommonSettings().require("database_url")  # what this role needs is there: no error


def test_settings_read_the_dunning_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUNNING_DATABASE_URL", "postgresql://db/dunning")
    monkeypatch.setenv("DUNNING_KAFKA_BOOTSTRAP", "kafka:9092")
    monkeypatch.setenv("DUNNING_SECRET_KEY", "super-secret-key-value")
    monkeypatch.setenv("DUNNING_KAFKA_ENABLE_IDEMPOTENCE", "true")
    settings = CommonSettings()
    assert settings.database_url == "postgresql://db/dunning"
    assert settings.kafka_enable_idempotence is True
    assert "super-secret-key-value" not in repr(settings)  # secrets never print


def test_event_ids_are_deterministic_per_fact() -> None:
    a = deterministic_event_id("ten_1", "stripe", "evt_1", "payment.failed")
    assert a == deterministic_event_id("ten_1", "stripe", "evt_1", "payment.failed")
    assert a != deterministic_event_id("ten_1", "stripe", "evt_1", "invoice.paid")
    assert a != deterministic_event_id("ten_2", "stripe", "evt_1", "payment.failed")


def test_invoice_facts_key_on_the_case_and_others_on_the_customer() -> None:
    invoice = InvoicePaymentData(**IDENTITY, invoice_id="in_9", amount=1, amount_due=1, currency="USD")
    assert event_subject("ten_1", invoice) == "ten_1:in_9"
    method = PaymentMethodData(**IDENTITY, customer_id="cus_4", change="attached", payment_method_id="pm_1")
    assert event_subject("ten_1", method) == "ten_1:customer:cus_4"
    dispute = DisputeData(**IDENTITY, dispute_id="dp_1", amount=5, currency="EUR", status="needs_response")
    assert event_subject("ten_1", dispute) == "ten_1:dispute:dp_1"


def test_envelope_round_trips_and_rejects_bad_types() -> None:
    event = CloudEvent(
        id="e1",
        source="/x",
        type="dunning.payment.failed.v1",
        subject="ten_1:in_1",
        time=WHEN,
        tenantid="ten_1",
        data={"a": 1},
    )
    assert decode_event(encode_event(event)) == event
    with pytest.raises(ValidationError):
        CloudEvent(id="e1", source="/x", type="payment.failed", subject="s", time=WHEN, tenantid="t", data={})
    with pytest.raises(ValidationError):
        CloudEvent.model_validate({**event.model_dump(), "time": "2026-11-23T12:00:00"})  # naive time


def test_money_fields_refuse_negative_amounts_and_lowercase_currency() -> None:
    with pytest.raises(ValidationError):
        InvoicePaymentData(**IDENTITY, invoice_id="in_1", amount=-1, amount_due=1, currency="USD")
    with pytest.raises(ValidationError):
        InvoicePaymentData(**IDENTITY, invoice_id="in_1", amount=1, amount_due=1, currency="usd")
