"""Email out: messages built with the stdlib (plain text plus an HTML alternative), sent over SMTP with aiosmtplib,
or logged when no SMTP server is configured; and the local SMTP sink `make dev` runs so mail can be read offline."""

from __future__ import annotations

import asyncio
import hashlib
import html
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, parseaddr
from pathlib import Path

import aiosmtplib
from aiosmtpd.smtp import SMTP

from comfy_platform.settings import Settings

log = logging.getLogger(__name__)


class MailRefused(Exception):
    """The recipient cannot get this email, for good (a 5xx answer, an address no header can hold): sending the
    same message again cannot help."""


@dataclass
class Item:
    """One line of a list in an email: a label (a file name, say), maybe a link, maybe a note after it."""

    label: str
    url: str | None = None
    note: str | None = None


@dataclass
class Body:
    """An email's content, rendered to both plain text and HTML so the two never say different things. Every
    string is text: the HTML rendering escapes it, since file names and reasons come from users and servers."""

    name: str | None  # the greeting's; None greets nobody by name
    paragraphs: list[str]
    action: tuple[str, str]  # (label, url) of the one link the email is about
    sections: list[tuple[str, list[Item]]] = field(default_factory=list)

    def text(self) -> str:
        lines = [f"Hi {self.name}," if self.name else "Hi,", ""]
        for paragraph in self.paragraphs:
            lines += [paragraph, ""]
        for title, items in self.sections:
            lines.append(f"{title}:")
            for item in items:
                lines.append(f"- {item.label}" + (f": {item.note}" if item.note else ""))
                if item.url:
                    lines.append(f"  {item.url}")
            lines.append("")
        label, url = self.action
        lines += [f"{label}: {url}", ""]
        return "\n".join(lines)

    def html(self) -> str:
        e = html.escape
        parts = [f"<p>Hi {e(self.name)},</p>" if self.name else "<p>Hi,</p>"]
        parts += [f"<p>{e(paragraph)}</p>" for paragraph in self.paragraphs]
        for title, items in self.sections:
            parts.append(f"<h3>{e(title)}</h3>\n<ul>")
            for item in items:
                label = f'<a href="{e(item.url)}">{e(item.label)}</a>' if item.url else e(item.label)
                parts.append(f"<li>{label}" + (f": {e(item.note)}" if item.note else "") + "</li>")
            parts.append("</ul>")
        label, url = self.action
        parts.append(f'<p><a href="{e(url)}">{e(label)}</a></p>')
        return "<!DOCTYPE html>\n<html><body>\n" + "\n".join(parts) + "\n</body></html>\n"


class Mailer:
    """Sends over SMTP, one connection per message (a few emails per sync run do not warrant a pool). Errors
    raise so the caller's retry policy applies; a permanent recipient refusal raises MailRefused."""

    def __init__(self, host: str, port: int = 25, *, sender: str, username: str = "", password: str = "",
                 starttls: bool = False, timeout_s: float = 20.0) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self.password = password
        self.starttls = starttls
        self.timeout_s = timeout_s

    @classmethod
    def from_settings(cls, settings: Settings) -> Mailer:
        return cls(settings.SMTP_HOST, settings.SMTP_PORT, sender=settings.EMAIL_FROM,
                   username=settings.SMTP_USERNAME, password=settings.SMTP_PASSWORD,
                   starttls=settings.SMTP_STARTTLS, timeout_s=settings.SMTP_TIMEOUT_S)

    def message(self, *, to: str, name: str | None, subject: str, body: Body, key: str) -> EmailMessage:
        """`key` names what the email is about; the same key gives the same Message-ID, so a receiver can drop
        the copy a retry sends if a worker died between sending and recording the send."""
        message = EmailMessage()
        message["From"] = self.sender
        # A display name comes from the identity provider; line breaks in it would be refused as a header.
        display_name = " ".join((name or "").split())
        try:
            message["To"] = Address(display_name=display_name, addr_spec=to)
        except (ValueError, HeaderParseError) as exc:
            raise MailRefused(f"cannot address an email to {to!r}: {exc}") from None
        message["Subject"] = subject
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = message_id(key, self.sender)
        # RFC 3834: no vacation or out-of-office replies to a notification.
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(body.text())
        message.add_alternative(body.html(), subtype="html")
        return message

    async def send(self, message: EmailMessage,
                   on_accepted: Callable[[], Awaitable[None]] | None = None) -> None:
        """Send `message`. `on_accepted` runs the moment the server has accepted it, before the conversation ends
        (QUIT): a caller that records the send there leaves the least time in which a crash loses the record."""
        if not self.host:
            log.info("SMTP_HOST is empty, so this email is logged, not sent: to=%s subject=%r message_id=%s\n%s",
                     message["To"], message["Subject"], message["Message-ID"],
                     message.get_body(("plain",)).get_content())
            if on_accepted is not None:
                await on_accepted()
            return
        smtp = aiosmtplib.SMTP(hostname=self.host, port=self.port, username=self.username or None,
                               password=self.password or None, start_tls=self.starttls, timeout=self.timeout_s)
        try:
            async with smtp:  # connects (STARTTLS, login) here; QUIT on the way out
                await smtp.send_message(message)
                log.info("email sent: subject=%r message_id=%s", message["Subject"], message["Message-ID"])
                if on_accepted is not None:
                    await on_accepted()
        except aiosmtplib.SMTPRecipientsRefused as exc:
            # 4xx (mailbox busy, greylisting) is worth another try; 5xx (no such user) is not.
            if all(500 <= refused.code < 600 for refused in exc.recipients):
                raise MailRefused("; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)) from None
            raise


def surely_undelivered(exc: BaseException) -> bool:
    """True when a failed send cannot have delivered the message: the server was never reached, or it answered
    no. A dropped connection or a timeout mid-conversation may have come after the server took it."""
    return isinstance(exc, (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPResponseException,
                            aiosmtplib.SMTPRecipientsRefused, MailRefused))


def message_id(key: str, sender: str) -> str:
    """Deterministic per key; hashed, so a key holding an id does not show up in mail headers."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}>"


class _EmlWriter:
    """aiosmtpd handler of the dev sink: every message is accepted and kept as a .eml file."""

    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir

    async def handle_DATA(self, server: SMTP, session: object, envelope) -> str:
        content: bytes = envelope.original_content or envelope.content
        path = self.maildir / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:8]}.eml"
        path.write_bytes(content)
        subject = BytesParser(policy=policy.default).parsebytes(content, headersonly=True)["Subject"]
        log.info("dev SMTP sink: %r to %s, saved as %s", subject, ", ".join(envelope.rcpt_tos), path)
        return "250 Message accepted for delivery"


async def run_dev_sink(host: str, port: int, maildir: Path) -> None:
    """Accept every message on host:port and keep it under maildir, until cancelled (`make dev`)."""
    maildir.mkdir(parents=True, exist_ok=True)
    loop = asyncio.get_running_loop()
    handler = _EmlWriter(maildir)
    # A fixed greeting name: aiosmtpd would otherwise look up this host's FQDN for every connection.
    server = await loop.create_server(lambda: SMTP(handler, hostname="localhost", loop=loop), host, port)
    log.info("dev SMTP sink listening on %s:%d, mail kept in %s", host, port, maildir)
    async with server:
        await server.serve_forever()
