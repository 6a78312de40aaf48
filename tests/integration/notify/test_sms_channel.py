"""The SMS channel against a local Twilio-compatible API over real HTTP: the request Twilio would
see, how its error codes map to retry-or-give-up, and the X-Twilio-Signature check."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support.servers import serve_in_thread
from tests.support.sms_sink import SmsSink, create_app

from dunning.common.embedded import free_port
from dunning.notify.channels.errors import DeliveryError
from dunning.notify.channels.sms import SmsGateway, sign_twilio_request, verify_twilio_signature

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

FROM = "+15005550006"
TO = "+14155550123"


@pytest.fixture(scope="module")
def sms_server() -> Iterator[tuple[SmsSink, str]]:
    sink = SmsSink(account_sid="AC" + "a1" * 16, auth_token="tok_sms_sink")
    with serve_in_thread(create_app(sink)) as url:
        yield sink, url


@pytest.fixture
def sink(sms_server: tuple[SmsSink, str]) -> SmsSink:
    sms_server[0].reset()
    return sms_server[0]


@pytest.fixture
def base_url(sms_server: tuple[SmsSink, str]) -> str:
    return sms_server[1]


@pytest_asyncio.fixture
async def gateway(sink: SmsSink, base_url: str) -> AsyncIterator[SmsGateway]:
    async with SmsGateway(base_url, sink.account_sid, sink.auth_token, FROM, timeout=5) as gw:
        yield gw


async def send_expecting_error(gateway: SmsGateway, to: str = TO) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        await gateway.send(to, "Your payment failed.", idempotency_key="key-err")
    return caught.value


async def test_the_provider_sees_twilios_request_shape(sink: SmsSink, gateway: SmsGateway) -> None:
    sid = await gateway.send(
        TO,
        "Acme: your card was declined. Update it: https://acme.example/p/1 Reply STOP to opt out.",
        idempotency_key="case_1:level_3:sms",
        status_callback="https://dunning.example.com/v1/sms/status",
    )

    assert re.fullmatch(r"SM[0-9a-f]{32}", sid)
    [sent] = sink.messages
    assert sent.sid == sid
    assert sent.form == {
        "To": TO,
        "From": FROM,
        "Body": "Acme: your card was declined. Update it: https://acme.example/p/1 Reply STOP to opt out.",
        "StatusCallback": "https://dunning.example.com/v1/sms/status",
    }
    assert sent.idempotency_token == "case_1:level_3:sms"


async def test_a_messaging_service_sends_instead_of_a_from_number(sink: SmsSink, base_url: str) -> None:
    async with SmsGateway(
        base_url, sink.account_sid, sink.auth_token, None, messaging_service_sid="MG" + "0" * 32
    ) as gateway:
        await gateway.send(TO, "こんにちは、お支払いが完了しませんでした。", idempotency_key="k-ms")

    [sent] = sink.messages
    assert sent.messaging_service_sid == "MG" + "0" * 32
    assert sent.from_number is None
    assert sent.body == "こんにちは、お支払いが完了しませんでした。"


async def test_a_repeated_idempotency_key_sends_once(sink: SmsSink, gateway: SmsGateway) -> None:
    first = await gateway.send(TO, "Reminder", idempotency_key="case_9:level_2:sms")
    again = await gateway.send(TO, "Reminder", idempotency_key="case_9:level_2:sms")

    assert again == first
    assert len(sink.messages) == 1
    assert sink.requests == 2


async def test_wrong_credentials_are_refused_and_retried_later(sink: SmsSink, base_url: str) -> None:
    async with SmsGateway(base_url, sink.account_sid, "wrong-token", FROM) as gateway:
        error = await send_expecting_error(gateway)

    assert (error.permanent, error.code) == (False, "20003")
    assert sink.messages == []


@pytest.mark.parametrize(
    ("twilio_code", "permanent", "opted_out", "retry_after"),
    [
        (21610, True, True, None),  # the recipient texted STOP
        (21211, True, False, None),  # not a valid phone number
        (21614, True, False, None),  # not a mobile number
        (20429, False, False, 2.0),  # rate limited, with Retry-After
        (20500, False, False, None),  # Twilio's own trouble
    ],
)
async def test_twilio_errors_map_to_retry_or_give_up(
    sink: SmsSink,
    gateway: SmsGateway,
    twilio_code: int,
    permanent: bool,
    opted_out: bool,
    retry_after: float | None,
) -> None:
    sink.fail(TO, twilio_code)

    error = await send_expecting_error(gateway)

    assert error.code == str(twilio_code)
    assert (error.permanent, error.recipient_opted_out, error.retry_after) == (
        permanent,
        opted_out,
        retry_after,
    )


async def test_a_slow_provider_times_out_as_transient(sink: SmsSink, base_url: str) -> None:
    sink.slow(TO, 1.0)
    async with SmsGateway(base_url, sink.account_sid, sink.auth_token, FROM, timeout=0.2) as gateway:
        error = await send_expecting_error(gateway)

    assert (error.permanent, error.code) == (False, "timeout")


async def test_an_unreachable_provider_is_transient(sink: SmsSink) -> None:
    async with SmsGateway(f"http://127.0.0.1:{free_port()}", sink.account_sid, "t", FROM) as gateway:
        error = await send_expecting_error(gateway)

    assert (error.permanent, error.code) == (False, "connection")


async def test_a_gateway_needs_a_sender() -> None:
    with pytest.raises(ValueError, match="from_number or a messaging_service_sid"):
        SmsGateway("https://api.twilio.com", "AC1", "t", None)


# Vectors from Twilio's own helper library (twilio-python tests/unit/test_request_validator.py).
TWILIO_TOKEN = "12345"
TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}


async def test_twilio_signature_matches_twilios_published_vectors() -> None:
    assert sign_twilio_request(TWILIO_TOKEN, TWILIO_URL, TWILIO_PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert verify_twilio_signature(TWILIO_TOKEN, TWILIO_URL, TWILIO_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    repeated = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
    assert sign_twilio_request(TWILIO_TOKEN, TWILIO_URL, repeated) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


@pytest.mark.parametrize(
    ("url", "signature"),
    [
        ("https://mycompany.com:1234/myapp.php?foo=1&bar=2", "RSOYDt4T1cUTdK1PDd93/VVr8B8="),  # port dropped
        (TWILIO_URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),  # signed with :443
        ("http://mycompany.com/myapp.php?foo=1&bar=2", "0ZXoZLH/DfblKGATFgpif+LLRf4="),  # signed with :80
        ("http://mycompany.com:1234/myapp.php?foo=1&bar=2", "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
    ],
)
async def test_twilio_signature_tolerates_a_proxy_adding_or_dropping_the_port(
    url: str, signature: str
) -> None:
    assert verify_twilio_signature(TWILIO_TOKEN, url, TWILIO_PARAMS, signature)


async def test_a_forged_inbound_stop_is_refused() -> None:
    url = "https://dunning.example.com/v1/sms/inbound"
    stop = {"From": TO, "To": FROM, "Body": "STOP", "MessageSid": "SM" + "1" * 32}
    signature = sign_twilio_request("inbound-token", url, stop)

    assert verify_twilio_signature("inbound-token", url, stop, signature)
    assert not verify_twilio_signature("inbound-token", url, {**stop, "From": "+14155550999"}, signature)
    assert not verify_twilio_signature("other-token", url, stop, signature)
    assert not verify_twilio_signature("inbound-token", url + "?x=1", stop, signature)
    assert not verify_twilio_signature("inbound-token", url, stop, "")


form_values = st.text(st.characters(codec="utf-8"), max_size=40)


@settings(max_examples=60, deadline=None)
@given(
    params=st.dictionaries(st.text(min_size=1, max_size=12), form_values, max_size=8),
    token=st.text(min_size=1),
)
async def test_twilio_signature_round_trips_and_any_change_breaks_it(
    params: dict[str, str], token: str
) -> None:
    url = "https://dunning.example.com/v1/sms/inbound"
    signature = sign_twilio_request(token, url, params)

    assert verify_twilio_signature(token, url, params, signature)
    assert verify_twilio_signature(token, url, list(params.items())[::-1], signature)  # order never matters
    tampered = {**params, "Body": params.get("Body", "") + "!"}
    assert not verify_twilio_signature(token, url, tampered, signature)
