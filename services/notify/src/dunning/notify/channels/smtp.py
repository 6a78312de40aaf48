"""Send dunning email through any SMTP server (smtp:// with STARTTLS, or smtps:// implicit TLS).

A message is sent with a **commit point** (ADR 0007): the envelope and the whole content go to
the server first, then the caller records that the message is being handed over, and only then
does the end-of-data line (``.``) follow. An SMTP server delivers nothing of a transaction whose
connection drops before that line (RFC 5321 §4.1.1.4, §6.1), so a sender killed before its
record is committed sent nothing and may send again, and one killed after it has handed the
message over and must not send it again. What is left uncertain is the instant between the
commit and one ``write`` of three bytes.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
import structlog

from dunning.common.clock import Clock, SystemClock
from dunning.notify.channels.errors import DeliveryError
from dunning.notify.channels.mime import OutgoingEmail, build_mime, to_bytes

log = structlog.get_logger(__name__)

CommitPoint = Callable[[], Awaitable[None]]

# ?starttls= on smtp:// URLs: "auto" upgrades when the server offers STARTTLS, "required" refuses
# to send in clear, "off" never upgrades (a relay on localhost or inside a pod).
_STARTTLS_MODES: dict[str, bool | None] = {"auto": None, "required": True, "off": False}
_AUTH_REQUIRED = 530
_START_INPUT = 354
_COMPLETED = 250
_BARE_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"(?m)^\.")


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    implicit_tls: bool
    starttls: bool | None  # aiosmtplib's start_tls: None means "if offered"
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def parse_smtp_url(url: str) -> SmtpTarget:
    """``smtp://[user:pass@]host[:port][?starttls=auto|required|off]`` or ``smtps://...``."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        # The URL may hold a password: the message names the problem, never the URL.
        raise ValueError("the SMTP URL must look like smtp://[user:pass@]host[:port] or smtps://...")
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    unknown = set(query) - {"starttls"}
    if unknown:
        raise ValueError(f"unknown SMTP URL option(s): {', '.join(sorted(unknown))}")
    implicit_tls = parts.scheme == "smtps"
    mode = query.get("starttls", "auto")
    if mode not in _STARTTLS_MODES:
        raise ValueError("starttls must be one of auto, required, off")
    if implicit_tls and "starttls" in query:
        raise ValueError("smtps:// is TLS from the first byte; starttls does not apply")
    starttls = False if implicit_tls else _STARTTLS_MODES[mode]
    port = parts.port or (465 if implicit_tls else 587 if starttls else 25)
    return SmtpTarget(
        host=parts.hostname,
        port=port,
        implicit_tls=implicit_tls,
        starttls=starttls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


class SmtpMailer:
    """One connection per message: dunning volume is low and a fresh session never goes stale."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30,
        tls_context: ssl.SSLContext | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._target = parse_smtp_url(url)
        self._timeout = timeout
        self._tls_context = tls_context
        self._clock = clock or SystemClock()

    def __repr__(self) -> str:
        t = self._target
        return f"SmtpMailer({'smtps' if t.implicit_tls else 'smtp'}://{t.host}:{t.port})"

    async def send(self, email: OutgoingEmail, *, commit_point: CommitPoint | None = None) -> str:
        """Send one message; ``commit_point`` runs after the content and before the end of data.

        If ``commit_point`` raises, the connection is dropped before the end of data, so the
        server discards the message, and the error propagates unchanged.
        """
        if not (email.from_address.isascii() and email.to_address.isascii()):
            # Non-ASCII mailboxes need SMTPUTF8 end to end, which we do not promise.
            raise DeliveryError("address is not ASCII", permanent=True, code="non_ascii_address")
        try:
            raw = to_bytes(build_mime(email, date=self._clock.now()))
        except ValueError as exc:  # an address the email package cannot write
            raise DeliveryError(str(exc), permanent=True, code="invalid_address") from exc
        target = self._target
        smtp = aiosmtplib.SMTP(
            hostname=target.host,
            port=target.port,
            use_tls=target.implicit_tls,
            start_tls=target.starttls,
            username=target.username,
            password=target.password,
            timeout=self._timeout,
            tls_context=self._tls_context,
        )
        try:
            await smtp.connect()
            await _transaction(smtp, email.from_address, email.to_address, raw, commit_point)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            error = delivery_error(exc)
            log.warning(
                "email.failed", message_id=email.message_id, code=error.code, permanent=error.permanent
            )
            raise error from exc
        finally:
            await _quit(smtp)
        log.debug("email.sent", message_id=email.message_id)
        return email.message_id


async def _transaction(
    smtp: aiosmtplib.SMTP, sender: str, recipient: str, raw: bytes, commit_point: CommitPoint | None
) -> None:
    """MAIL, RCPT and DATA as ``sendmail`` does them, with the end of data held back for the
    commit point. The content is written as DATA requires: CRLF line ends, leading dots doubled."""
    await smtp.mail(sender)
    await smtp.rcpt(recipient)
    started = await smtp.execute_command(b"DATA")
    if started.code != _START_INPUT:
        raise aiosmtplib.SMTPDataError(started.code, started.message)
    protocol = smtp.protocol
    if protocol is None:
        raise aiosmtplib.SMTPServerDisconnected("connection lost before the message content")
    content = _LEADING_DOT.sub(b"..", _BARE_LINE_BREAK.sub(b"\r\n", raw))
    if not content.endswith(b"\r\n"):
        content += b"\r\n"
    protocol.write(content)
    if commit_point is not None:
        try:
            await commit_point()
        except BaseException:
            smtp.close()  # no end of data: the server throws the transaction away
            raise
    protocol.write(b".\r\n")
    try:
        accepted = await protocol.read_response(timeout=smtp.timeout)
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
        smtp.close()
        raise
    if accepted.code != _COMPLETED:
        raise aiosmtplib.SMTPDataError(accepted.code, accepted.message)


def delivery_error(exc: BaseException) -> DeliveryError:
    """Map an SMTP failure to transient or permanent.

    Only a 5xx to this message's own envelope or content (MAIL, RCPT, DATA) is permanent. A
    refused greeting, HELO or login, or a missing AUTH/STARTTLS, is the server's or the
    operator's problem: the same message goes through once it is fixed, so those stay transient.
    """
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return DeliveryError(f"SMTP login refused ({exc.code})", permanent=False, code="smtp_auth_failed")
    if isinstance(exc, aiosmtplib.SMTPConnectResponseError | aiosmtplib.SMTPHeloError):
        return DeliveryError(
            f"SMTP server refused the session ({exc.code})", permanent=False, code=f"smtp_{exc.code}"
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        # 530 "authentication required" answers MAIL FROM but is about our login, not the message.
        permanent = 500 <= exc.code < 600 and exc.code != _AUTH_REQUIRED
        return DeliveryError(f"SMTP {exc.code}: {exc.message}", permanent=permanent, code=f"smtp_{exc.code}")
    if isinstance(exc, TimeoutError):  # aiosmtplib's timeouts subclass it too
        return DeliveryError("SMTP timed out", permanent=False, code="timeout")
    # aiosmtplib reports a failed handshake (say, an untrusted certificate) as a connect error.
    if isinstance(exc, ssl.SSLError) or isinstance(exc.__cause__, ssl.SSLError):
        return DeliveryError("TLS with the SMTP server failed", permanent=False, code="tls")
    if isinstance(exc, ConnectionError | OSError):  # includes SMTPConnectError, SMTPServerDisconnected
        return DeliveryError(
            f"SMTP connection failed: {type(exc).__name__}", permanent=False, code="connection"
        )
    # What is left is the client declining to go on: STARTTLS required but not offered, or
    # credentials configured for a server without AUTH.
    return DeliveryError(
        f"SMTP server lacks a needed feature: {exc}", permanent=False, code="smtp_unsupported"
    )


async def _quit(smtp: aiosmtplib.SMTP) -> None:
    # The message is already accepted (or refused) by now: a failing QUIT must not turn a sent
    # message into a retried one.
    if not smtp.is_connected:
        return
    try:
        await smtp.quit()
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        smtp.close()
