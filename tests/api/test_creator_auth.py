"""Google sign-in end to end against a real OpenID Connect provider: the callback's refusals, the session cookie,
/creator/me, and logout."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import httpx
from sqlalchemy import select, update

from api.main import create_app
from comfy_platform.settings import Settings
from db.models import CreatorSession, OAuthState, User, utcnow
from services.creator.sessions import encode_token
from tests.fixtures.oidc import sign_in
from tests.helpers.ports import free_port
from tests.helpers.processes import serving


def _sub() -> str:
    return f"creator-{uuid.uuid4().hex[:12]}"


async def _consented_callback(http: httpx.AsyncClient, sub: str, next_path: str | None = None) -> str:
    """Start a sign-in and consent at the provider; returns the callback URL the browser is sent to."""
    login = await http.get("/creator/auth/login", params={"next": next_path} if next_path else None)
    consent = await http.post(login.headers["location"], data={"sub": sub})
    assert consent.status_code == 302, consent.text
    return consent.headers["location"]


async def test_sign_in_creates_the_user_and_signing_in_again_finds_the_same_one(creator_api, oidc_provider):
    sub = _sub()
    async with creator_api.client() as http:
        await sign_in(http, creator_api.url, oidc_provider, sub, "ana@example.com", name="Ana")
        first = (await http.get("/creator/me")).json()
    async with creator_api.client() as http:
        await sign_in(http, creator_api.url, oidc_provider, sub, "ana.new@example.com", name="Ana B")
        second = (await http.get("/creator/me")).json()
    assert first == {"id": first["id"], "email": "ana@example.com", "name": "Ana", "drive_status": "not_connected"}
    assert second == {**first, "email": "ana.new@example.com", "name": "Ana B"}
    async with creator_api.sessionmaker() as session:
        assert len((await session.scalars(select(User).where(User.subject == sub))).all()) == 1


async def test_the_session_cookie_is_httponly_lax_for_seven_days_and_not_secure_in_development(
        creator_api, oidc_provider):
    async with creator_api.client() as http:
        cookies = await sign_in(http, creator_api.url, oidc_provider, _sub(), "c@example.com")
    [cookie] = list(cookies.jar)
    assert cookie.name == creator_api.settings.SESSION_COOKIE_NAME and cookie.path == "/"
    assert cookie.has_nonstandard_attr("HttpOnly") and cookie.get_nonstandard_attr("SameSite").lower() == "lax"
    assert not cookie.secure
    assert abs(cookie.expires - (utcnow() + timedelta(days=7)).timestamp()) < 60


async def test_sign_in_returns_to_the_page_it_started_from_and_refuses_other_sites(creator_api):
    async with creator_api.client() as http:
        callback = await http.get(await _consented_callback(http, _sub(), "/creator/jobs?x=1"))
        assert callback.status_code == 302 and callback.headers["location"] == "/creator/jobs?x=1"
        for elsewhere in ("https://evil.example", "//evil.example", "/\\evil.example"):
            reply = await http.get("/creator/auth/login", params={"next": elsewhere})
            assert reply.status_code == 400 and reply.json()["error"]["details"]["field"] == "next"


async def test_me_without_a_cookie_is_401_in_the_error_shape(creator_api):
    async with creator_api.client() as http:
        reply = await http.get("/creator/me")
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "unauthorized" and "sign in" in reply.json()["error"]["message"]


async def test_a_tampered_cookie_is_401(creator_api, oidc_provider):
    name = creator_api.settings.SESSION_COOKIE_NAME
    async with creator_api.client() as http:
        token = (await sign_in(http, creator_api.url, oidc_provider, _sub(), "t@example.com"))[name]
    header, payload, signature = token.split(".")
    forged_elsewhere = encode_token(creator_api.settings.model_copy(update={"SECRET_KEY": "another secret"}),
                                    "someone", "some-session", utcnow(), utcnow() + timedelta(days=1))
    for bad in (f"{header}.{payload}.{signature[:-4]}AAAA", f"{header}.{payload[:-2]}xx.{signature}", "garbage",
                forged_elsewhere):
        async with creator_api.client(cookies={name: bad}) as http:
            reply = await http.get("/creator/me")
        assert reply.status_code == 401 and "not valid" in reply.json()["error"]["message"]


async def test_an_expired_session_is_401(creator_api, oidc_provider):
    name = creator_api.settings.SESSION_COOKIE_NAME
    async with creator_api.client() as http:
        await sign_in(http, creator_api.url, oidc_provider, _sub(), "e@example.com")
        me = (await http.get("/creator/me")).json()
    async with creator_api.sessionmaker() as session:
        row = await session.scalar(select(CreatorSession).where(CreatorSession.user_id == me["id"]))
    long_ago = utcnow() - timedelta(days=8)
    expired = encode_token(creator_api.settings, me["id"], row.id, long_ago, long_ago + timedelta(days=7))
    async with creator_api.client(cookies={name: expired}) as http:
        reply = await http.get("/creator/me")
    assert reply.status_code == 401 and "expired" in reply.json()["error"]["message"]


async def test_after_logout_the_old_cookie_is_401(creator_api, oidc_provider):
    name = creator_api.settings.SESSION_COOKIE_NAME
    async with creator_api.client() as http:
        token = (await sign_in(http, creator_api.url, oidc_provider, _sub(), "l@example.com"))[name]
        logout = await http.post("/creator/auth/logout")
        assert logout.status_code == 204 and f"{name}=" in logout.headers["set-cookie"]
        assert name not in http.cookies  # the browser dropped it
    async with creator_api.client(cookies={name: token}, headers={"X-CSRF-Token": http.headers["X-CSRF-Token"]}) \
            as replayed:
        reply = await replayed.get("/creator/me")
        assert reply.status_code == 401 and "ended" in reply.json()["error"]["message"]
        assert (await replayed.post("/creator/auth/logout")).status_code == 204  # logging out twice is harmless


async def test_a_callback_with_a_state_this_browser_did_not_start_is_400(creator_api):
    async with creator_api.client() as http:
        callback = httpx.URL(await _consented_callback(http, _sub()))
        for wrong in ("not-the-state", "état"):
            reply = await http.get(callback.copy_set_param("state", wrong))
            assert reply.status_code == 400 and reply.json()["error"]["code"] == "sign_in_failed"
            assert "not started in this browser" in reply.json()["error"]["message"]
    name = creator_api.settings.SESSION_COOKIE_NAME + "_state"
    # State and cookie agree, but this server never issued that state.
    async with creator_api.client(cookies={name: "forged"}) as forger:
        reply = await forger.get(callback.copy_set_param("state", "forged"))
    assert reply.status_code == 400 and "unknown, expired or already used" in reply.json()["error"]["message"]


async def test_a_replayed_callback_is_400_the_second_time(creator_api):
    async with creator_api.client() as http:
        callback = await _consented_callback(http, _sub())
        state_cookie = dict(http.cookies)
        assert (await http.get(callback)).status_code == 302
    async with creator_api.client(cookies=state_cookie) as replay:  # even with the state cookie kept
        reply = await replay.get(callback)
    assert reply.status_code == 400 and "already used" in reply.json()["error"]["message"]
    assert creator_api.settings.SESSION_COOKIE_NAME not in reply.cookies


async def test_a_sign_in_state_older_than_ten_minutes_is_refused(creator_api):
    async with creator_api.client() as http:
        callback = httpx.URL(await _consented_callback(http, _sub()))
        async with creator_api.sessionmaker() as session, session.begin():
            await session.execute(update(OAuthState).where(OAuthState.state == callback.params["state"])
                                  .values(created_at=utcnow() - timedelta(minutes=11)))
        reply = await http.get(callback)
    assert reply.status_code == 400 and "expired" in reply.json()["error"]["message"]


async def test_a_callback_without_code_or_state_is_400(creator_api):
    async with creator_api.client() as http:
        for params in ({}, {"code": "abc"}, {"state": "abc"}):
            reply = await http.get("/creator/auth/callback", params=params)
            assert reply.status_code == 400 and "needs both `code` and `state`" in reply.json()["error"]["message"]


async def test_denying_consent_at_the_provider_is_a_clear_400(creator_api):
    async with creator_api.client() as http:
        login = await http.get("/creator/auth/login")
        denied = await http.post(login.headers["location"], data={"action": "deny"})
        reply = await http.get(denied.headers["location"])
    assert reply.status_code == 400
    assert reply.json()["error"]["details"] == {"error": "access_denied"}
    assert "did not complete (access_denied" in reply.json()["error"]["message"]


async def test_a_code_the_provider_does_not_know_is_a_clear_400(creator_api):
    async with creator_api.client() as http:
        callback = httpx.URL(await _consented_callback(http, _sub()))
        reply = await http.get(callback.copy_set_param("code", "made-up"))
    assert reply.status_code == 400 and "refused the authorization code" in reply.json()["error"]["message"]


async def test_sign_in_on_a_deployment_without_google_credentials_is_404(tmp_path):
    app = create_app(Settings(DATA_DIR=tmp_path, GOOGLE_CLIENT_ID=""))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://creator.test") as http:
        reply = await http.get("/creator/auth/login")
    assert reply.status_code == 404 and "GOOGLE_CLIENT_ID" in reply.json()["error"]["message"]


async def test_the_local_stand_in_sign_in_asks_for_an_email_address_and_signs_that_address_in(creator_api):
    port = free_port()
    settings = creator_api.settings.model_copy(update={"CREATOR_LOCAL_STANDINS": True, "API_PORT": port,
                                                        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"})
    async with serving(create_app(settings), port), httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        login = await http.get("/creator/auth/login")
        page = await http.get(login.headers["location"])
        assert page.status_code == 200
        assert '<label for="email">Email address</label>' in page.text and 'type="email"' in page.text
        assert "Subject" not in page.text
        authorize = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
        provider = httpx.URL(settings.GOOGLE_AUTH_URL)
        assert f"form-action 'self' {provider.scheme}://{provider.netloc.decode()}" in \
            page.headers["content-security-policy"]
        consent = await http.post(authorize, data={"sub": "ana.local@example.com"})
        callback = await http.get(consent.headers["location"])
        assert callback.status_code == 302
        assert (await http.get("/creator/me")).json()["email"] == "ana.local@example.com"
        # The page shows only this deployment's provider's sign-in.
        elsewhere = await http.get("/creator/auth/local", params={"authorize": "https://evil.example/?x=1"})
        assert elsewhere.status_code == 404
