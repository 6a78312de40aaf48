"""The tenant's notify policy as the API reads and writes it (JSON), and its mapping to the domain.

One document per tenant: the escalation policies and the segment rules that choose between
them, the compliance regime, fees and plan offers, pre-dunning switches and the sender identity.
Rules live in the domain objects; this module translates, so the API refuses exactly what the
walker would refuse, with the walker's own message.
"""

from __future__ import annotations

from datetime import time, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from dunning.notify.domain.channels import Channel, TemplateName
from dunning.notify.domain.compliance import (
    ComplianceOverrides,
    ComplianceRules,
    ContactCap,
    Regime,
    rules_for,
)
from dunning.notify.domain.escalation import (
    DEFAULT_POLICY,
    Anchor,
    EscalationLevel,
    EscalationPolicy,
    SegmentRule,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LevelBody(_Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_\-]+$")
    offset_hours: int = Field(ge=0, le=24 * 366, description="When the level is due, after `anchor`.")
    anchor: Literal["opening", "previous"] = "opening"
    channels: list[Channel] = Field(max_length=4)
    template: TemplateName
    tone: Literal["friendly", "firm", "formal"] = "friendly"
    hand_off: bool = Field(default=False, description="Reaching this level hands the case to collections.")


class PolicyBody(_Strict):
    levels: list[LevelBody] = Field(min_length=1, max_length=20)
    min_gap_hours: int = Field(default=24, ge=0, le=24 * 30)


class SegmentBody(_Strict):
    policy: str = Field(min_length=1, max_length=64)
    min_amount: int | None = Field(default=None, ge=0)
    max_amount: int | None = Field(default=None, ge=0)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    customer_type: Literal["b2b", "b2c"] | None = None
    min_customer_value: int | None = Field(default=None, ge=0)
    metadata: dict[str, str] = Field(default_factory=dict, max_length=20)


class ComplianceBody(_Strict):
    regime: Literal["first_party", "third_party_consumer", "b2b"] = "first_party"
    window_start: str | None = Field(default=None, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    window_end: str | None = Field(default=None, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    email_per_7_days: int | None = Field(default=None, ge=0, le=50)
    sms_per_7_days: int | None = Field(default=None, ge=0, le=50)


class DunningFeeBody(_Strict):
    """The tenant's own reminder fee. Only if the contract provides for it (15 U.S.C. 1692f(1))."""

    fixed: dict[str, int] = Field(default_factory=dict, description="Currency → minor units.")
    percent: Decimal = Field(default=Decimal(0), ge=0, le=25, description="Of the amount owed.")
    minimum: dict[str, int] = Field(default_factory=dict)
    maximum: dict[str, int] = Field(default_factory=dict)
    per_level: bool = Field(default=False, description="At every level reached, or once per invoice.")
    from_level: int = Field(default=1, ge=0, description="First level whose messages mention the fee.")


class LateChargesBody(_Strict):
    """Statutory interest and fixed compensation (EU 2011/7/EU), applied to b2b customers only."""

    enabled: bool = False
    reference_rate_percent: Decimal = Field(default=Decimal("2.15"), ge=-5, le=30)
    margin_points: Decimal = Field(default=Decimal(8), ge=0, le=30)
    fixed_compensation: dict[str, int] = Field(default_factory=lambda: {"EUR": 4000})


class PlanOfferBody(_Strict):
    instalments: int = Field(ge=2, le=24)
    every_days: int = Field(ge=7, le=62)
    from_level: int = Field(default=1, ge=0, description="Offered in messages from this level on.")


class PreDunningBody(_Strict):
    card_expiring: bool = False
    upcoming_renewal: bool = False
    channels: list[Channel] = Field(default_factory=lambda: [Channel.EMAIL], max_length=4)


class SenderBody(_Strict):
    merchant_name: str = Field(default="Your provider", min_length=1, max_length=120)
    from_address: EmailStr | None = None
    from_name: str | None = Field(default=None, max_length=120)
    reply_to: EmailStr | None = None
    support_email: EmailStr | None = None


class InternalEscalationBody(_Strict):
    """Tell the account owner or sales team when a case reaches a level (they often know why)."""

    enabled: bool = False
    level: int | str = Field(
        default=2,
        description="The level (index from 0, or name) whose reaching alerts the team; "
        "a case whose policy has no such level alerts nobody.",
    )
    recipients: list[EmailStr] = Field(default_factory=list, max_length=20)
    chat_webhook_url: str | None = Field(
        default=None,
        max_length=2000,
        description='A Slack-compatible incoming webhook (POST {"text": ...}); https only.',
    )
    owner_override: bool = Field(
        default=True,
        description="A customer whose contact names an account_owner_email alerts that owner "
        "instead of `recipients`.",
    )

    @model_validator(mode="after")
    def _reachable(self) -> InternalEscalationBody:
        if isinstance(self.level, int) and not 0 <= self.level < 20:
            raise ValueError("internal_escalation.level is a level index from 0 to 19, or a level name")
        if self.chat_webhook_url is not None:
            internal_chat_url(self.chat_webhook_url)
        if self.enabled and not (self.recipients or self.chat_webhook_url or self.owner_override):
            raise ValueError("internal_escalation needs recipients, a chat_webhook_url or owner_override")
        return self


_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def internal_chat_url(url: str) -> str:
    """The chat webhook URL, if it is https (or http to this machine, for local setups and tests)."""
    parts = urlsplit(url)
    if parts.username or parts.password or not parts.hostname:
        raise ValueError("chat_webhook_url must be an absolute URL without credentials")
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS):
        return url
    raise ValueError("chat_webhook_url must be https (http only to localhost)")


class B2BPolicyBody(_Strict):
    """The B2B track (ADR 0010): demand letters as PDF for business debtors."""

    demand_letter_days: list[int] = Field(
        default_factory=lambda: [30, 60, 90],
        max_length=6,
        description="Days overdue at which a b2b case's demand letter (PDF) goes out, each once; "
        "strictly increasing, 1 to 365; empty turns letters off.",
    )
    pay_within_days: int = Field(default=14, ge=1, le=90, description="The deadline a letter sets.")

    @model_validator(mode="after")
    def _increasing(self) -> B2BPolicyBody:
        days = self.demand_letter_days
        if any(not 1 <= d <= 365 for d in days) or any(b <= a for a, b in pairwise(days)):
            raise ValueError("b2b.demand_letter_days must be strictly increasing days from 1 to 365")
        return self


class NotifyPolicyBody(_Strict):
    """A tenant's escalation and messaging policy. Every key has a sensible default."""

    policies: dict[str, PolicyBody] = Field(description="Named policies; 'default' is required.")
    segments: list[SegmentBody] = Field(default_factory=list, max_length=50)
    default_locale: Literal["en", "ja", "ko"] = "en"
    compliance: ComplianceBody = Field(default_factory=ComplianceBody)
    dunning_fee: DunningFeeBody | None = None
    late_charges: LateChargesBody = Field(default_factory=LateChargesBody)
    plan_offer: PlanOfferBody | None = None
    pre_dunning: PreDunningBody = Field(default_factory=PreDunningBody)
    sender: SenderBody = Field(default_factory=SenderBody)
    internal_escalation: InternalEscalationBody = Field(default_factory=InternalEscalationBody)
    b2b: B2BPolicyBody = Field(default_factory=B2BPolicyBody)

    @model_validator(mode="after")
    def _consistent(self) -> NotifyPolicyBody:
        if "default" not in self.policies:
            raise ValueError("policies must include 'default'")
        for name, body in self.policies.items():
            if not name or len(name) > 64:
                raise ValueError("policy names are 1 to 64 characters")
            to_policy(body)  # the walker's own validation, with its message
        for index, rule in enumerate(self.segments):
            if rule.policy not in self.policies:
                raise ValueError(f"segments[{index}] names unknown policy {rule.policy!r}")
        alert = self.internal_escalation
        if alert.enabled and isinstance(alert.level, str):
            names = {level.name for body in self.policies.values() for level in body.levels}
            if alert.level not in names:
                raise ValueError(f"internal_escalation.level {alert.level!r} names no level of any policy")
        compliance_rules(self)  # e.g. a third_party_consumer window wider than the law allows
        return self


def to_policy(body: PolicyBody) -> EscalationPolicy:
    return EscalationPolicy(
        levels=tuple(
            EscalationLevel(
                name=level.name,
                offset=timedelta(hours=level.offset_hours),
                channels=tuple(level.channels),
                template=level.template,
                tone=level.tone,
                anchor=Anchor(level.anchor),
                hand_off=level.hand_off,
            )
            for level in body.levels
        ),
        min_gap=timedelta(hours=body.min_gap_hours),
    )


def from_policy(policy: EscalationPolicy) -> PolicyBody:
    return PolicyBody(
        levels=[
            LevelBody(
                name=level.name,
                offset_hours=int(level.offset / timedelta(hours=1)),
                anchor=level.anchor.value,
                channels=list(level.channels),
                template=level.template,
                tone=level.tone,
                hand_off=level.hand_off,
            )
            for level in policy.levels
        ],
        min_gap_hours=int(policy.min_gap / timedelta(hours=1)),
    )


def compliance_rules(body: NotifyPolicyBody) -> ComplianceRules:
    """The regime's rules with the tenant's overrides; ValueError when the law forbids them."""
    spec = body.compliance
    caps: dict[Channel, ContactCap | None] = {}
    if spec.email_per_7_days is not None:
        caps[Channel.EMAIL] = ContactCap(spec.email_per_7_days, timedelta(days=7))
    if spec.sms_per_7_days is not None:
        caps[Channel.SMS] = ContactCap(spec.sms_per_7_days, timedelta(days=7))
    overrides = ComplianceOverrides(
        window_start=_clock(spec.window_start), window_end=_clock(spec.window_end), caps=caps
    )
    return rules_for(Regime(spec.regime), overrides=overrides)


def _clock(value: str | None) -> time | None:
    if value is None:
        return None
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def segment_rules(body: NotifyPolicyBody) -> list[SegmentRule]:
    return [
        SegmentRule(
            policy=rule.policy,
            min_amount=rule.min_amount,
            max_amount=rule.max_amount,
            currency=rule.currency,
            customer_type=rule.customer_type,
            min_customer_value=rule.min_customer_value,
            metadata=dict(rule.metadata),
        )
        for rule in body.segments
    ]


TENANT_DEFAULT = NotifyPolicyBody(policies={"default": from_policy(DEFAULT_POLICY)})
