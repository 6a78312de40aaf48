"""``case.*`` recovery events, built the same way whatever caused them (a fact or an attempt)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dunning.common.events.envelope import CloudEvent, deterministic_event_id, make_event
from dunning.common.events.recovery import CaseEventData, CollectionsFacts, RecoveryEventType
from dunning.retry.domain.lifecycle import InvoiceLedger

SOURCE = "/dunning/retry"


def case_event(
    event_type: RecoveryEventType,
    *,
    case_id: str,
    tenant_id: str,
    invoice_id: str,
    ledger: InvoiceLedger,
    details: dict[str, Any],
    note: str,
    occurred_at: datetime,
    cause_id: str,
    cause_type: str,
    collections: CollectionsFacts | None = None,
) -> CloudEvent:
    body = CaseEventData(
        tenant_id=tenant_id,
        case_id=case_id,
        invoice_id=invoice_id,
        customer_id=details.get("customer_id"),
        subscription_id=details.get("subscription_id"),
        status=ledger.status.value,
        note=note,
        resolution=ledger.resolution,
        pause_reasons=sorted(ledger.pause_reasons),
        amount=details.get("amount"),
        currency=details.get("currency"),
        failures=ledger.failures,
        decline_code=details.get("decline_code"),
        hosted_invoice_url=details.get("hosted_invoice_url"),
        customer_email=details.get("customer_email"),
        customer_name=details.get("customer_name"),
        opened_at=ledger.opened_at,
        occurred_at=occurred_at,
        cause_event_id=cause_id,
        cause_type=cause_type,
        collections=collections,
    )
    return make_event(
        event_id=deterministic_event_id(tenant_id, case_id, cause_id, event_type.value),
        source=SOURCE,
        type=event_type.cloudevents_type,
        subject=f"{tenant_id}:{invoice_id}",
        time=occurred_at,
        tenant_id=tenant_id,
        data=body,
    )
