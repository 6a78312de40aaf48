"""The email channel against a real SMTP server (aiosmtpd): what a mailbox provider receives, how
refusals map to retry-or-give-up, and the .eml outbox embedded mode writes instead."""

from __future__ import annotations

import email
import email.policy
import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parseaddr
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support.smtp_server import SmtpServer

from dunning.common.clock import FixedClock
from dunning.common.embedded import free_port
from dunning.notify.channels.email import (
    FileMailer,
    OutgoingEmail,
    SmtpMailer,
    build_mime,
    list_eml,
    mailer_for,
    message_id_for,
    parse_smtp_url,
    read_eml,
    to_bytes,
)
from dunning.notify.channels.errors import DeliveryError

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

SENT_AT = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
UNSUBSCRIBE = "https://dunning.example.com/v1/unsubscribe/ten_1/cus_42?token=abc123"


def make_email(**overrides: str | None) -> OutgoingEmail:
    fields: dict[str, str | None] = {
        "message_key": "case_1:level_1:email",
        "from_address": "billing@acme.example",
        "from_name": "Acme Billing",
        "reply_to": "support@acme.example",
        "to_address": "jenny@example.com",
        "to_name": "Jenny Rosen",
        "subject": "Your payment did not go through",
        "text": "Hi Jenny,\nyour card was declined. Update it here: https://acme.example/pay\n",
        "html": "<p>Hi Jenny,</p><p>your card was declined.</p>",
        "unsubscribe_url": UNSUBSCRIBE,
        "unsubscribe_mailto": "mailto:unsubscribe@acme.example?subject=unsubscribe",
        "locale": "en",
    }
    fields.update(overrides)
    return OutgoingEmail(**fields)  # type: ignore[arg-type]


def parts(message: EmailMessage) -> dict[str, str]:
    """Each body part's text as a mail client shows it (base64 parts keep their canonical CRLF)."""
    found = {}
    for part in message.walk():
        if not part.is_multipart():
            assert isinstance(part, EmailMessage)
            found[part.get_content_type()] = part.get_content().replace("\r\n", "\n")
    return found


@pytest.fixture(scope="module")
def smtp_module() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def smtp(smtp_module: SmtpServer) -> SmtpServer:
    smtp_module.reset()
    return smtp_module


@pytest.fixture(scope="module")
def auth_smtp() -> Iterator[SmtpServer]:
    with SmtpServer(users={"mailer": "p@ss:w/rd"}) as server:
        yield server


@pytest.fixture(scope="module")
def tls_smtp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    with SmtpServer(tls=True, cert_dir=tmp_path_factory.mktemp("starttls")) as server:
        yield server


async def send_expecting_error(mailer: SmtpMailer, message: OutgoingEmail) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        await mailer.send(message)
    return caught.value


async def test_a_multipart_message_with_one_click_unsubscribe_arrives(smtp: SmtpServer) -> None:
    mailer = SmtpMailer(smtp.url(), clock=FixedClock(SENT_AT))

    message_id = await mailer.send(make_email())

    [mail] = smtp.wait_for(1)
    assert (mail.mail_from, mail.rcpt_tos) == ("billing@acme.example", ("jenny@example.com",))
    received = mail.message
    assert received.get_content_type() == "multipart/alternative"
    assert parts(received) == {
        "text/plain": "Hi Jenny,\nyour card was declined. Update it here: https://acme.example/pay\n",
        "text/html": "<p>Hi Jenny,</p><p>your card was declined.</p>\n",
    }
    assert received["Message-ID"] == message_id == message_id_for("case_1:level_1:email", "acme.example")
    assert received["From"] == "Acme Billing <billing@acme.example>"
    assert received["To"] == "Jenny Rosen <jenny@example.com>"
    assert received["Reply-To"] == "support@acme.example"
    assert received["Date"].datetime == SENT_AT
    assert received["List-Unsubscribe"] == (
        f"<{UNSUBSCRIBE}>, <mailto:unsubscribe@acme.example?subject=unsubscribe>"
    )
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert received["Auto-Submitted"] == "auto-generated"
    assert received["Content-Language"] == "en"


async def test_a_resend_is_recognisably_the_same_message(smtp: SmtpServer) -> None:
    mailer = SmtpMailer(smtp.url())

    first = await mailer.send(make_email())
    await mailer.send(make_email())
    other = await mailer.send(make_email(message_key="case_1:level_2:email"))

    ids = [mail.message["Message-ID"] for mail in smtp.wait_for(3)]
    assert ids == [first, first, other]
    assert other != first


