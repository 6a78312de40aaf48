"""Schedule properties over random histories, policies, zones and clocks: the rules are never broken."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dunning.retry.domain import (
    AttemptHistory,
    AttemptOutcome,
    CardNetworkCaps,
    DeclineAdvice,
    DeclineCategory,
    LocalHours,
    NetworkCap,
    OutcomeStats,
    PastAttempt,
    RetryMode,
    RetryPolicy,
    Slot,
    Stop,
    StoredMethod,
    check_card_caps,
    classify_decline,
    next_attempt_slot,
    resolve_zone,
)
from dunning.retry.domain.local_time import in_hours

# Each method has one brand, as in the processor.
BRANDS = {"pm_a": "visa", "pm_b": "mastercard", "pm_c": "amex", "pm_d": None}
CODES = [
    "insufficient_funds",
    "card_velocity_exceeded",
    "processing_error",
    "try_again_later",
    "do_not_honor",
    "generic_decline",
    "withdrawal_count_limit_exceeded",
    "mystery_code",
    "stolen_card",
    "lost_card",
    "expired_card",
    "incorrect_cvc",
    "authentication_required",
]
ZONES = [
    "America/New_York",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Europe/London",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "Pacific/Chatham",  # UTC+12:45/+13:45
    "America/Sao_Paulo",
    "UTC",
    None,
    "Not/A_Zone",
]
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)

_advices = st.builds(
    lambda code, mac, advice, brand: classify_decline(
        decline_code=code, network_advice_code=mac, advice_code=advice, card_brand=brand
    ),
    code=st.sampled_from(CODES),
    mac=st.sampled_from([None, None, None, "01", "02", "03", "21", "24", "25", "26", "30"]),
    advice=st.sampled_from([None, None, None, "do_not_try_again", "try_again_later", "confirm_card_data"]),
    brand=st.sampled_from(["visa", "mastercard", None]),
)


@st.composite
def _hours(draw: st.DrawFn) -> tuple[LocalHours, LocalHours]:
    start = draw(st.integers(min_value=0, max_value=22))
    end = draw(st.integers(min_value=start + 1, max_value=24))
    retry = LocalHours(time(start), time(end) if end < 24 else time(23, 59))
    payday_start = draw(st.integers(min_value=start, max_value=end - 1))
    payday_end = draw(st.integers(min_value=payday_start + 1, max_value=end))
    payday = LocalHours(time(payday_start), time(payday_end) if payday_end < 24 else time(23, 59))
    return retry, payday


@st.composite
def _policies(draw: st.DrawFn) -> RetryPolicy:
    retry_hours, payday_hours = draw(_hours())
    spacing = sorted(draw(st.lists(st.integers(min_value=1, max_value=10), min_size=1, max_size=6)))
    tight = draw(st.booleans())
    caps = (
        CardNetworkCaps(
            visa=(NetworkCap(draw(st.integers(1, 6)), timedelta(days=draw(st.integers(1, 30)))),),
            mastercard=(
                NetworkCap(draw(st.integers(1, 8)), timedelta(days=30)),
                NetworkCap(draw(st.integers(1, 3)), timedelta(hours=draw(st.integers(1, 48)))),
            ),
            other=(NetworkCap(draw(st.integers(1, 6)), timedelta(days=draw(st.integers(1, 10)))),),
        )
        if tight
        else CardNetworkCaps()
    )
    return RetryPolicy(
        mode=draw(st.sampled_from([RetryMode.OWN_RETRIES] * 9 + [RetryMode.OBSERVE])),
        max_attempts=draw(st.integers(min_value=1, max_value=12)),
        window_days=draw(st.integers(min_value=1, max_value=35)),
        cascade_delay=timedelta(minutes=draw(st.integers(min_value=0, max_value=120))),
        allow_alternate_methods=draw(st.booleans()),
        card_caps=caps,
        retry_hours=retry_hours,
        payday_hours=payday_hours,
        paydays=draw(st.booleans()),
        spacing_days=tuple(spacing),
    )


@dataclass(frozen=True)
class World:
    now: datetime
    opened_at: datetime
    history: AttemptHistory
    advice: DeclineAdvice
    policy: RetryPolicy
    customer_tz: str | None
    stats: OutcomeStats | None
    card_times: dict[str, list[datetime]]
    methods: tuple[StoredMethod, ...]


@st.composite
def _worlds(draw: st.DrawFn) -> World:
    policy = draw(_policies())
    now = EPOCH + timedelta(minutes=draw(st.integers(min_value=0, max_value=3 * 365 * 24 * 60)))
    # Mostly cases still inside their window, sometimes just past it.
    window_minutes = policy.window_days * 24 * 60
    opened_at = now - timedelta(minutes=draw(st.integers(min_value=0, max_value=window_minutes * 6 // 5)))
    span = int((now - opened_at).total_seconds() // 60)
    attempts = []
    for _ in range(draw(st.integers(min_value=0, max_value=min(10, policy.max_attempts + 1)))):
        method = draw(st.sampled_from(sorted(BRANDS)))
        at = opened_at + timedelta(minutes=draw(st.integers(min_value=0, max_value=span)))
        attempts.append(PastAttempt(at, method, BRANDS[method], draw(_advices)))
    history = AttemptHistory(tuple(attempts))
    advice = history.last.advice if history.last and draw(st.booleans()) else draw(_advices)
    card_times = {
        method: [
            now - timedelta(minutes=draw(st.integers(0, 40 * 24 * 60)))
            for _ in range(draw(st.integers(0, 20)))
        ]
        for method in BRANDS
        if draw(st.booleans())
    }
    methods = tuple(
        StoredMethod(
            id=method,
            kind="card",
            brand=brand,
            exp_month=draw(st.integers(min_value=1, max_value=12)),
            exp_year=draw(st.integers(min_value=2023, max_value=2030)),
            is_default=draw(st.booleans()),
            created=EPOCH - timedelta(days=draw(st.integers(0, 900))),
        )
        for method, brand in BRANDS.items()
        if draw(st.booleans())
    )
    stats = None
    if draw(st.booleans()):
        outcomes = [
            AttemptOutcome(
                at=EPOCH + timedelta(hours=draw(st.integers(0, 24 * 700))),
                succeeded=draw(st.booleans()),
                decline_code=draw(st.sampled_from(CODES)),
                attempt_number=draw(st.integers(1, 9)),
                customer_tz=draw(st.sampled_from(ZONES)),
            )
            for _ in range(draw(st.integers(0, 40)))
        ]
        stats = OutcomeStats.from_outcomes(outcomes)
    return World(
        now=now,
        opened_at=opened_at,
        history=history,
        advice=advice,
        policy=policy,
        customer_tz=draw(st.sampled_from(ZONES)),
        stats=stats,
        card_times=card_times,
        methods=methods,
    )


def _plan(world: World) -> Slot | Stop:
    return next_attempt_slot(
        now=world.now,
        opened_at=world.opened_at,
        history=world.history,
        advice=world.advice,
        policy=world.policy,
        customer_tz=world.customer_tz,
        stats=world.stats,
        card_attempt_times=world.card_times,
        methods=world.methods,
    )


PROPERTY_SETTINGS = settings(
    max_examples=500, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(world=_worlds())
def test_a_slot_never_breaks_the_rules(world: World) -> None:
    outcome = _plan(world)
    if isinstance(outcome, Stop):
        assert outcome.reason
        assert (outcome.end_action is None) is (outcome.end_at is None)
        if world.policy.mode is RetryMode.OBSERVE:
            assert outcome.end_action is None
        return
    slot = outcome
    assert world.policy.mode is RetryMode.OWN_RETRIES
    # Never before now, never outside the window.
    assert slot.due_at >= world.now
    assert slot.due_at < world.opened_at + timedelta(days=world.policy.window_days)
    # Never beyond max_attempts.
    assert len(world.history) < world.policy.max_attempts
    assert slot.attempt_number == len(world.history) + 1
    # Never past the card caps, counting every known attempt on that card.
    times = set(world.card_times.get(slot.method_id or "", []))
    times.update(a.at for a in world.history.attempts if a.method_id == slot.method_id)
    brand = BRANDS.get(slot.method_id or "")
    assert check_card_caps(sorted(times), brand, slot.due_at, world.policy.card_caps).allowed
    # Never the same method again after a decline that ruled it out (no method was updated).
    ruled_out = {a.method_id for a in world.history.attempts if not a.advice.retry_same_method}
    assert slot.method_id not in ruled_out
    never = {a.method_id for a in world.history.attempts if a.advice.category is DeclineCategory.NEVER}
    assert slot.method_id not in never
    current = world.history.last.method_id if world.history.last else None
    if not world.advice.retry_same_method:
        assert slot.method_id != current
    assert slot.reason


@PROPERTY_SETTINGS
@given(world=_worlds())
def test_same_method_retries_keep_hours_and_advised_waits(world: World) -> None:
    outcome = _plan(world)
    current = world.history.last.method_id if world.history.last else None
    if not (isinstance(outcome, Slot) and outcome.method_id == current and world.advice.retry_same_method):
        return  # a stop or a cascade: the other properties cover those
    zone = resolve_zone(world.customer_tz)
    assert in_hours(outcome.due_at, zone.zone, world.policy.retry_hours)
    failed_at = world.history.last.at if world.history.last else world.now
    if world.advice.min_wait is not None:
        assert outcome.due_at >= failed_at + world.advice.min_wait
    if zone.fallback_note:
        assert zone.fallback_note in outcome.reason


@PROPERTY_SETTINGS
@given(world=_worlds())
def test_a_cascade_only_goes_to_a_usable_stored_method_with_consent(world: World) -> None:
    outcome = _plan(world)
    current = world.history.last.method_id if world.history.last else None
    if not (isinstance(outcome, Slot) and outcome.method_id != current):
        return  # a stop or a retry of the same method: the other properties cover those
    assert world.policy.allow_alternate_methods
    method = next(m for m in world.methods if m.id == outcome.method_id)
    assert not method.is_expired(world.now)
    assert outcome.due_at >= world.now + world.policy.cascade_delay
    assert "cascading" in outcome.reason


@settings(max_examples=200, deadline=None, database=None)
@given(world=_worlds(), days=st.integers(min_value=1, max_value=60))
def test_the_schedule_is_a_pure_function(world: World, days: int) -> None:
    # Same inputs, same answer; and no wall clock: the real date is far from these nows.
    assert _plan(world) == _plan(world)
    later = replace(world, now=world.now + timedelta(days=days))
    outcome = _plan(later)
    if isinstance(outcome, Slot):
        assert outcome.due_at >= later.now
