"""Per-customer B2B settings (ADR 0010): payment terms and the extra contacts (finance team,
owner) who get the customer's B2B messages. A table of their own, because ``PUT …/contact``
replaces the whole contact override and would wipe them."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator
from sqlalchemy import RowMapping, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.notify.tables import b2b_customers

MAX_CONTACTS = 10


class B2BContact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    role: Literal["finance", "owner", "other"] = "finance"
    name: str | None = Field(default=None, max_length=200)


class B2BSettings(BaseModel):
    """A business customer's payment terms and who, besides its billing address, hears of debts."""

    model_config = ConfigDict(extra="forbid")

    payment_terms_days: int | None = Field(
        default=None,
        ge=0,
        le=180,
        description="Net terms (30 for net 30). An invoice without a due date is due this many days "
        "after its case opened; shown in demand letters.",
    )
    contacts: list[B2BContact] = Field(
        default_factory=list,
        max_length=MAX_CONTACTS,
        description="Extra recipients of demand letters, each as its own delivery.",
    )

    @field_validator("contacts")
    @classmethod
    def _each_once(cls, contacts: list[B2BContact]) -> list[B2BContact]:
        addresses = [c.email.lower() for c in contacts]
        if len(set(addresses)) != len(addresses):
            raise ValueError("each contact email may appear once")
        return contacts


class B2BView(B2BSettings):
    customer_id: str
    updated_at: datetime


async def settings_of(session: AsyncSession, tenant_id: str, customer_id: str) -> RowMapping | None:
    result = await session.execute(
        select(b2b_customers).where(
            b2b_customers.c.tenant_id == tenant_id, b2b_customers.c.customer_id == customer_id
        )
    )
    return result.mappings().first()


async def save_settings(
    session: AsyncSession, tenant_id: str, customer_id: str, body: B2BSettings
) -> RowMapping:
    values = {
        "payment_terms_days": body.payment_terms_days,
        "contacts": [c.model_dump(mode="json") for c in body.contacts],
        "updated_at": func.now(),
    }
    result = await session.execute(
        insert(b2b_customers)
        .values(tenant_id=tenant_id, customer_id=customer_id, **values)
        .on_conflict_do_update(index_elements=["tenant_id", "customer_id"], set_=values)
        .returning(*b2b_customers.c)
    )
    return result.mappings().one()


def contact_addresses(row: RowMapping | None) -> list[tuple[str, str]]:
    """(email lower-cased, role) of each extra contact."""
    contacts = row["contacts"] if row else []
    return [(str(c["email"]).lower(), str(c.get("role") or "other")) for c in contacts]


def due_date(invoice_due: date | None, opened_at: datetime, terms_days: int | None) -> date:
    """When an invoice was due: its own due date, else (charged automatically) the case's
    opening plus the customer's net terms, else the opening itself."""
    if invoice_due is not None:
        return invoice_due
    return opened_at.date() + timedelta(days=terms_days or 0)
