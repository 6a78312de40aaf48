"""Internal escalation: when a case reaches the tenant's chosen level, the account owner or the
sales team hears about it (email and/or a chat webhook) with the case summary — they often know
why a customer has not paid. Planned by the walker as delivery rows like any message, so the
same never-twice keys apply; customer quiet hours, opt-outs and caps do not (it is internal)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dunning.notify import delivery_store, repository
from dunning.notify.policy_schema import InternalEscalationBody

INTERNAL_EMAIL = "internal_email"
INTERNAL_CHAT = "internal_chat"
INTERNAL_CHANNELS = frozenset({INTERNAL_EMAIL, INTERNAL_CHAT})
SUMMARY_TEMPLATE = "case_summary"
_NOTE = "internal escalation ({who}): customer quiet hours, opt-outs and caps do not apply"


def describe(planned: list[str]) -> str:
    channels = ", ".join(sorted(set(planned)))
    return f"the team is told by {channels} (internal: customer quiet hours, opt-outs and caps do not apply)"


def alerts_at(alert: InternalEscalationBody, index: int, level_name: str) -> bool:
    """Whether reaching level ``index`` (named ``level_name``) alerts the team."""
    if not alert.enabled:
        return False
    if isinstance(alert.level, int):
        return alert.level == index
    return alert.level == level_name


def recipients_for(alert: InternalEscalationBody, contact_override: dict[str, Any] | None) -> list[str]:
    """Who gets the email: the customer's account owner when the platform named one (and the
    policy lets owners override), else the policy's recipients; lower-cased, each once."""
    owner = (contact_override or {}).get("account_owner_email") if alert.owner_override else None
    chosen = [str(owner)] if owner else [str(r) for r in alert.recipients]
    return list(dict.fromkeys(address.strip().lower() for address in chosen if address.strip()))


async def plan(session: AsyncSession, row: Any, *, index: int, level_name: str, now: datetime) -> list[str]:
    """Schedule the internal deliveries for a level just reached; the channels planned.

    The tenant's current policy decides (not the case's snapshot): who is told inside the
    tenant is no promise made to the customer, and a new sales owner should hear of old cases.
    """
    tenant, case_id = row["tenant_id"], row["case_id"]
    policy = await repository.policy_of(session, tenant)
    alert = policy.internal_escalation
    if not alerts_at(alert, index, level_name):
        return []
    contact = (
        await repository.contact_row(session, tenant, row["customer_id"]) if row["customer_id"] else None
    )
    override = dict(contact["override"]) if contact else None
    emails = recipients_for(alert, override)
    who = "the account owner" if override and emails and override.get("account_owner_email") else "the team"
    planned: list[str] = []
    base = delivery_store.delivery_key(tenant, case_id, index, INTERNAL_EMAIL)
    for address in emails:
        # One row per recipient, keyed by the address: each is sent once however often the
        # walker's transaction is replayed, and one bad address does not hold the others back.
        await delivery_store.schedule(
            session,
            tenant_id=tenant,
            key=f"{base}:{address}",
            template=SUMMARY_TEMPLATE,
            channel=INTERNAL_EMAIL,
            due_at=now,
            case_id=case_id,
            invoice_id=row["invoice_id"],
            customer_id=row["customer_id"],
            level=index,
            level_name=level_name,
            note=_NOTE.format(who=who),
            facts={"recipient": address},
        )
        planned.append(INTERNAL_EMAIL)
    if alert.chat_webhook_url:
        await delivery_store.schedule(
            session,
            tenant_id=tenant,
            key=delivery_store.delivery_key(tenant, case_id, index, INTERNAL_CHAT),
            template=SUMMARY_TEMPLATE,
            channel=INTERNAL_CHAT,
            due_at=now,
            case_id=case_id,
            invoice_id=row["invoice_id"],
            customer_id=row["customer_id"],
            level=index,
            level_name=level_name,
            note=_NOTE.format(who="the team's chat"),
        )
        planned.append(INTERNAL_CHAT)
    return planned
