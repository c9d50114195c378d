"""A DriveClient per test user, and a tiny OAuth token endpoint whose refreshes mint tokens the
Drive test server accepts (the Drive server itself has no OAuth, like Google's API hosts)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

import pytest
import pytest_asyncio
from aiohttp import web

from comfy_platform.drive import build_drive_service
from tests.helpers.ports import free_port


@pytest_asyncio.fixture
async def client(drive_user):
    drive = drive_user.client()
    yield drive
    drive.close()


@pytest.fixture
def drive_api(drive_user):
    """The test's own Drive calls (trash, delete...), outside DriveClient: `await drive_api(lambda s: s.files()...)`."""
    service = build_drive_service(drive_user.credentials(), drive_user.api_root)

    async def call(build):
        return await asyncio.to_thread(lambda: build(service).execute(num_retries=0))

    return call


@dataclass
class TokenEndpoint:
    url: str
    grants: dict[str, str] = field(default_factory=dict)  # refresh token -> the user it refreshes for
    issued: list[str] = field(default_factory=list)


@pytest_asyncio.fixture
async def token_endpoint(drive_server):
    port = free_port()
    endpoint = TokenEndpoint(f"http://127.0.0.1:{port}/token")

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        user = endpoint.grants.get(str(form.get("refresh_token")))
        if form.get("grant_type") != "refresh_token" or user is None:
            refusal = {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
            return web.json_response(refusal, status=400)
        access_token = f"ya29.refreshed-{uuid.uuid4().hex}"
        await drive_server.register_token(access_token, user)
        endpoint.issued.append(access_token)
        return web.json_response({"access_token": access_token, "expires_in": 3599, "token_type": "Bearer"})

    app = web.Application()
    app.router.add_post("/token", token)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield endpoint
    await runner.cleanup()
