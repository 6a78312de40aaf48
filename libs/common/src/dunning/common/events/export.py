"""Export the event contracts as JSON Schema: ``python -m dunning.common.events.export docs/events``.

The files are checked in; a test regenerates them and fails on any difference (drift).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from dunning.common.events.envelope import CloudEvent
from dunning.common.events.notification import DATA_MODELS as NOTIFICATION_MODELS
from dunning.common.events.payment import DATA_MODELS as PAYMENT_MODELS
from dunning.common.events.recovery import DATA_MODELS as RECOVERY_MODELS
from dunning.common.events.topics import (
    NOTIFICATION_EVENTS_TOPIC,
    PAYMENT_EVENTS_TOPIC,
    RECOVERY_EVENTS_TOPIC,
)


def schemas() -> dict[str, dict[str, Any]]:
    """File name → JSON Schema, for the envelope and every canonical event type."""
    result: dict[str, dict[str, Any]] = {"cloudevent.schema.json": CloudEvent.model_json_schema()}
    catalogue: list[tuple[str, str, type[BaseModel]]] = [
        *((t.cloudevents_type, PAYMENT_EVENTS_TOPIC, m) for t, m in PAYMENT_MODELS.items()),
        *((t.cloudevents_type, RECOVERY_EVENTS_TOPIC, m) for t, m in RECOVERY_MODELS.items()),
        *((t.cloudevents_type, NOTIFICATION_EVENTS_TOPIC, m) for t, m in NOTIFICATION_MODELS.items()),
    ]
    for cloudevents_type, topic, model in catalogue:
        schema = model.model_json_schema()
        schema["title"] = cloudevents_type
        schema["description"] = (
            f"`data` of a `{cloudevents_type}` CloudEvent on `{topic}`. " + (model.__doc__ or "").strip()
        )
        result[f"{cloudevents_type}.schema.json"] = schema
    return result


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in schemas().items():
        path = directory / name
        path.write_text(render(schema))
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/events")
    for path in write(target):
        print(path)  # noqa: T201 - a command-line tool's output
