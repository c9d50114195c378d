"""The creator's Google tokens: encrypted at rest (and readable after a key rotation), refreshed at the real
provider's token endpoint when expired, a revoked grant surfacing as DriveAuthRevoked, and revocation on deletion."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from urllib.parse import parse_qs

import google.auth.transport.requests
import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, update

from comfy_platform.drive import DriveAuthRevoked
from comfy_platform.secrets import Encryptor
from db.models import User, utcnow
from services.creator.drive_access import user_drive
from services.creator.tokens import credentials_for, revoke_at_google, save_refreshed
from tests.fixtures.oidc import CLIENT_ID, sign_in
from tests.helpers.webhook_receiver import running_receiver


async def _signed_in_user(creator_api, oidc_provider) -> User:
    sub = f"tokens-{uuid.uuid4().hex[:12]}"
    async with creator_api.client() as http:
        await sign_in(http, creator_api.url, oidc_provider, sub, f"{sub}@example.com")
    return await _load(creator_api, sub)


async def _load(creator_api, subject: str) -> User:
    async with creator_api.sessionmaker() as session:
        return await session.scalar(select(User).where(User.subject == subject))


async def _expire_access_token(creator_api, user: User) -> None:
    async with creator_api.sessionmaker() as session, session.begin():
        await session.execute(update(User).where(User.id == user.id)
                              .values(token_expires_at=utcnow() - timedelta(minutes=1)))


async def _provider_accepts(oidc_provider, access_token: str) -> bool:
    async with httpx.AsyncClient() as http:
        reply = await http.get(oidc_provider.userinfo_url, headers={"Authorization": f"Bearer {access_token}"})
    return reply.status_code == 200


def _rotated(creator_api) -> tuple[Encryptor, Encryptor]:
    """(new key in front of the old one, the new key alone)."""
    new = Fernet.generate_key().decode()
    return Encryptor(f"{new},{creator_api.settings.ENCRYPTION_KEY}", "unused"), Encryptor(new, "unused")


async def test_tokens_are_stored_encrypted_and_still_decrypt_after_a_key_rotation(creator_api, oidc_provider):
    user = await _signed_in_user(creator_api, oidc_provider)
    access = creator_api.encryptor.decrypt(user.access_token_encrypted)
    refresh = creator_api.encryptor.decrypt(user.refresh_token_encrypted)
    assert access not in user.access_token_encrypted and refresh not in user.refresh_token_encrypted
    assert await _provider_accepts(oidc_provider, access)  # what was stored is the provider's real token

    rotated, new_only = _rotated(creator_api)
    assert rotated.decrypt(user.access_token_encrypted) == access
    with pytest.raises(ValueError, match="ENCRYPTION_KEY"):
        new_only.decrypt(user.access_token_encrypted)
    credentials = credentials_for(user, creator_api.settings, rotated)
    assert (credentials.token, credentials.refresh_token) == (access, refresh)
    assert credentials.token_uri == oidc_provider.token_url and credentials.client_id == CLIENT_ID
    assert credentials.valid and credentials.scopes == ["openid", "email", "profile"]


async def _use_drive(creator_api, creator_drive, user: User) -> None:
    """One Drive call as the product makes them: through user_drive, which stores a token refreshed on the way."""
    settings = creator_api.settings.model_copy(update={"GOOGLE_DRIVE_URL": creator_drive.url})
    async with user_drive(creator_api.sessionmaker, user.id, settings, creator_api.encryptor) as drive:
        await drive.list_folder_files("root", page_size=1)


async def test_an_expired_access_token_is_refreshed_at_the_provider_and_stored_encrypted(creator_api, oidc_provider,
                                                                                        creator_drive):
    user = await _signed_in_user(creator_api, oidc_provider)
    old_access = creator_api.encryptor.decrypt(user.access_token_encrypted)
    await _expire_access_token(creator_api, user)
    await _use_drive(creator_api, creator_drive, user)

    stored = await _load(creator_api, user.subject)
    access = creator_api.encryptor.decrypt(stored.access_token_encrypted)
    assert access != old_access and await _provider_accepts(oidc_provider, access)
    assert not await _provider_accepts(oidc_provider, old_access)  # the provider retired it
    assert access not in stored.access_token_encrypted
    assert stored.token_expires_at > utcnow() + timedelta(minutes=50)
    assert creator_api.encryptor.decrypt(stored.refresh_token_encrypted)


async def test_a_valid_access_token_is_used_as_stored(creator_api, oidc_provider, creator_drive):
    user = await _signed_in_user(creator_api, oidc_provider)
    await _use_drive(creator_api, creator_drive, user)
    stored = await _load(creator_api, user.subject)
    assert stored.access_token_encrypted == user.access_token_encrypted


async def test_a_revoked_grant_surfaces_as_drive_auth_revoked(creator_api, oidc_provider, creator_drive):
    user = await _signed_in_user(creator_api, oidc_provider)
    await oidc_provider.revoke_tokens(user.subject)
    await _expire_access_token(creator_api, user)
    with pytest.raises(DriveAuthRevoked):
        await _use_drive(creator_api, creator_drive, user)


async def test_a_token_googles_client_refreshed_is_saved_under_the_newest_key(creator_api, oidc_provider):
    user = await _signed_in_user(creator_api, oidc_provider)
    rotated, new_only = _rotated(creator_api)
    credentials = credentials_for(user, creator_api.settings, rotated)
    await asyncio.to_thread(credentials.refresh, google.auth.transport.requests.Request())  # as the Drive client does
    async with creator_api.sessionmaker() as session, session.begin():
        await save_refreshed(session, user.id, credentials, rotated)
    stored = await _load(creator_api, user.subject)
    assert new_only.decrypt(stored.access_token_encrypted) == credentials.token
    assert new_only.decrypt(stored.refresh_token_encrypted) == credentials.refresh_token


async def test_deleting_an_account_revokes_the_refresh_token_at_google_when_it_can(creator_api, oidc_provider):
    user = await _signed_in_user(creator_api, oidc_provider)
    refresh = creator_api.encryptor.decrypt(user.refresh_token_encrypted)
    async with running_receiver(200, 400) as google:
        settings = creator_api.settings.model_copy(update={"GOOGLE_REVOKE_URL": google.url})
        assert await revoke_at_google(user, settings, creator_api.encryptor)
        assert parse_qs(google.requests[0].body.decode()) == {"token": [refresh]}
        assert not await revoke_at_google(user, settings, creator_api.encryptor)  # refused: logged, not raised
    assert not await revoke_at_google(user, settings, creator_api.encryptor)  # unreachable
    assert not await revoke_at_google(user, creator_api.settings, creator_api.encryptor)  # no GOOGLE_REVOKE_URL
