"""A programmable Stripe fake that speaks Stripe's wire format over real HTTP, for tests and the chaos run."""

from tests.support.stripe_fake.app import create_app
from tests.support.stripe_fake.outcomes import (
    SUCCEED,
    CardBehaviour,
    Outcome,
    always,
    authentication_required,
    decline,
    processing_error,
    sequence,
)
from tests.support.stripe_fake.records import ChargeRecord, RequestRecord
from tests.support.stripe_fake.state import DEFAULT_ACCOUNT, DEFAULT_API_VERSION, FakeStripe
from tests.support.stripe_fake.traffic import Fault, Latency, RateLimit

__all__ = [
    "DEFAULT_ACCOUNT",
    "DEFAULT_API_VERSION",
    "SUCCEED",
    "CardBehaviour",
    "ChargeRecord",
    "FakeStripe",
    "Fault",
    "Latency",
    "Outcome",
    "RateLimit",
    "RequestRecord",
    "always",
    "authentication_required",
    "create_app",
    "decline",
    "processing_error",
    "sequence",
]
