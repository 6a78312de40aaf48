"""Retry decisions without I/O: case lifecycle, decline classification, caps, slot choice, learning."""

from dunning.retry.domain.caps import CapCheck, check_card_caps, check_case_limits, window_closes_at
from dunning.retry.domain.decline_codes import DeclineCategory, RetryTiming
from dunning.retry.domain.declines import DeclineAdvice, classify_decline
from dunning.retry.domain.history import AttemptHistory, PastAttempt
from dunning.retry.domain.learning import AttemptOutcome, Estimate, LearningPrior, OutcomeStats, SlotFeatures
from dunning.retry.domain.lifecycle import (
    Action,
    CaseStatus,
    Fact,
    InvoiceLedger,
    Transition,
    apply_action,
    apply_fact,
    fact_of,
)
from dunning.retry.domain.local_time import CustomerZone, LocalHours, resolve_zone
from dunning.retry.domain.methods import MethodChange, MethodChangeKind, StoredMethod, order_alternates
from dunning.retry.domain.networks import CardNetwork, card_network
from dunning.retry.domain.paydays import payday_reasons, upcoming_paydays
from dunning.retry.domain.policy import CardNetworkCaps, EndAction, NetworkCap, RetryMode, RetryPolicy
from dunning.retry.domain.schedule import Slot, Stop, next_attempt_slot

__all__ = [
    "Action",
    "AttemptHistory",
    "AttemptOutcome",
    "CapCheck",
    "CardNetwork",
    "CardNetworkCaps",
    "CaseStatus",
    "CustomerZone",
    "DeclineAdvice",
    "DeclineCategory",
    "EndAction",
    "Estimate",
    "Fact",
    "InvoiceLedger",
    "LearningPrior",
    "LocalHours",
    "MethodChange",
    "MethodChangeKind",
    "NetworkCap",
    "OutcomeStats",
    "PastAttempt",
    "RetryMode",
    "RetryPolicy",
    "RetryTiming",
    "Slot",
    "SlotFeatures",
    "Stop",
    "StoredMethod",
    "Transition",
    "apply_action",
    "apply_fact",
    "card_network",
    "check_card_caps",
    "check_case_limits",
    "classify_decline",
    "fact_of",
    "next_attempt_slot",
    "order_alternates",
    "payday_reasons",
    "resolve_zone",
    "upcoming_paydays",
    "window_closes_at",
]
