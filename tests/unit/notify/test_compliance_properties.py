"""Compliance properties over random histories, clocks, zones and regimes: never early, never over a cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import event, given, settings
from hypothesis import strategies as st

from dunning.notify.domain.channels import Channel
from dunning.notify.domain.compliance import (
    ComplianceRules,
    ContactState,
    Defer,
    PastContact,
    PlannedContact,
    Regime,
    Send,
    Suppress,
    assess,
    rules_for,
)

ZONES = ["Asia/Tokyo", "America/New_York", "America/Los_Angeles", "Europe/London", "Australia/Lord_Howe"]
START = datetime(2026, 1, 1, tzinfo=UTC)

minutes = st.integers(0, 60 * 24 * 400).map(lambda m: START + timedelta(minutes=m))
channels = st.sampled_from(list(Channel))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[PlannedContact, ContactState, ComplianceRules, datetime]:
    now = draw(minutes)
    channel = draw(channels)
    history = [
        PastContact(draw(channels), now - timedelta(minutes=draw(st.integers(0, 60 * 24 * 10))))
        for _ in range(draw(st.integers(0, 12)))
    ]
    contact = PlannedContact(
        channel,
        draw(st.sampled_from([None, "", "a@b.example", "+15550100"])),
        now + timedelta(minutes=draw(st.integers(-3000, 3000))),
        is_validation_notice=draw(st.booleans()),
        # Tokyo and New York share no office hours: the b2b fallback path.
        zones=draw(
            st.lists(st.sampled_from(ZONES), max_size=2, unique=True)
            | st.just(["Asia/Tokyo", "America/New_York"])
        ),
    )
    state = ContactState(
        opted_out_channels=draw(st.sets(channels, max_size=1)),
        history=history,
        validation_notice_sent_at=draw(st.none() | st.just(now - timedelta(days=1))),
    )
    return contact, state, rules_for(draw(st.sampled_from(list(Regime)))), now


def allowed(
    instant: datetime, contact: PlannedContact, state: ContactState, rules: ComplianceRules, *, fallback: bool
) -> bool:
    cap = rules.caps.get(contact.channel)
    if cap is not None:
        counted = [p for p in state.history if p.channel is contact.channel and p.at > instant - cap.period]
        if len(counted) >= cap.limit:
            return False
    zones = list(contact.zones[:1] if fallback else contact.zones) or ["UTC"]
    return all(
        rules.window_start <= instant.astimezone(ZoneInfo(zone)).time() < rules.window_end for zone in zones
    )


@settings(max_examples=400, deadline=None)
@given(scenario=scenarios())
def test_every_verdict_is_explained_timely_and_within_the_rules(
    scenario: tuple[PlannedContact, ContactState, ComplianceRules, datetime],
) -> None:
    contact, state, rules, now = scenario
    planned = max(now, contact.due_at)

    verdict = assess(contact, state, rules, now=now)

    if isinstance(verdict, Suppress):
        assert verdict.reason
        assert contact.channel in {Channel.EMAIL, Channel.SMS}
        return
    if contact.channel not in {Channel.EMAIL, Channel.SMS}:
        assert isinstance(verdict, Send)
        assert verdict.at == planned
        return
    assert contact.channel not in state.opted_out_channels
    assert contact.address
    # Zones with no daytime in common fall back to the first zone's window, and say so.
    fallback = "never overlap" in (verdict.note if isinstance(verdict, Send) else verdict.reason)
    event(f"fallback={fallback}")
    if isinstance(verdict, Send):
        assert verdict.at == planned
        assert allowed(planned, contact, state, rules, fallback=fallback)
        return
    assert isinstance(verdict, Defer)
    assert verdict.reason
    assert verdict.until > planned
    assert allowed(verdict.until, contact, state, rules, fallback=fallback)
    # Not a second too late: just before, some rule still held it back; and so did sampled instants.
    assert not allowed(verdict.until - timedelta(seconds=1), contact, state, rules, fallback=fallback)
    for k in range(1, 30):
        probe = planned + (verdict.until - planned) * k / 30
        assert probe >= verdict.until or not allowed(probe, contact, state, rules, fallback=fallback)
