"""Bearer tokens: registered ones, an OpenID Connect provider's (checked at its userinfo
endpoint, briefly cached), and Google's 401 for everything else."""

import asyncio
import time
import uuid

import aiohttp

from standins.drive import start_drive_server
from tests.fixtures.drive import provider_access_token


async def _list_status(url: str, token: str | None) -> tuple[int, dict, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with aiohttp.ClientSession() as session:
        async with session.get(url + "drive/v3/files", headers=headers) as resp:
            return resp.status, dict(resp.headers), await resp.json(content_type=None)


async def test_missing_unknown_and_revoked_tokens_get_googles_401(drive_server, drive_user):
    assert (await _list_status(drive_server.url, drive_user.token))[0] == 200
    await drive_server.revoke_token(drive_user.token)
    for token in (None, "", "never-registered", drive_user.token):
        status, headers, body = await _list_status(drive_server.url, token)
        assert status == 401
        assert headers["WWW-Authenticate"].startswith("Bearer ")
        assert body["error"]["code"] == 401 and body["error"]["errors"][0]["reason"] == "authError"


async def test_provider_tokens_act_for_their_sub_until_revoked(oidc_provider, oidc_drive):
    sub = f"creator-{uuid.uuid4().hex[:8]}"
    token = await provider_access_token(oidc_provider, sub)
    await oidc_drive.create_file(sub, "mine.jpg")
    status, _, body = await _list_status(oidc_drive.url, token)
    assert status == 200 and [f["name"] for f in body["files"]] == ["mine.jpg"]

    await oidc_provider.revoke_tokens(sub)
    revoked_at = time.monotonic()
    while (await _list_status(oidc_drive.url, token))[0] == 200:
        assert time.monotonic() - revoked_at < 1.5, "a revoked token kept working past the cache time"
        await asyncio.sleep(0.1)
    assert (await oidc_drive.stats())["users"][sub]["files.list"] >= 1


async def test_userinfo_can_be_switched_on_at_runtime_and_reset_restores_the_start_up_config(oidc_provider):
    server = await start_drive_server("127.0.0.1", 0)
    try:
        sub = f"creator-{uuid.uuid4().hex[:8]}"
        token = await provider_access_token(oidc_provider, sub)
        assert (await _list_status(server.url, token))[0] == 401
        await server.use_userinfo(oidc_provider.userinfo_url)
        assert (await _list_status(server.url, token))[0] == 200
        await server.reset()
        assert (await _list_status(server.url, token))[0] == 401
    finally:
        await server.stop()
