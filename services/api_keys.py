"""A developer's own API keys, as the developer console manages them: create (the secret shown once), list, revoke,
the webhook signing secret (reveal, rotate) and each key's usage per day.

Every operation takes the account it acts for and sees only that account's keys: another account's key is as
unknown as one that does not exist. The CLI (`comfy-platform keys`) is the operator's door to all keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from comfy_platform.secrets import Encryptor, new_webhook_secret
from db import api_keys as key_queries
from db.models import ApiKey, utcnow
from db.usage import usage_by_key_and_day

SCOPES = key_queries.SCOPES
MAX_LIVE_KEYS = 25  # per account: enough for every app and environment, few enough to keep a list readable
MAX_EXPIRY_DAYS = 3650
MAX_USAGE_DAYS = 90


class KeyNotFound(LookupError):
    def __init__(self, key_id: str) -> None:
        super().__init__(f"no API key '{key_id}' in this account")


class KeyRevoked(Exception):
    def __init__(self) -> None:
        super().__init__("this API key is revoked: its webhook secret can no longer be changed")


class TooManyKeys(Exception):
    def __init__(self) -> None:
        super().__init__(f"an account holds at most {MAX_LIVE_KEYS} live API keys: revoke one you no longer use")


def key_state(key: ApiKey, now: datetime | None = None) -> str:
    """active, expired or revoked."""
    now = now or utcnow()
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


async def create_key(session: AsyncSession, encryptor: Encryptor, account_id: str, *, name: str, scopes: list[str],
                     expires_in_days: int | None) -> key_queries.CreatedKey:
    """A new key of the account; its secret is in the result and nowhere else (only its hash is stored)."""
    if await key_queries.count_live_keys(session, account_id) >= MAX_LIVE_KEYS:
        raise TooManyKeys()
    return await key_queries.create_key(session, encryptor, account_id=account_id, name=name,
                                        scopes=sorted(set(scopes), key=SCOPES.index),
                                        expires_in_days=expires_in_days)


async def list_keys(session: AsyncSession, account_id: str) -> list[ApiKey]:
    return await key_queries.account_keys(session, account_id)


async def own_key(session: AsyncSession, account_id: str, key_id: str) -> ApiKey:
    key = await key_queries.account_key(session, account_id, key_id)
    if key is None:
        raise KeyNotFound(key_id)
    return key


async def revoke_key(session: AsyncSession, account_id: str, key_id: str) -> ApiKey:
    """Revoke at once: the key's next request is a 401. Revoking twice is harmless."""
    key = await own_key(session, account_id, key_id)
    if key.revoked_at is None:
        await key_queries.revoke_key(session, key.id)
        await session.refresh(key)
    return key


async def reveal_webhook_secret(session: AsyncSession, encryptor: Encryptor, account_id: str, key_id: str) -> str:
    key = await own_key(session, account_id, key_id)
    return encryptor.decrypt(key.webhook_secret_encrypted)


async def rotate_webhook_secret(session: AsyncSession, encryptor: Encryptor, account_id: str, key_id: str) -> str:
    """A new signing secret for the key's webhooks: every delivery attempt from now on is signed with it (an attempt
    reads the secret when it is made), the old one verifies nothing more."""
    key = await own_key(session, account_id, key_id)
    if key.revoked_at is not None:
        raise KeyRevoked()
    secret = new_webhook_secret()
    await key_queries.set_webhook_secret(session, key.id, encryptor.encrypt(secret))
    return secret


@dataclass
class DayUsage:
    day: date
    jobs: int
    images: int
    gpu_seconds: float


@dataclass
class KeyUsage:
    key: ApiKey
    days: list[DayUsage]  # one per day of the window, oldest first, zeros included


async def usage_by_day(session: AsyncSession, account_id: str, days: int,
                       today: date | None = None) -> tuple[list[date], list[KeyUsage]]:
    """Each of the account's keys' jobs, images and GPU seconds per UTC day over the last `days` days (today
    included), every day present so a chart needs no gaps filled."""
    today = today or utcnow().date()
    window = [today - timedelta(days=n) for n in range(days - 1, -1, -1)]
    keys = await key_queries.account_keys(session, account_id)
    since = datetime.combine(window[0], datetime.min.time(), UTC)
    found = {(row.api_key_id, row.day): row
             for row in await usage_by_key_and_day(session, [k.id for k in keys], since)}
    usage = []
    for key in keys:
        rows = [found.get((key.id, day)) for day in window]
        usage.append(KeyUsage(key, [DayUsage(day, r.jobs if r else 0, r.images if r else 0,
                                             round(r.gpu_seconds, 1) if r else 0.0)
                                    for day, r in zip(window, rows)]))
    return window, usage
