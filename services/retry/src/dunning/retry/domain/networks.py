"""Card networks: turn a processor's brand string into the network whose rules apply to the card."""

from __future__ import annotations

from enum import StrEnum


class CardNetwork(StrEnum):
    VISA = "visa"
    MASTERCARD = "mastercard"
    AMEX = "amex"
    DISCOVER = "discover"
    DINERS = "diners"
    JCB = "jcb"
    UNIONPAY = "unionpay"
    # A brand we recognise as a card but not as one of the above (eftpos_au, interac, ...).
    OTHER = "other"
    # No brand at all: the rules of every network have to be assumed at once.
    UNKNOWN = "unknown"


# Spellings seen from Stripe ("visa", "mastercard", "amex"), from its display names ("Visa",
# "MasterCard", "American Express") and from other processors ("MC", "CUP"), after squashing
# case, spaces, hyphens and underscores.
_ALIASES: dict[str, CardNetwork] = {
    "visa": CardNetwork.VISA,
    "mastercard": CardNetwork.MASTERCARD,
    "master": CardNetwork.MASTERCARD,
    "mc": CardNetwork.MASTERCARD,
    "amex": CardNetwork.AMEX,
    "americanexpress": CardNetwork.AMEX,
    "discover": CardNetwork.DISCOVER,
    "diners": CardNetwork.DINERS,
    "dinersclub": CardNetwork.DINERS,
    "jcb": CardNetwork.JCB,
    "unionpay": CardNetwork.UNIONPAY,
    "chinaunionpay": CardNetwork.UNIONPAY,
    "cup": CardNetwork.UNIONPAY,
    "unknown": CardNetwork.UNKNOWN,
}


def card_network(brand: str | None) -> CardNetwork:
    """The network for a brand string; ``UNKNOWN`` when there is none to go on."""
    if not isinstance(brand, str):
        return CardNetwork.UNKNOWN
    squashed = "".join(ch for ch in brand.lower() if ch.isalnum())
    if not squashed:
        return CardNetwork.UNKNOWN
    return _ALIASES.get(squashed, CardNetwork.OTHER)
