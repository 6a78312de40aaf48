"""Where a customer's clock is: IANA zones per country (tzdata's zone.tab) and the zone of a
billing address.

A country with one clock gives it; a big country gives the zone of the state or province when
we know it (the zone most of its people live in). When the address does not say enough, the
caller gets None from ``customer_zone`` and every candidate from ``candidate_zones``: the
retry scheduler falls back to UTC, notify sends only when it is daytime in all of them.

Zones that keep the same clock all year (Europe/Berlin and Europe/Busingen) count as one.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from importlib import resources
from zoneinfo import ZoneInfo

# Mid-winter and mid-summer in both hemispheres: two zones with the same offsets on both
# dates (this year and next) keep the same clock for scheduling purposes.
_SAMPLES = tuple(datetime(year, month, 15, 12, tzinfo=UTC) for year in (2026, 2027) for month in (1, 7))


def _clock(zone: str) -> tuple[timedelta | None, ...]:
    info = ZoneInfo(zone)
    return tuple(sample.astimezone(info).utcoffset() for sample in _SAMPLES)


@functools.cache
def zones_by_country() -> dict[str, tuple[str, ...]]:
    listed: dict[str, list[str]] = {}
    text = resources.files("tzdata").joinpath("zoneinfo/zone.tab").read_text(encoding="utf-8")
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        country, _coordinates, zone, *_ = line.split("\t")
        listed.setdefault(country, []).append(zone)
    distinct: dict[str, tuple[str, ...]] = {}
    for country, zones in listed.items():
        clocks: dict[tuple[timedelta | None, ...], str] = {}
        for zone in zones:  # zone.tab lists a country's principal zone first
            clocks.setdefault(_clock(zone), zone)
        distinct[country] = tuple(clocks.values())
    return distinct


_EASTERN, _CENTRAL, _MOUNTAIN, _PACIFIC = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
)
_US = {
    **dict.fromkeys("CT DE DC FL GA KY ME MD MA NH NJ NY NC OH PA RI SC VT VA WV".split(), _EASTERN),
    **dict.fromkeys("AL AR IL IA KS LA MN MS MO NE ND OK SD TN TX WI".split(), _CENTRAL),
    **dict.fromkeys("CO MT NM UT WY".split(), _MOUNTAIN),
    **dict.fromkeys("CA NV OR WA".split(), _PACIFIC),
    "MI": "America/Detroit",
    "IN": "America/Indiana/Indianapolis",
    "ID": "America/Boise",
    "AZ": "America/Phoenix",
    "AK": "America/Anchorage",
    "HI": "Pacific/Honolulu",
    "PR": "America/Puerto_Rico",
}
_CA = {
    **dict.fromkeys("ON QC".split(), "America/Toronto"),
    **dict.fromkeys("NS NB PE".split(), "America/Halifax"),
    "NL": "America/St_Johns",
    "MB": "America/Winnipeg",
    "SK": "America/Regina",
    "AB": "America/Edmonton",
    "BC": "America/Vancouver",
    "YT": "America/Whitehorse",
    "NT": "America/Yellowknife",
    "NU": "America/Iqaluit",
}
_AU = {
    **dict.fromkeys("NSW ACT".split(), "Australia/Sydney"),
    "VIC": "Australia/Melbourne",
    "QLD": "Australia/Brisbane",
    "SA": "Australia/Adelaide",
    "WA": "Australia/Perth",
    "TAS": "Australia/Hobart",
    "NT": "Australia/Darwin",
}
_BY_REGION: dict[str, dict[str, str]] = {"US": _US, "CA": _CA, "AU": _AU}


def customer_zone(
    country: str | None, region: str | None, by_country: Mapping[str, tuple[str, ...]]
) -> str | None:
    """An IANA zone name, or None when the address does not say enough."""
    if not country:
        return None
    code = country.strip().upper()
    by_region = _BY_REGION.get(code)
    if by_region is not None and region:
        found = by_region.get(region.strip().upper())
        if found:
            return found
    zones = by_country.get(code, ())
    return zones[0] if len(zones) == 1 else None


def candidate_zones(
    country: str | None, region: str | None, by_country: Mapping[str, tuple[str, ...]] | None = None
) -> tuple[str, ...]:
    """Every zone the address could be in: one when it is known, all of the country's otherwise,
    none when there is no country at all."""
    table = zones_by_country() if by_country is None else by_country
    known = customer_zone(country, region, table)
    if known is not None:
        return (known,)
    if not country:
        return ()
    return table.get(country.strip().upper(), ())
