"""SQL for what notify knows: invoices' facts, customers' contact layers and consent, escalations,
the case history kept for the collections file, and the tenant's policy, templates, endpoints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import RowMapping, and_, case, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.common.crypto import SecretBox
from dunning.notify.policy_schema import TENANT_DEFAULT, NotifyPolicyBody
from dunning.notify.tables import (
    case_history,
    contacts,
    endpoints,
    escalations,
    invoices,
    opt_outs,
    policies,
    templates,
)

# -- invoices -------------------------------------------------------------------------------------


async def record_invoice_facts(
    session: AsyncSession,
    *,
    tenant_id: str,
    invoice_id: str,
    at: datetime,
    customer_id: str | None = None,
    invoice_number: str | None = None,
    due_date: date | None = None,
    hosted_invoice_url: str | None = None,
    amount: int | None = None,
    currency: str | None = None,
) -> None:
    """Merge what an event says of an invoice. Known values are never blanked by a later event
    that omits them; the amount follows the newest fact (facts arrive out of order)."""
    given = {
        "customer_id": customer_id,
        "invoice_number": invoice_number,
        "due_date": due_date,
        "hosted_invoice_url": hosted_invoice_url,
    }
    values: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    newer = or_(invoices.c.last_fact_at.is_(None), invoices.c.last_fact_at <= at)
    stmt = insert(invoices).values(
        tenant_id=tenant_id,
        invoice_id=invoice_id,
        amount=amount,
        currency=currency,
        last_fact_at=at,
        **values,
    )
    updates: dict[str, Any] = {k: getattr(stmt.excluded, k) for k in values}
    if amount is not None:
        updates["amount"] = func.coalesce(
            _newest(newer, stmt.excluded.amount, invoices.c.amount), invoices.c.amount
        )
        updates["currency"] = func.coalesce(
            _newest(newer, stmt.excluded.currency, invoices.c.currency), invoices.c.currency
        )
    updates["last_fact_at"] = func.greatest(invoices.c.last_fact_at, stmt.excluded.last_fact_at)
    updates["updated_at"] = func.now()
    await session.execute(
        stmt.on_conflict_do_update(index_elements=["tenant_id", "invoice_id"], set_=updates)
    )


def _newest(newer: Any, new: Any, old: Any) -> Any:
    return case((newer, new), else_=old)


async def invoice_facts(session: AsyncSession, tenant_id: str, invoice_id: str) -> RowMapping | None:
    row = await session.execute(
        select(invoices).where(invoices.c.tenant_id == tenant_id, invoices.c.invoice_id == invoice_id)
    )
    return row.mappings().first()


# -- contacts -------------------------------------------------------------------------------------


async def merge_contact_layer(
    session: AsyncSession, *, tenant_id: str, customer_id: str, layer: str, values: Mapping[str, Any]
) -> None:
    """Merge ``values`` (None values dropped) into one layer: observed, processor or override."""
    column = {
        "observed": contacts.c.observed,
        "processor": contacts.c.processor,
        "override": contacts.c.override,
    }[layer]
    clean = {k: v for k, v in values.items() if v is not None}
    if not clean and layer != "override":
        return
    stmt = insert(contacts).values(tenant_id=tenant_id, customer_id=customer_id, **{layer: clean})
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant_id", "customer_id"],
            set_={layer: column.concat(stmt.excluded[layer]), "updated_at": func.now()},
        )
    )


async def replace_override(
    session: AsyncSession, *, tenant_id: str, customer_id: str, override: Mapping[str, Any]
) -> None:
    stmt = insert(contacts).values(tenant_id=tenant_id, customer_id=customer_id, override=dict(override))
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant_id", "customer_id"],
            set_={"override": stmt.excluded.override, "updated_at": func.now()},
        )
    )


async def mark_enriched(session: AsyncSession, *, tenant_id: str, customer_id: str, at: datetime) -> None:
    await session.execute(
        update(contacts)
        .where(contacts.c.tenant_id == tenant_id, contacts.c.customer_id == customer_id)
        .values(enriched_at=at)
    )


async def contact_row(session: AsyncSession, tenant_id: str, customer_id: str) -> RowMapping | None:
    row = await session.execute(
        select(contacts).where(contacts.c.tenant_id == tenant_id, contacts.c.customer_id == customer_id)
    )
    return row.mappings().first()


# -- consent --------------------------------------------------------------------------------------


async def add_opt_out(
    session: AsyncSession, *, tenant_id: str, channel: str, address: str, customer_id: str | None, source: str
) -> bool:
    """True when this is news (the address was not opted out on that channel yet)."""
    result = await session.execute(
        insert(opt_outs)
        .values(tenant_id=tenant_id, channel=channel, address=address, customer_id=customer_id, source=source)
        .on_conflict_do_nothing()
        .returning(opt_outs.c.address)
    )
    return result.first() is not None


async def remove_opt_out(session: AsyncSession, *, tenant_id: str, channel: str, address: str) -> bool:
    result = await session.execute(
        delete(opt_outs)
        .where(
            opt_outs.c.tenant_id == tenant_id, opt_outs.c.channel == channel, opt_outs.c.address == address
        )
        .returning(opt_outs.c.address)
    )
    return result.first() is not None


async def opted_out_addresses(
    session: AsyncSession, tenant_id: str, pairs: Sequence[tuple[str, str]]
) -> set[tuple[str, str]]:
    if not pairs:
        return set()
    rows = await session.execute(
        select(opt_outs.c.channel, opt_outs.c.address).where(
            opt_outs.c.tenant_id == tenant_id,
            or_(*(and_(opt_outs.c.channel == c, opt_outs.c.address == a) for c, a in pairs)),
        )
    )
    return {(r.channel, r.address) for r in rows}


async def opt_outs_of(session: AsyncSession, tenant_id: str, addresses: Sequence[str]) -> list[RowMapping]:
    rows = await session.execute(
        select(opt_outs).where(opt_outs.c.tenant_id == tenant_id, opt_outs.c.address.in_(list(addresses)))
    )
    return list(rows.mappings())


# -- escalations ----------------------------------------------------------------------------------


async def escalation_for_update(session: AsyncSession, tenant_id: str, case_id: str) -> RowMapping | None:
    row = await session.execute(
        select(escalations)
        .where(escalations.c.tenant_id == tenant_id, escalations.c.case_id == case_id)
        .with_for_update()
    )
    return row.mappings().first()


async def escalation(session: AsyncSession, tenant_id: str, case_id: str) -> RowMapping | None:
    row = await session.execute(
        select(escalations).where(escalations.c.tenant_id == tenant_id, escalations.c.case_id == case_id)
    )
    return row.mappings().first()


async def create_escalation(session: AsyncSession, **values: Any) -> bool:
    result = await session.execute(
        insert(escalations).values(**values).on_conflict_do_nothing().returning(escalations.c.case_id)
    )
    return result.first() is not None


async def update_escalation(session: AsyncSession, case_id: str, **values: Any) -> None:
    await session.execute(
        update(escalations).where(escalations.c.case_id == case_id).values(**values, updated_at=func.now())
    )


async def claim_due_escalations(session: AsyncSession, *, now: datetime, batch: int) -> list[RowMapping]:
    """Due escalations, locked for this transaction; another replica skips them."""
    rows = await session.execute(
        select(escalations)
        .where(escalations.c.status == "active", escalations.c.next_due_at <= now)
        .order_by(escalations.c.next_due_at)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    return list(rows.mappings())


async def record_case_history(
    session: AsyncSession,
    *,
    tenant_id: str,
    case_id: str,
    event_id: str,
    type: str,
    at: datetime,
    summary: Mapping[str, Any],
) -> None:
    await session.execute(
        insert(case_history)
        .values(
            tenant_id=tenant_id, case_id=case_id, event_id=event_id, type=type, at=at, summary=dict(summary)
        )
        .on_conflict_do_nothing()
    )


_ENDINGS = ("case.recovered", "case.closed", "case.written_off")


async def case_ended(session: AsyncSession, case_id: str) -> bool:
    found = await session.scalar(
        select(case_history.c.id)
        .where(case_history.c.case_id == case_id, case_history.c.type.in_(_ENDINGS))
        .limit(1)
    )
    return found is not None


async def history_of(session: AsyncSession, case_id: str) -> list[RowMapping]:
    rows = await session.execute(
        select(case_history)
        .where(case_history.c.case_id == case_id)
        .order_by(case_history.c.at, case_history.c.id)
    )
    return list(rows.mappings())


# -- the tenant's policy, templates and endpoints --------------------------------------------------


async def policy_of(session: AsyncSession, tenant_id: str) -> NotifyPolicyBody:
    body = await session.scalar(select(policies.c.body).where(policies.c.tenant_id == tenant_id))
    return TENANT_DEFAULT if body is None else NotifyPolicyBody.model_validate(body)


async def save_policy(session: AsyncSession, tenant_id: str, body: NotifyPolicyBody) -> None:
    stmt = insert(policies).values(tenant_id=tenant_id, body=body.model_dump(mode="json"))
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant_id"], set_={"body": stmt.excluded.body, "updated_at": func.now()}
        )
    )


async def template_override(
    session: AsyncSession, tenant_id: str, template: str, channel: str, locale: str
) -> RowMapping | None:
    row = await session.execute(
        select(templates).where(
            templates.c.tenant_id == tenant_id,
            templates.c.template == template,
            templates.c.channel == channel,
            templates.c.locale == locale,
        )
    )
    return row.mappings().first()


async def save_template(
    session: AsyncSession,
    *,
    tenant_id: str,
    template: str,
    channel: str,
    locale: str,
    subject: str | None,
    text: str,
    html: str | None,
) -> None:
    stmt = insert(templates).values(
        tenant_id=tenant_id,
        template=template,
        channel=channel,
        locale=locale,
        subject=subject,
        text=text,
        html=html,
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant_id", "template", "channel", "locale"],
            set_={"subject": subject, "text": text, "html": html, "updated_at": func.now()},
        )
    )


async def delete_template(
    session: AsyncSession, *, tenant_id: str, template: str, channel: str, locale: str
) -> bool:
    result = await session.execute(
        delete(templates)
        .where(
            templates.c.tenant_id == tenant_id,
            templates.c.template == template,
            templates.c.channel == channel,
            templates.c.locale == locale,
        )
        .returning(templates.c.template)
    )
    return result.first() is not None


async def reseal_endpoint_secrets(session: AsyncSession, box: SecretBox) -> int:
    """Seal every endpoint secret with the first key (after a DUNNING_SECRET_KEY rotation)."""
    rows = (
        await session.execute(select(endpoints.c.tenant_id, endpoints.c.kind, endpoints.c.secret_sealed))
    ).all()
    for tenant_id, kind, sealed in rows:
        await session.execute(
            update(endpoints)
            .where(endpoints.c.tenant_id == tenant_id, endpoints.c.kind == kind)
            .values(secret_sealed=box.reseal(sealed))
        )
    return len(rows)


async def endpoint(session: AsyncSession, tenant_id: str, kind: str) -> RowMapping | None:
    row = await session.execute(
        select(endpoints).where(endpoints.c.tenant_id == tenant_id, endpoints.c.kind == kind)
    )
    return row.mappings().first()


async def save_endpoint(
    session: AsyncSession, *, tenant_id: str, kind: str, url: str, secret_sealed: bytes
) -> None:
    stmt = insert(endpoints).values(tenant_id=tenant_id, kind=kind, url=url, secret_sealed=secret_sealed)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant_id", "kind"],
            set_={"url": url, "secret_sealed": secret_sealed, "updated_at": func.now()},
        )
    )
