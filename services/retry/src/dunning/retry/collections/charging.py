"""The processor calls collections needs beyond the executor's: an instalment charged as a
PaymentIntent (off session, with the customer's stored method), and the invoice marked paid
out of band once the plan has collected it. Same client, retries, token bucket as ``StripeGateway``."""

from __future__ import annotations

import stripe
from stripe.params import InvoicePayParams, PaymentIntentCreateParams

from dunning.common.tenancy.service import ProcessorCredentials
from dunning.retry.gateway import ChargeResult, StripeGateway, _declined


class CollectionsGateway(StripeGateway):
    async def charge_instalment(
        self,
        creds: ProcessorCredentials,
        *,
        customer_id: str,
        payment_method_id: str,
        amount: int,
        currency: str,
        metadata: dict[str, str],
        idempotency_key: str,
        account: str | None,
    ) -> ChargeResult:
        """Create and confirm one PaymentIntent; the same key never charges twice."""
        client = self._client(creds, account)
        params: PaymentIntentCreateParams = {
            "amount": amount,
            "currency": currency.lower(),
            "customer": customer_id,
            "payment_method": payment_method_id,
            "off_session": True,
            "confirm": True,
            "metadata": metadata,
            "description": f"Instalment {metadata.get('instalment')} of invoice {metadata.get('invoice')}",
        }
        try:
            intent = await self._call(
                creds,
                lambda: client.v1.payment_intents.create_async(
                    params=params, options={"idempotency_key": idempotency_key}
                ),
            )
        except stripe.CardError as exc:
            return _declined(exc)
        found = intent.to_dict()
        succeeded = found.get("status") == "succeeded"
        charge = found.get("latest_charge")
        return ChargeResult(
            succeeded=succeeded,
            payment_intent_id=str(found["id"]),
            charge_id=charge if isinstance(charge, str) else None,
            processing=found.get("status") == "processing",
            failure_code=None if succeeded else str(found.get("status")),
        )

    async def pay_out_of_band(
        self, creds: ProcessorCredentials, invoice_id: str, *, idempotency_key: str, account: str | None
    ) -> None:
        client = self._client(creds, account)
        params: InvoicePayParams = {"paid_out_of_band": True}
        await self._call(
            creds,
            lambda: client.v1.invoices.pay_async(
                invoice_id, params=params, options={"idempotency_key": idempotency_key}
            ),
        )
