"""A creator's browser session: an HS256 JWT, signed with a key derived from SECRET_KEY, in an HttpOnly cookie.

The JWT names a CreatorSession row. Its signature and expiry turn away forged and stale cookies before any query;
the row is what lets logout end a session before the JWT itself expires.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

import jwt
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from comfy_platform.settings import Settings
from db.models import User
from db.users import create_session, delete_session, get_session_user

ALGORITHM = "HS256"
SIGN_IN_PATH = "/creator/auth/login"


class InvalidSession(Exception):
    """No usable session (missing, tampered with, expired or ended); the message says which."""


def encode_token(settings: Settings, user_id: str, session_id: str, issued_at: datetime,
                 expires_at: datetime) -> str:
    claims = {"sub": user_id, "sid": session_id, "iat": int(issued_at.timestamp()), "exp": int(expires_at.timestamp())}
    return jwt.encode(claims, _signing_key(settings), algorithm=ALGORITHM)


def decode_token(settings: Settings, token: str) -> tuple[str, str]:
    """(user id, session id) of a cookie this server signed and that has not expired."""
    try:
        claims = jwt.decode(token, _signing_key(settings), algorithms=[ALGORITHM],
                            options={"require": ["sub", "sid", "iat", "exp"]})
    except jwt.ExpiredSignatureError:
        raise InvalidSession(f"the session has expired: sign in again at {SIGN_IN_PATH}") from None
    except jwt.InvalidTokenError:
        raise InvalidSession(f"the session cookie is not valid: sign in again at {SIGN_IN_PATH}") from None
    return str(claims["sub"]), str(claims["sid"])


async def start_session(session: AsyncSession, settings: Settings, user_id: str) -> str:
    """A new session for the user; returns the cookie value."""
    row = await create_session(session, user_id, timedelta(days=settings.SESSION_TTL_DAYS))
    return encode_token(settings, user_id, row.id, row.created_at, row.expires_at)


async def current_user(session: AsyncSession, settings: Settings, token: str | None) -> User:
    if not token:
        raise InvalidSession(f"not signed in: sign in at {SIGN_IN_PATH}")
    user_id, session_id = decode_token(settings, token)
    user = await get_session_user(session, session_id, user_id)
    if user is None:
        raise InvalidSession(f"the session has ended: sign in again at {SIGN_IN_PATH}")
    return user


async def end_session(session: AsyncSession, settings: Settings, token: str | None) -> None:
    """Logout. A cookie that does not verify names no session of ours, so there is nothing to end."""
    try:
        _, session_id = decode_token(settings, token or "")
    except InvalidSession:
        return
    await delete_session(session, session_id)


def csrf_token(settings: Settings, token: str | None) -> str | None:
    """The CSRF token of the session a cookie names (None without a valid cookie): an HMAC of the session id, so
    it is bound to the session, changes at each sign-in and needs no storage. Pages carry it; state-changing
    requests send it back (header X-CSRF-Token, or form field csrf_token)."""
    try:
        _, session_id = decode_token(settings, token or "")
    except InvalidSession:
        return None
    key = hashlib.sha256(b"creator-csrf\0" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(key, session_id.encode(), hashlib.sha256).hexdigest()


def csrf_matches(settings: Settings, token: str | None, presented: str | None) -> bool:
    expected = csrf_token(settings, token)
    return expected is not None and bool(presented) and hmac.compare_digest(expected.encode(), presented.encode())


def _signing_key(settings: Settings) -> bytes:
    # A key of its own, derived from SECRET_KEY: a signature made for something else with SECRET_KEY (file URLs)
    # can never pass as a session, and HS256 gets the full 32 bytes it wants whatever SECRET_KEY's length.
    return hashlib.sha256(b"creator-session\0" + settings.SECRET_KEY.encode()).digest()


def cookie_options(settings: Settings) -> dict[str, Any]:
    """HttpOnly keeps scripts from reading it; Lax keeps it off cross-site POSTs yet on the provider's redirect
    back; Secure everywhere but development, which runs on plain http://localhost."""
    return {"httponly": True, "samesite": "lax", "secure": not settings.is_dev}


def set_session_cookie(response: Response, settings: Settings, token: str) -> None:
    response.set_cookie(settings.SESSION_COOKIE_NAME, token, max_age=settings.SESSION_TTL_DAYS * 86400, path="/",
                        **cookie_options(settings))


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(settings.SESSION_COOKIE_NAME, path="/", **cookie_options(settings))
