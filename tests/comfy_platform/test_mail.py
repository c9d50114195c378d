"""The Mailer against a real SMTP server (aiosmtpd), and the dev sink `make dev` runs."""

from __future__ import annotations

import asyncio
import logging
from email import policy
from email.parser import BytesParser

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from comfy_platform.mail import (
    Body,
    Item,
    Mailer,
    MailRefused,
    message_id,
    run_dev_sink,
)
from comfy_platform.settings import Settings
from tests.helpers.ports import free_port

SENDER = "Comfy Platform <noreply@comfy.example>"


def body() -> Body:
    return Body("Ana", ["Two photos were edited."], action=("Open your dashboard", "http://app.test/creator/"),
                sections=[("Edited", [Item("beach.jpg", "http://drive.test/file/d/1/view", "saved as beach.png")])])


def mailer_for(server, **options) -> Mailer:
    return Mailer(server.host, server.port, sender=SENDER, timeout_s=5, **options)


async def test_message_carries_text_and_html_and_a_message_id_derived_from_its_key(smtp):
    mailer = mailer_for(smtp)
    await mailer.send(mailer.message(to="ana@example.com", name="Ana Lima", subject="2 photos edited", body=body(),
                                     key="drive-sync-run-u1"))
    [received] = await smtp.wait_for(1)
    assert received["To"] == "Ana Lima <ana@example.com>" and received["From"] == SENDER
    assert received["Subject"] == "2 photos edited" and received["Auto-Submitted"] == "auto-generated"
    assert received["Message-ID"] == message_id("drive-sync-run-u1", SENDER) != message_id("other", SENDER)
    assert received["Message-ID"].endswith("@comfy.example>") and "drive-sync-run" not in received["Message-ID"]
    text = received.get_body(("plain",)).get_content()
    assert text.startswith("Hi Ana,\n") and "- beach.jpg: saved as beach.png\n  http://drive.test/file/d/1/view" in text
    html = received.get_body(("html",)).get_content()
    assert '<a href="http://drive.test/file/d/1/view">beach.jpg</a>: saved as beach.png' in html
    assert '<a href="http://app.test/creator/">Open your dashboard</a>' in html


def test_html_escapes_what_users_and_servers_wrote():
    hostile = Body('<b>Eve</b>', ['reason: <img src=x onerror="alert(1)">'], action=("Go", 'http://x.test/"><script>'),
                   sections=[("Failed", [Item("<script>.png", 'http://x.test/?a="b"', "<i>bad</i>")])])
    html = hostile.html()
    assert "<script>" not in html and "<img" not in html and "<b>Eve" not in html and "<i>" not in html
    assert "&lt;script&gt;.png" in html and 'href="http://x.test/?a=&quot;b&quot;"' in html
    assert "<script>.png: <i>bad</i>" in hostile.text()


def test_line_breaks_in_a_display_name_do_not_reach_the_headers():
    mailer = Mailer("", sender=SENDER)
    built = mailer.message(to="ana@example.com", name="Ana\r\nBcc: eve@example.com", subject="s", body=body(), key="k")
    assert built["To"] == '"Ana Bcc: eve@example.com" <ana@example.com>' and built["Bcc"] is None


def test_an_address_no_header_can_hold_is_refused_for_good():
    with pytest.raises(MailRefused, match="not an address"):
        Mailer("", sender=SENDER).message(to="not an address", name=None, subject="s", body=body(), key="k")


async def test_temporary_refusal_raises_to_be_retried(smtp):
    mailer = mailer_for(smtp)
    smtp.refuse_next(1)
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await mailer.send(mailer.message(to="ana@example.com", name=None, subject="s", body=body(), key="k"))
    assert refused.value.code == 451
    smtp.refuse_recipient("ana@example.com", "450 4.2.1 Mailbox busy")
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await mailer.send(mailer.message(to="ana@example.com", name=None, subject="s", body=body(), key="k"))
    assert smtp.messages == []


async def test_permanent_recipient_refusal_raises_mail_refused(smtp):
    mailer = mailer_for(smtp)
    smtp.refuse_recipient("gone@example.com")
    with pytest.raises(MailRefused, match="550"):
        await mailer.send(mailer.message(to="gone@example.com", name=None, subject="s", body=body(), key="k"))


async def test_unreachable_server_raises_to_be_retried():
    mailer = Mailer("127.0.0.1", free_port(), sender=SENDER, timeout_s=5)
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await mailer.send(mailer.message(to="ana@example.com", name=None, subject="s", body=body(), key="k"))


async def test_empty_host_logs_the_email_instead_of_sending(caplog):
    mailer = Mailer.from_settings(Settings(_env_file=None, SMTP_HOST="", EMAIL_FROM=SENDER))
    with caplog.at_level(logging.INFO, logger="comfy_platform.mail"):
        await mailer.send(mailer.message(to="ana@example.com", name="Ana", subject="2 photos edited", body=body(),
                                         key="k"))
    [record] = caplog.records
    assert "logged, not sent" in record.getMessage() and "'2 photos edited'" in record.getMessage()
    assert "http://drive.test/file/d/1/view" in record.getMessage()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_logs_in_when_a_username_is_configured():
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data: LoginPassword) -> AuthResult:
        logins.append((auth_data.login, auth_data.password))
        # handled=False on failure, or aiosmtplib waits for an answer that never comes (local_services.md).
        return AuthResult(success=auth_data.password == b"right", handled=auth_data.password == b"right")

    class Collect:
        def __init__(self) -> None:
            self.messages: list[bytes] = []

        async def handle_DATA(self, server, session, envelope) -> str:
            self.messages.append(envelope.original_content)
            return "250 OK"

    handler = Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), server_hostname="localhost",
                            authenticator=authenticator, auth_required=True, auth_require_tls=False)
    controller.start()
    try:
        mailer = Mailer("127.0.0.1", controller.port, sender=SENDER, username="app", password="right", timeout_s=5)
        await mailer.send(mailer.message(to="ana@example.com", name=None, subject="s", body=body(), key="k"))
        wrong = Mailer("127.0.0.1", controller.port, sender=SENDER, username="app", password="wrong", timeout_s=5)
        with pytest.raises(aiosmtplib.SMTPAuthenticationError):
            await wrong.send(wrong.message(to="ana@example.com", name=None, subject="s", body=body(), key="k"))
    finally:
        controller.stop()
    # aiosmtplib tries each mechanism the server offers before giving up on a wrong password.
    assert logins[0] == (b"app", b"right") and set(logins[1:]) == {(b"app", b"wrong")}
    assert len(handler.messages) == 1


async def test_dev_sink_keeps_each_message_as_an_eml_file(tmp_path):
    port = free_port()
    sink = asyncio.create_task(run_dev_sink("127.0.0.1", port, tmp_path / "mail"))
    try:
        mailer = Mailer("127.0.0.1", port, sender=SENDER, timeout_s=5)
        for _ in range(50):  # the sink binds as soon as the task first runs
            try:
                await mailer.send(mailer.message(to="ana@example.com", name=None, subject="Hello sink", body=body(),
                                                 key="k"))
                break
            except aiosmtplib.SMTPConnectError:
                await asyncio.sleep(0.02)
    finally:
        sink.cancel()
        await asyncio.gather(sink, return_exceptions=True)
    [eml] = (tmp_path / "mail").glob("*.eml")
    assert BytesParser(policy=policy.default).parsebytes(eml.read_bytes())["Subject"] == "Hello sink"
