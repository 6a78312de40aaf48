"""When a message may go out: the earliest instant that is daytime in every zone the recipient could be in.

12 CFR 1006.6(b)(1)(i) presumes 08:00-21:00 at the consumer's location convenient; when the
location is ambiguous, a time counts only if it is convenient in all of them (comment 6(b)(1)(i)-2).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# How far ahead a window common to every zone is looked for. Past a week the zones are treated
# as never agreeing: a dunning message held for weeks is worse than one sent in daytime where
# the customer most likely lives (the first zone, as candidate_zones orders them).
SEARCH_HORIZON = timedelta(days=7)
# Offsets are sampled this often to find DST transitions; real zones change at most a few
# times a year, never twice within hours.
_SAMPLE_STEP = timedelta(hours=6)
_NOTE_ZONES = 4  # zones named in a note before "and N more"


@dataclass(frozen=True, slots=True)
class WindowDecision:
    send_at: datetime  # aware, UTC
    note: str  # why this instant, for the case timeline
    fallback: bool = False  # True when the zones share no window and the first zone's was used
    caveat: str = ""  # what had to be assumed (bad or missing zones, no common window); in the note too


def next_sending_time(
    at: datetime, zones: Sequence[str], *, start: time = time(8), end: time = time(21)
) -> WindowDecision:
    """The earliest instant at or after ``at`` whose wall time is in [start, end) in every zone."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"at must be a timezone-aware datetime, got {at!r}")
    if start.tzinfo is not None or end.tzinfo is not None or start >= end:
        raise ValueError(f"a sending window is two naive wall times, start before end; got {start}-{end}")
    at = at.astimezone(UTC)
    span = f"{start:%H:%M}\u2013{end:%H:%M}"
    known, unknown = _load(zones)
    caveats = [f"unknown time zone(s) ignored: {', '.join(unknown)}"] if unknown else []
    if not known:
        # Nothing says where the recipient is: UTC is the only neutral clock left.
        known = [("UTC", ZoneInfo("UTC"))]
        caveats.append("recipient time zone unknown: using UTC")
    found = _earliest(at, known, start, end)
    fallback = found is None
    if found is None:
        caveats.append(
            f"the {span} windows of {_names(known)} never overlap within {SEARCH_HORIZON.days} days; "
            "using the first zone's window"
        )
        known = known[:1]
        found = _earliest(at, known, start, end)
        if found is None:  # pragma: no cover - one zone always has a window within two days
            raise AssertionError(f"no {span} window in {known[0][0]} within {SEARCH_HORIZON}")
    caveat = "; ".join(caveats)
    explained = _explain(at, found, known, start, end, span)
    note = f"{caveat}: {explained}" if fallback else "; ".join([*caveats, explained])
    return WindowDecision(found, note, fallback=fallback, caveat=caveat)


def in_window(instant: datetime, zone: ZoneInfo, start: time, end: time) -> bool:
    return start <= instant.astimezone(zone).time().replace(fold=0) < end


def _load(zones: Sequence[str]) -> tuple[list[tuple[str, ZoneInfo]], list[str]]:
    known: list[tuple[str, ZoneInfo]] = []
    unknown: list[str] = []
    for name in dict.fromkeys(zones):  # keeps order, drops repeats
        try:
            known.append((name, ZoneInfo(name)))
        except (ZoneInfoNotFoundError, ValueError, OSError):
            # Zones come from tenant data; one bad name must not stop a message nor decide it.
            unknown.append(repr(name[:40]))
    return known, unknown


def _earliest(at: datetime, zones: Sequence[tuple[str, ZoneInfo]], start: time, end: time) -> datetime | None:
    # The answer is ``at`` itself or the left edge of some zone's allowed span, and such an edge
    # is either a wall time of exactly ``start`` (either occurrence on a fall-back day) or a DST
    # transition that jumps the wall clock into the window. Checking those few instants in order
    # is exact, unlike scanning minutes.
    horizon = at + SEARCH_HORIZON
    candidates = {at}
    for _, zone in zones:
        candidates.update(_edges(at, horizon, zone, start))
    for candidate in sorted(c for c in candidates if at <= c <= horizon):
        if all(in_window(candidate, zone, start, end) for _, zone in zones):
            return candidate
    return None


def _edges(at: datetime, horizon: datetime, zone: ZoneInfo, start: time) -> set[datetime]:
    edges: set[datetime] = set()
    first: date = at.astimezone(zone).date() - timedelta(days=1)
    for offset in range((horizon - at).days + 3):
        day = first + timedelta(days=offset)
        for fold in (0, 1):
            edges.add(datetime.combine(day, start.replace(fold=fold), tzinfo=zone).astimezone(UTC))
    edges.update(_transitions(at, horizon, zone))
    return edges


def _transitions(at: datetime, horizon: datetime, zone: ZoneInfo) -> list[datetime]:
    """Instants in [at, horizon] where the zone's UTC offset changes, to the second."""
    found: list[datetime] = []
    low = at
    while low < horizon:
        high = min(low + _SAMPLE_STEP, horizon)
        if low.astimezone(zone).utcoffset() != high.astimezone(zone).utcoffset():
            found.append(_bisect(low, high, zone))
        low = high
    return found


def _bisect(low: datetime, high: datetime, zone: ZoneInfo) -> datetime:
    # Whole seconds: tzdata transitions fall on them, so the edge found is exact.
    before = low.astimezone(zone).utcoffset()
    lo, hi = math.floor(low.timestamp()), math.ceil(high.timestamp())
    while hi - lo > 1:
        middle = (lo + hi) // 2
        if datetime.fromtimestamp(middle, UTC).astimezone(zone).utcoffset() == before:
            lo = middle
        else:
            hi = middle
    return datetime.fromtimestamp(hi, UTC)


def _explain(
    at: datetime, found: datetime, zones: Sequence[tuple[str, ZoneInfo]], start: time, end: time, span: str
) -> str:
    outside = [(name, zone) for name, zone in zones if not in_window(at, zone, start, end)]
    if not outside:
        if len(zones) == 1:
            return f"{_wall(at, zones[0][1])} in {zones[0][0]} is within {span}; sends now"
        return f"within {span} in all {len(zones)} candidate zones ({_locals(at, zones)}); sends now"
    name, zone = outside[0]
    head = f"{_wall(at, zone)} in {name} is outside {span}"
    if len(zones) == 1:
        return f"{head}; waits until {_wall(found, zone)} local ({found:%Y-%m-%d %H:%M} UTC)"
    return (
        f"{head}; waits until {found:%Y-%m-%d %H:%M} UTC, within {span} in all "
        f"{len(zones)} candidate zones ({_locals(found, zones)})"
    )


def _wall(instant: datetime, zone: ZoneInfo) -> str:
    return f"{instant.astimezone(zone):%H:%M}"


def _locals(instant: datetime, zones: Sequence[tuple[str, ZoneInfo]]) -> str:
    shown = ", ".join(f"{name} {_wall(instant, zone)}" for name, zone in zones[:_NOTE_ZONES])
    more = len(zones) - _NOTE_ZONES
    return shown + (f" and {more} more" if more > 0 else "")


def _names(zones: Sequence[tuple[str, ZoneInfo]]) -> str:
    names = [name for name, _ in zones]
    shown = ", ".join(names[:_NOTE_ZONES])
    return shown + (f" and {len(names) - _NOTE_ZONES} more" if len(names) > _NOTE_ZONES else "")
