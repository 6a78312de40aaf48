"""The checked-in JSON Schemas under docs/events/ are exactly what the code defines."""

from pathlib import Path

import pytest

from dunning.common.events.export import render, schemas
from dunning.common.events.payment import DATA_MODELS, PaymentEventType
from dunning.common.events.recovery import DATA_MODELS as RECOVERY_MODELS
from dunning.common.events.recovery import RecoveryEventType

DOCS = Path(__file__).resolve().parents[3] / "docs" / "events"


@pytest.mark.parametrize("name", sorted(schemas()))
def test_checked_in_schema_matches_code(name: str) -> None:
    path = DOCS / name
    assert path.exists(), f"{path} is missing: run `make events-schema`"
    assert path.read_text() == render(schemas()[name]), f"{name} drifted: run `make events-schema`"


def test_no_stale_schema_files() -> None:
    assert {p.name for p in DOCS.glob("*.schema.json")} == set(schemas())


def test_every_canonical_type_has_a_schema() -> None:
    assert set(DATA_MODELS) == set(PaymentEventType)
    assert set(RECOVERY_MODELS) == set(RecoveryEventType)
    assert {f"{t.cloudevents_type}.schema.json" for t in [*PaymentEventType, *RecoveryEventType]} < set(
        schemas()
    )
