"""The customer's zone from the billing address: exact where the address says enough, else None."""

import pytest

from dunning.common.zones import candidate_zones, customer_zone, zones_by_country


@pytest.mark.parametrize(
    ("country", "region", "zone"),
    [
        ("JP", None, "Asia/Tokyo"),
        ("kr", None, "Asia/Seoul"),
        ("DE", None, "Europe/Berlin"),  # Busingen keeps Berlin's clock: one answer
        ("GB", "ENG", "Europe/London"),
        ("US", "CA", "America/Los_Angeles"),
        ("US", "ny", "America/New_York"),
        ("US", "AZ", "America/Phoenix"),
        ("CA", "BC", "America/Vancouver"),
        ("AU", "QLD", "Australia/Brisbane"),
        ("US", None, None),  # four clocks and no state: we do not guess
        ("BR", None, None),
        ("US", "ZZ", None),
        (None, "CA", None),
        ("XX", None, None),
    ],
)
def test_zone_from_the_billing_address(country: str | None, region: str | None, zone: str | None) -> None:
    assert customer_zone(country, region, zones_by_country()) == zone


def test_zone_table_covers_every_country_once() -> None:
    table = zones_by_country()
    assert table["JP"] == ("Asia/Tokyo",)
    assert len(table["US"]) > 4
    assert all(zones for zones in table.values())


def test_candidate_zones_are_every_clock_of_the_country_when_the_region_is_unknown() -> None:
    us = candidate_zones("US", None)
    assert {"America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"} <= set(us)
    assert candidate_zones("US", "CA") == ("America/Los_Angeles",)
    assert candidate_zones("JP", None) == ("Asia/Tokyo",)
    assert candidate_zones(None, None) == ()
    assert candidate_zones("XX", None) == ()
