"""A creator's Drive: a DriveClient with their tokens, whoever calls it (the API or a workflow's activity)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfy_platform.drive import DriveAuthRevoked, DriveClient
from comfy_platform.secrets import Encryptor
from comfy_platform.settings import Settings
from db import users as user_queries
from services.creator.tokens import credentials_for, save_refreshed


@asynccontextmanager
async def user_drive(sessionmaker: async_sessionmaker[AsyncSession], user_id: str, settings: Settings,
                     encryptor: Encryptor) -> AsyncIterator[DriveClient]:
    """Raises DriveAuthRevoked when the creator has no tokens; a token Google refreshed on the way is stored."""
    async with sessionmaker() as session:
        user = await user_queries.get_user(session, user_id)
    if user is None or not user.refresh_token_encrypted:
        raise DriveAuthRevoked("the creator has no Drive connection: sign in again")
    credentials = credentials_for(user, settings, encryptor)
    token_before = credentials.token
    drive = DriveClient(credentials, settings.GOOGLE_DRIVE_URL)
    try:
        yield drive
    finally:
        drive.close()
        if drive.credentials.token != token_before:
            async with sessionmaker() as session, session.begin():
                await save_refreshed(session, user_id, drive.credentials, encryptor)
