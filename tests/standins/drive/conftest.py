"""The Drive test server seen through the real google-api-python-client (`api`) and raw HTTP (`http`)."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable

import aiohttp
import pytest
import pytest_asyncio
from googleapiclient.errors import HttpError

from comfy_platform.drive import build_drive_service


class Api:
    """One user's Drive service; each call builds a request and executes it in a thread (the
    client blocks, and the server runs on this event loop)."""

    def __init__(self, service: Any, user: str, token: str) -> None:
        self.service, self.user, self.token = service, user, token

    async def __call__(self, build: Callable[[Any], Any]) -> Any:
        return await asyncio.to_thread(lambda: build(self.service).execute(num_retries=0))

    async def error(self, build: Callable[[Any], Any]) -> tuple[int, dict]:
        """The status and JSON body of a call that must fail."""
        with pytest.raises(HttpError) as info:
            await self(build)
        return info.value.resp.status, json.loads(info.value.content)


@pytest.fixture
def api(drive_user) -> Api:
    return Api(build_drive_service(drive_user.credentials(), drive_user.api_root), drive_user.sub, drive_user.token)


@pytest_asyncio.fixture
async def http(drive_user) -> aiohttp.ClientSession:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {drive_user.token}"}) as session:
        yield session
