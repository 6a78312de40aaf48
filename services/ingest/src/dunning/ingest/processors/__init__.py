"""Processor adapters by name; a new processor is one adapter registered here."""

from dunning.ingest.processors.base import ProcessorAdapter
from dunning.ingest.processors.stripe import StripeAdapter

PROCESSORS = ("stripe",)


def default_adapters(*, tolerance_seconds: int) -> dict[str, ProcessorAdapter]:
    adapters: dict[str, ProcessorAdapter] = {"stripe": StripeAdapter(tolerance_seconds=tolerance_seconds)}
    assert set(adapters) == set(PROCESSORS)
    return adapters
