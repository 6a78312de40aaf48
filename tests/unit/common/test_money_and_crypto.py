"""Money stays integral and typed; secrets seal, open and rotate; tokens hash stably."""

import pytest
from cryptography.fernet import Fernet
from hypothesis import given
from hypothesis import strategies as st

from dunning.common.crypto import SecretBox, hash_token, load_or_create_key, tokens_equal
from dunning.common.money import Money, minor_unit_exponent, normalize_currency


def test_money_refuses_floats_and_booleans() -> None:
    with pytest.raises(TypeError):
        Money(10.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(True, "USD")


def test_money_adds_only_within_a_currency() -> None:
    assert Money(150, "usd") + Money(50, "USD") == Money(200, "USD")
    with pytest.raises(ValueError, match="cannot add"):
        _ = Money(1, "USD") + Money(1, "EUR")


@pytest.mark.parametrize(
    ("currency", "exponent"), [("JPY", 0), ("krw", 0), ("USD", 2), ("EUR", 2), ("KWD", 3)]
)
def test_minor_unit_exponents(currency: str, exponent: int) -> None:
    assert minor_unit_exponent(currency) == exponent


@pytest.mark.parametrize("bad", ["", "US", "USDX", "U$D", "12a"])
def test_currency_codes_are_validated(bad: str) -> None:
    with pytest.raises(ValueError, match="ISO 4217"):
        normalize_currency(bad)


@given(st.text(max_size=200))
def test_sealed_secrets_open_to_what_was_sealed(secret: str) -> None:
    box = SecretBox(Fernet.generate_key().decode())
    sealed = box.seal(secret)
    assert box.open(sealed) == secret


def test_key_rotation_opens_old_tokens_and_reseals_with_the_new_key() -> None:
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    old_box = SecretBox(old_key)
    token = old_box.seal("whsec_abc")
    assert b"whsec_abc" not in token
    rotated = SecretBox(f"{new_key},{old_key}")
    assert rotated.open(token) == "whsec_abc"
    resealed = rotated.reseal(token)
    assert SecretBox(new_key).open(resealed) == "whsec_abc"
    with pytest.raises(ValueError, match="cannot be opened"):
        SecretBox(Fernet.generate_key().decode()).open(token)


@pytest.mark.parametrize("bad", ["", " , ", "not-a-fernet-key"])
def test_bad_secret_keys_are_refused_with_advice(bad: str) -> None:
    with pytest.raises(ValueError, match="DUNNING_SECRET_KEY"):
        SecretBox(bad)


def test_embedded_key_is_created_once_and_private(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "secret.key"
    first = load_or_create_key(path)
    assert load_or_create_key(path) == first
    assert path.stat().st_mode & 0o777 == 0o600
    SecretBox(first)  # a usable Fernet key


def test_token_hash_is_stable_and_comparison_constant_time_safe() -> None:
    assert hash_token("dk_1") == hash_token("dk_1")
    assert hash_token("dk_1") != hash_token("dk_2")
    assert tokens_equal("a", "a")
    assert not tokens_equal("a", "b")
