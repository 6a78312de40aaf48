"""Self-service link tokens: they open only as made, only until they expire, only with our key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from hypothesis import given
from hypothesis import strategies as st

from dunning.common.selfservice_link import (
    MAX_TOKEN_CHARS,
    LinkState,
    SelfServiceLinks,
    self_service_url,
)

KEY = Fernet.generate_key().decode()
OTHER_KEY = Fernet.generate_key().decode()
NOW = datetime(2025, 3, 7, 9, 30, tzinfo=UTC)
LINKS = SelfServiceLinks(KEY)
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
ids = st.text(min_size=1, max_size=60)


def make(**overrides: object) -> str:
    fields: dict[str, object] = {"tenant_id": "ten_0123456789abcdef", "case_id": "case_42", "now": NOW}
    fields.update(overrides)
    return LINKS.make(**fields)  # type: ignore[arg-type]


def test_a_link_opens_to_what_it_was_made_for_until_it_expires() -> None:
    token = make(locale="ja")
    opened = LINKS.open(token, now=NOW + timedelta(days=44, hours=23))
    assert opened.state is LinkState.VALID
    assert opened.link is not None
    assert (opened.link.tenant_id, opened.link.case_id, opened.link.locale) == (
        "ten_0123456789abcdef",
        "case_42",
        "ja",
    )
    assert opened.link.expires_at == NOW + timedelta(days=45)
    expired = LINKS.open(token, now=NOW + timedelta(days=45))
    assert expired.state is LinkState.EXPIRED
    assert expired.link is not None
    assert expired.link.locale == "ja"


def test_the_lifetime_is_chosen_by_the_maker() -> None:
    token = make(days=3)
    assert LINKS.open(token, now=NOW + timedelta(days=2)).state is LinkState.VALID
    assert LINKS.open(token, now=NOW + timedelta(days=3)).state is LinkState.EXPIRED
    with pytest.raises(ValueError, match="at least one day"):
        make(days=0)


def test_tokens_are_compact_and_url_safe() -> None:
    token = make(locale="ko")
    assert len(token) < 100
    assert set(token) <= set(ALPHABET)
    assert self_service_url("https://pay.example.com/", token) == f"https://pay.example.com/pay/{token}"


def test_another_deployments_key_opens_nothing_and_rotation_keeps_old_links() -> None:
    token = make()
    assert SelfServiceLinks(OTHER_KEY).open(token, now=NOW).state is LinkState.INVALID
    # A new key in front: links signed with the old one still open; new ones use the new key.
    rotated = SelfServiceLinks(f"{OTHER_KEY},{KEY}")
    assert rotated.open(token, now=NOW).state is LinkState.VALID
    fresh = rotated.make(tenant_id="t", case_id="c", now=NOW)
    assert LINKS.open(fresh, now=NOW).state is LinkState.INVALID


def test_the_link_key_is_not_the_raw_secret_key() -> None:
    # A token signed with HMAC(secret key) directly must not open: the key is a derived subkey.
    import base64
    import hashlib
    import hmac

    token = make()
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    body = raw[:-16]
    forged = body + hmac.new(KEY.encode(), body, hashlib.sha256).digest()[:16]
    forged_token = base64.urlsafe_b64encode(forged).decode().rstrip("=")
    assert LINKS.open(forged_token, now=NOW).state is LinkState.INVALID


@given(position=st.integers(min_value=0), replacement=st.sampled_from(ALPHABET))
def test_changing_any_character_of_a_token_makes_it_invalid(position: int, replacement: str) -> None:
    token = make(locale="en")
    index = position % len(token)
    if token[index] == replacement:
        return
    tampered = token[:index] + replacement + token[index + 1 :]
    assert LINKS.open(tampered, now=NOW).state is LinkState.INVALID


@given(position=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255))
def test_changing_any_byte_of_a_token_makes_it_invalid(position: int, flip: int) -> None:
    import base64

    token = make()
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[position % len(raw)] ^= flip
    tampered = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    assert LINKS.open(tampered, now=NOW).state is LinkState.INVALID


@given(st.text(max_size=MAX_TOKEN_CHARS + 10))
def test_any_string_opens_as_invalid_without_raising(text: str) -> None:
    assert LINKS.open(text, now=NOW).state is LinkState.INVALID


@given(tenant=ids, case=ids, locale=st.none() | st.sampled_from(["en", "ja", "ko", "pt-BR"]))
def test_any_ids_round_trip(tenant: str, case: str, locale: str | None) -> None:
    token = LINKS.make(tenant_id=tenant, case_id=case, now=NOW, locale=locale)
    assert len(token) <= MAX_TOKEN_CHARS
    opened = LINKS.open(token, now=NOW)
    assert opened.state is LinkState.VALID
    assert opened.link is not None
    assert (opened.link.tenant_id, opened.link.case_id, opened.link.locale) == (tenant, case, locale)


def test_form_tokens_are_bound_to_the_link_the_form_and_the_state() -> None:
    link = make()
    token = LINKS.form_token(link, "promise", "open|")
    assert LINKS.form_token_valid(token, link, "promise", "open|")
    assert not LINKS.form_token_valid(token, make(case_id="case_43"), "promise", "open|")
    assert not LINKS.form_token_valid(token, link, "dispute", "open|")
    assert not LINKS.form_token_valid(token, link, "promise", "paused|promise")
    assert not LINKS.form_token_valid("", link, "promise", "open|")
    assert not LINKS.form_token_valid("é" * 22, link, "promise", "open|")
    assert not SelfServiceLinks(OTHER_KEY).form_token_valid(token, link, "promise", "open|")
