"""The hand-off for "update payment method": a Stripe customer portal session through the retry
gateway when the tenant gave us a Stripe key, else the invoice's own hosted page."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.common.crypto import SecretBox
from dunning.common.tenancy.service import ProcessorCredentials, processor_credentials_for
from dunning.retry.collections.service import SelfServiceView
from dunning.retry.gateway import ProcessorRefused, ProcessorUnavailable, StripeGateway
from dunning.retry.tables import cases

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class PortalTarget:
    case_id: str
    creds: ProcessorCredentials | None
    customer_id: str | None
    account: str | None
    hosted_invoice_url: str | None


async def prepare(session: AsyncSession, box: SecretBox, view: SelfServiceView) -> PortalTarget:
    """What the hand-off needs from the database, read before any call to the processor."""
    row = (
        await session.execute(
            select(cases.c.provider, cases.c.provider_account).where(
                cases.c.id == view.case_id, cases.c.tenant_id == view.tenant_id
            )
        )
    ).first()
    creds = None
    if row is not None and row.provider == "stripe" and view.customer_id:
        try:
            creds = await processor_credentials_for(session, box, view.tenant_id, "stripe")
        except ValueError:
            log.warning(
                "the tenant's Stripe key cannot be opened; using the hosted invoice", case_id=view.case_id
            )
    hosted = view.hosted_invoice_url
    # Only a web page: the URL came from the processor, but a redirect must never run a script.
    if hosted is not None and urlsplit(hosted).scheme not in ("https", "http"):
        hosted = None
    return PortalTarget(view.case_id, creds, view.customer_id, row.provider_account if row else None, hosted)


async def hosted_page(
    target: PortalTarget, *, stripe_api_base: str | None, return_url: str, locale: str
) -> str | None:
    """Where to send the customer; None when neither the portal nor a hosted invoice is there."""
    if target.creds is not None and target.customer_id is not None:
        # A customer is waiting for the redirect: two quick tries, then the fallback.
        gateway = StripeGateway(api_base=stripe_api_base, attempts=2, max_wait=1.0)
        try:
            return await gateway.billing_portal_url(
                target.creds, target.customer_id, return_url=return_url, locale=locale, account=target.account
            )
        except (ProcessorRefused, ProcessorUnavailable) as exc:
            log.warning(
                "no billing portal session; using the hosted invoice", case_id=target.case_id, error=str(exc)
            )
        finally:
            await gateway.close()
    return target.hosted_invoice_url
