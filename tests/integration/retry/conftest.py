"""A gateway pointed at the Stripe fake (tests/integration/conftest.py), for the retry tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from tests.support.stripe_fake import FakeStripe

from dunning.retry.gateway import StripeGateway


@pytest_asyncio.fixture
async def gateway(stripe_server: tuple[FakeStripe, str]) -> AsyncIterator[StripeGateway]:
    # Backoff waits shortened so retried faults do not slow the suite; the policy is the same.
    gw = StripeGateway(api_base=stripe_server[1], max_wait=0.05)
    yield gw
    await gw.close()
