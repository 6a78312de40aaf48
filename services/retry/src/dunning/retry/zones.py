"""Which IANA zones each country has, read once from the tzdata package's zone.tab.

Zones that keep the same clock all year (Europe/Berlin and Europe/Busingen) count as one, so
a country whose zones all agree has a single answer; one with several clocks has several.
"""

from __future__ import annotations

import functools
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
