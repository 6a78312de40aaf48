"""Compliance regimes and their defaults: sending hours, contact caps, the validation notice."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import time, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import TypeVar

from dunning.notify.domain.channels import Channel


class Regime(StrEnum):
    FIRST_PARTY = "first_party"  # the creditor collects its own debt
    THIRD_PARTY_CONSUMER = "third_party_consumer"  # a debt collector, consumer debt: FDCPA / Regulation F
    B2B = "b2b"  # the debtor is a business: Directive 2011/7/EU, no consumer-contact law


@dataclass(frozen=True, slots=True)
class ContactCap:
    """At most ``limit`` messages on a channel per rolling ``period``, per debt; 0 turns it off."""

    limit: int
    period: timedelta

    def __post_init__(self) -> None:
        if self.limit < 0 or self.period <= timedelta(0):
            raise ValueError(
                f"a contact cap needs a limit >= 0 and a positive period, got {self.limit}/{self.period}"
            )

    def __str__(self) -> str:
        return f"{self.limit} per {_duration(self.period)}"


@dataclass(frozen=True, slots=True)
class ComplianceRules:
    regime: Regime
    window_start: time
    window_end: time
    caps: Mapping[Channel, ContactCap]
    requires_validation_notice: bool
    applies_window: bool


@dataclass(frozen=True, slots=True)
class ComplianceOverrides:
    """A tenant's changes to its regime's defaults; ``None`` keeps the default."""

    window_start: time | None = None
    window_end: time | None = None
    caps: Mapping[Channel, ContactCap | None] = field(default_factory=dict)  # None removes a cap
    requires_validation_notice: bool | None = None
    applies_window: bool | None = None


_T = TypeVar("_T")
_WEEK = timedelta(days=7)
_DEFAULTS = {
    # 12 CFR 1006.6(b)(1)(i): 08:00-21:00 at the consumer's location. 1006.14(b)(2) presumes
    # harassment above 7 calls in 7 days per debt; the rule sets no number for email or text,
    # so email gets the call ceiling and SMS, which rings the phone like a call, a stricter 3.
    # 1006.34: the validation notice comes first (see assess).
    Regime.THIRD_PARTY_CONSUMER: ComplianceRules(
        Regime.THIRD_PARTY_CONSUMER,
        time(8),
        time(21),
        MappingProxyType({Channel.EMAIL: ContactCap(7, _WEEK), Channel.SMS: ContactCap(3, _WEEK)}),
        requires_validation_notice=True,
        applies_window=True,
    ),
    # A creditor is no debt collector, but state laws bind creditors to the same hours (e.g.
    # Fla. Stat. 559.72(17)) and 47 CFR 64.1200(c)(1) sets them for telephone solicitations,
    # texts included; one email a weekday is what a considerate creditor sends.
    Regime.FIRST_PARTY: ComplianceRules(
        Regime.FIRST_PARTY,
        time(8),
        time(21),
        MappingProxyType({Channel.EMAIL: ContactCap(5, _WEEK), Channel.SMS: ContactCap(3, _WEEK)}),
        requires_validation_notice=False,
        applies_window=True,
    ),
    # No contact-time law protects a business, but an accounts-payable desk reads mail in
    # office hours: 08:00-18:00 keeps reminders out of evenings and off the night shift.
    Regime.B2B: ComplianceRules(
        Regime.B2B,
        time(8),
        time(18),
        MappingProxyType({Channel.EMAIL: ContactCap(7, _WEEK), Channel.SMS: ContactCap(3, _WEEK)}),
        requires_validation_notice=False,
        applies_window=True,
    ),
}


def rules_for(regime: Regime, *, overrides: ComplianceOverrides | None = None) -> ComplianceRules:
    """The regime's defaults with a tenant's overrides applied.

    Under ``third_party_consumer`` the defaults are the legal floor: overrides may narrow the
    window but not widen or drop it, nor drop the validation notice (12 CFR 1006.6(b)(1)(i), 1006.34).
    """
    rules = _DEFAULTS[Regime(regime)]
    if overrides is None:
        return rules
    caps = dict(rules.caps)
    for channel, cap in overrides.caps.items():
        if cap is None:
            caps.pop(Channel(channel), None)
        else:
            caps[Channel(channel)] = cap
    changed = replace(
        rules,
        window_start=_pick(overrides.window_start, rules.window_start),
        window_end=_pick(overrides.window_end, rules.window_end),
        caps=MappingProxyType(caps),
        requires_validation_notice=_pick(
            overrides.requires_validation_notice, rules.requires_validation_notice
        ),
        applies_window=_pick(overrides.applies_window, rules.applies_window),
    )
    if changed.window_start >= changed.window_end:
        raise ValueError(
            f"sending window must start before it ends: {changed.window_start}-{changed.window_end}"
        )
    if rules.regime is Regime.THIRD_PARTY_CONSUMER:
        floor = _DEFAULTS[Regime.THIRD_PARTY_CONSUMER]
        if (
            not changed.applies_window
            or changed.window_start < floor.window_start
            or changed.window_end > floor.window_end
        ):
            raise ValueError("third_party_consumer may narrow the 08:00-21:00 window, never widen or drop it")
        if not changed.requires_validation_notice:
            raise ValueError("third_party_consumer always requires the validation notice (12 CFR 1006.34)")
    return changed


def _pick(override: _T | None, default: _T) -> _T:
    return default if override is None else override


def _duration(span: timedelta) -> str:
    if span % timedelta(days=1) == timedelta(0):
        days = span // timedelta(days=1)
        return "day" if days == 1 else f"{days} days"
    if span % timedelta(hours=1) == timedelta(0):
        return f"{span // timedelta(hours=1)} h"
    return f"{span // timedelta(minutes=1)} min"
