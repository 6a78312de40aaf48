"""The dunning case's lifecycle: processor facts and operator actions in, monotonic transitions out.

One ``InvoiceLedger`` per (tenant, invoice) remembers what is settled even when no case was
ever opened, so a late ``payment.failed`` for an invoice already paid or voided never opens
a case. Facts arrive duplicated, late and out of order (Stripe guarantees no order); every
rule here is written so that this is harmless, and property tests hold it to that.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum


class CaseStatus(StrEnum):
    NONE = "none"  # we know the invoice, but it never needed dunning
    OPEN = "open"  # unpaid; retries and messages run
    PAUSED = "paused"  # unpaid; nothing runs until every pause reason is lifted
    EXHAUSTED = "exhausted"  # unpaid; our retries ended (the end action ran), payment still welcome
    RECOVERED = "recovered"  # paid after the case opened
    WRITTEN_OFF = "written_off"  # an operator gave up on it
    CLOSED = "closed"  # voided, uncollectible, subscription gone, dispute lost


UNPAID = frozenset({CaseStatus.OPEN, CaseStatus.PAUSED, CaseStatus.EXHAUSTED})


class Fact(StrEnum):
    """What a canonical payment event says about the invoice."""

    FAILED = "failed"  # payment.failed, payment.action_required, invoice.overdue
    PAID = "paid"  # invoice.paid, payment.succeeded
    VOIDED = "voided"
    UNCOLLECTIBLE = "uncollectible"
    SUBSCRIPTION_CANCELED = "subscription_canceled"
    DISPUTE_OPENED = "dispute_opened"
    DISPUTE_WON = "dispute_won"  # closed in the merchant's favour: collection may go on
    DISPUTE_LOST = "dispute_lost"


class Action(StrEnum):
    """What an operator (API) or the retry scheduler does to a case."""

    PAUSE = "pause"
    RESUME = "resume"
    WRITE_OFF = "write_off"
    EXHAUST = "exhaust"  # the schedule stopped and the end action ran


_FACT_TYPES: dict[str, Fact] = {
    "payment.failed": Fact.FAILED,
    "payment.action_required": Fact.FAILED,
    "invoice.overdue": Fact.FAILED,
    "payment.succeeded": Fact.PAID,
    "invoice.paid": Fact.PAID,
    "invoice.voided": Fact.VOIDED,
    "invoice.uncollectible": Fact.UNCOLLECTIBLE,
    "subscription.canceled": Fact.SUBSCRIPTION_CANCELED,
    "dispute.opened": Fact.DISPUTE_OPENED,
}


def fact_of(event_type: str, *, dispute_status: str | None = None) -> Fact | None:
    """The fact a canonical event type carries (``payment_method.updated`` and such carry none)."""
    if event_type == "dispute.closed":
        # Stripe: "won" and "warning_closed" leave the money with the merchant; "lost" does not.
        return Fact.DISPUTE_LOST if dispute_status == "lost" else Fact.DISPUTE_WON
    return _FACT_TYPES.get(event_type)


@dataclass(frozen=True, slots=True)
class InvoiceLedger:
    status: CaseStatus
    opened_at: datetime | None = None
    failures: int = 0
    pause_reasons: frozenset[str] = frozenset()
    resolution: str | None = None  # why it is recovered, closed or written off
    resolved_at: datetime | None = None
    last_fact_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    ledger: InvoiceLedger
    events: tuple[str, ...]  # recovery event types to publish, in order
    note: str  # one line for the case timeline: what happened and why
    refused: bool = False  # an action that makes no sense for the case as it is

    @property
    def changed(self) -> bool:
        return bool(self.events)


def apply_fact(ledger: InvoiceLedger | None, fact: Fact, at: datetime) -> Transition:
    """The ledger after ``fact`` (which the processor says happened ``at``)."""
    if at.tzinfo is None:
        raise ValueError("facts need timezone-aware times")
    current = ledger or InvoiceLedger(CaseStatus.NONE)
    seen = (
        current if current.last_fact_at and current.last_fact_at >= at else replace(current, last_fact_at=at)
    )
    status = current.status

    if fact is Fact.PAID:
        if status in UNPAID:
            return _resolve(
                seen, CaseStatus.RECOVERED, "paid", at, ("case.recovered",), "the invoice was paid"
            )
        if status in (CaseStatus.CLOSED, CaseStatus.WRITTEN_OFF) and current.resolution != "voided":
            # Money that arrives after we gave up (Stripe accepts payment of an uncollectible
            # invoice) is still money recovered; only a voided invoice cannot be paid.
            note = f"paid after {current.resolution}"
            return _resolve(seen, CaseStatus.RECOVERED, "paid", at, ("case.recovered",), note)
        if status is CaseStatus.NONE and current.resolution != "voided":
            return Transition(replace(seen, resolution="paid", resolved_at=at), (), "paid; no dunning needed")
        return Transition(seen, (), f"payment ignored while the invoice is {current.resolution or status}")

    if fact is Fact.FAILED:
        if status is CaseStatus.NONE and current.resolution is None:
            opened = replace(seen, status=CaseStatus.OPEN, opened_at=at, failures=1)
            return Transition(opened, ("case.opened",), "payment failed: dunning case opened")
        if status in UNPAID:
            return Transition(replace(seen, failures=current.failures + 1), (), "another failed payment")
        return Transition(seen, (), f"failure ignored: the invoice is already {current.resolution or status}")

    if fact in (Fact.VOIDED, Fact.UNCOLLECTIBLE, Fact.SUBSCRIPTION_CANCELED, Fact.DISPUTE_LOST):
        reason = fact.value
        if status in UNPAID:
            return _resolve(seen, CaseStatus.CLOSED, reason, at, ("case.closed",), f"closed: {reason}")
        if (
            status is CaseStatus.NONE
            and current.resolution is None
            and fact is not Fact.SUBSCRIPTION_CANCELED
        ):
            # Remember it, so a late failure for this invoice opens nothing.
            return Transition(
                replace(seen, resolution=reason, resolved_at=at), (), f"{reason}; no dunning needed"
            )
        return Transition(
            seen, (), f"{reason} ignored: the invoice is already {current.resolution or status}"
        )

    if fact is Fact.DISPUTE_OPENED:
        return _pause(seen, "dispute", ("case.disputed",))
    if fact is Fact.DISPUTE_WON:
        return _lift(seen, "dispute")
    raise AssertionError(f"unhandled fact {fact}")  # pragma: no cover - the enum is exhaustive


def apply_action(ledger: InvoiceLedger | None, action: Action, at: datetime) -> Transition:
    """An operator's or the scheduler's action; refused (no events, a note) where it makes no sense."""
    if at.tzinfo is None:
        raise ValueError("actions need timezone-aware times")
    if ledger is None or ledger.status not in UNPAID:
        state = ledger.status if ledger else CaseStatus.NONE
        return Transition(
            ledger or InvoiceLedger(CaseStatus.NONE),
            (),
            f"{action} refused: the case is {state}",
            refused=True,
        )
    if action is Action.PAUSE:
        return _pause(ledger, "manual", ())
    if action is Action.RESUME:
        return _lift(ledger, "manual")
    if action is Action.WRITE_OFF:
        return _resolve(
            ledger, CaseStatus.WRITTEN_OFF, "written_off", at, ("case.written_off",), "written off"
        )
    if action is Action.EXHAUST:
        if ledger.status is not CaseStatus.OPEN:
            return Transition(ledger, (), f"exhaust refused: the case is {ledger.status}", refused=True)
        return Transition(
            replace(ledger, status=CaseStatus.EXHAUSTED), ("case.exhausted",), "retries exhausted"
        )
    raise AssertionError(f"unhandled action {action}")  # pragma: no cover


def hold(ledger: InvoiceLedger, reason: str, extra: tuple[str, ...] = ()) -> Transition:
    """Pause for a named reason besides the operator's (a promise to pay, a payment plan, a
    customer dispute, a settlement); ``case.paused`` goes out when the case was running."""
    return _pause(ledger, reason, extra)


def release(ledger: InvoiceLedger, reason: str) -> Transition:
    """Lift the pause ``hold`` put on; ``case.resumed`` goes out when no other reason is left."""
    return _lift(ledger, reason)


def _resolve(
    ledger: InvoiceLedger, status: CaseStatus, reason: str, at: datetime, events: tuple[str, ...], note: str
) -> Transition:
    return Transition(
        replace(ledger, status=status, resolution=reason, resolved_at=at, pause_reasons=frozenset()),
        events,
        note,
    )


def _pause(ledger: InvoiceLedger, reason: str, extra: tuple[str, ...]) -> Transition:
    if ledger.status not in (CaseStatus.OPEN, CaseStatus.PAUSED):
        return Transition(ledger, (), f"pause ({reason}) ignored: the case is {ledger.status}")
    if reason in ledger.pause_reasons:
        return Transition(ledger, (), f"already paused ({reason})")
    paused = replace(ledger, status=CaseStatus.PAUSED, pause_reasons=ledger.pause_reasons | {reason})
    events = extra + (("case.paused",) if ledger.status is CaseStatus.OPEN else ())
    return Transition(paused, events, f"paused ({reason})")


def _lift(ledger: InvoiceLedger, reason: str) -> Transition:
    if reason not in ledger.pause_reasons:
        return Transition(ledger, (), f"not paused for {reason}: nothing to resume")
    left = ledger.pause_reasons - {reason}
    if left:
        return Transition(
            replace(ledger, pause_reasons=left),
            (),
            f"{reason} lifted; still paused ({', '.join(sorted(left))})",
        )
    return Transition(
        replace(ledger, status=CaseStatus.OPEN, pause_reasons=left),
        ("case.resumed",),
        f"{reason} lifted: resumed",
    )
