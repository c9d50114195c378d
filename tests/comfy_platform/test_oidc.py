"""The OpenID Connect pieces on their own, against the real provider: the authorization URL, the code exchange,
and id_token verification (signature, audience, issuer, nonce); plus the session cookie's attributes."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from starlette.responses import Response

from comfy_platform import oidc
from comfy_platform.settings import Settings
from services.creator.sessions import clear_session_cookie, set_session_cookie
from tests.fixtures.oidc import CLIENT_ID, CLIENT_SECRET
from tests.helpers.ports import free_port

REDIRECT_URI = "http://127.0.0.1:8000/creator/auth/callback"


@pytest.fixture
def settings(oidc_provider) -> Settings:
    return Settings(PUBLIC_BASE_URL="http://127.0.0.1:8000", **oidc_provider.google_settings())


async def _id_token(oidc_provider, client_id: str = CLIENT_ID, nonce: str = "the-nonce") -> str:
    async with httpx.AsyncClient() as http:
        consent = await http.post(oidc_provider.auth_url, data={"sub": "verifier-test"}, params={
            "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
            "scope": "openid email profile", "state": "s", "nonce": nonce})
        code = parse_qs(urlparse(consent.headers["location"]).query)["code"][0]
        tokens = await http.post(oidc_provider.token_url, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
            "client_id": client_id, "client_secret": CLIENT_SECRET})
    return tokens.json()["id_token"]


def test_the_authorization_url_asks_for_offline_drive_access_with_pkce_s256(settings):
    started = oidc.start_authorization(settings)
    query = {k: v[0] for k, v in parse_qs(urlparse(started.url).query).items()}
    assert started.url.startswith(settings.GOOGLE_AUTH_URL + "?")
    assert query["scope"].split() == ["openid", "email", "profile", "https://www.googleapis.com/auth/drive.readonly",
                                      "https://www.googleapis.com/auth/drive.file"]
    assert (query["state"], query["nonce"]) == (started.state, started.nonce)
    assert query["code_challenge_method"] == "S256"
    digest = hashlib.sha256(started.code_verifier.encode()).digest()
    assert query["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert (query["access_type"], query["prompt"]) == ("offline", "consent")
    assert query["redirect_uri"] == REDIRECT_URI and query["client_id"] == CLIENT_ID
    assert oidc.start_authorization(settings).state != started.state


async def test_an_id_token_from_the_provider_verifies(settings, oidc_provider):
    await oidc_provider.set_user("verifier-test", {"email": "v@example.com", "name": "Vera"})
    identity = await oidc.verify_id_token(settings, await _id_token(oidc_provider), "the-nonce")
    assert identity == oidc.Identity(subject="verifier-test", email="v@example.com", name="Vera")


async def test_id_tokens_for_another_sign_in_client_or_issuer_are_refused(settings, oidc_provider):
    token = await _id_token(oidc_provider)
    with pytest.raises(oidc.SignInFailed, match="nonce"):
        await oidc.verify_id_token(settings, token, "another-nonce")
    with pytest.raises(oidc.SignInFailed, match="not valid"):
        await oidc.verify_id_token(settings, await _id_token(oidc_provider, client_id="another-app"), "the-nonce")
    with pytest.raises(oidc.SignInFailed, match="issued by"):
        await oidc.verify_id_token(settings.model_copy(update={"GOOGLE_ISSUER": "https://accounts.google.com"}),
                                   token, "the-nonce")
    header, payload, signature = token.split(".")
    with pytest.raises(oidc.SignInFailed, match="not valid"):
        await oidc.verify_id_token(settings, f"{header}.{payload}.{signature[::-1]}", "the-nonce")


async def test_an_unreachable_provider_is_reported_as_unavailable(settings):
    nowhere = f"http://127.0.0.1:{free_port()}"
    down = settings.model_copy(update={"GOOGLE_TOKEN_URL": f"{nowhere}/token", "GOOGLE_CERTS_URL": f"{nowhere}/jwks"})
    with pytest.raises(oidc.ProviderUnavailable):
        await oidc.exchange_code(down, "code", "verifier")
    with pytest.raises(oidc.ProviderUnavailable):
        await oidc.verify_id_token(down, "a.b.c", "nonce")


def _set_cookie(settings: Settings, token: str | None) -> str:
    response = Response()
    if token is None:
        clear_session_cookie(response, settings)
    else:
        set_session_cookie(response, settings, token)
    return response.headers["set-cookie"].lower()


def test_the_session_cookie_is_secure_in_production_only():
    production, development = Settings(ENVIRONMENT="production"), Settings(ENVIRONMENT="development")
    for header in (_set_cookie(production, "jwt"), _set_cookie(production, None)):
        assert "; httponly" in header and "; samesite=lax" in header and "; secure" in header
        assert header.startswith("cp_session=") and "; path=/" in header
    assert f"max-age={7 * 86400}" in _set_cookie(production, "jwt")
    assert "; secure" not in _set_cookie(development, "jwt") and "; httponly" in _set_cookie(development, "jwt")
