"""B2B statements (ADR 0010): a business customer's level message lists every unpaid invoice with
a total per currency, and one statement per customer, level and day goes out; the same level's
messages of the customer's other cases are suppressed as covered by it. Decided while composing,
under a transaction lock per customer, level and day, so two workers never both send one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.notify.charges import message_charges
from dunning.notify.content.facts import StatementLine
from dunning.notify.customer_debts import open_invoices
from dunning.notify.demand_letters import is_b2b
from dunning.notify.domain.channels import Channel
from dunning.notify.policy_schema import NotifyPolicyBody
from dunning.notify.tables import deliveries

COVERED: Final = "covered_by_statement"
CHANNELS: Final = frozenset({Channel.EMAIL.value, Channel.IN_APP.value})
# A statement that did not go out covers nothing: the next case of the day sends its own.
_NOT_GONE: Final = ("failed", "suppressed", "canceled")


@dataclass(frozen=True, slots=True)
class Covering:
    """The statement of the day that already lists this case's invoice."""

    delivery_id: str
    case_id: str | None


def applies(delivery: Any, regime: str, customer_type: str | None) -> bool:
    """A level message of a case with a known customer, on a statement channel, for a business."""
    return (
        delivery["channel"] in CHANNELS
        and delivery["level"] is not None
        and bool(delivery["case_id"])
        and bool(delivery["customer_id"])
        and is_b2b(regime, customer_type)
    )


async def covering(session: AsyncSession, delivery: Any, *, day: date) -> Covering | None:
    """The statement already composed today for this customer, level and channel that lists this
    case, if any. Takes a transaction lock first: a statement being composed concurrently commits
    its record (``facts.statement``) before this one reads."""
    scope = (
        f"{delivery['tenant_id']}:statement:{delivery['customer_id']}:{delivery['level']}:"
        f"{day.isoformat()}:{delivery['channel']}"
    )
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtext(scope))))
    rows = await session.execute(
        select(deliveries.c.id, deliveries.c.case_id, deliveries.c.facts)
        .where(
            deliveries.c.tenant_id == delivery["tenant_id"],
            deliveries.c.customer_id == delivery["customer_id"],
            deliveries.c.channel == delivery["channel"],
            deliveries.c.level == delivery["level"],
            deliveries.c.template == delivery["template"],
            deliveries.c.id != delivery["id"],
            deliveries.c.status.notin_(_NOT_GONE),
            deliveries.c.facts["statement"]["day"].astext == day.isoformat(),
        )
        .order_by(deliveries.c.created_at)
    )
    for row in rows:
        if delivery["case_id"] in row.facts["statement"].get("cases", []):
            return Covering(row.id, row.case_id)
    return None


async def lines(
    session: AsyncSession, delivery: Any, policy: NotifyPolicyBody, *, today: date
) -> tuple[tuple[StatementLine, ...], list[str]]:
    """Every unpaid invoice of the customer with its charges at this level, oldest due first, and
    the cases they belong to. Paused cases (a dispute, a platform's pause) are left out: a pause
    means "do not chase this one"; its own message goes when it resumes."""
    found = await open_invoices(session, delivery["tenant_id"], delivery["customer_id"])
    listed = [i for i in found if i.status != "paused"]
    statement = []
    for invoice in listed:
        charges = message_charges(
            policy,
            amount=invoice.amount,
            currency=invoice.currency,
            due=invoice.due,
            today=today,
            level=delivery["level"],
            b2b=True,
        )
        statement.append(
            StatementLine(
                number=invoice.number or invoice.invoice_id,
                due_date=invoice.due,
                days_overdue=max((today - invoice.due).days, 0),
                amount=invoice.amount,
                currency=invoice.currency,
                charges=charges.total,
            )
        )
    return tuple(statement), [i.case_id for i in listed]
