"""The email channel: what a mailer promises, and which one a deployment gets."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from dunning.notify.channels.eml_outbox import EmlSummary, FileMailer, list_eml, read_eml
from dunning.notify.channels.mime import OutgoingEmail, build_mime, message_id_for, to_bytes
from dunning.notify.channels.smtp import CommitPoint, SmtpMailer, parse_smtp_url

__all__ = [
    "MAIL_DIRNAME",
    "CommitPoint",
    "EmlSummary",
    "FileMailer",
    "Mailer",
    "OutgoingEmail",
    "SmtpMailer",
    "build_mime",
    "list_eml",
    "mailer_for",
    "message_id_for",
    "parse_smtp_url",
    "read_eml",
    "to_bytes",
]

# Under the data directory, where embedded mode keeps the mail it would have sent.
MAIL_DIRNAME = "mail"


class Mailer(Protocol):
    async def send(self, email: OutgoingEmail, *, commit_point: CommitPoint | None = None) -> str:
        """Deliver one email; returns its Message-ID. Raises DeliveryError.

        ``commit_point`` runs once the message can no longer be taken back: after it returns
        the message counts as handed over; if it raises, nothing was delivered.
        """
        ...


def mailer_for(smtp_url: str | None, data_dir: Path) -> Mailer:
    """SMTP when configured, else .eml files under ``data_dir/mail`` for the dashboard to show."""
    if smtp_url:
        return SmtpMailer(smtp_url)
    return FileMailer(data_dir / MAIL_DIRNAME)
