"""Malformed Stripe events: each bad field is a MalformedEvent (HTTP 400) naming it, never a 500."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dunning.ingest.processors.base import MalformedEvent, Normalization
from dunning.ingest.processors.stripe import StripeAdapter

FIXTURES = Path(__file__).parent / "fixtures" / "stripe"
ADAPTER = StripeAdapter()
DELETE = object()
Path_ = tuple[str | int, ...]


@cache
def _fixture_text(name: str) -> str:
    return (FIXTURES / f"{name}.json").read_text()


def fixture(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(_fixture_text(name))
    return event


def edit(event: Any, path: Path_, value: object) -> None:
    *parents, last = path
    target = event
    for key in parents:
        target = target[key]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value


def process(body: bytes) -> Normalization:
    return ADAPTER.normalize("tenant_acme", ADAPTER.parse(body))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff\xfe{}", "not UTF-8"),
        (b"", "not JSON"),
        (b"{", "not JSON"),
        (b'{"id": "evt_1", "created": NaN}', "not JSON"),
        (b'{"id": "evt_1", "created": Infinity}', "not JSON"),
        (b"[" * 100_000, "not JSON"),
        (b"[]", "not a JSON object"),
        (b'"evt_1"', "not a JSON object"),
        (b"null", "not a JSON object"),
    ],
)
def test_bodies_that_are_not_event_objects(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedEvent, match=reason):
        ADAPTER.parse(body)


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("id",), DELETE, r"event\.id is required"),
        (("id",), 42, r"event\.id must be a string"),
        (("id",), "in_1PLb3nKX8bQ2t0eWb6Yq1Zc4", r"event\.id must be a Stripe event ID"),
        (("type",), DELETE, r"event\.type is required"),
        (("type",), ["invoice.paid"], r"event\.type must be a string"),
        (("created",), DELETE, r"event\.created is required"),
        (("created",), "1717149607", r"event\.created must be an integer"),
        (("created",), True, r"event\.created must be an integer"),
        (("created",), 1717149607.5, r"event\.created must be an integer"),
        (("created",), -1, r"event\.created must be a unix timestamp"),
        (("created",), 10**20, r"event\.created must be a unix timestamp"),
        (("data",), DELETE, r"event\.data\.object is required"),
        (("data",), [], r"event\.data must be an object"),
        (("data", "object"), DELETE, r"event\.data\.object is required"),
        (("data", "object"), "in_1PLb3nKX8bQ2t0eWb6Yq1Zc4", r"event\.data\.object must be"),
        (("livemode",), "false", r"event\.livemode must be true or false"),
        (("account",), 7, r"event\.account must be a string"),
        (("object",), "invoice", r"event\.object must be 'event'"),
    ],
)
def test_malformed_envelope_names_the_field(path: Path_, value: object, field: str) -> None:
    event = fixture("invoice.payment_failed")
    edit(event, path, value)
    with pytest.raises(MalformedEvent, match=field):
        ADAPTER.parse(json.dumps(event).encode())


INVOICE = "invoice.payment_failed"
EXPANDED = "invoice.payment_failed.expanded"
BASIL = "invoice.payment_failed.basil"


@pytest.mark.parametrize(
    ("name", "path", "value", "field"),
    [
        (INVOICE, ("id",), DELETE, r"object\.id is required"),
        (INVOICE, ("id",), "", r"object\.id is required"),
        (INVOICE, ("currency",), DELETE, r"object\.currency is required"),
        (INVOICE, ("currency",), "dollars", r"object\.currency must be an ISO 4217"),
        (INVOICE, ("currency",), "\u00fcsd", r"object\.currency must be an ISO 4217"),
        (INVOICE, ("currency",), 840, r"object\.currency must be a string"),
        (INVOICE, ("amount_remaining",), DELETE, r"object\.amount_remaining is required"),
        (INVOICE, ("amount_remaining",), -100, r"object\.amount_remaining must be a non-neg"),
        (INVOICE, ("amount_due",), "2900", r"object\.amount_due must be an integer"),
        (INVOICE, ("amount_due",), 29.0, r"object\.amount_due must be an integer"),
        (INVOICE, ("amount_due",), True, r"object\.amount_due must be an integer"),
        ("invoice.paid", ("amount_paid",), DELETE, r"object\.amount_paid is required"),
        (INVOICE, ("attempt_count",), -1, r"object\.attempt_count must be a non-negative"),
        (INVOICE, ("due_date",), "2024-06-01", r"object\.due_date must be an integer"),
        (INVOICE, ("next_payment_attempt",), 10**15, r"next_payment_attempt must be a unix"),
        (INVOICE, ("subscription",), 42, r"object\.subscription must be an ID or an expanded"),
        (INVOICE, ("customer",), {"object": "customer"}, r"object\.customer\.id is required"),
        (INVOICE, ("object",), "charge", r"object\.object must be 'invoice'"),
        (INVOICE, ("number",), 7, r"object\.number must be a string"),
        (EXPANDED, ("payment_intent", "id"), DELETE, r"payment_intent\.id is required"),
        (
            EXPANDED,
            ("payment_intent", "last_payment_error"),
            "card_declined",
            r"payment_intent\.last_payment_error must be an object",
        ),
        (
            EXPANDED,
            ("payment_intent", "last_payment_error", "decline_code"),
            51,
            r"last_payment_error\.decline_code must be a string",
        ),
        (
            EXPANDED,
            ("payment_intent", "latest_charge", "outcome"),
            [],
            r"payment_intent\.latest_charge\.outcome must be an object",
        ),
        (
            BASIL,
            ("parent", "subscription_details"),
            "sub_1",
            r"parent\.subscription_details must be an object",
        ),
        (BASIL, ("payments", "data"), {}, r"payments\.data must be a list"),
        (BASIL, ("payments", "data", 0), "inpay_1", r"payments\.data\[0\] must be an object"),
        ("payment_intent.payment_failed", ("amount",), DELETE, r"object\.amount is required"),
        ("payment_intent.payment_failed", ("currency",), None, r"object\.currency is required"),
        ("payment_intent.payment_failed", ("id",), DELETE, r"object\.id is required"),
        ("payment_intent.payment_failed", ("invoice",), 5, r"object\.invoice must be an ID"),
        ("charge.failed", ("amount",), -5, r"object\.amount must be a non-negative"),
        ("charge.failed", ("outcome",), "declined", r"object\.outcome must be an object"),
        ("charge.failed", ("object",), "payment_intent", r"object\.object must be 'charge'"),
        ("customer.subscription.deleted", ("status",), DELETE, r"object\.status is required"),
        ("customer.subscription.deleted", ("id",), "", r"object\.id is required"),
        ("customer.subscription.deleted", ("canceled_at",), "yesterday", r"\.canceled_at must"),
        ("payment_method.attached", ("id",), DELETE, r"object\.id is required"),
        ("payment_method.attached", ("card", "exp_month"), 13, r"card\.exp_month must be a"),
        ("payment_method.attached", ("card", "exp_year"), "2027", r"card\.exp_year must be an"),
        ("payment_method.attached", ("card",), "visa", r"object\.card must be an object"),
        (
            "customer.source.expiring",
            ("object",),
            "bank_account",
            r"object\.object must be 'card' or 'source'",
        ),
        ("customer.source.expiring.source", ("card",), "card_1", r"object\.card must be an"),
        ("charge.dispute.created", ("amount",), DELETE, r"object\.amount is required"),
        ("charge.dispute.created", ("status",), DELETE, r"object\.status is required"),
        ("charge.dispute.created", ("currency",), "", r"object\.currency must be an ISO 4217"),
        ("charge.dispute.closed", ("charge", "customer"), 5, r"charge\.customer must be an ID"),
    ],
)
def test_malformed_object_names_the_field(name: str, path: Path_, value: object, field: str) -> None:
    event = fixture(name)
    edit(event, ("data", "object", *path), value)
    with pytest.raises(MalformedEvent, match=field):
        process(json.dumps(event).encode())


def test_detached_method_with_garbage_previous_customer() -> None:
    event = fixture("payment_method.detached")
    event["data"]["previous_attributes"] = {"customer": ["cus_1"]}
    with pytest.raises(MalformedEvent, match=r"previous_attributes\.customer must be an ID"):
        process(json.dumps(event).encode())


# --- properties: arbitrary JSON anywhere never escapes as anything but MalformedEvent -------

NAMES = sorted(path.stem for path in FIXTURES.glob("*.json"))


def _paths(value: Any, prefix: Path_ = (), depth: int = 6) -> list[Path_]:
    found: list[Path_] = []
    if depth == 0:
        return found
    items: list[tuple[str | int, Any]] = []
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    for key, child in items:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key), depth - 1))
    return found


PATHS = {name: _paths(fixture(name)) for name in NAMES}
KEYS = sorted({str(path[-1]) for paths in PATHS.values() for path in paths})

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["evt_1", "in_1", "usd", "", "card", "source", "issuer_declined"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=10,
)


def _survives(body: bytes) -> None:
    try:
        process(body)
    except MalformedEvent:
        pass


@given(data=st.data())
def test_any_json_in_place_of_any_field_raises_only_malformed_event(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(NAMES), label="fixture")
    event = fixture(name)
    for path in data.draw(
        st.lists(st.sampled_from(PATHS[name]), min_size=1, max_size=3, unique=True), label="paths"
    ):
        try:
            edit(event, path, data.draw(st.just(DELETE) | json_values, label=str(path)))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced this path's parent
    _survives(json.dumps(event).encode())


@given(
    event_type=st.sampled_from(sorted({fixture(name)["type"] for name in NAMES} | {"charge.refunded"})),
    created=json_values | st.integers(min_value=0, max_value=2**40),
    obj=st.dictionaries(st.sampled_from(KEYS), json_values, max_size=12),
    previous=st.none() | st.dictionaries(st.sampled_from(KEYS), json_values, max_size=3),
)
def test_random_objects_under_handled_types_raise_only_malformed_event(
    event_type: str, created: Any, obj: dict[str, Any], previous: dict[str, Any] | None
) -> None:
    event: dict[str, Any] = {"id": "evt_1", "type": event_type, "created": created}
    event["data"] = {"object": obj} if previous is None else {"object": obj, "previous_attributes": previous}
    _survives(json.dumps(event).encode())


@given(body=st.binary(max_size=256) | json_values.map(lambda v: json.dumps(v).encode()))
def test_arbitrary_bodies_raise_only_malformed_event(body: bytes) -> None:
    _survives(body)
