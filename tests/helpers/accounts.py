"""Accounts and their API keys for tests: every key belongs to an account (a fresh one unless one is given)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from comfy_platform.secrets import Encryptor
from comfy_platform.settings import Settings
from db.api_keys import CreatedKey, create_key
from db.users import account_for_email


async def key_of_new_account(session: AsyncSession, settings: Settings, name: str = "test",
                             email: str | None = None, **options) -> CreatedKey:
    account = await account_for_email(session, email or f"dev-{uuid.uuid4().hex[:12]}@example.com")
    return await create_key(session, Encryptor.from_settings(settings), account_id=account.id, name=name, **options)
