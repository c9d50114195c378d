"""A creator's Google tokens: Fernet-encrypted at rest, handed to Google's clients as google-auth Credentials, and
written back whenever they are refreshed.

Google's clients refresh an expired access token on their own; `user_drive` (drive_access.py) stores the new one.
A refresh token Google no longer honours (revoked, password changed, unused for six months) surfaces from the
Drive client as DriveAuthRevoked.
"""

from __future__ import annotations

import logging
from datetime import UTC

import httpx
from google.oauth2.credentials import Credentials
from sqlalchemy.ext.asyncio import AsyncSession

from comfy_platform.oidc import TokenGrant
from comfy_platform.secrets import Encryptor
from comfy_platform.settings import Settings
from db.models import User
from db.users import save_tokens

log = logging.getLogger(__name__)
REVOKE_TIMEOUT_S = 10.0


async def save_grant(session: AsyncSession, user_id: str, grant: TokenGrant, encryptor: Encryptor) -> None:
    """Store the tokens a sign-in obtained."""
    await save_tokens(session, user_id, access_token_encrypted=encryptor.encrypt(grant.access_token),
                      refresh_token_encrypted=_encrypt_optional(encryptor, grant.refresh_token),
                      token_expires_at=grant.expires_at, token_scopes=grant.scopes)


def credentials_for(user: User, settings: Settings, encryptor: Encryptor) -> Credentials:
    """Credentials that Google's clients refresh by themselves through GOOGLE_TOKEN_URL; persist what they refresh
    with `save_refreshed`."""
    return Credentials(
        token=_decrypt_optional(encryptor, user.access_token_encrypted),
        refresh_token=_decrypt_optional(encryptor, user.refresh_token_encrypted),
        token_uri=settings.GOOGLE_TOKEN_URL,
        client_id=settings.GOOGLE_CLIENT_ID,
        client_secret=settings.GOOGLE_CLIENT_SECRET,
        scopes=user.token_scopes.split() if user.token_scopes else None,
        # google-auth compares expiry with a naive UTC clock.
        expiry=user.token_expires_at.astimezone(UTC).replace(tzinfo=None) if user.token_expires_at else None,
    )


async def save_refreshed(session: AsyncSession, user_id: str, credentials: Credentials,
                         encryptor: Encryptor) -> None:
    """Persist the token a refresh gave `credentials` (the caller commits). The refresh token is written again
    too, which re-encrypts it under the newest ENCRYPTION_KEY."""
    await save_tokens(session, user_id, access_token_encrypted=encryptor.encrypt(credentials.token),
                      refresh_token_encrypted=_encrypt_optional(encryptor, credentials.refresh_token),
                      token_expires_at=credentials.expiry.replace(tzinfo=UTC) if credentials.expiry else None,
                      token_scopes=" ".join(credentials.granted_scopes) if credentials.granted_scopes else None)


async def revoke_at_google(user: User, settings: Settings, encryptor: Encryptor) -> bool:
    """Withdraw the app's access to the creator's Google account (account deletion); revoking the refresh token
    revokes its access tokens too. Best effort: a deletion must not fail because Google is unreachable or the
    grant is already gone. True when the provider confirmed; False when skipped (no GOOGLE_REVOKE_URL, no token)
    or refused."""
    token = _decrypt_optional(encryptor, user.refresh_token_encrypted or user.access_token_encrypted)
    if not settings.GOOGLE_REVOKE_URL or not token:
        return False
    try:
        async with httpx.AsyncClient(timeout=REVOKE_TIMEOUT_S) as client:
            reply = await client.post(settings.GOOGLE_REVOKE_URL, data={"token": token})
    except httpx.HTTPError as exc:
        log.warning("revoking the Google grant of user %s failed: %r", user.id, exc)
        return False
    if reply.status_code != 200:
        log.warning("Google refused to revoke the grant of user %s: HTTP %d %s", user.id, reply.status_code,
                    reply.text[:200])
        return False
    return True


def _encrypt_optional(encryptor: Encryptor, value: str | None) -> str | None:
    return encryptor.encrypt(value) if value else None


def _decrypt_optional(encryptor: Encryptor, value: str | None) -> str | None:
    return encryptor.decrypt(value) if value else None
