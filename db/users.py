"""Creator queries: users (one per identity-provider subject), their stored tokens and Drive status, browser
sessions and sign-ins in flight (each state works once, for ten minutes). Deleting an account: db/accounts.py."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import CreatorSession, DriveStatus, OAuthState, User, utcnow
from db.session import dialect_insert

STATE_MAX_AGE = timedelta(minutes=10)


async def upsert_user(session: AsyncSession, *, subject: str, email: str, name: str | None,
                      email_verified: bool = False) -> User:
    """The user with this subject, created on first sign-in; email and name follow the provider's latest claims.
    One statement, so two first sign-ins at once still make one user. A first sign-in with a verified address
    takes over the account an operator made for that address (`keys create --account EMAIL`)."""
    now = utcnow()
    if email_verified:
        waiting = select(User.id).where(User.subject.is_(None), func.lower(User.email) == email.lower()) \
            .order_by(User.created_at).limit(1).scalar_subquery()
        await session.execute(update(User).where(User.id == waiting).values(subject=subject)
                              .execution_options(synchronize_session=False))
    insert = dialect_insert(session, User).values(subject=subject, email=email, name=name, last_login_at=now)
    upsert = insert.on_conflict_do_update(
        index_elements=[User.subject],
        set_={"email": insert.excluded.email, "name": insert.excluded.name, "last_login_at": now},
    ).returning(User)
    return (await session.scalars(upsert, execution_options={"populate_existing": True})).one()


async def save_tokens(session: AsyncSession, user_id: str, *, access_token_encrypted: str,
                      refresh_token_encrypted: str | None, token_expires_at: datetime | None,
                      token_scopes: str | None) -> None:
    """Store encrypted tokens. A None refresh token or scope list keeps the stored one: refreshes rarely
    return a new refresh token, and may leave out the scopes."""
    values: dict[str, object] = {"access_token_encrypted": access_token_encrypted, "token_expires_at": token_expires_at}
    if refresh_token_encrypted is not None:
        values["refresh_token_encrypted"] = refresh_token_encrypted
    if token_scopes is not None:
        values["token_scopes"] = token_scopes
    await session.execute(update(User).where(User.id == user_id).values(**values))


async def get_user(session: AsyncSession, user_id: str) -> User | None:
    return await session.get(User, user_id)


async def account_for_email(session: AsyncSession, email: str, name: str | None = None) -> User:
    """The account of this address: the one its person signed in with, or one made now that their first sign-in
    (with the address verified) takes over."""
    account = await session.scalar(select(User).where(func.lower(User.email) == email.lower())
                                   .order_by(User.subject.is_(None), User.created_at).limit(1))
    if account is None:
        account = User(email=email, name=name)
        session.add(account)
        await session.flush()
    return account


async def set_drive_status(session: AsyncSession, user_id: str, status: DriveStatus) -> None:
    await session.execute(update(User).where(User.id == user_id).values(drive_status=DriveStatus(status).value))


async def set_email_notices(session: AsyncSession, user_id: str, notices: str) -> None:
    await session.execute(update(User).where(User.id == user_id).values(email_notices=notices))


# --- browser sessions


async def create_session(session: AsyncSession, user_id: str, ttl: timedelta) -> CreatorSession:
    now = utcnow()
    # The user's expired sessions go as a new one starts, so the table holds roughly the live ones.
    await session.execute(delete(CreatorSession).where(CreatorSession.user_id == user_id,
                                                       CreatorSession.expires_at <= now))
    row = CreatorSession(id=secrets.token_urlsafe(32), user_id=user_id, created_at=now, expires_at=now + ttl)
    session.add(row)
    await session.flush()
    return row


async def get_session_user(session: AsyncSession, session_id: str, user_id: str) -> User | None:
    """The user of a live session, or None when it ended (logout), expired, belongs to someone else or to an
    account being deleted."""
    return await session.scalar(
        select(User).join(CreatorSession, CreatorSession.user_id == User.id)
        .where(CreatorSession.id == session_id, User.id == user_id, CreatorSession.expires_at > utcnow(),
               User.deletion_requested_at.is_(None)))


async def delete_session(session: AsyncSession, session_id: str) -> None:
    await session.execute(delete(CreatorSession).where(CreatorSession.id == session_id))


# --- sign-ins in flight


async def create_state(session: AsyncSession, *, state: str, code_verifier: str, nonce: str, next_path: str) -> None:
    # Abandoned sign-ins are dropped here, so the table stays as small as the sign-ins of the last ten minutes.
    await session.execute(delete(OAuthState).where(OAuthState.created_at < utcnow() - STATE_MAX_AGE))
    session.add(OAuthState(state=state, code_verifier=code_verifier, nonce=nonce, next_path=next_path))
    await session.flush()


async def consume_state(session: AsyncSession, state: str) -> OAuthState | None:
    """The sign-in this state started, deleted in the same statement so that it works once even when two
    callbacks race; None when unknown, used or older than ten minutes."""
    row = await session.scalar(delete(OAuthState).where(OAuthState.state == state).returning(OAuthState))
    if row is None or utcnow() - row.created_at > STATE_MAX_AGE:
        return None
    return row
