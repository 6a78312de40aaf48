"""Secrets and card data never reach the logs: every flow that handles one runs with the log
output captured, and the output is searched for each known secret value and for anything
shaped like a card number."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import structlog
from pydantic import SecretStr
from tests.conftest import Infra

from dunning.cli.settings import SystemSettings
from dunning.cli.system import build_system_app
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.health import Health
from dunning.common.logging import configure_logging
from dunning.ingest.processors.stripe.signature import sign

pytestmark = pytest.mark.integration

ADMIN_TOKEN = "operator-token-never-in-the-logs-0001"
STRIPE_KEY = "sk_test_51NeverInTheLogsAbCdEfGhIjKlMnOpQrStUv"
GIVEN_WEBHOOK_SECRET = "whsec_NeverInTheLogsGivenSecret000001"
SMTP_PASSWORD = "smtp-Password-never-in-logs-42"
SMS_TOKEN = "twilio-auth-token-never-in-logs-42"
PAN = "4242424242424242"
FINGERPRINT = "FpNeverInTheLogs77"
PAN_SHAPED = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """Every structlog line, through the production processors (redaction included)."""
    buffer = io.StringIO()
    configure_logging("DEBUG")
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(buffer), cache_logger_on_first_use=False)
    try:
        yield buffer
    finally:
        structlog.reset_defaults()


@pytest_asyncio.fixture
async def operator_client(
    infra: Infra, clean_db: Database, box: SecretBox, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = SystemSettings(
        data_dir=tmp_path / "data",
        database_url=infra.database_url,
        kafka_bootstrap=infra.bootstrap,
        secret_key=SecretStr(infra.secret_key),
        admin_token=SecretStr(ADMIN_TOKEN),
        smtp_url=SecretStr(f"smtp://mailer:{SMTP_PASSWORD}@127.0.0.1:1"),
        sms_account_sid="AC0000",
        sms_auth_token=SecretStr(SMS_TOKEN),
    )
    app = build_system_app(settings, clean_db, box, Health())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://dunning.test") as http:
        yield http


def _card_event(event_id: str) -> bytes:
    card = {"brand": "visa", "last4": PAN[-4:], "fingerprint": FINGERPRINT, "number": PAN, "exp_year": 2030}
    invoice = {
        "id": "in_logs_1",
        "object": "invoice",
        "customer": "cus_logs",
        "currency": "eur",
        "amount_due": 4500,
        "amount_remaining": 4500,
        "payment_intent": "pi_logs",
        "last_finalization_error": {"payment_method": {"card": card}},
        "charge": {"id": "ch_logs", "payment_method_details": {"card": card}},
    }
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": "invoice.payment_failed",
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": invoice},
        }
    ).encode()


@pytest.mark.asyncio
async def test_no_secret_or_card_number_reaches_the_logs(
    operator_client: httpx.AsyncClient, log_output: io.StringIO
) -> None:
    http = operator_client
    structlog.get_logger("hostile").info("capture check")
    operator = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    created = await http.post(
        "/v1/tenants", json={"name": "Logs", "stripe_webhook_secret": GIVEN_WEBHOOK_SECRET}, headers=operator
    )
    assert created.status_code == 201, created.text
    tenant = created.json()
    api_key = tenant["api_key"]
    admin = {"Authorization": f"Bearer {api_key}"}
    # Wrong credentials carry secrets too: a mistyped key is a real key with a typo.
    assert (await http.get("/v1/tenant", headers={"Authorization": f"Bearer {api_key}x"})).status_code == 401
    assert (
        await http.get("/v1/tenants", headers={"Authorization": f"Bearer {ADMIN_TOKEN}x"})
    ).status_code == 401
    stripe = await http.put("/v1/processor-credentials/stripe", json={"api_key": STRIPE_KEY}, headers=admin)
    assert stripe.status_code == 200, stripe.text
    added = await http.post("/v1/webhook-secrets", json={}, headers=admin)
    assert added.status_code in (201, 422), added.text
    endpoint_secret = (added.json().get("secret") or "") if added.status_code == 201 else ""
    for kind in ("platform", "agency"):
        put = await http.put(
            f"/v1/notification-endpoints/{kind}",
            json={"url": f"https://hooks.example/{kind}?token=whsec_EndpointSecretInUrl000"},
            headers=admin,
        )
        assert put.status_code in (200, 422), put.text
    url = f"/v1/webhooks/stripe/{tenant['tenant_id']}"
    body = _card_event("evt_logs_1")
    wrong = sign(body, "whsec_" + "0" * 32, int(time.time()))
    refused = await http.post(url, content=body, headers={"Stripe-Signature": wrong})
    assert refused.status_code == 400
    signed = {"Stripe-Signature": sign(body, GIVEN_WEBHOOK_SECRET, int(time.time()))}
    accepted = await http.post(url, content=body, headers=signed)
    assert accepted.status_code == 200, accepted.text
    sms = await http.post(
        "/v1/sms/inbound",
        content=b"From=%2B15550001111&Body=STOP",
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": SMS_TOKEN},
    )
    assert sms.status_code == 403

    logs = log_output.getvalue()
    assert "capture check" in logs, "the capture is not working"
    secrets = {
        "admin token": ADMIN_TOKEN,
        "tenant API key": api_key,
        "webhook signing secret": GIVEN_WEBHOOK_SECRET,
        "Stripe secret key": STRIPE_KEY,
        "SMTP password": SMTP_PASSWORD,
        "SMS auth token": SMS_TOKEN,
        "card number": PAN,
        "card fingerprint": FINGERPRINT,
        "endpoint secret": "whsec_EndpointSecretInUrl000",
    }
    if endpoint_secret:
        secrets["added webhook secret"] = endpoint_secret
    leaked = [name for name, value in secrets.items() if value in logs]
    assert leaked == [], f"{leaked} in the logs:\n{logs}"
    assert PAN_SHAPED.findall(logs) == [], logs


def test_secret_shapes_are_scrubbed_from_values_nested_fields_and_tracebacks(
    log_output: io.StringIO,
) -> None:
    """The paths that do log (worker failures, unhandled errors) carry processor messages and
    exceptions; a secret in them is removed by shape, whatever the field is called."""
    log = structlog.get_logger("hostile")
    log.warning("attempt released", error=f"Invalid API Key provided: {STRIPE_KEY}")
    log.warning("delivery failed", target=f"smtp://mailer:{SMTP_PASSWORD}@mail.example:587")
    log.info(
        "nested",
        payload={"card": {"number": PAN}, "note": f"card {PAN[:4]} {PAN[4:8]} {PAN[8:12]} {PAN[12:]}"},
    )
    log.info("named", smtp_password=SMTP_PASSWORD, sms_auth_token=SMS_TOKEN, webhook_secret="x")
    try:
        raise RuntimeError(f"signing with {GIVEN_WEBHOOK_SECRET} failed for dk_0123456789abcdef_secretpart")
    except RuntimeError:
        log.exception("unhandled error")
    logs = log_output.getvalue()
    for secret in (STRIPE_KEY, SMTP_PASSWORD, SMS_TOKEN, PAN, GIVEN_WEBHOOK_SECRET, "dk_0123456789abcdef"):
        assert secret not in logs, (secret, logs)
    assert PAN_SHAPED.findall(logs) == [], logs
    # What is not secret stays readable.
    lines = [json.loads(line) for line in logs.splitlines()]
    assert lines[0]["error"] == "Invalid API Key provided: [redacted-key]"
    assert lines[1]["target"] == "smtp://mailer:[redacted]@mail.example:587"
    assert "RuntimeError: signing with [redacted-secret]" in lines[-1]["exception"]
