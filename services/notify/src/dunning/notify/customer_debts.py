"""What a customer owes now, as notify knows it: the invoices of the customer's cases that are
still unpaid (an escalation active, paused or with every level reached — never stopped)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.notify.tables import escalations, invoices

UNPAID = ("active", "paused", "completed")


@dataclass(frozen=True, slots=True)
class OpenInvoice:
    case_id: str
    invoice_id: str
    number: str | None
    amount: int
    currency: str
    # The invoice's due date; an automatically charged invoice has none and was due when its
    # payment failed, i.e. when the case opened (the rule the messages follow too).
    due: date
    opened_at: datetime
    hosted_invoice_url: str | None
    status: str = "active"  # the escalation's: a paused case is in dispute or paused by the platform


async def open_invoices(session: AsyncSession, tenant_id: str, customer_id: str) -> list[OpenInvoice]:
    """The customer's unpaid invoices, oldest due first."""
    rows = await session.execute(
        select(
            escalations.c.case_id,
            escalations.c.invoice_id,
            escalations.c.opened_at,
            escalations.c.status,
            invoices.c.invoice_number,
            invoices.c.amount,
            invoices.c.currency,
            invoices.c.due_date,
            invoices.c.hosted_invoice_url,
        )
        .select_from(
            escalations.outerjoin(
                invoices,
                and_(
                    invoices.c.tenant_id == escalations.c.tenant_id,
                    invoices.c.invoice_id == escalations.c.invoice_id,
                ),
            )
        )
        .where(
            escalations.c.tenant_id == tenant_id,
            escalations.c.customer_id == customer_id,
            escalations.c.status.in_(UNPAID),
        )
    )
    found = [
        OpenInvoice(
            case_id=r.case_id,
            invoice_id=r.invoice_id,
            number=r.invoice_number,
            amount=int(r.amount or 0),
            currency=r.currency or "USD",
            due=r.due_date or r.opened_at.date(),
            opened_at=r.opened_at,
            hosted_invoice_url=r.hosted_invoice_url,
            status=r.status,
        )
        for r in rows
    ]
    return sorted(found, key=lambda i: (i.due, i.invoice_id))
