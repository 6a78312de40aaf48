"""Pre-dunning: tell a customer before a payment fails — a card about to expire, a renewal about
to be charged — when the tenant has turned it on. One notice per card expiry (or renewal) and
channel, however often the processor repeats the event."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from dunning.common.events.payment import PaymentMethodData, UpcomingInvoiceData
from dunning.notify import delivery_store, repository
from dunning.notify.domain.channels import TemplateName


async def card_expiring(session: AsyncSession, data: PaymentMethodData, cause_id: str) -> int:
    """Schedule card-expiring notices; how many were new."""
    policy = await repository.policy_of(session, data.tenant_id)
    if not policy.pre_dunning.card_expiring or not data.customer_id:
        return 0
    expiry = f"{data.card_exp_year or 0}-{data.card_exp_month or 0:02d}"
    scheduled = 0
    for channel in policy.pre_dunning.channels:
        key = f"{data.tenant_id}:card:{data.payment_method_id}:{expiry}:{channel.value}"
        created = await delivery_store.schedule(
            session,
            tenant_id=data.tenant_id,
            key=key,
            template=TemplateName.CARD_EXPIRING.value,
            channel=channel.value,
            due_at=data.occurred_at,
            customer_id=data.customer_id,
            note=f"pre-dunning: card ending {data.card_last4 or '????'} expires {expiry} ({cause_id})",
            facts={
                "card_brand": data.card_brand,
                "card_last4": data.card_last4,
                "card_exp_month": data.card_exp_month,
                "card_exp_year": data.card_exp_year,
            },
        )
        scheduled += created is not None
    return scheduled


async def upcoming_renewal(session: AsyncSession, data: UpcomingInvoiceData, cause_id: str) -> int:
    """Schedule upcoming-renewal notices; how many were new."""
    policy = await repository.policy_of(session, data.tenant_id)
    if not policy.pre_dunning.upcoming_renewal or not data.customer_id or data.amount_due == 0:
        return 0
    renews = data.renews_at.date().isoformat() if data.renews_at else "soon"
    subject = data.subscription_id or data.customer_id
    if data.customer_email or data.customer_name:
        await repository.merge_contact_layer(
            session,
            tenant_id=data.tenant_id,
            customer_id=data.customer_id,
            layer="observed",
            values={"email": data.customer_email, "name": data.customer_name},
        )
    scheduled = 0
    for channel in policy.pre_dunning.channels:
        created = await delivery_store.schedule(
            session,
            tenant_id=data.tenant_id,
            key=f"{data.tenant_id}:renewal:{subject}:{renews}:{channel.value}",
            template=TemplateName.UPCOMING_RENEWAL.value,
            channel=channel.value,
            due_at=data.occurred_at,
            customer_id=data.customer_id,
            note=f"pre-dunning: renewal of {subject} on {renews} ({cause_id})",
            facts={
                "renewal_date": data.renews_at.date().isoformat() if data.renews_at else None,
                "renewal_amount": data.amount_due,
                "currency": data.currency,
            },
        )
        scheduled += created is not None
    return scheduled
