"""The channels a customer can be reached on, and the message templates every level picks from."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    IN_APP = "in_app"  # a notice the platform renders in its own UI (GET /v1/customers/{id}/notices)
    WEBHOOK = "webhook"  # a signed call to the platform, which messages the customer its own way


# Channels that reach a person's inbox or phone: opt-outs, sending windows and contact caps apply.
ELECTRONIC_CONTACT = frozenset({Channel.EMAIL, Channel.SMS})


class TemplateName(StrEnum):
    """What a message is for; each has default wording per channel and locale."""

    FRIENDLY = "friendly"  # day 0: the payment did not go through, probably nothing serious
    REMINDER = "reminder"  # a gentle nudge
    FIRM = "firm"  # clearer about what happens next, still warm
    FINAL_NOTICE = "final_notice"  # the last message before the account is handed on
    COLLECTIONS = "collections"  # the account has been passed to collections
    CARD_EXPIRING = "card_expiring"  # pre-dunning: the card on file expires soon
    UPCOMING_RENEWAL = "upcoming_renewal"  # pre-dunning: a renewal charge is coming


SUPPORTED_LOCALES = ("en", "ja", "ko")
