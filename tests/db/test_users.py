"""Creator queries on SQLite and PostgreSQL: one user per subject, a sign-in state works once and for ten
minutes, sessions end on logout and with the account."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, update

from db import accounts, users
from db.models import CreatorSession, DriveStatus, OAuthState, User, utcnow


async def test_upserting_by_subject_keeps_one_user_and_follows_the_latest_claims(db_session):
    subject = f"sub-{uuid.uuid4().hex}"
    first = await users.upsert_user(db_session, subject=subject, email="a@example.com", name="A")
    await db_session.commit()
    second = await users.upsert_user(db_session, subject=subject, email="b@example.com", name=None)
    await db_session.commit()
    assert second.id == first.id and (second.email, second.name) == ("b@example.com", None)
    assert second.drive_status == DriveStatus.NOT_CONNECTED and second.last_login_at is not None
    assert len((await db_session.scalars(select(User).where(User.subject == subject))).all()) == 1


async def test_saving_tokens_without_a_refresh_token_keeps_the_stored_one(db_session):
    user = await users.upsert_user(db_session, subject=uuid.uuid4().hex, email="t@example.com", name=None)
    await users.save_tokens(db_session, user.id, access_token_encrypted="a1", refresh_token_encrypted="r1",
                            token_expires_at=utcnow(), token_scopes="openid email")
    await users.save_tokens(db_session, user.id, access_token_encrypted="a2", refresh_token_encrypted=None,
                            token_expires_at=None, token_scopes=None)
    await db_session.commit()
    stored = await users.get_user(db_session, user.id)
    await db_session.refresh(stored)
    assert (stored.access_token_encrypted, stored.refresh_token_encrypted, stored.token_scopes) == \
        ("a2", "r1", "openid email")
    await users.set_drive_status(db_session, user.id, DriveStatus.RECONNECT_NEEDED)
    await db_session.commit()
    await db_session.refresh(stored)
    assert stored.drive_status == DriveStatus.RECONNECT_NEEDED


async def test_a_sign_in_state_works_once_and_for_ten_minutes(db_session):
    fresh, stale = uuid.uuid4().hex, uuid.uuid4().hex
    for state in (fresh, stale):
        await users.create_state(db_session, state=state, code_verifier="v", nonce="n", next_path="/creator/")
    await db_session.execute(update(OAuthState).where(OAuthState.state == stale)
                             .values(created_at=utcnow() - timedelta(minutes=11)))
    await db_session.commit()
    found = await users.consume_state(db_session, fresh)
    assert (found.code_verifier, found.nonce, found.next_path) == ("v", "n", "/creator/")
    assert await users.consume_state(db_session, fresh) is None
    assert await users.consume_state(db_session, stale) is None
    assert await users.consume_state(db_session, "never-issued") is None
    await db_session.commit()


async def test_starting_a_sign_in_drops_abandoned_ones(db_session):
    abandoned = uuid.uuid4().hex
    await users.create_state(db_session, state=abandoned, code_verifier="v", nonce="n", next_path="/")
    await db_session.execute(update(OAuthState).where(OAuthState.state == abandoned)
                             .values(created_at=utcnow() - timedelta(minutes=11)))
    await users.create_state(db_session, state=uuid.uuid4().hex, code_verifier="v", nonce="n", next_path="/")
    await db_session.commit()
    assert await db_session.get(OAuthState, abandoned) is None


async def test_sessions_end_on_logout_on_expiry_and_with_the_account(db_session):
    user = await users.upsert_user(db_session, subject=uuid.uuid4().hex, email="s@example.com", name=None)
    kept, logged_out, expired = [await users.create_session(db_session, user.id, timedelta(days=7)) for _ in range(3)]
    await db_session.execute(update(CreatorSession).where(CreatorSession.id == expired.id)
                             .values(expires_at=utcnow() - timedelta(seconds=1)))
    await users.delete_session(db_session, logged_out.id)
    await db_session.commit()
    assert (await users.get_session_user(db_session, kept.id, user.id)).id == user.id
    assert await users.get_session_user(db_session, kept.id, "someone-else") is None
    assert await users.get_session_user(db_session, logged_out.id, user.id) is None
    assert await users.get_session_user(db_session, expired.id, user.id) is None

    await users.create_session(db_session, user.id, timedelta(days=7))  # sweeps this user's expired sessions
    assert await db_session.get(CreatorSession, expired.id) is None
    assert await accounts.delete_account(db_session, user.id) and not await accounts.delete_account(db_session, user.id)
    await db_session.commit()
    assert (await db_session.scalars(select(CreatorSession).where(CreatorSession.user_id == user.id))).all() == []
