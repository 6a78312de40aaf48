"""FakeStripe: the catalog plus keys, misbehaviour, the charge and request logs, and their inspection."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping

from tests.support.stripe_fake.catalog import DEFAULT_ACCOUNT, Catalog
from tests.support.stripe_fake.idempotency import IdempotencyStore
from tests.support.stripe_fake.records import ChargeRecord, RequestRecord
from tests.support.stripe_fake.traffic import Fault, FaultKind, Latency, RateLimit, Traffic

__all__ = ["DEFAULT_ACCOUNT", "DEFAULT_API_VERSION", "FakeStripe"]

# The version an account is pinned to; requests choose another with the Stripe-Version header
# (the official SDK always does). Before 2025-03-31 invoices still carry ``payment_intent``.
DEFAULT_API_VERSION = "2024-06-20"


class FakeStripe(Catalog):
    """Every method is safe to call from any thread or task while the HTTP app serves requests."""

    def __init__(
        self,
        *,
        api_keys: Mapping[str, str] | None = None,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
        default_api_version: str = DEFAULT_API_VERSION,
    ) -> None:
        self.default_api_version = default_api_version
        # None: any well-formed test key is accepted, as the platform account DEFAULT_ACCOUNT.
        self._configured_keys = dict(api_keys) if api_keys is not None else None
        self._api_keys = self._configured_keys
        self.idempotency = IdempotencyStore(clock)
        self.traffic = Traffic(seed=seed)
        self.request_log: list[RequestRecord] = []
        super().__init__(seed=seed, clock=clock)

    def reset(self) -> None:
        """Forget every object, charge, request, fault, added key and saved idempotent answer."""
        with self.lock:
            self._clear_catalog()
            self._api_keys = self._configured_keys
            self.request_log = []
            self.idempotency.clear()
            self.traffic.reset()

    # -- accounts and keys ---------------------------------------------------------------

    def add_api_key(self, key: str, *, account: str = DEFAULT_ACCOUNT) -> None:
        """Accept ``key`` for ``account``; from the first call on, only registered keys work."""
        with self.lock:
            self._api_keys = {**(self._api_keys or {}), key: account}

    def connect(self, account: str, *, platform: str = DEFAULT_ACCOUNT) -> None:
        """Let ``platform``'s keys act on ``account`` through the Stripe-Account header."""
        with self.lock:
            self._connected[account] = platform

    def platform_for_key(self, key: str) -> str | None:
        with self.lock:
            if self._api_keys is not None:
                return self._api_keys.get(key)
        # Live keys are refused outright: nothing may point real credentials at a fake.
        well_formed = key.startswith(("sk_test_", "rk_test_")) and len(key) > len("sk_test_")
        return DEFAULT_ACCOUNT if well_formed else None

    def may_act_on(self, platform: str, account: str) -> bool:
        with self.lock:
            return account == platform or self._connected.get(account) == platform

    # -- misbehaviour --------------------------------------------------------------------

    def inject_faults(
        self,
        kind: FaultKind = "api_error",
        *,
        count: int | None = 1,
        probability: float = 1.0,
        path_prefix: str = "/v1/",
        method: str | None = None,
        account: str | None = None,
        should_retry: bool | None = None,
        after_execution: bool = False,
    ) -> Fault:
        fault = Fault(
            kind=kind,
            count=count,
            probability=probability,
            path_prefix=path_prefix,
            method=method,
            account=account,
            should_retry=should_retry,
            after_execution=after_execution,
        )
        with self.lock:
            self.traffic.inject(fault)
        return fault

    def clear_faults(self) -> None:
        with self.lock:
            self.traffic.clear_faults()

    def set_latency(
        self, fixed: float = 0.0, jitter: float = 0.0, *, seed: int = 0, path_prefix: str = "/v1/"
    ) -> None:
        with self.lock:
            self.traffic.set_latency(Latency(fixed=fixed, jitter=jitter, seed=seed, path_prefix=path_prefix))

    def set_rate_limit(
        self, writes_per_second: int | None = 25, *, reads_per_second: int | None = None
    ) -> None:
        with self.lock:
            self.traffic.rate_limit = RateLimit(
                writes_per_second=writes_per_second, reads_per_second=reads_per_second
            )

    def clear_rate_limit(self) -> None:
        with self.lock:
            self.traffic.rate_limit = None

    # -- inspection ----------------------------------------------------------------------

    def charges(self, invoice_id: str | None = None, *, status: str | None = None) -> list[ChargeRecord]:
        """Every charge attempt, oldest first."""
        with self.lock:
            return [
                charge
                for charge in self.charge_log
                if (invoice_id is None or charge.invoice == invoice_id)
                and (status is None or charge.status == status)
            ]

    def successful_charges_by_invoice(self) -> dict[str, int]:
        with self.lock:
            return dict(
                Counter(
                    charge.invoice
                    for charge in self.charge_log
                    if charge.status == "succeeded" and charge.invoice is not None
                )
            )

    def intent_charges(self, **metadata: str) -> list[ChargeRecord]:
        """Charges of standalone PaymentIntents whose metadata has every given pair, oldest first."""
        with self.lock:
            return [
                charge
                for charge in self.charge_log
                if charge.invoice is None
                and metadata.items() <= self.intents[charge.payment_intent].metadata.items()
            ]

    def requests(self, path_prefix: str = "/v1/") -> list[RequestRecord]:
        with self.lock:
            return [record for record in self.request_log if record.path.startswith(path_prefix)]
