"""A real SMTP server (aiosmtpd) on a free loopback port that keeps what it receives, for mail tests."""

from __future__ import annotations

import datetime as dt
import email.policy
import ipaddress
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dunning.common.embedded import free_port


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message: EmailMessage
    login: str | None  # who authenticated, when the session did
    tls: bool  # whether the session was encrypted


class _Handler:
    """aiosmtpd calls the handle_* hooks on the server's own thread, with positional arguments."""

    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_MAIL(
        self, _server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        if self._server.users and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, _server: SMTP, _session: Session, envelope: Envelope, address: str, _options: list[str]
    ) -> str:
        refusal = self._server.refusals.get(address.lower())
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        parsed = BytesParser(policy=email.policy.default).parsebytes(raw)
        assert isinstance(parsed, EmailMessage)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        self._server.record(
            ReceivedMail(
                mail_from=envelope.mail_from or "",
                rcpt_tos=tuple(envelope.rcpt_tos),
                raw=raw,
                message=parsed,
                login=login,
                tls=server.transport is not None
                and server.transport.get_extra_info("ssl_object") is not None,
            )
        )
        return "250 2.0.0 Message accepted for delivery"


class SmtpServer:
    """``with SmtpServer() as smtp: smtp.url`` — messages land in ``smtp.messages``.

    ``users`` turns on AUTH (PLAIN/LOGIN, allowed without TLS as on a private relay) and refuses
    MAIL until a client logs in. ``tls`` serves STARTTLS, or TLS from the first byte with
    ``implicit_tls``, with a self-signed certificate; ``client_tls_context()`` trusts it.
    """

    def __init__(
        self,
        *,
        users: Mapping[str, str] | None = None,
        tls: bool = False,
        implicit_tls: bool = False,
        cert_dir: Path | None = None,
    ) -> None:
        self.users = dict(users or {})
        self.refusals: dict[str, str] = {}
        self._messages: list[ReceivedMail] = []
        self._arrived = threading.Condition()
        self.port = free_port()
        self._cert: tuple[Path, Path] | None = None
        kwargs: dict[str, Any] = {}
        if tls or implicit_tls:
            if cert_dir is None:
                raise ValueError("TLS needs a cert_dir for the self-signed certificate")
            self._cert = _self_signed(cert_dir)
            server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            server_context.load_cert_chain(*self._cert)
            if implicit_tls:
                kwargs["ssl_context"] = server_context
            else:
                kwargs["tls_context"] = server_context
        if self.users:
            kwargs["authenticator"] = self._authenticate
            kwargs["auth_require_tls"] = False
        self._controller = Controller(
            _Handler(self), hostname="127.0.0.1", port=self.port, server_hostname="smtp.test", **kwargs
        )

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def url(self, *, scheme: str = "smtp", login: str | None = None, query: str = "") -> str:
        credentials = f"{quote(login, safe='')}:{quote(self.users[login], safe='')}@" if login else ""
        suffix = f"?{query}" if query else ""
        return f"{scheme}://{credentials}{self.host}:{self.port}{suffix}"

    def client_tls_context(self) -> ssl.SSLContext:
        if self._cert is None:
            raise RuntimeError("this server was started without TLS")
        return ssl.create_default_context(cafile=str(self._cert[0]))

    def refuse(self, address: str, reply: str) -> None:
        """Answer RCPT TO:<address> with ``reply``, e.g. ``"550 5.1.1 No such user"``."""
        self.refusals[address.lower()] = reply

    def reset(self) -> None:
        with self._arrived:
            self._messages.clear()
        self.refusals.clear()

    def record(self, mail: ReceivedMail) -> None:
        with self._arrived:
            self._messages.append(mail)
            self._arrived.notify_all()

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._arrived:
            return list(self._messages)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMail]:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self._messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self._messages)} of {count} messages arrived in {timeout}s")
                self._arrived.wait(left)
            return list(self._messages)

    def _authenticate(
        self, _server: SMTP, _session: Session, _envelope: Envelope, _mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            expected = self.users.get(auth_data.login.decode())
            if expected is not None and auth_data.password.decode() == expected:
                return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._controller.stop()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtp.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path
