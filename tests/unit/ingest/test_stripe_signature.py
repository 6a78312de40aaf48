"""Stripe-Signature verification, cross-checked against the stripe SDK's own signing code."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime

import pytest
import stripe
from hypothesis import given
from hypothesis import strategies as st

from dunning.common.clock import from_unix
from dunning.ingest.processors.base import InvalidSignature, MissingSignature
from dunning.ingest.processors.stripe import StripeAdapter, sign
from dunning.ingest.processors.stripe.signature import parse_signature_header

SECRET = "whsec_test_9mK2pQ7vX1nB4cZ8"
ROLLED_SECRET = "whsec_test_rolled_3Hf6Lw0Ty5Rd"
T = 1_717_149_607
BODY = b'{"id": "evt_1", "object": "event", "type": "invoice.payment_failed"}'
# HMAC-SHA256 of f"{T}.{BODY}" under SECRET, computed with `openssl dgst -sha256 -hmac`.
BODY_SIGNATURE = "59c5e94d607b26fc0d8eb9978094815dfdc8ab3e4a27518459dba97311f16e2a"

# Secrets are configuration text: any characters but lone surrogates, never blank.
secrets_st = st.text(alphabet=st.characters(codec="utf-8"), min_size=1).filter(lambda s: bool(s.strip()))


def verify(
    body: bytes,
    header: str,
    *,
    secrets: Sequence[str] = (SECRET,),
    now: int = T,
    tolerance: int = 300,
    headers: Mapping[str, str] | None = None,
) -> None:
    adapter = StripeAdapter(tolerance_seconds=tolerance)
    sent = {"Stripe-Signature": header} if headers is None else headers
    adapter.verify(body, sent, list(secrets), from_unix(now))


def sdk_header(body: bytes, secret: str, timestamp: int) -> str:
    header: str = stripe.WebhookSignature.generate_signature_header(
        body.decode(), secret, timestamp=timestamp
    )
    return header


def test_sign_produces_the_documented_hmac() -> None:
    assert sign(BODY, SECRET, T) == f"t={T},v1={BODY_SIGNATURE}"


def test_sign_agrees_with_the_stripe_sdk() -> None:
    assert sign(BODY, SECRET, T) == sdk_header(BODY, SECRET, T)


def test_stripe_sdk_accepts_what_we_sign() -> None:
    # The SDK checks staleness against the wall clock, so sign "now".
    now = int(time.time())
    event = stripe.Webhook.construct_event(BODY.decode(), sign(BODY, SECRET, now), SECRET)
    assert event.id == "evt_1"


def test_we_accept_what_the_stripe_sdk_signs() -> None:
    verify(BODY, sdk_header(BODY, SECRET, T))


def test_one_matching_v1_among_several_is_enough() -> None:
    good = sign(BODY, ROLLED_SECRET, T).split(",")[1]
    header = f"t={T},v1={'0' * 64},v0={BODY_SIGNATURE},{good},v1=deadbeef"
    verify(BODY, header, secrets=[ROLLED_SECRET])


def test_a_v0_signature_is_never_trusted() -> None:
    header = f"t={T},v0={BODY_SIGNATURE},v1={'0' * 64}"
    with pytest.raises(InvalidSignature, match="no v1 signature matches"):
        verify(BODY, header)


def test_unknown_and_garbled_items_are_tolerated() -> None:
    header = f" t={T} , garbage ,x=y,,v2=abc, v1={BODY_SIGNATURE} "
    verify(BODY, header)


@pytest.mark.parametrize("signed_with", [SECRET, ROLLED_SECRET])
def test_either_active_secret_verifies_during_rotation(signed_with: str) -> None:
    verify(BODY, sign(BODY, signed_with, T), secrets=[SECRET, ROLLED_SECRET])


@pytest.mark.parametrize("active", [SECRET, ROLLED_SECRET])
def test_stripe_roll_header_with_one_v1_per_secret(active: str) -> None:
    rolled = sign(BODY, ROLLED_SECRET, T).split(",")[1]
    verify(BODY, f"{sign(BODY, SECRET, T)},{rolled}", secrets=[active])


def test_wrong_secret_is_rejected() -> None:
    with pytest.raises(InvalidSignature, match="no v1 signature matches"):
        verify(BODY, sign(BODY, "whsec_someone_else", T))


def test_a_retired_secret_no_longer_verifies() -> None:
    with pytest.raises(InvalidSignature):
        verify(BODY, sign(BODY, SECRET, T), secrets=[ROLLED_SECRET])


def test_tampered_body_is_rejected() -> None:
    tampered = BODY.replace(b"evt_1", b"evt_2")
    assert len(tampered) == len(BODY)
    with pytest.raises(InvalidSignature, match="no v1 signature matches"):
        verify(tampered, sign(BODY, SECRET, T))


def test_signature_over_another_timestamp_is_rejected() -> None:
    signature = sign(BODY, SECRET, T).split(",")[1]
    with pytest.raises(InvalidSignature):
        verify(BODY, f"t={T + 1},{signature}", now=T + 1)


@pytest.mark.parametrize("offset", [-300, -1, 0, 1, 300])
def test_timestamps_within_tolerance_are_accepted(offset: int) -> None:
    verify(BODY, sign(BODY, SECRET, T), now=T + offset)


@pytest.mark.parametrize("offset", [301, -301, 86_400, -86_400])
def test_stale_and_future_timestamps_are_rejected(offset: int) -> None:
    # now - t = offset: positive is a stale (replayed) webhook, negative one from the future.
    with pytest.raises(InvalidSignature, match="timestamp outside the tolerance"):
        verify(BODY, sign(BODY, SECRET, T), now=T + offset)


def test_tolerance_is_configurable() -> None:
    verify(BODY, sign(BODY, SECRET, T), now=T + 600, tolerance=600)
    with pytest.raises(InvalidSignature, match="tolerance of 10s"):
        verify(BODY, sign(BODY, SECRET, T), now=T + 11, tolerance=10)


def test_negative_tolerance_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="tolerance"):
        StripeAdapter(tolerance_seconds=-1)


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        StripeAdapter().verify(
            BODY, {"Stripe-Signature": sign(BODY, SECRET, T)}, [SECRET], datetime(2024, 6, 1)
        )


@pytest.mark.parametrize(
    "headers",
    [{}, {"Content-Type": "application/json"}, {"Stripe-Signature": ""}, {"stripe-signature": " "}],
)
def test_missing_header_is_missing_signature(headers: dict[str, str]) -> None:
    with pytest.raises(MissingSignature, match="Stripe-Signature"):
        verify(BODY, "", headers=headers)


@pytest.mark.parametrize("name", ["Stripe-Signature", "stripe-signature", "STRIPE-SIGNATURE"])
def test_header_name_is_case_insensitive_in_a_dict(name: str) -> None:
    verify(BODY, "", headers={"Host": "dunning.example", name: sign(BODY, SECRET, T)})


def test_header_is_found_in_starlette_headers() -> None:
    datastructures = pytest.importorskip("starlette.datastructures")
    header = sign(BODY, SECRET, T).encode()
    headers = datastructures.Headers(raw=[(b"host", b"x"), (b"stripe-signature", header)])
    verify(BODY, "", headers=headers)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("garbage", "no timestamp"),
        (",,,", "no timestamp"),
        (f"v1={BODY_SIGNATURE}", "no timestamp"),
        (f"t=,v1={BODY_SIGNATURE}", "not a unix time"),
        (f"t=abc,v1={BODY_SIGNATURE}", "not a unix time"),
        (f"t=-5,v1={BODY_SIGNATURE}", "not a unix time"),
        (f"t=1_717_149_607,v1={BODY_SIGNATURE}", "not a unix time"),
        (f"t=\u0661\u0662\u0663,v1={BODY_SIGNATURE}", "not a unix time"),
        (f"t={'9' * 5000},v1={BODY_SIGNATURE}", "not a unix time"),
        (f"t={T},t={T},v1={BODY_SIGNATURE}", "more than one timestamp"),
        (f"t={T}", "no v1 signature"),
        (f"t={T},v1=", "no v1 signature"),
        (f"t={T},v1=\u00e9\u00e9", "no v1 signature"),
        (f"t={T},v0={BODY_SIGNATURE}", "no v1 signature"),
    ],
)
def test_garbage_headers_are_invalid(header: str, reason: str) -> None:
    with pytest.raises(InvalidSignature, match=reason):
        parse_signature_header(header)
    with pytest.raises(InvalidSignature, match=reason):
        verify(BODY, header)


def test_parser_returns_timestamp_and_every_v1_in_order() -> None:
    assert parse_signature_header(f"t={T},v1=aa,v0=bb,v1=cc") == (T, ["aa", "cc"])


@pytest.mark.parametrize("secrets", [[], [""], ["  "]])
def test_no_usable_secret_verifies_nothing(secrets: list[str]) -> None:
    # An empty HMAC key is public knowledge: a body signed with it must not pass.
    with pytest.raises(InvalidSignature, match="no webhook signing secret"):
        verify(BODY, sign(BODY, "", T), secrets=secrets)


header_items = st.lists(
    st.tuples(st.sampled_from(["t", "v1", "v0", "", " t", "x"]), st.text(max_size=70)).map(
        lambda kv: f"{kv[0]}={kv[1]}"
    )
    | st.text(max_size=20),
    max_size=6,
).map(",".join)


@given(header=st.text() | header_items)
def test_parser_raises_nothing_but_invalid_signature(header: str) -> None:
    try:
        timestamp, signatures = parse_signature_header(header)
    except InvalidSignature:
        return
    assert timestamp >= 0
    assert signatures


@given(header=st.text() | header_items, body=st.binary(max_size=64))
def test_verify_raises_nothing_but_signature_errors(header: str, body: bytes) -> None:
    with pytest.raises((InvalidSignature, MissingSignature)):
        verify(body, header)


@given(
    body=st.binary(max_size=4096),
    secret=secrets_st,
    timestamp=st.integers(min_value=0, max_value=10**10),
)
def test_what_we_sign_we_verify(body: bytes, secret: str, timestamp: int) -> None:
    verify(body, sign(body, secret, timestamp), secrets=[secret], now=timestamp)


@given(
    body=st.text(alphabet=st.characters(codec="utf-8")),
    secret=secrets_st,
    timestamp=st.integers(min_value=0, max_value=10**10),
)
def test_sign_agrees_with_the_sdk_for_any_text(body: str, secret: str, timestamp: int) -> None:
    assert sign(body.encode(), secret, timestamp) == sdk_header(body.encode(), secret, timestamp)


@given(body=st.binary(min_size=1, max_size=1024), data=st.data())
def test_any_single_byte_mutation_is_rejected(body: bytes, data: st.DataObject) -> None:
    header = sign(body, SECRET, T)
    index = data.draw(st.integers(min_value=0, max_value=len(body) - 1), label="index")
    change = data.draw(st.sampled_from(["replace", "insert", "delete"]), label="change")
    byte = data.draw(st.integers(min_value=0, max_value=255), label="byte")
    if change == "replace":
        byte = (body[index] + 1 + byte % 255) % 256  # always a different byte
        mutated = body[:index] + bytes([byte]) + body[index + 1 :]
    elif change == "insert":
        mutated = body[:index] + bytes([byte]) + body[index:]
    else:
        mutated = body[:index] + body[index + 1 :]
    assert mutated != body
    with pytest.raises(InvalidSignature, match="no v1 signature matches"):
        verify(mutated, header)
