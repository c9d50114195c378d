"""Sign-in with Google as an OpenID Connect authorization-code flow.

`state` ties the callback to a sign-in this server started, PKCE (S256) makes an intercepted code useless to
anyone without the verifier, and the nonce ties the id_token to that same sign-in. Endpoints come from settings,
so tests and `make dev` run this code unchanged against a local OpenID Connect provider.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import google.auth.exceptions
import google.auth.transport.requests
import google.oauth2.id_token
import httpx
import jwt

from comfy_platform.settings import Settings

SCOPES = (
    "openid", "email", "profile",
    "https://www.googleapis.com/auth/drive.readonly",  # see the files creators drop into the watched folder
    "https://www.googleapis.com/auth/drive.file",  # write outputs (and the output folder) the app creates
)
CALLBACK_PATH = "/creator/auth/callback"
TOKEN_TIMEOUT_S = 20.0


class SignInFailed(Exception):
    """The provider's answer cannot sign anyone in (refused code, bad id_token): the user can start again."""


class ProviderUnavailable(Exception):
    """The provider did not answer, or answered with a server error: nothing the user did wrong."""


@dataclass(frozen=True)
class Authorization:
    """A sign-in just started: where to send the browser, and what the callback must find again."""

    url: str
    state: str
    code_verifier: str
    nonce: str


@dataclass(frozen=True)
class TokenGrant:
    """The token endpoint's answer to a code exchange."""

    access_token: str
    refresh_token: str | None
    expires_at: datetime
    scopes: str | None
    id_token: str


@dataclass(frozen=True)
class Identity:
    subject: str
    email: str
    name: str | None
    email_verified: bool = False


def redirect_uri(settings: Settings) -> str:
    return settings.public_base_url + CALLBACK_PATH


def start_authorization(settings: Settings) -> Authorization:
    state, code_verifier, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(64), secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(code_verifier.encode()).digest()).rstrip(b"=").decode()
    params = {
        "response_type": "code", "client_id": settings.GOOGLE_CLIENT_ID, "redirect_uri": redirect_uri(settings),
        "scope": " ".join(SCOPES), "state": state, "nonce": nonce,
        "code_challenge": challenge, "code_challenge_method": "S256",
        # offline: a refresh token, so Drive syncs run while the creator is away. consent: Google returns a
        # refresh token only when the consent screen was shown, so a returning creator gets a fresh one too.
        "access_type": "offline", "prompt": "consent",
    }
    return Authorization(f"{settings.GOOGLE_AUTH_URL}?{urlencode(params)}", state, code_verifier, nonce)


async def exchange_code(settings: Settings, code: str, code_verifier: str) -> TokenGrant:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri(settings),
            "client_id": settings.GOOGLE_CLIENT_ID, "client_secret": settings.GOOGLE_CLIENT_SECRET,
            "code_verifier": code_verifier}
    try:
        async with httpx.AsyncClient(timeout=TOKEN_TIMEOUT_S) as client:
            reply = await client.post(settings.GOOGLE_TOKEN_URL, data=form, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(f"the sign-in provider's token endpoint did not answer ({exc!r})") from exc
    if reply.status_code >= 500:
        raise ProviderUnavailable(f"the sign-in provider's token endpoint answered {reply.status_code}")
    body = _json_object(reply)
    if reply.status_code != 200 or not body.get("access_token") or not body.get("id_token"):
        reason = body.get("error_description") or body.get("error") or f"HTTP {reply.status_code}"
        raise SignInFailed(f"the sign-in provider refused the authorization code: {reason}")
    return TokenGrant(access_token=body["access_token"], refresh_token=body.get("refresh_token"),
                      expires_at=datetime.now(UTC) + timedelta(seconds=int(body.get("expires_in", 3600))),
                      scopes=body.get("scope"), id_token=body["id_token"])


async def verify_id_token(settings: Settings, id_token: str, nonce: str) -> Identity:
    """Signature (the provider's JWKS), audience (our client id) and expiry by google-auth; issuer and nonce here,
    since google-auth checks neither for a JWKS."""
    try:
        # Blocking: google-auth fetches the JWKS with `requests`.
        claims = await asyncio.to_thread(
            google.oauth2.id_token.verify_token, id_token, google.auth.transport.requests.Request(),
            audience=settings.GOOGLE_CLIENT_ID, certs_url=settings.GOOGLE_CERTS_URL)
    except google.auth.exceptions.TransportError as exc:
        raise ProviderUnavailable(f"the sign-in provider's keys could not be fetched ({exc})") from exc
    except (ValueError, jwt.PyJWTError, google.auth.exceptions.GoogleAuthError) as exc:
        raise SignInFailed(f"the id_token is not valid: {exc}") from exc
    if claims.get("iss") not in _issuers(settings):
        raise SignInFailed(f"the id_token was issued by {claims.get('iss')!r}, not {settings.GOOGLE_ISSUER!r}")
    if not hmac.compare_digest(str(claims.get("nonce", "")).encode(), nonce.encode()):
        raise SignInFailed("the id_token does not belong to this sign-in (nonce mismatch)")
    if not claims.get("sub") or not claims.get("email"):
        raise SignInFailed("the id_token names no subject or no email: the email scope must be granted")
    return Identity(subject=str(claims["sub"]), email=str(claims["email"]), name=claims.get("name"),
                    email_verified=claims.get("email_verified") in (True, "true"))


def _issuers(settings: Settings) -> set[str]:
    # Google signs id_tokens as "https://accounts.google.com" or as "accounts.google.com" (its OIDC docs).
    return {settings.GOOGLE_ISSUER, settings.GOOGLE_ISSUER.removeprefix("https://")}


def _json_object(reply: httpx.Response) -> dict[str, Any]:
    try:
        body = reply.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
