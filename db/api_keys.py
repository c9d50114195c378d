"""API key queries: create (returns the only copy of the secret), authenticate, list, revoke, and an account's own
keys for its developer console."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from comfy_platform.api_scopes import SCOPES  # re-exported: db.api_keys.SCOPES
from comfy_platform.secrets import (
    Encryptor,
    hash_api_key,
    new_api_key,
    new_webhook_secret,
)
from db.models import ApiKey, User, utcnow


@dataclass
class CreatedKey:
    key: ApiKey
    secret: str  # shown once; only its hash is stored
    webhook_secret: str


async def create_key(session: AsyncSession, encryptor: Encryptor, *, account_id: str, name: str,
                     scopes: list[str] | None = None,
                     expires_in_days: int | None = None, rate_limit_per_minute: int | None = None,
                     max_concurrent_jobs: int | None = None) -> CreatedKey:
    scopes = list(scopes or SCOPES)
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r}; scopes are {', '.join(SCOPES)}")
    secret, webhook_secret = new_api_key(), new_webhook_secret()
    key = ApiKey(account_id=account_id, name=name, prefix=secret[:10], secret_hash=hash_api_key(secret), scopes=scopes,
                 webhook_secret_encrypted=encryptor.encrypt(webhook_secret),
                 expires_at=utcnow() + timedelta(days=expires_in_days) if expires_in_days else None,
                 rate_limit_per_minute=rate_limit_per_minute, max_concurrent_jobs=max_concurrent_jobs)
    session.add(key)
    await session.flush()
    return CreatedKey(key, secret, webhook_secret)


async def authenticate(session: AsyncSession, secret: str, now: datetime | None = None) -> ApiKey | None:
    """The live key whose secret this is, or None for unknown, revoked or expired keys."""
    key = await session.scalar(select(ApiKey).where(ApiKey.secret_hash == hash_api_key(secret)))
    now = now or utcnow()
    if key is None or key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
        return None
    return key


async def list_keys(session: AsyncSession) -> list[tuple[ApiKey, str]]:
    """Every key with its account's email address, oldest first."""
    rows = await session.execute(select(ApiKey, User.email).join(User, User.id == ApiKey.account_id)
                                 .order_by(ApiKey.created_at))
    return [(key, email) for key, email in rows]


async def reassign_key(session: AsyncSession, key_id: str, account_id: str) -> bool:
    result = await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(account_id=account_id))
    return result.rowcount > 0


async def revoke_key(session: AsyncSession, key_id: str) -> bool:
    """True when a live key was revoked; revoking twice is harmless."""
    result = await session.execute(update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
                                   .values(revoked_at=utcnow()))
    return result.rowcount > 0


async def get_key(session: AsyncSession, key_id: str) -> ApiKey | None:
    return await session.get(ApiKey, key_id)


async def touch_key(session: AsyncSession, key: ApiKey, every: timedelta = timedelta(minutes=1)) -> bool:
    """Record when a key was last used; at most once a minute, so busy keys do not write on every request.
    True when it wrote (the caller commits)."""
    now = utcnow()
    if key.last_used_at is not None and now - key.last_used_at < every:
        return False
    await session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
    key.last_used_at = now
    return True


async def account_keys(session: AsyncSession, account_id: str) -> list[ApiKey]:
    """An account's keys, revoked and expired ones included, newest first."""
    return list(await session.scalars(select(ApiKey).where(ApiKey.account_id == account_id)
                                      .order_by(ApiKey.created_at.desc(), ApiKey.id.desc())))


async def account_key(session: AsyncSession, account_id: str, key_id: str) -> ApiKey | None:
    """The key, only if it is this account's: another account's key is as unknown as a missing one."""
    return await session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.account_id == account_id))


async def count_live_keys(session: AsyncSession, account_id: str, now: datetime | None = None) -> int:
    now = now or utcnow()
    return await session.scalar(select(func.count(ApiKey.id)).where(
        ApiKey.account_id == account_id, ApiKey.revoked_at.is_(None),
        or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now)))


async def set_webhook_secret(session: AsyncSession, key_id: str, encrypted: str) -> None:
    await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(webhook_secret_encrypted=encrypted))
