"""Whether, and when, one planned message may reach a person: opt-outs, the validation notice,
rolling contact caps and the sending window, under the rules of a regime (compliance_rules)."""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeAlias

from dunning.notify.domain.channels import ELECTRONIC_CONTACT, Channel
from dunning.notify.domain.compliance_rules import (
    ComplianceOverrides,
    ComplianceRules,
    ContactCap,
    Regime,
    rules_for,
)
from dunning.notify.domain.sending_window import next_sending_time

__all__ = [
    "Assessment",
    "ComplianceOverrides",
    "ComplianceRules",
    "ContactCap",
    "ContactState",
    "Defer",
    "PastContact",
    "PlannedContact",
    "Regime",
    "Send",
    "Suppress",
    "SuppressionCode",
    "assess",
    "mask_address",
    "normalize_address",
    "rules_for",
]


@dataclass(frozen=True, slots=True)
class PastContact:
    channel: Channel
    at: datetime


@dataclass(frozen=True, slots=True)
class PlannedContact:
    channel: Channel
    address: str | None
    due_at: datetime
    is_validation_notice: bool = False
    zones: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class ContactState:
    """What is known about reaching this person about this debt, as of the assessment."""

    opted_out_channels: AbstractSet[Channel] = frozenset()
    opted_out_addresses: AbstractSet[tuple[Channel, str]] = frozenset()
    history: Sequence[PastContact] = ()  # messages already sent for this debt
    validation_notice_sent_at: datetime | None = None


class SuppressionCode(StrEnum):
    CHANNEL_DISABLED = "channel_disabled"  # the tenant capped the channel at 0
    NO_ADDRESS = "no_address"
    OPTED_OUT_CHANNEL = "opted_out_channel"
    OPTED_OUT_ADDRESS = "opted_out_address"
    VALIDATION_NOTICE_PENDING = "validation_notice_pending"


@dataclass(frozen=True, slots=True)
class Send:
    at: datetime
    note: str = ""


@dataclass(frozen=True, slots=True)
class Defer:
    until: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Suppress:
    reason: str
    code: SuppressionCode


Assessment: TypeAlias = Send | Defer | Suppress


def assess(
    contact: PlannedContact, state: ContactState, rules: ComplianceRules, *, now: datetime
) -> Assessment:
    """Send, defer or suppress one planned message; every answer but a plain Send says why.

    Checks run in this order: the customer's wish (channel opt-out), the tenant's (a cap of 0),
    facts that make the message impossible (no address, an opted-out address), the law's
    preconditions (validation notice) - all final: Suppress - then what only delays it
    (caps, then the sending window: Defer). A suppression is final, so it is never hidden
    behind a deferral that would only end in it.
    """
    now = _utc(now, "now")
    planned = max(now, _utc(contact.due_at, "due_at"))
    channel = Channel(contact.channel)
    if channel not in ELECTRONIC_CONTACT:
        return Send(planned, f"{channel} is not a direct contact: no window, cap or opt-out applies")
    if channel in state.opted_out_channels:  # 12 CFR 1006.14(h)(1): a medium the consumer refused
        return Suppress(
            f"the customer opted out of all {channel} messages", SuppressionCode.OPTED_OUT_CHANNEL
        )
    cap = rules.caps.get(channel)
    if cap is not None and cap.limit == 0:
        return Suppress(
            f"the {channel} cap is {cap}: this policy sends no {channel}", SuppressionCode.CHANNEL_DISABLED
        )
    address = contact.address.strip() if contact.address else ""
    if not address:
        return Suppress(f"no {channel} address on file", SuppressionCode.NO_ADDRESS)
    opted_out = {(Channel(c), normalize_address(Channel(c), a)) for c, a in state.opted_out_addresses}
    if (channel, normalize_address(channel, address)) in opted_out:
        # 12 CFR 1006.6(e): an opt-out is honoured for the address or number it came from.
        return Suppress(
            f"{mask_address(channel, address)} opted out of {channel} messages",
            SuppressionCode.OPTED_OUT_ADDRESS,
        )
    if rules.requires_validation_notice and not contact.is_validation_notice:
        sent = state.validation_notice_sent_at
        if sent is None or _utc(sent, "validation_notice_sent_at") > now:
            # Suppress, not Defer: nothing says when (or whether) a notice will go out, and a
            # message waiting on it indefinitely would hide a policy that never sends one.
            return Suppress(
                "no validation notice has been sent for this debt; other collection messages wait for it "
                "(12 CFR 1006.34), so this one is not sent",
                SuppressionCode.VALIDATION_NOTICE_PENDING,
            )
    return _schedule(channel, contact.zones, planned, state.history, rules)


def _schedule(
    channel: Channel,
    zones: Sequence[str],
    planned: datetime,
    history: Sequence[PastContact],
    rules: ComplianceRules,
) -> Send | Defer:
    sent = sorted(_utc(past.at, "history") for past in history if Channel(past.channel) is channel)
    cap = rules.caps.get(channel)
    at, note, caveat, reasons = planned, "", "", []
    # Each cap move lets a past message expire for good and a window move only follows a cap
    # move (or starts), so this settles within len(sent) + 2 rounds.
    for _ in range(len(sent) + 2):
        moved = False
        if cap is not None:
            # Rolling window: a message sent at t counts until t + period. Later-dated rows count
            # too, so clock skew cannot let a burst through.
            counted = [t for t in sent if t > at - cap.period]
            if len(counted) >= cap.limit:
                leaves = counted[len(counted) - cap.limit] + cap.period
                reasons.append(
                    f"{channel} cap of {cap} reached ({len(counted)} sent since "
                    f"{_stamp(at - cap.period)}); waits until {_stamp(leaves)} when the oldest counted leaves"
                )
                at, moved = leaves, True
        if rules.applies_window:
            decision = next_sending_time(at, zones, start=rules.window_start, end=rules.window_end)
            note, caveat = decision.note, decision.caveat
            if decision.send_at != at:
                reasons.append(decision.note)
                at, moved = decision.send_at, True
        if not moved:
            break
    if at == planned:
        return Send(at, note)
    if caveat and not reasons[-1].startswith(caveat):
        reasons.append(caveat)  # e.g. the window of the first zone only: say so on every deferral
    return Defer(at, "; then ".join(reasons))


def normalize_address(channel: Channel, address: str) -> str:
    """The form opt-outs are matched in: emails without case, phone numbers as digits (and +)."""
    text = address.strip()
    if channel is Channel.SMS:
        return ("+" if text.startswith("+") else "") + "".join(ch for ch in text if ch.isdigit())
    # Mailbox local parts are case-sensitive in theory only; matching too much is the safe side.
    return text.casefold()


def mask_address(channel: Channel, address: str) -> str:
    """Enough of an address to recognise it on a timeline without copying it there."""
    text = address.strip()
    if channel is Channel.EMAIL and "@" in text:
        local, _, domain = text.rpartition("@")
        return f"{local[:1]}***@{domain}"
    return "***" + text[-4:] if len(text) > 4 else "***"


def _utc(instant: datetime, what: str) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got {instant!r}")
    return instant.astimezone(UTC)


def _stamp(instant: datetime) -> str:
    return f"{instant:%Y-%m-%d %H:%M} UTC"
