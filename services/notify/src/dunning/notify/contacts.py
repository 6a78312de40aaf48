"""Who a message goes to: the customer's contact details merged from three layers — what the
platform set (wins), what the processor's customer object says, what the events carried."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dunning.common.zones import candidate_zones
from dunning.notify.content.locales import negotiate_locale
from dunning.notify.domain.channels import Channel
from dunning.notify.domain.compliance import normalize_address


@dataclass(frozen=True, slots=True)
class ResolvedContact:
    customer_id: str | None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    locale: str = "en"
    zones: tuple[str, ...] = ()
    zone_source: str = "unknown"
    customer_type: str | None = None
    opted_out_channels: frozenset[str] = field(default_factory=frozenset)

    def address_for(self, channel: str) -> str | None:
        """The address a message on ``channel`` goes to, in the form opt-outs are matched in."""
        if channel == Channel.EMAIL:
            return normalize_address(Channel.EMAIL, self.email) if self.email else None
        if channel == Channel.SMS:
            return normalize_address(Channel.SMS, self.phone) if self.phone else None
        return self.customer_id


def resolve(
    customer_id: str | None, row: Mapping[Any, Any] | None, *, default_locale: str
) -> ResolvedContact:
    observed: Mapping[str, Any] = row["observed"] if row else {}
    processor: Mapping[str, Any] = row["processor"] if row else {}
    override: Mapping[str, Any] = row["override"] if row else {}

    def pick(name: str) -> Any:
        for layer in (override, processor, observed):
            value = layer.get(name)
            if value not in (None, ""):
                return value
        return None

    preferred: list[str] = [str(override["locale"])] if override.get("locale") else []
    preferred += list(processor.get("preferred_locales") or [])
    # A preference we have no wording for falls to the tenant's default, not to English.
    preferred.append(default_locale)
    locale = negotiate_locale(preferred)
    zones: tuple[str, ...]
    if override.get("time_zone"):
        zones, source = (str(override["time_zone"]),), "set by the platform"
    else:
        zones = candidate_zones(pick("country"), pick("region"))
        source = (
            "from the billing address"
            if len(zones) == 1
            else ("every zone of the billing country" if zones else "unknown")
        )
    return ResolvedContact(
        customer_id=customer_id,
        name=pick("name"),
        email=pick("email"),
        phone=pick("phone"),
        locale=locale,
        zones=zones,
        zone_source=source,
        customer_type=override.get("customer_type"),
        opted_out_channels=frozenset(override.get("opt_out_channels") or ()),
    )
