"""Compliance: regime defaults, opt-outs, the validation notice, rolling caps and the sending window."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from dunning.notify.domain.channels import Channel
from dunning.notify.domain.compliance import (
    ComplianceOverrides,
    ContactCap,
    ContactState,
    Defer,
    PastContact,
    PlannedContact,
    Regime,
    Send,
    Suppress,
    SuppressionCode,
    assess,
    mask_address,
    normalize_address,
    rules_for,
)

TOKYO = ("Asia/Tokyo",)
# 12:00 in Tokyo on a Monday.
NOON = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)


def email(
    *, due_at: datetime = NOON, address: str | None = "Kenji@Example.jp", notice: bool = False
) -> PlannedContact:
    return PlannedContact(Channel.EMAIL, address, due_at, is_validation_notice=notice, zones=TOKYO)


def sms(*, due_at: datetime = NOON, address: str | None = "+81 90-1234-5678") -> PlannedContact:
    return PlannedContact(Channel.SMS, address, due_at, zones=TOKYO)


FIRST = rules_for(Regime.FIRST_PARTY)
THIRD = rules_for(Regime.THIRD_PARTY_CONSUMER)
NOTICE_SENT = ContactState(validation_notice_sent_at=NOON - timedelta(days=10))


class TestDefaults:
    def test_third_party_consumer_is_regulation_f(self) -> None:
        assert (THIRD.window_start, THIRD.window_end) == (time(8), time(21))
        assert THIRD.caps[Channel.EMAIL] == ContactCap(7, timedelta(days=7))
        assert THIRD.caps[Channel.SMS] == ContactCap(3, timedelta(days=7))
        assert THIRD.requires_validation_notice
        assert THIRD.applies_window

    def test_first_party_keeps_the_hours_and_sends_less(self) -> None:
        assert (FIRST.window_start, FIRST.window_end) == (time(8), time(21))
        assert FIRST.caps[Channel.EMAIL] == ContactCap(5, timedelta(days=7))
        assert FIRST.caps[Channel.SMS] == ContactCap(3, timedelta(days=7))
        assert not FIRST.requires_validation_notice

    def test_b2b_uses_office_hours_and_no_validation_notice(self) -> None:
        rules = rules_for(Regime.B2B)

        assert (rules.window_start, rules.window_end) == (time(8), time(18))
        assert not rules.requires_validation_notice

    def test_platform_channels_are_never_capped(self) -> None:
        for regime in Regime:
            caps = rules_for(regime).caps
            assert Channel.IN_APP not in caps
            assert Channel.WEBHOOK not in caps


class TestOverrides:
    def test_third_party_may_narrow_the_window(self) -> None:
        rules = rules_for(Regime.THIRD_PARTY_CONSUMER, overrides=ComplianceOverrides(window_end=time(20)))

        assert rules.window_end == time(20)

    @pytest.mark.parametrize(
        "overrides",
        [
            ComplianceOverrides(window_start=time(7)),
            ComplianceOverrides(window_end=time(22)),
            ComplianceOverrides(applies_window=False),
        ],
    )
    def test_third_party_may_not_widen_or_drop_the_window(self, overrides: ComplianceOverrides) -> None:
        with pytest.raises(ValueError, match="never widen or drop"):
            rules_for(Regime.THIRD_PARTY_CONSUMER, overrides=overrides)

    def test_third_party_may_not_drop_the_validation_notice(self) -> None:
        with pytest.raises(ValueError, match=r"1006\.34"):
            rules_for(
                Regime.THIRD_PARTY_CONSUMER, overrides=ComplianceOverrides(requires_validation_notice=False)
            )

    def test_a_first_party_tenant_may_change_hours_and_caps(self) -> None:
        overrides = ComplianceOverrides(
            window_start=time(9),
            window_end=time(22),
            caps={Channel.EMAIL: ContactCap(2, timedelta(days=1)), Channel.SMS: None},
        )

        rules = rules_for(Regime.FIRST_PARTY, overrides=overrides)

        assert (rules.window_start, rules.window_end) == (time(9), time(22))
        assert rules.caps == {Channel.EMAIL: ContactCap(2, timedelta(days=1))}
        assert FIRST.caps[Channel.SMS] == ContactCap(3, timedelta(days=7))  # defaults untouched

    def test_a_window_that_ends_before_it_starts_is_refused(self) -> None:
        with pytest.raises(ValueError, match="start before it ends"):
            rules_for(Regime.B2B, overrides=ComplianceOverrides(window_start=time(19)))

    def test_a_cap_needs_a_sane_limit_and_period(self) -> None:
        with pytest.raises(ValueError, match="limit >= 0"):
            ContactCap(-1, timedelta(days=7))
        with pytest.raises(ValueError, match="positive period"):
            ContactCap(3, timedelta(0))


class TestSuppressions:
    def test_no_address(self) -> None:
        for address in (None, "", "   "):
            verdict = assess(email(address=address), ContactState(), FIRST, now=NOON)
            assert verdict == Suppress("no email address on file", SuppressionCode.NO_ADDRESS)

    def test_channel_opt_out_comes_before_a_missing_address(self) -> None:
        state = ContactState(opted_out_channels={Channel.EMAIL})

        verdict = assess(email(address=None), state, FIRST, now=NOON)

        assert isinstance(verdict, Suppress)
        assert verdict.code is SuppressionCode.OPTED_OUT_CHANNEL
        assert verdict.reason == "the customer opted out of all email messages"

    def test_an_address_opt_out_matches_regardless_of_case_and_phone_formatting(self) -> None:
        state = ContactState(
            opted_out_addresses={(Channel.EMAIL, "kenji@example.jp"), (Channel.SMS, "+819012345678")}
        )

        for contact in (email(), sms()):
            verdict = assess(contact, state, FIRST, now=NOON)
            assert isinstance(verdict, Suppress)
            assert verdict.code is SuppressionCode.OPTED_OUT_ADDRESS

    def test_a_cap_of_zero_turns_the_channel_off(self) -> None:
        rules = rules_for(
            Regime.FIRST_PARTY,
            overrides=ComplianceOverrides(caps={Channel.SMS: ContactCap(0, timedelta(days=7))}),
        )

        verdict = assess(sms(), ContactState(), rules, now=NOON)

        assert verdict == Suppress(
            "the sms cap is 0 per 7 days: this policy sends no sms", SuppressionCode.CHANNEL_DISABLED
        )

    def test_the_reason_names_the_address_without_copying_it(self) -> None:
        state = ContactState(opted_out_addresses={(Channel.EMAIL, "kenji@example.jp")})

        verdict = assess(email(), state, FIRST, now=NOON)

        assert isinstance(verdict, Suppress)
        assert verdict.reason == "K***@Example.jp opted out of email messages"

    def test_an_opt_out_from_one_address_leaves_another_reachable(self) -> None:
        state = ContactState(opted_out_addresses={(Channel.EMAIL, "old@example.jp")})

        assert assess(email(), state, FIRST, now=NOON) == Send(
            NOON, "12:00 in Asia/Tokyo is within 08:00\u201321:00; sends now"
        )

    def test_an_opt_out_on_sms_does_not_silence_email_at_the_same_string(self) -> None:
        state = ContactState(opted_out_addresses={(Channel.SMS, "kenji@example.jp")})

        assert isinstance(assess(email(), state, FIRST, now=NOON), Send)

    def test_third_party_messages_wait_for_the_validation_notice(self) -> None:
        verdict = assess(email(), ContactState(), THIRD, now=NOON)

        assert isinstance(verdict, Suppress)
        assert verdict.code is SuppressionCode.VALIDATION_NOTICE_PENDING
        assert "1006.34" in verdict.reason

    def test_a_notice_dated_in_the_future_is_not_sent_yet(self) -> None:
        state = ContactState(validation_notice_sent_at=NOON + timedelta(hours=1))

        verdict = assess(email(), state, THIRD, now=NOON)

        assert isinstance(verdict, Suppress)
        assert verdict.code is SuppressionCode.VALIDATION_NOTICE_PENDING

    def test_the_validation_notice_itself_goes_out(self) -> None:
        assert isinstance(assess(email(notice=True), ContactState(), THIRD, now=NOON), Send)

    def test_after_the_notice_other_messages_go_out(self) -> None:
        assert isinstance(assess(email(), NOTICE_SENT, THIRD, now=NOON), Send)

    def test_an_opt_out_stops_even_the_validation_notice_on_that_address(self) -> None:
        state = ContactState(opted_out_addresses={(Channel.EMAIL, "kenji@example.jp")})

        verdict = assess(email(notice=True), state, THIRD, now=NOON)

        assert isinstance(verdict, Suppress)
        assert verdict.code is SuppressionCode.OPTED_OUT_ADDRESS


class TestPlatformChannels:
    @pytest.mark.parametrize("channel", [Channel.IN_APP, Channel.WEBHOOK])
    def test_in_app_and_webhook_go_at_once_at_night_and_past_caps(self, channel: Channel) -> None:
        night = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)  # 02:00 in Tokyo
        history = [PastContact(channel, night - timedelta(hours=k)) for k in range(1, 20)]
        contact = PlannedContact(channel, None, night, zones=TOKYO)

        verdict = assess(contact, ContactState(history=history), THIRD, now=night)

        assert isinstance(verdict, Send)
        assert verdict.at == night
        assert "not a direct contact" in verdict.note


class TestTiming:
    def test_a_due_time_in_daytime_sends_then(self) -> None:
        later = NOON + timedelta(hours=2)

        verdict = assess(email(due_at=later), ContactState(), FIRST, now=NOON)

        assert isinstance(verdict, Send)
        assert verdict.at == later

    def test_an_overdue_message_sends_now_not_in_the_past(self) -> None:
        verdict = assess(email(due_at=NOON - timedelta(days=2)), ContactState(), FIRST, now=NOON)

        assert isinstance(verdict, Send)
        assert verdict.at == NOON

    def test_night_defers_to_eight_local(self) -> None:
        night = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)  # 02:00 in Tokyo

        verdict = assess(email(due_at=night), ContactState(), FIRST, now=night)

        assert verdict == Defer(
            datetime(2026, 3, 2, 23, 0, tzinfo=UTC),
            "02:00 in Asia/Tokyo is outside 08:00\u201321:00; waits until 08:00 local (2026-03-02 23:00 UTC)",
        )

    def test_a_full_cap_waits_for_the_oldest_to_leave_the_rolling_week(self) -> None:
        sent = [NOON - timedelta(days=6, hours=1), *(NOON - timedelta(days=d) for d in (5, 4, 3, 2))]
        state = ContactState(history=[PastContact(Channel.EMAIL, t) for t in sent])

        verdict = assess(email(), state, FIRST, now=NOON)

        assert isinstance(verdict, Defer)
        assert verdict.until == NOON + timedelta(hours=23)  # 11:00 next day in Tokyo: in window
        assert verdict.reason == (
            "email cap of 5 per 7 days reached (5 sent since 2026-02-23 03:00 UTC); "
            "waits until 2026-03-03 02:00 UTC when the oldest counted leaves"
        )

    def test_when_the_cap_frees_at_night_the_window_applies_again(self) -> None:
        # The oldest of 3 texts leaves at 01:00 Tokyo; the next in-window minute is 08:00.
        leaves_at_night = NOON + timedelta(hours=13)
        first = leaves_at_night - timedelta(days=7)
        history = [
            PastContact(Channel.SMS, t) for t in (first, NOON - timedelta(days=2), NOON - timedelta(days=1))
        ]

        verdict = assess(sms(), ContactState(history=history), FIRST, now=NOON)

        assert isinstance(verdict, Defer)
        assert verdict.until == datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
        assert "sms cap of 3 per 7 days reached" in verdict.reason
        assert "; then 01:00 in Asia/Tokyo is outside 08:00\u201321:00" in verdict.reason

    def test_a_message_exactly_one_period_old_no_longer_counts(self) -> None:
        history = [PastContact(Channel.SMS, NOON - timedelta(days=7))] + [
            PastContact(Channel.SMS, NOON - timedelta(days=d)) for d in (1, 2)
        ]

        assert isinstance(assess(sms(), ContactState(history=history), FIRST, now=NOON), Send)

    def test_caps_count_per_channel(self) -> None:
        history = [PastContact(Channel.SMS, NOON - timedelta(hours=h)) for h in range(1, 10)]

        assert isinstance(assess(email(), ContactState(history=history), FIRST, now=NOON), Send)

    def test_an_uncapped_channel_only_waits_for_the_window(self) -> None:
        rules = rules_for(Regime.FIRST_PARTY, overrides=ComplianceOverrides(caps={Channel.EMAIL: None}))
        history = [PastContact(Channel.EMAIL, NOON - timedelta(hours=h)) for h in range(1, 30)]

        assert isinstance(assess(email(), ContactState(history=history), rules, now=NOON), Send)

    def test_unknown_zone_uses_utc_and_says_so(self) -> None:
        contact = PlannedContact(Channel.EMAIL, "a@b.example", datetime(2026, 3, 2, 3, 0, tzinfo=UTC))

        verdict = assess(contact, ContactState(), FIRST, now=contact.due_at)

        assert isinstance(verdict, Defer)
        assert verdict.until == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
        assert verdict.reason.startswith("recipient time zone unknown: using UTC")

    def test_naive_clocks_are_refused(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            assess(email(), ContactState(), FIRST, now=datetime(2026, 3, 2, 3, 0))


def test_addresses_normalize_and_mask() -> None:
    assert normalize_address(Channel.SMS, " +1 (415) 555-0100 ") == "+14155550100"
    assert normalize_address(Channel.EMAIL, " Kenji@Example.JP ") == "kenji@example.jp"
    assert mask_address(Channel.SMS, "+14155550100") == "***0100"
    assert mask_address(Channel.EMAIL, "kenji@example.jp") == "k***@example.jp"
