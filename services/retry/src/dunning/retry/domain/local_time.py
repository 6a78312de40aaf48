"""The customer's clock: resolve their time zone, and move UTC instants into their allowed local hours."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_UTC_ZONE = ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class LocalHours:
    """A daily span of wall-clock time, ``start`` included and ``end`` excluded, in the customer's zone."""

    start: time = time(8)
    end: time = time(20)

    def __post_init__(self) -> None:
        if not isinstance(self.start, time) or not isinstance(self.end, time):
            raise ValueError("local hours are datetime.time values")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("local hours are wall-clock times without a time zone")
        if self.start >= self.end:
            raise ValueError(
                "local hours must start before they end on the same day, "
                f"got {self.start:%H:%M}-{self.end:%H:%M}"
            )

    def contains(self, wall: time) -> bool:
        return self.start <= wall.replace(tzinfo=None) < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True, slots=True)
class CustomerZone:
    """The zone decisions are made in, and a note when it is not the one the customer asked for."""

    zone: ZoneInfo
    key: str
    fallback_note: str | None = None


def resolve_zone(name: str | None) -> CustomerZone:
    """The customer's IANA zone, or UTC (with a note saying why) when it is missing or not a real zone."""
    if name is None or not isinstance(name, str) or not name.strip():
        return CustomerZone(_UTC_ZONE, "UTC", "customer time zone unknown: using UTC")
    key = name.strip()
    try:
        zone = ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # Tenants send free text; a bad zone must degrade the schedule, never break it.
        shown = key if len(key) <= 40 else key[:40] + "..."
        return CustomerZone(_UTC_ZONE, "UTC", f"time zone {shown!r} is not a known IANA zone: using UTC")
    return CustomerZone(zone, key)


def as_utc(instant: datetime, what: str = "instant") -> datetime:
    """An aware instant in UTC; a naive one is a bug upstream, so it is refused rather than guessed."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got {instant!r}")
    return instant.astimezone(UTC)


def local_instant(day: date, wall: time, zone: ZoneInfo, *, fold: int = 0) -> datetime:
    """The UTC instant of a wall-clock time on a local date.

    A wall time that a DST gap skips (02:30 on a spring-forward day) resolves with the offset
    in force before the gap, i.e. just as far past the gap (03:30). A repeated wall time (01:30
    on a fall-back day) resolves to its first occurrence, or to its second with ``fold=1``.
    These are zoneinfo's PEP 495 rules.
    """
    return datetime.combine(day, wall.replace(tzinfo=None, fold=fold), tzinfo=zone).astimezone(UTC)


def in_hours(instant: datetime, zone: ZoneInfo, hours: LocalHours) -> bool:
    return hours.contains(instant.astimezone(zone).time())


def into_hours(instant: datetime, zone: ZoneInfo, hours: LocalHours) -> datetime:
    """The earliest instant at or after ``instant`` whose local wall time lies within ``hours``."""
    candidate = as_utc(instant)
    # A DST gap can push a day's start past the end of a short span, hence a loop rather than
    # a single step; a few days always suffice because a gap lasts at most a couple of hours.
    for _ in range(8):
        local = candidate.astimezone(zone)
        wall = local.time()
        if hours.contains(wall):
            return candidate
        day = local.date() if wall < hours.start else local.date() + timedelta(days=1)
        candidate = _first_at_or_after(day, hours.start, zone, candidate)
    return candidate


def _first_at_or_after(day: date, wall: time, zone: ZoneInfo, floor: datetime) -> datetime:
    # On a fall-back day the first occurrence of the wall time can lie before ``floor`` (we are
    # in the repeated hour already); then the second occurrence is the answer, else tomorrow's.
    for fold in (0, 1):
        instant = local_instant(day, wall, zone, fold=fold)
        if instant >= floor:
            return instant
    return local_instant(day + timedelta(days=1), wall, zone)


def local_date(instant: datetime, zone: ZoneInfo) -> date:
    return instant.astimezone(zone).date()


def describe(instant: datetime, zone: CustomerZone) -> str:
    """An instant the way a reader of a case timeline wants it: local wall time, zone, and UTC."""
    local = instant.astimezone(zone.zone)
    text = f"{local:%a %Y-%m-%d %H:%M} {zone.key}"
    if zone.key != "UTC":
        text += f" ({instant.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"
    return text


def human_duration(span: timedelta) -> str:
    """A duration as a person would say it in a reason: "5 min", "24 h", "2 days"."""
    seconds = int(span.total_seconds())
    if seconds == 0:
        return "no delay"
    if seconds % 86400 == 0 and seconds >= 2 * 86400:
        return f"{seconds // 86400} days"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"
