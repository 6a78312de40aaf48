"""What a message says the customer owes on top of the invoice: the tenant's dunning fee and,
for business customers where the policy turns it on, statutory interest and fixed compensation
(Directive 2011/7/EU). Shown in messages only; charging them is the platform's decision."""

from __future__ import annotations

from datetime import date

from dunning.notify.domain.fees import DunningFee, LateChargePolicy, LateCharges, late_charges
from dunning.notify.policy_schema import NotifyPolicyBody


def message_charges(
    policy: NotifyPolicyBody,
    *,
    amount: int,
    currency: str,
    due: date | None,
    today: date,
    level: int | None,
    b2b: bool,
) -> LateCharges:
    spec = policy.dunning_fee
    fee_applies = spec is not None and level is not None and level >= spec.from_level
    late = policy.late_charges
    statutory = late.enabled and b2b
    if due is None or not (fee_applies or statutory):
        return LateCharges(0, 0, 0, 0, "no fee or statutory charge applies")
    fee = (
        DunningFee(
            fixed=spec.fixed,
            percent=spec.percent,
            minimum=spec.minimum,
            maximum=spec.maximum,
            per_level=spec.per_level,
        )
        if spec is not None and fee_applies
        else None
    )
    levels = (level - spec.from_level + 1) if spec is not None and level is not None and fee_applies else 1
    return late_charges(
        amount,
        currency,
        due=due,
        on=today,
        policy=LateChargePolicy(
            reference_rate_percent=late.reference_rate_percent,
            margin_points=late.margin_points,
            fixed_compensation=dict(late.fixed_compensation),
            dunning_fee=fee,
        ),
        b2b=statutory,
        levels=levels,
    )
