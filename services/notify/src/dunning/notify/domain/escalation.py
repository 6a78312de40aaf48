"""Escalation policies and the level walker: which level comes next, and when it is due.

A policy is an ordered list of levels. Each level is due a fixed offset after the case opened,
or after the previous level actually went out (a level held back by quiet hours pushes the
next one back with it). Levels never bunch up: after a backlog (the service was down, events
arrived late) each level still waits at least ``min_gap`` after the previous one, so a customer
never gets the reminder, the firm letter and the final notice in the same hour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from dunning.notify.domain.channels import Channel, TemplateName


class Anchor(StrEnum):
    OPENING = "opening"  # offset counts from when the case opened
    PREVIOUS = "previous"  # offset counts from when the previous level went out


@dataclass(frozen=True, slots=True)
class EscalationLevel:
    name: str
    offset: timedelta
    channels: tuple[Channel, ...]
    template: TemplateName
    tone: str = "friendly"
    anchor: Anchor = Anchor.OPENING
    # Reaching this level hands the case to collections: the case file goes to the agency.
    hand_off: bool = False


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    levels: tuple[EscalationLevel, ...]
    min_gap: timedelta = timedelta(days=1)

    def __post_init__(self) -> None:
        if not self.levels:
            raise ValueError("an escalation policy needs at least one level")
        if len(self.levels) > 20:
            raise ValueError("at most 20 levels")
        if self.min_gap < timedelta(0):
            raise ValueError("min_gap cannot be negative")
        names = [level.name for level in self.levels]
        if len(set(names)) != len(names):
            raise ValueError("level names must be unique")
        previous = timedelta(0)
        for index, level in enumerate(self.levels):
            if not level.channels and not level.hand_off:
                raise ValueError(f"level {index} ({level.name}) has no channels and hands nothing off")
            if len(set(level.channels)) != len(level.channels):
                raise ValueError(f"level {index} ({level.name}) lists a channel twice")
            if level.offset < timedelta(0):
                raise ValueError(f"level {index} ({level.name}) has a negative offset")
            if level.anchor is Anchor.OPENING:
                if level.offset < previous:
                    raise ValueError(
                        f"level {index} ({level.name}) is due before the level above it; "
                        "levels are ordered by when they go out"
                    )
                previous = level.offset
            if level.offset > timedelta(days=366):
                raise ValueError(f"level {index} ({level.name}) is more than a year out")
        if any(level.hand_off for level in self.levels[:-1]):
            raise ValueError("only the last level can hand the case to collections")


def _days(n: int) -> timedelta:
    return timedelta(days=n)


# What a new tenant gets (issue #4): friendly email at once, a reminder on day 3, email + SMS on
# day 7, a final notice on day 14 and the collections hand-off on day 21. The in-app notice
# accompanies every level: it costs the customer nothing and the platform decides whether to show it.
DEFAULT_POLICY = EscalationPolicy(
    levels=(
        EscalationLevel(
            "friendly", _days(0), (Channel.EMAIL, Channel.IN_APP), TemplateName.FRIENDLY, "friendly"
        ),
        EscalationLevel(
            "reminder", _days(3), (Channel.EMAIL, Channel.IN_APP), TemplateName.REMINDER, "friendly"
        ),
        EscalationLevel(
            "firm", _days(7), (Channel.EMAIL, Channel.SMS, Channel.IN_APP), TemplateName.FIRM, "firm"
        ),
        EscalationLevel(
            "final_notice",
            _days(14),
            (Channel.EMAIL, Channel.SMS, Channel.IN_APP),
            TemplateName.FINAL_NOTICE,
            "firm",
        ),
        EscalationLevel(
            "collections",
            _days(21),
            (Channel.EMAIL, Channel.IN_APP),
            TemplateName.COLLECTIONS,
            "formal",
            hand_off=True,
        ),
    )
)


@dataclass(frozen=True, slots=True)
class LevelDue:
    index: int
    level: EscalationLevel
    due_at: datetime
    why: str


def next_level(
    policy: EscalationPolicy,
    *,
    reached: int | None,
    opened_at: datetime,
    previous_sent_at: datetime | None,
) -> LevelDue | None:
    """The level after ``reached`` (None: nothing reached yet) and when it is due; None at the end.

    ``previous_sent_at`` is when level ``reached`` went out (its walk time, not delivery time).
    """
    index = 0 if reached is None else reached + 1
    if index >= len(policy.levels):
        return None
    level = policy.levels[index]
    if index == 0 or previous_sent_at is None:
        base, anchor_text = opened_at, "the case opened"
    elif level.anchor is Anchor.PREVIOUS:
        base, anchor_text = previous_sent_at, f"level {index - 1} went out"
    else:
        base, anchor_text = opened_at, "the case opened"
    due = base + level.offset
    why = f"{_human(level.offset)} after {anchor_text}"
    if previous_sent_at is not None and index > 0:
        earliest = previous_sent_at + policy.min_gap
        if earliest > due:
            due = earliest
            why += f"; held to {_human(policy.min_gap)} after the previous level so messages never bunch up"
    return LevelDue(index=index, level=level, due_at=due, why=why)


def _human(delta: timedelta) -> str:
    if delta == timedelta(0):
        return "at once"
    if delta % timedelta(days=1) == timedelta(0):
        days = delta.days
        return f"{days} day" + ("s" if days != 1 else "")
    hours = delta / timedelta(hours=1)
    return f"{hours:g} hour" + ("s" if hours != 1 else "")


# -- Segments: which policy a case walks ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SegmentFacts:
    """What segment rules may look at: the debt and what the platform told us of the customer."""

    amount: int
    currency: str
    customer_type: str | None = None  # "b2b" | "b2c" | None (unknown)
    customer_value: int | None = None  # lifetime value in the debt's currency, minor units
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SegmentRule:
    """All given conditions must hold; the first matching rule (in order) chooses the policy."""

    policy: str
    min_amount: int | None = None
    max_amount: int | None = None
    currency: str | None = None
    customer_type: str | None = None
    min_customer_value: int | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def matches(self, facts: SegmentFacts) -> bool:
        checks = (
            self.min_amount is None or facts.amount >= self.min_amount,
            self.max_amount is None or facts.amount <= self.max_amount,
            self.currency is None or facts.currency == self.currency,
            self.customer_type is None or facts.customer_type == self.customer_type,
            self.min_customer_value is None
            or (facts.customer_value is not None and facts.customer_value >= self.min_customer_value),
            all(facts.metadata.get(key) == value for key, value in self.metadata.items()),
        )
        return all(checks)

    def describe(self) -> str:
        parts = []
        if self.min_amount is not None:
            parts.append(f"amount >= {self.min_amount}")
        if self.max_amount is not None:
            parts.append(f"amount <= {self.max_amount}")
        if self.currency is not None:
            parts.append(f"currency {self.currency}")
        if self.customer_type is not None:
            parts.append(f"customer type {self.customer_type}")
        if self.min_customer_value is not None:
            parts.append(f"customer value >= {self.min_customer_value}")
        parts += [f"metadata {k}={v}" for k, v in sorted(self.metadata.items())]
        return ", ".join(parts) or "always"


def choose_policy(
    policies: Mapping[str, EscalationPolicy], rules: Sequence[SegmentRule], facts: SegmentFacts
) -> tuple[str, str]:
    """The name of the policy a case walks, and why. ``policies`` must contain ``"default"``."""
    for rule in rules:
        if rule.policy in policies and rule.matches(facts):
            return rule.policy, f"segment rule ({rule.describe()}) chose policy {rule.policy!r}"
    return "default", "no segment rule matched: the default policy"