async def test_the_commit_point_runs_after_the_content_and_before_the_server_accepts(
    smtp: SmtpServer,
) -> None:
    """ADR 0007: the caller records the hand-off while the server holds the whole content but
    not the end of data; the message arrives only after that, whole, dots and line ends intact."""
    seen_at_commit: list[int] = []

    async def commit_point() -> None:
        seen_at_commit.append(len(smtp.messages))

    text = "Hi Jenny,\n.\n..two dots\r\n.leading dot\rlone CR\n"
    await SmtpMailer(smtp.url()).send(make_email(text=text, html=None), commit_point=commit_point)

    [mail] = smtp.wait_for(1)
    assert seen_at_commit == [0]
    assert parts(mail.message) == {"text/plain": "Hi Jenny,\n.\n..two dots\n.leading dot\nlone CR\n"}


async def test_a_failing_commit_point_leaves_the_server_nothing_to_deliver(smtp: SmtpServer) -> None:
    """A worker that cannot record the hand-off (its claim was taken, the database is gone) drops
    the connection before the end of data: the server discards the transaction, and the worker
    that sends the message instead is the only one to deliver it."""

    class Lost(Exception):
        pass

    async def lost() -> None:
        raise Lost

    with pytest.raises(Lost):
        await SmtpMailer(smtp.url()).send(make_email(), commit_point=lost)
    await SmtpMailer(smtp.url()).send(make_email(subject="Sent by the other worker"))

    [mail] = smtp.wait_for(1)
    assert mail.message["Subject"] == "Sent by the other worker"
    assert len(smtp.messages) == 1


