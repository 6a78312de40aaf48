"""The level walker and segment rules: which level comes next, when, and under which policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from dunning.notify.domain.channels import Channel, TemplateName
from dunning.notify.domain.escalation import (
    DEFAULT_POLICY,
    Anchor,
    EscalationLevel,
    EscalationPolicy,
    SegmentFacts,
    SegmentRule,
    choose_policy,
    next_level,
)
from dunning.notify.policy_schema import TENANT_DEFAULT, NotifyPolicyBody, from_policy, to_policy

OPENED = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def test_the_default_policy_is_the_one_the_issue_describes() -> None:
    levels = DEFAULT_POLICY.levels
    assert [(lv.name, lv.offset.days) for lv in levels] == [
        ("friendly", 0),
        ("reminder", 3),
        ("firm", 7),
        ("final_notice", 14),
        ("collections", 21),
    ]
    assert {Channel.SMS, Channel.EMAIL} <= set(levels[2].channels)
    assert [lv.hand_off for lv in levels] == [False, False, False, False, True]


def test_walking_the_default_policy_on_time() -> None:
    reached, sent_at, dues = None, None, []
    while (
        due := next_level(DEFAULT_POLICY, reached=reached, opened_at=OPENED, previous_sent_at=sent_at)
    ) is not None:
        dues.append((due.level.name, due.due_at))
        reached, sent_at = due.index, due.due_at
    assert dues == [
        ("friendly", OPENED),
        ("reminder", OPENED + timedelta(days=3)),
        ("firm", OPENED + timedelta(days=7)),
        ("final_notice", OPENED + timedelta(days=14)),
        ("collections", OPENED + timedelta(days=21)),
    ]


def test_after_a_backlog_levels_never_bunch_up() -> None:
    # The service learned of the case ten days late: level 0 goes out now, and the day-3 and
    # day-7 levels (both already past) follow a day apart, not in the same minute.
    late = OPENED + timedelta(days=10)
    first = next_level(DEFAULT_POLICY, reached=0, opened_at=OPENED, previous_sent_at=late)
    assert first is not None
    assert first.due_at == late + timedelta(days=1)
    assert "never bunch up" in first.why


def test_a_level_anchored_on_the_previous_one_moves_with_it() -> None:
    policy = EscalationPolicy(
        levels=(
            EscalationLevel("a", timedelta(0), (Channel.EMAIL,), TemplateName.FRIENDLY),
            EscalationLevel(
                "b", timedelta(days=2), (Channel.EMAIL,), TemplateName.REMINDER, anchor=Anchor.PREVIOUS
            ),
        )
    )
    held_back = OPENED + timedelta(hours=20)  # level a waited for the morning
    due = next_level(policy, reached=0, opened_at=OPENED, previous_sent_at=held_back)
    assert due is not None
    assert due.due_at == held_back + timedelta(days=2)
    assert next_level(policy, reached=1, opened_at=OPENED, previous_sent_at=held_back) is None


@pytest.mark.parametrize(
    ("levels", "message"),
    [
        ((), "at least one level"),
        (
            (
                EscalationLevel("a", timedelta(days=3), (Channel.EMAIL,), TemplateName.FRIENDLY),
                EscalationLevel("b", timedelta(days=1), (Channel.EMAIL,), TemplateName.REMINDER),
            ),
            "due before the level above it",
        ),
        ((EscalationLevel("a", timedelta(0), (), TemplateName.FRIENDLY),), "no channels"),
        (
            (
                EscalationLevel("a", timedelta(0), (Channel.EMAIL,), TemplateName.FRIENDLY, hand_off=True),
                EscalationLevel("b", timedelta(days=1), (Channel.EMAIL,), TemplateName.REMINDER),
            ),
            "only the last level",
        ),
        (
            (EscalationLevel("a", timedelta(0), (Channel.EMAIL, Channel.EMAIL), TemplateName.FRIENDLY),),
            "twice",
        ),
    ],
)
def test_policies_that_make_no_sense_are_refused(levels: tuple[EscalationLevel, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EscalationPolicy(levels=levels)


def test_segments_choose_the_first_matching_policy() -> None:
    policies = {"default": DEFAULT_POLICY, "b2b": DEFAULT_POLICY, "big": DEFAULT_POLICY}
    rules = [
        SegmentRule(policy="b2b", customer_type="b2b"),
        SegmentRule(policy="big", min_amount=100_000, currency="USD"),
    ]
    assert (
        choose_policy(policies, rules, SegmentFacts(amount=500, currency="USD", customer_type="b2b"))[0]
        == "b2b"
    )
    assert choose_policy(policies, rules, SegmentFacts(amount=200_000, currency="USD"))[0] == "big"
    assert choose_policy(policies, rules, SegmentFacts(amount=200_000, currency="EUR"))[0] == "default"
    name, why = choose_policy(policies, rules, SegmentFacts(amount=1, currency="USD"))
    assert (name, why) == ("default", "no segment rule matched: the default policy")


def test_metadata_and_customer_value_rules() -> None:
    rule = SegmentRule(policy="vip", min_customer_value=1_000_000, metadata={"plan": "enterprise"})
    assert rule.matches(SegmentFacts(1, "USD", customer_value=2_000_000, metadata={"plan": "enterprise"}))
    assert not rule.matches(SegmentFacts(1, "USD", customer_value=None, metadata={"plan": "enterprise"}))
    assert not rule.matches(SegmentFacts(1, "USD", customer_value=2_000_000, metadata={"plan": "team"}))


def test_the_api_shape_round_trips_the_default_policy() -> None:
    assert to_policy(from_policy(DEFAULT_POLICY)) == DEFAULT_POLICY
    assert NotifyPolicyBody.model_validate(TENANT_DEFAULT.model_dump(mode="json")) == TENANT_DEFAULT


def test_the_api_refuses_a_policy_with_the_walkers_own_message() -> None:
    body = TENANT_DEFAULT.model_dump(mode="json")
    body["policies"]["default"]["levels"][1]["offset_hours"] = 0
    body["policies"]["default"]["levels"][0]["offset_hours"] = 48
    with pytest.raises(ValidationError, match="due before the level above it"):
        NotifyPolicyBody.model_validate(body)
    body = TENANT_DEFAULT.model_dump(mode="json")
    body["segments"] = [{"policy": "nope"}]
    with pytest.raises(ValidationError, match="unknown policy 'nope'"):
        NotifyPolicyBody.model_validate(body)
    del body["policies"]["default"]
    body["policies"]["other"] = TENANT_DEFAULT.model_dump(mode="json")["policies"]["default"]
    body["segments"] = []
    with pytest.raises(ValidationError, match="must include 'default'"):
        NotifyPolicyBody.model_validate(body)


@given(
    offsets=st.lists(st.integers(min_value=0, max_value=24 * 60), min_size=1, max_size=8).map(sorted),
    delays=st.lists(st.integers(min_value=0, max_value=24 * 30), min_size=8, max_size=8),
    gap=st.integers(min_value=0, max_value=72),
)
def test_walks_are_ordered_and_respect_the_gap(offsets: list[int], delays: list[int], gap: int) -> None:
    policy = EscalationPolicy(
        levels=tuple(
            EscalationLevel(f"l{i}", timedelta(hours=h), (Channel.EMAIL,), TemplateName.REMINDER)
            for i, h in enumerate(offsets)
        ),
        min_gap=timedelta(hours=gap),
    )
    reached, sent_at, count = None, None, 0
    while (
        due := next_level(policy, reached=reached, opened_at=OPENED, previous_sent_at=sent_at)
    ) is not None:
        assert due.index == (0 if reached is None else reached + 1)
        assert due.due_at >= OPENED + policy.levels[due.index].offset
        if sent_at is not None:
            assert due.due_at >= sent_at + policy.min_gap
        # The walker fires late by an arbitrary delay (quiet hours, an outage).
        reached, sent_at = due.index, due.due_at + timedelta(hours=delays[count])
        count += 1
    assert count == len(offsets)
