"""Embedded mode without SMTP: each email becomes an .eml file the dashboard lists and shows."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime
from pathlib import Path

from dunning.common.clock import Clock, SystemClock
from dunning.notify.channels.errors import DeliveryError
from dunning.notify.channels.mime import MIME_POLICY, OutgoingEmail, build_mime, eml_stem, to_bytes
from dunning.notify.channels.smtp import CommitPoint

# The only names read_eml() opens: what FileMailer writes, nothing a caller can steer elsewhere.
_EML_NAME = re.compile(r"[0-9a-f]{32}\.eml")


@dataclass(frozen=True)
class EmlSummary:
    file: str
    message_id: str
    to: str
    subject: str
    date: datetime


class FileMailer:
    """Writes ``<message-id hash>.eml``; sending the same message key again leaves the first file."""

    def __init__(self, directory: Path, *, clock: Clock | None = None) -> None:
        self.directory = directory
        self._clock = clock or SystemClock()

    def __repr__(self) -> str:
        return f"FileMailer({str(self.directory)!r})"

    async def send(self, email: OutgoingEmail, *, commit_point: CommitPoint | None = None) -> str:
        path = self.directory / f"{eml_stem(email.message_key)}.eml"
        try:
            raw = to_bytes(build_mime(email, date=self._clock.now()))
        except ValueError as exc:
            raise DeliveryError(str(exc), permanent=True, code="invalid_address") from exc
        if commit_point is not None:
            await commit_point()
        await asyncio.to_thread(_write_once, path, raw)
        return email.message_id


def _write_once(path: Path, raw: bytes) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write aside and rename, so a reader (the dashboard) never sees half a message.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(raw)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def list_eml(directory: Path) -> list[EmlSummary]:
    """Newest first, by the Date header (file time when the header is unreadable)."""
    if not directory.is_dir():
        return []
    parser = BytesHeaderParser(policy=MIME_POLICY)
    summaries = []
    for path in directory.iterdir():
        if not _EML_NAME.fullmatch(path.name):
            continue
        with path.open("rb") as handle:
            headers = parser.parse(handle)
        summaries.append(
            EmlSummary(
                file=path.name,
                message_id=str(headers.get("Message-ID", "")),
                to=str(headers.get("To", "")),
                subject=str(headers.get("Subject", "")),
                date=_date_of(headers.get("Date"), path),
            )
        )
    summaries.sort(key=lambda s: (s.date, s.file), reverse=True)
    return summaries


def read_eml(directory: Path, name: str) -> bytes:
    """The raw message; raises ValueError for a name FileMailer could not have written."""
    if not _EML_NAME.fullmatch(name):
        raise ValueError("not an .eml name from this outbox")
    return (directory / name).read_bytes()


def _date_of(header: object, path: Path) -> datetime:
    if header is not None:
        with contextlib.suppress(TypeError, ValueError):
            parsed = parsedate_to_datetime(str(header))
            if parsed.tzinfo is not None:
                return parsed.astimezone(UTC)
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)