async def test_a_text_only_message_is_a_single_part(smtp: SmtpServer) -> None:
    await SmtpMailer(smtp.url()).send(make_email(html=None, unsubscribe_mailto=None))

    [mail] = smtp.wait_for(1)
    assert mail.message.get_content_type() == "text/plain"
    assert mail.message["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"


@pytest.mark.parametrize(
    ("locale", "from_name", "to_name", "subject", "text"),
    [
        (
            "ja",
            "株式会社アクメ 請求チーム",
            "山田 太郎",
            "お支払いが完了しませんでした — カード情報の更新をお願いします。ご契約は継続中です",
            "山田様\nお支払いが完了しませんでした。\n",
        ),
        (
            "ko",
            "애크미 결제팀",
            "김민준",
            "결제가 완료되지 않았습니다 — 카드 정보를 업데이트해 주세요. 구독은 유지됩니다",
            "김민준 님\n결제가 완료되지 않았습니다.\n",
        ),
    ],
)
async def test_japanese_and_korean_names_and_subjects_arrive_intact(
    smtp: SmtpServer, locale: str, from_name: str, to_name: str, subject: str, text: str
) -> None:
    html = f"<p>{text}</p>"
    sent = make_email(
        locale=locale, from_name=from_name, to_name=to_name, subject=subject, text=text, html=html
    )

    await SmtpMailer(smtp.url()).send(sent)

    [mail] = smtp.wait_for(1)
    head = mail.raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()  # no relay without SMTPUTF8 can mangle it
    received = mail.message
    assert received["Subject"] == subject
    assert received["From"].addresses[0].display_name == from_name
    assert received["To"].addresses[0].display_name == to_name
    assert received["Content-Language"] == locale
    assert parts(received) == {"text/plain": text, "text/html": html + "\n"}


async def test_a_long_unsubscribe_url_arrives_as_a_url(smtp: SmtpServer) -> None:
    long_url = "https://dunning.example.com/v1/unsubscribe/" + "t" * 300
    await SmtpMailer(smtp.url()).send(make_email(unsubscribe_url=long_url, unsubscribe_mailto=None))

    [mail] = smtp.wait_for(1)
    assert mail.message["List-Unsubscribe"] == f"<{long_url}>"
    assert b"=?" not in mail.raw.split(b"List-Unsubscribe:", 1)[1].split(b"\r\n", 1)[0]


async def test_a_plain_http_unsubscribe_link_is_not_offered_as_one_click(smtp: SmtpServer) -> None:
    url = "http://127.0.0.1:8000/v1/unsubscribe/abc"
    await SmtpMailer(smtp.url()).send(make_email(unsubscribe_url=url))

    [mail] = smtp.wait_for(1)
    assert mail.message["List-Unsubscribe"].startswith(f"<{url}>")
    assert mail.message["List-Unsubscribe-Post"] is None


async def test_header_injection_is_refused_before_anything_is_sent() -> None:
    for smuggled in (
        "Hello\r\nBcc: everyone@example.com",
        "Hello\x1eBcc: x@example.com",
        "Hi\u2028Bcc: x@y.z",
    ):
        with pytest.raises(ValueError, match="line breaks"):
            make_email(subject=smuggled)
    with pytest.raises(ValueError, match="angle brackets"):
        make_email(unsubscribe_url="https://x.example/u>, <https://evil.example/")


@pytest.mark.parametrize("address", ["jenny@@example.com", "<jenny@example.com>", "jenny@exa mple.com"])
async def test_an_unwritable_address_fails_for_good_on_either_mailer(
    smtp: SmtpServer, tmp_path: Path, address: str
) -> None:
    for mailer in (SmtpMailer(smtp.url()), FileMailer(tmp_path)):
        with pytest.raises(DeliveryError) as caught:
            await mailer.send(make_email(to_address=address))
        assert (caught.value.permanent, caught.value.code) == (True, "invalid_address")
    assert smtp.messages == []
    assert list(tmp_path.iterdir()) == []


header_text = st.text(
    st.characters(codec="utf-8", categories=("L", "N", "P", "S"), include_characters=" "), max_size=120
)


def as_shown(value: str) -> str:
    """What a mail client shows for a header value: runs of spaces collapsed, ends trimmed."""
    return re.sub(" {2,}", " ", value).strip(" ")


@settings(max_examples=300, deadline=None)
@given(subject=header_text, name=header_text)
async def test_any_subject_and_sender_name_survive_encoding(subject: str, name: str) -> None:
    raw = to_bytes(build_mime(make_email(subject=subject, from_name=name), date=SENT_AT))

    assert raw.split(b"\r\n\r\n", 1)[0].isascii()
    assert BytesParser(policy=email.policy.default).parsebytes(raw)["Subject"] == as_shown(subject)
    raw_from = email.message_from_bytes(raw)["From"]
    if as_shown(name).isascii():
        assert parseaddr(raw_from) == (as_shown(name), "billing@acme.example")
    else:
        # The RFC 2047 reference decoder: the stdlib's address parser wrongly puts a space between
        # the encoded-words of a long non-ASCII name, which mail clients do not.
        phrase, _, address = raw_from.rpartition(" <")
        assert address == "billing@acme.example>"
        assert str(make_header(decode_header(phrase))) == as_shown(name)


async def test_logs_in_with_the_credentials_in_the_url(auth_smtp: SmtpServer) -> None:
    auth_smtp.reset()
    await SmtpMailer(auth_smtp.url(login="mailer", query="starttls=off")).send(make_email())

    [mail] = auth_smtp.wait_for(1)
    assert mail.login == "mailer"


async def test_a_wrong_password_is_retried_not_failed(auth_smtp: SmtpServer) -> None:
    url = auth_smtp.url(query="starttls=off").replace("smtp://", "smtp://mailer:not-it@")

    error = await send_expecting_error(SmtpMailer(url), make_email())

    assert (error.permanent, error.code) == (False, "smtp_auth_failed")
    assert "not-it" not in repr(error)


async def test_missing_credentials_are_retried_not_failed(auth_smtp: SmtpServer) -> None:
    error = await send_expecting_error(SmtpMailer(auth_smtp.url()), make_email())

    assert (error.permanent, error.code) == (False, "smtp_530")


@pytest.mark.parametrize(
    ("reply", "permanent", "code"),
    [
        ("450 4.2.1 Mailbox busy, try later", False, "smtp_450"),
        ("452 4.2.2 Over quota for now", False, "smtp_452"),
        ("550 5.1.1 No such user here", True, "smtp_550"),
        ("553 5.1.3 Mailbox name not allowed", True, "smtp_553"),
    ],
)
async def test_recipient_refusals_map_to_retry_or_give_up(
    smtp: SmtpServer, reply: str, permanent: bool, code: str
) -> None:
    smtp.refuse("jenny@example.com", reply)

    error = await send_expecting_error(SmtpMailer(smtp.url()), make_email())

    assert (error.permanent, error.code) == (permanent, code)
    assert not error.recipient_opted_out
    assert smtp.messages == []


async def test_a_server_that_is_down_is_a_transient_failure() -> None:
    error = await send_expecting_error(SmtpMailer(f"smtp://127.0.0.1:{free_port()}", timeout=5), make_email())

    assert (error.permanent, error.code) == (False, "connection")


async def test_a_server_that_never_answers_times_out_as_transient() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts the TCP connection, says nothing
        port = silent.getsockname()[1]
        error = await send_expecting_error(SmtpMailer(f"smtp://127.0.0.1:{port}", timeout=0.5), make_email())

    assert (error.permanent, error.code) == (False, "timeout")


async def test_starttls_upgrades_when_the_server_offers_it(tls_smtp: SmtpServer) -> None:
    tls_smtp.reset()
    for query in ("", "starttls=required"):
        mailer = SmtpMailer(tls_smtp.url(query=query), tls_context=tls_smtp.client_tls_context())
        await mailer.send(make_email())

    assert [mail.tls for mail in tls_smtp.wait_for(2)] == [True, True]


async def test_starttls_required_refuses_a_server_without_it(smtp: SmtpServer) -> None:
    error = await send_expecting_error(SmtpMailer(smtp.url(query="starttls=required")), make_email())

    assert (error.permanent, error.code) == (False, "smtp_unsupported")
    assert smtp.messages == []


async def test_smtps_speaks_tls_from_the_first_byte(tmp_path: Path) -> None:
    with SmtpServer(implicit_tls=True, cert_dir=tmp_path) as server:
        await SmtpMailer(server.url(scheme="smtps"), tls_context=server.client_tls_context()).send(
            make_email()
        )

        [mail] = server.wait_for(1)
    assert mail.tls


async def test_an_untrusted_certificate_is_not_accepted(tmp_path: Path) -> None:
    with SmtpServer(implicit_tls=True, cert_dir=tmp_path) as server:
        error = await send_expecting_error(SmtpMailer(server.url(scheme="smtps"), timeout=5), make_email())

        assert server.messages == []
    assert (error.permanent, error.code) == (False, "tls")


async def test_smtp_urls_parse_and_keep_the_password_out_of_sight() -> None:
    target = parse_smtp_url("smtp://apikey:s%3Acret%40x@mail.example:2525?starttls=required")
    assert (target.host, target.port, target.username, target.password) == (
        "mail.example",
        2525,
        "apikey",
        "s:cret@x",
    )
    assert (target.starttls, target.implicit_tls) == (True, False)
    assert "s:cret" not in repr(target)
    assert "cret" not in repr(SmtpMailer("smtp://apikey:s%3Acret%40x@mail.example"))

    assert parse_smtp_url("smtps://mail.example").port == 465
    assert parse_smtp_url("smtp://mail.example?starttls=required").port == 587
    assert parse_smtp_url("smtp://mail.example").port == 25
    for bad in ("http://mail.example", "smtp://u:secretpw@mail.example?tls=yes", "smtps://h?starttls=off"):
        with pytest.raises(ValueError, match=r"SMTP URL|starttls") as caught:
            parse_smtp_url(bad)
        assert "secretpw" not in str(caught.value)


async def test_the_file_outbox_writes_one_parseable_eml_per_message(tmp_path: Path) -> None:
    clock = FixedClock(SENT_AT)
    mailer = FileMailer(tmp_path / "mail", clock=clock)

    first_id = await mailer.send(make_email(message_key="k-1", subject="First"))
    clock.advance(timedelta(minutes=5))
    second_id = await mailer.send(make_email(message_key="k-2", subject="お支払いのお願い", locale="ja"))
    clock.advance(timedelta(minutes=5))
    assert await mailer.send(make_email(message_key="k-1", subject="First, resent")) == first_id

    summaries = list_eml(tmp_path / "mail")
    assert [(s.message_id, s.subject, s.date) for s in summaries] == [
        (second_id, "お支払いのお願い", SENT_AT + timedelta(minutes=5)),
        (first_id, "First", SENT_AT),  # the resend left the first file as it was
    ]
    assert summaries[0].to == "Jenny Rosen <jenny@example.com>"
    assert sorted(p.name for p in (tmp_path / "mail").iterdir()) == sorted(s.file for s in summaries)

    parsed = BytesParser(policy=email.policy.default).parsebytes(
        read_eml(tmp_path / "mail", summaries[0].file)
    )
    assert isinstance(parsed, EmailMessage)
    assert parsed["Message-ID"] == second_id
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parts(parsed)["text/plain"] == make_email().text


async def test_reading_the_outbox_refuses_paths_outside_it(tmp_path: Path) -> None:
    outbox = tmp_path / "mail"
    await FileMailer(outbox).send(make_email())
    (tmp_path / "secret.eml").write_text("not yours")

    for name in ("../secret.eml", "/etc/passwd", "..", "secret.eml", f"{'a' * 32}.eml/../../secret.eml"):
        with pytest.raises(ValueError, match=r"not an \.eml name"):
            read_eml(outbox, name)
    with pytest.raises(FileNotFoundError):
        read_eml(outbox, f"{'0' * 32}.eml")
    assert list_eml(tmp_path / "nothing-here") == []


async def test_mailer_for_picks_smtp_when_configured_else_the_outbox(tmp_path: Path) -> None:
    assert isinstance(mailer_for("smtp://mail.example:2525", tmp_path), SmtpMailer)
    fallback = mailer_for(None, tmp_path)
    assert isinstance(fallback, FileMailer)
    assert fallback.directory == tmp_path / "mail"
