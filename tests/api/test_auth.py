"""API keys at the door: missing, unknown, revoked or expired keys get 401; a missing scope gets 403."""

from __future__ import annotations

from datetime import timedelta

from db.api_keys import revoke_key
from db.models import ApiKey, utcnow


async def test_requests_without_a_valid_key_get_401_in_the_error_shape(api_server, make_key, platform):
    created = await make_key()
    async with api_server.client() as anonymous:
        reply = await anonymous.get("/api/v1/jobs")
    assert reply.status_code == 401 and reply.headers["www-authenticate"] == "Bearer"
    assert reply.json()["error"]["code"] == "unauthorized"
    async with api_server.client("sk_not_a_real_key") as unknown:
        assert (await unknown.get("/api/v1/jobs")).status_code == 401
    async with platform.sessionmaker() as session, session.begin():
        await revoke_key(session, created.key.id)
    async with api_server.client(created.secret) as revoked:
        assert (await revoked.get("/api/v1/jobs")).status_code == 401


async def test_expired_key_gets_401(api_server, make_key, platform):
    created = await make_key(expires_in_days=1)
    async with platform.sessionmaker() as session, session.begin():
        key = await session.get(ApiKey, created.key.id)
        key.expires_at = utcnow() - timedelta(seconds=1)
    async with api_server.client(created.secret) as expired:
        assert (await expired.get("/api/v1/jobs")).status_code == 401


async def test_key_without_the_scope_gets_403(api_server, make_key):
    created = await make_key(scopes=["generate"])
    async with api_server.client(created.secret) as http:
        reply = await http.get("/api/v1/jobs")
    assert reply.status_code == 403
    assert reply.json()["error"]["details"] == {"scope": "jobs"}


async def test_a_used_key_shows_when_it_was_last_used(api_server, make_key, platform):
    created = await make_key()
    async with api_server.client(created.secret) as http:
        assert (await http.get("/api/v1/presets")).status_code == 200
    async with platform.sessionmaker() as session:
        key = await session.get(ApiKey, created.key.id)
    assert key.last_used_at is not None and utcnow() - key.last_used_at < timedelta(minutes=1)
