"""Late charges: statutory interest and compensation for business debtors, dunning fees, exact rounding."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dunning.notify.domain.fees import DunningFee, LateChargePolicy, late_charges

DEFAULT = LateChargePolicy()
DUE = date(2026, 1, 1)


def test_eur_1000_thirty_days_late_at_ecb_plus_eight() -> None:
    # 1000.00 x (2.15 + 8)% x 30 / 365 = 8.3424... -> EUR 8.34; plus the EUR 40 of Art. 6.
    charges = late_charges(100_000, "EUR", due=DUE, on=date(2026, 1, 31), policy=DEFAULT, b2b=True)

    assert (charges.interest, charges.compensation, charges.fee, charges.days_late) == (834, 4000, 0, 30)
    assert charges.total == 4834
    assert charges.explanation == (
        "EUR 1,000.00 is 30 days late (due 2026-01-01, on 2026-01-31); "
        "statutory interest 10.15% (2.15% + 8 points) x 30/365 = EUR 8.34 "
        "(Directive 2011/7/EU Art. 2(6), 3); "
        "fixed compensation EUR 40.00 (Art. 6); no dunning fee"
    )


def test_yen_have_no_decimals() -> None:
    # JPY 100,000 x 10.15% x 30 / 365 = 834.2466 -> JPY 834; no EUR compensation for a yen invoice.
    charges = late_charges(100_000, "JPY", due=DUE, on=date(2026, 1, 31), policy=DEFAULT, b2b=True)

    assert (charges.interest, charges.compensation) == (834, 0)
    assert "JPY 100,000 is 30 days late" in charges.explanation
    assert "no fixed compensation configured for JPY" in charges.explanation


@pytest.mark.parametrize(("principal", "expected"), [(25, 1), (125, 3), (74, 1), (76, 2)])
def test_half_a_minor_unit_rounds_up(principal: int, expected: int) -> None:
    # At 2 + 8 = 10% for 73 days the interest is exactly principal / 50: 25 -> 0.5, 125 -> 2.5.
    policy = LateChargePolicy(reference_rate_percent=Decimal(2))

    charges = late_charges(principal, "KRW", due=DUE, on=DUE + timedelta(days=73), policy=policy, b2b=True)

    assert charges.interest == expected


def test_nothing_on_or_before_the_due_date_and_interest_from_the_day_after() -> None:
    for on in (DUE - timedelta(days=5), DUE):
        charges = late_charges(100_000, "EUR", due=DUE, on=on, policy=DEFAULT, b2b=True)
        assert (charges.interest, charges.compensation, charges.fee, charges.days_late) == (0, 0, 0, 0)
        assert "not late" in charges.explanation

    next_day = late_charges(100_000, "EUR", due=DUE, on=DUE + timedelta(days=1), policy=DEFAULT, b2b=True)

    assert next_day.days_late == 1
    assert next_day.interest == 28  # 1000.00 x 10.15% / 365 = 0.278 -> EUR 0.28


def test_consumers_owe_no_statutory_interest_or_compensation() -> None:
    charges = late_charges(100_000, "EUR", due=DUE, on=date(2026, 3, 1), policy=DEFAULT, b2b=False)

    assert (charges.interest, charges.compensation) == (0, 0)
    assert "covers business debtors only" in charges.explanation


def test_each_half_year_uses_the_rate_in_force_on_its_first_day() -> None:
    # 10 days of June at 2.15 + 8, 20 days of July at 2.40 + 8:
    # 1000 x 10.15% x 10/365 + 1000 x 10.40% x 20/365 = 2.7808 + 5.6986 = 8.4795 -> EUR 8.48.
    policy = LateChargePolicy(reference_rates={date(2026, 7, 1): Decimal("2.40")})

    charges = late_charges(
        100_000, "EUR", due=date(2026, 6, 20), on=date(2026, 7, 20), policy=policy, b2b=True
    )

    assert charges.interest == 848
    assert "x 10/365 + 10.40% (2.40% + 8 points) x 20/365" in charges.explanation


def test_a_negative_reference_rate_never_makes_interest_negative() -> None:
    policy = LateChargePolicy(reference_rate_percent=Decimal(-9))

    charges = late_charges(100_000, "EUR", due=DUE, on=date(2026, 2, 1), policy=policy, b2b=True)

    assert charges.interest == 0


def test_compensation_in_another_currency_only_when_configured() -> None:
    policy = LateChargePolicy(fixed_compensation={"EUR": 4000, "SEK": 45_000})

    sek = late_charges(1_000_000, "sek", due=DUE, on=date(2026, 2, 1), policy=policy, b2b=True)
    usd = late_charges(1_000_000, "USD", due=DUE, on=date(2026, 2, 1), policy=policy, b2b=True)

    assert sek.compensation == 45_000
    assert usd.compensation == 0


class TestDunningFee:
    def test_once_per_invoice_whatever_the_level(self) -> None:
        policy = LateChargePolicy(dunning_fee=DunningFee(fixed={"USD": 500}))

        charges = late_charges(
            10_000, "USD", due=DUE, on=date(2026, 2, 1), policy=policy, b2b=False, levels=4
        )

        assert charges.fee == 500
        assert charges.explanation.endswith("dunning fee USD 5.00")

    def test_per_level(self) -> None:
        policy = LateChargePolicy(dunning_fee=DunningFee(fixed={"USD": 500}, per_level=True))

        charges = late_charges(
            10_000, "USD", due=DUE, on=date(2026, 2, 1), policy=policy, b2b=False, levels=3
        )

        assert charges.fee == 1500
        assert charges.explanation.endswith("dunning fee USD 5.00 x 3 levels")

    def test_no_level_reached_no_fee(self) -> None:
        policy = LateChargePolicy(dunning_fee=DunningFee(fixed={"USD": 500}))

        assert (
            late_charges(10_000, "USD", due=DUE, on=date(2026, 2, 1), policy=policy, b2b=False, levels=0).fee
            == 0
        )

    @pytest.mark.parametrize(("principal", "expected"), [(100_000, 1500), (10_000, 1000), (1_000_000, 2500)])
    def test_percent_is_clamped_to_its_minimum_and_maximum(self, principal: int, expected: int) -> None:
        fee = DunningFee(percent=Decimal("1.5"), minimum={"USD": 1000}, maximum={"USD": 2500})
        policy = LateChargePolicy(dunning_fee=fee)

        charges = late_charges(principal, "USD", due=DUE, on=date(2026, 2, 1), policy=policy, b2b=False)

        assert charges.fee == expected

    def test_percent_of_yen_rounds_half_up_to_whole_yen(self) -> None:
        policy = LateChargePolicy(dunning_fee=DunningFee(percent=Decimal("2.5")))

        # 2.5% of 1,234 yen = 30.85 -> 31; of 1,220 yen = 30.5 -> 31.
        for principal in (1_234, 1_220):
            assert (
                late_charges(principal, "JPY", due=DUE, on=date(2026, 2, 1), policy=policy, b2b=False).fee
                == 31
            )

    def test_a_fixed_fee_in_another_currency_is_not_converted(self) -> None:
        policy = LateChargePolicy(dunning_fee=DunningFee(fixed={"USD": 500}))

        assert late_charges(10_000, "EUR", due=DUE, on=date(2026, 2, 1), policy=policy, b2b=False).fee == 0

    def test_b2b_fee_only_beyond_the_fixed_compensation(self) -> None:
        # Art. 6(3): the EUR 40 already pays for the first EUR 40 of recovery costs.
        policy = LateChargePolicy(dunning_fee=DunningFee(fixed={"EUR": 1500}, per_level=True))

        three = late_charges(100_000, "EUR", due=DUE, on=date(2026, 2, 1), policy=policy, b2b=True, levels=3)
        two = late_charges(100_000, "EUR", due=DUE, on=date(2026, 2, 1), policy=policy, b2b=True, levels=2)

        assert (three.compensation, three.fee) == (4000, 500)
        assert two.fee == 0
        assert "less the fixed compensation (Art. 6(3)) = EUR 5.00" in three.explanation


class TestValidation:
    @pytest.mark.parametrize("principal", [-1, True])
    def test_principal_is_a_non_negative_integer(self, principal: int) -> None:
        with pytest.raises(ValueError, match="non-negative integer"):
            late_charges(principal, "EUR", due=DUE, on=DUE, policy=DEFAULT, b2b=True)

    def test_currency_is_an_iso_code(self) -> None:
        with pytest.raises(ValueError, match="ISO 4217"):
            late_charges(100, "euro", due=DUE, on=DUE, policy=DEFAULT, b2b=True)

    def test_reference_rates_are_keyed_by_half_year(self) -> None:
        with pytest.raises(ValueError, match="half-year"):
            LateChargePolicy(reference_rates={date(2026, 3, 1): Decimal(3)})

    def test_nothing_negative_in_a_policy(self) -> None:
        with pytest.raises(ValueError, match="never negative"):
            DunningFee(fixed={"EUR": -1})
        with pytest.raises(ValueError, match="never negative"):
            LateChargePolicy(margin_points=Decimal(-1))
        with pytest.raises(ValueError, match="never negative"):
            LateChargePolicy(fixed_compensation={"EUR": -4000})


principals = st.integers(0, 10**12)
currencies = st.sampled_from(["EUR", "JPY", "KRW", "USD", "BHD"])
days = st.integers(-400, 3000)
policies = st.builds(
    LateChargePolicy,
    reference_rate_percent=st.decimals(-1, 15, places=2),
    margin_points=st.decimals(0, 12, places=2),
    dunning_fee=st.none()
    | st.builds(
        DunningFee,
        fixed=st.fixed_dictionaries({"EUR": st.integers(0, 10_000), "JPY": st.integers(0, 10_000)}),
        percent=st.decimals(0, 10, places=2),
        per_level=st.booleans(),
    ),
)


@given(principal=principals, currency=currencies, late=days, extra=st.integers(1, 400), policy=policies)
def test_charges_never_fall_as_days_pass(
    principal: int, currency: str, late: int, extra: int, policy: LateChargePolicy
) -> None:
    earlier = late_charges(
        principal, currency, due=DUE, on=DUE + timedelta(days=late), policy=policy, b2b=True
    )
    later = late_charges(
        principal, currency, due=DUE, on=DUE + timedelta(days=late + extra), policy=policy, b2b=True
    )

    assert later.interest >= earlier.interest
    assert later.total >= earlier.total
    assert later.days_late >= earlier.days_late


@given(principal=principals, currency=currencies, late=days, policy=policies, b2b=st.booleans())
def test_never_negative_zero_when_not_late_and_no_statutory_charges_for_consumers(
    principal: int, currency: str, late: int, policy: LateChargePolicy, b2b: bool
) -> None:
    charges = late_charges(
        principal, currency, due=DUE, on=DUE + timedelta(days=late), policy=policy, b2b=b2b
    )

    assert min(charges.interest, charges.compensation, charges.fee) >= 0
    assert charges.days_late == max(0, late)
    assert charges.explanation
    if late <= 0:
        assert charges.total == 0
    if not b2b:
        assert (charges.interest, charges.compensation) == (0, 0)


@given(principal=principals, late=st.integers(1, 3000), policy=policies)
def test_interest_is_simple_interest_on_the_principal(
    principal: int, late: int, policy: LateChargePolicy
) -> None:
    # With one rate for every half-year the sum is a single product; rounding moves it by at most half a unit.
    charges = late_charges(principal, "EUR", due=DUE, on=DUE + timedelta(days=late), policy=policy, b2b=True)

    rate = max(Decimal(0), policy.reference_rate_percent + policy.margin_points)
    exact = Decimal(principal) * rate / 100 * late / 365
    assert abs(Decimal(charges.interest) - exact) <= Decimal("0.5")
