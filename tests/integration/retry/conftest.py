"""The Stripe fake over real HTTP, and a gateway pointed at it, for the retry service's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from tests.support.servers import serve_in_thread
from tests.support.stripe_fake import FakeStripe, create_app

from dunning.retry.gateway import StripeGateway


@pytest.fixture(scope="module")
def stripe_server() -> Iterator[tuple[FakeStripe, str]]:
    fake = FakeStripe()
    with serve_in_thread(create_app(fake)) as url:
        yield fake, url


@pytest.fixture
def fake(stripe_server: tuple[FakeStripe, str]) -> FakeStripe:
    stripe_server[0].reset()
    return stripe_server[0]


@pytest_asyncio.fixture
async def gateway(stripe_server: tuple[FakeStripe, str]) -> AsyncIterator[StripeGateway]:
    # Backoff waits shortened so retried faults do not slow the suite; the policy is the same.
    gw = StripeGateway(api_base=stripe_server[1], max_wait=0.05)
    yield gw
    await gw.close()
