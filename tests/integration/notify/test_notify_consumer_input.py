"""Bad input to notify's consumer: events that do not match their schema or name another tenant
are dead-lettered (PermanentFailure), unknown types are skipped, and replayed or reordered case
events never start messages about a settled invoice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.integration.notify.conftest import NotifyWorld

from dunning.common.consumer import PermanentFailure
from dunning.common.events.envelope import CloudEvent
from dunning.common.events.recovery import RecoveryEventType

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


async def test_an_event_that_does_not_match_its_schema_is_dead_lettered(world: NotifyWorld) -> None:
    event = world.case_event(RecoveryEventType.CASE_OPENED, "case_bad", "in_bad")
    broken = event.model_copy(update={"data": {**event.data, "amount": -5}})
    with pytest.raises(PermanentFailure, match="does not match its schema"):
        await world.feed(broken)
    assert await world.deliveries() == []


async def test_an_event_naming_another_tenant_is_dead_lettered(world: NotifyWorld) -> None:
    event = world.case_event(RecoveryEventType.CASE_OPENED, "case_x", "in_x")
    forged = event.model_copy(update={"tenantid": "ten_someone_else"})
    with pytest.raises(PermanentFailure, match="tenant"):
        await world.feed(forged)
    await world.run()
    assert world.smtp.messages == []


async def test_unknown_event_types_are_skipped(world: NotifyWorld) -> None:
    event = CloudEvent(
        id="e-unknown",
        source="/elsewhere",
        type="dunning.something.new.v1",
        subject=f"{world.tenant_id}:x",
        time=world.clock.now(),
        tenantid=world.tenant_id,
        data={"anything": True},
    )
    await world.feed(event)  # no exception: a newer producer's type is not poison
    assert await world.deliveries() == []


async def test_a_replayed_case_opened_after_recovery_starts_nothing(world: NotifyWorld) -> None:
    opened = world.case_event(RecoveryEventType.CASE_OPENED, "case_r", "in_r")
    recovered = world.case_event(RecoveryEventType.CASE_RECOVERED, "case_r", "in_r")
    # Out of order: the recovery arrives first (a DLQ replay), then the opening.
    await world.feed(recovered, opened)
    world.clock.advance(timedelta(days=30))
    await world.run()
    assert world.smtp.messages == []
    assert await world.deliveries() == []


async def test_a_stale_pause_after_the_stop_changes_nothing(world: NotifyWorld) -> None:
    case_id = await world.open_case()
    await world.run()
    await world.feed(world.case_event(RecoveryEventType.CASE_RECOVERED, case_id, "in_1"))
    await world.feed(world.case_event(RecoveryEventType.CASE_RESUMED, case_id, "in_1"))
    world.clock.advance(timedelta(days=30))
    await world.run()
    assert len(world.smtp.messages) == 1
