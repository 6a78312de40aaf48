"""The customer's time zone from what the processor knows of their billing address.

A country with one zone gives it; a big country gives the zone of the state or province when
we know it (the zone most of its people live in); otherwise we say we do not know and the
scheduler falls back to UTC, saying so in its reason.
"""

from __future__ import annotations

from collections.abc import Mapping

_EASTERN, _CENTRAL, _MOUNTAIN, _PACIFIC = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
)
_US = {
    **dict.fromkeys("CT DE DC FL GA KY ME MD MA NH NJ NY NC OH PA RI SC VT VA WV".split(), _EASTERN),
    **dict.fromkeys("AL AR IL IA KS LA MN MS MO NE ND OK SD TN TX WI".split(), _CENTRAL),
    **dict.fromkeys("CO MT NM UT WY".split(), _MOUNTAIN),
    **dict.fromkeys("CA NV OR WA".split(), _PACIFIC),
    "MI": "America/Detroit",
    "IN": "America/Indiana/Indianapolis",
    "ID": "America/Boise",
    "AZ": "America/Phoenix",
    "AK": "America/Anchorage",
    "HI": "Pacific/Honolulu",
    "PR": "America/Puerto_Rico",
}
_CA = {
    **dict.fromkeys("ON QC".split(), "America/Toronto"),
    **dict.fromkeys("NS NB PE".split(), "America/Halifax"),
    "NL": "America/St_Johns",
    "MB": "America/Winnipeg",
    "SK": "America/Regina",
    "AB": "America/Edmonton",
    "BC": "America/Vancouver",
    "YT": "America/Whitehorse",
    "NT": "America/Yellowknife",
    "NU": "America/Iqaluit",
}
_AU = {
    **dict.fromkeys("NSW ACT".split(), "Australia/Sydney"),
    "VIC": "Australia/Melbourne",
    "QLD": "Australia/Brisbane",
    "SA": "Australia/Adelaide",
    "WA": "Australia/Perth",
    "TAS": "Australia/Hobart",
    "NT": "Australia/Darwin",
}
_BY_REGION: dict[str, dict[str, str]] = {"US": _US, "CA": _CA, "AU": _AU}


def customer_zone(
    country: str | None, region: str | None, zones_by_country: Mapping[str, tuple[str, ...]]
) -> str | None:
    """An IANA zone name, or None when the address does not say enough."""
    if not country:
        return None
    code = country.strip().upper()
    by_region = _BY_REGION.get(code)
    if by_region is not None and region:
        found = by_region.get(region.strip().upper())
        if found:
            return found
    zones = zones_by_country.get(code, ())
    return zones[0] if len(zones) == 1 else None
