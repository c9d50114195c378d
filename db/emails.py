"""Creator emails, recorded so that none is sent twice: an attempt is recorded before the SMTP conversation
begins, and what became of it as soon as it is known."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import SentEmail, SentEmailStatus, User, utcnow
from db.session import dialect_insert


async def get_sent_email(session: AsyncSession, key: str) -> SentEmail | None:
    return await session.get(SentEmail, key)


async def last_sent_at(session: AsyncSession, user_id: str, key_prefix: str) -> datetime | None:
    """When the user's latest email whose key starts with `key_prefix` was sent, or None."""
    return await session.scalar(select(func.max(SentEmail.sent_at)).where(
        SentEmail.user_id == user_id, SentEmail.key.startswith(key_prefix, autoescape=True),
        SentEmail.status == SentEmailStatus.SENT.value))


async def begin_attempt(session: AsyncSession, key: str, user: User, kind: str, subject: str) -> int | None:
    """Record that an attempt is about to talk to the SMTP server; which attempt it is, or None if the email was
    sent meanwhile (by an earlier attempt that outlived its timeout)."""
    insert = dialect_insert(session, SentEmail).values(
        key=key, user_id=user.id, kind=kind, recipient=user.email, subject=subject,
        status=SentEmailStatus.SENDING.value, attempts=1, last_attempt_at=utcnow())
    return await session.scalar(insert.on_conflict_do_update(
        index_elements=["key"], set_={"status": SentEmailStatus.SENDING.value,
                                      "attempts": SentEmail.attempts + 1, "last_attempt_at": utcnow()},
        where=SentEmail.status != SentEmailStatus.SENT.value).returning(SentEmail.attempts))


async def record_outcome(session: AsyncSession, key: str, status: SentEmailStatus) -> None:
    """What became of the attempt; an email recorded sent stays sent."""
    sent_at = utcnow() if status == SentEmailStatus.SENT else None
    await session.execute(update(SentEmail)
                          .where(SentEmail.key == key, SentEmail.status != SentEmailStatus.SENT.value)
                          .values(status=status.value, sent_at=sent_at))
