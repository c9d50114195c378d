"""A signed-in creator on the whole stack: the API under uvicorn, in-process workers, the OpenID Connect
provider, the creator Drive (which accepts that provider's tokens) and the SMTP server."""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from dataclasses import dataclass

import httpx
import pytest_asyncio
from PIL import Image
from temporalio.client import Client, WorkflowExecutionStatus

from comfy_platform.creator.tokens import credentials_for
from comfy_platform.drive import DriveClient
from comfy_platform.secrets import Encryptor
from db import users as user_queries
from tests.fixtures.oidc import sign_in
from workflows.shared import drive_sync_schedule_id


def photo(seed: int, size: tuple[int, int] = (48, 32)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, ((seed * 37) % 256, (seed * 91) % 256, 120)).save(out, "PNG")
    return out.getvalue()


@dataclass
class Creator:
    sub: str
    email: str
    user_id: str
    http: httpx.AsyncClient
    drive_server: object
    platform: object

    async def folder(self, name: str) -> str:
        created = await self.drive_server.create_folder(self.sub, name)
        return created["id"]

    async def drop(self, folder_id: str, name: str, data: bytes, mime_type: str = "image/png") -> dict:
        return await self.drive_server.create_file(self.sub, name, data, parent=folder_id, mime_type=mime_type)

    async def watch(self, folder_id: str, preset: str = "portrait_pro") -> dict:
        response = await self.http.post("/creator/drive/watch", json={"folder_id": folder_id, "preset": preset})
        assert response.status_code == 200, response.text
        return response.json()

    async def drive(self) -> DriveClient:
        """The creator's own Drive, with the tokens the platform keeps for them."""
        async with self.platform.sessionmaker() as session:
            user = await user_queries.get_user(session, self.user_id)
        credentials = credentials_for(user, self.platform.settings, Encryptor.from_settings(self.platform.settings))
        return DriveClient(credentials, self.platform.settings.GOOGLE_DRIVE_URL)

    async def outputs(self, output_folder_id: str) -> list[dict]:
        return [f for f in await self.drive_server.files(self.sub)
                if output_folder_id in f.get("parents", []) and not f.get("trashed")]

    async def sync_runs(self) -> list:
        client: Client = self.platform.client
        query = f'TemporalScheduledById = "{drive_sync_schedule_id(self.user_id)}"'
        return [run async for run in client.list_workflows(query)]

    async def sync_and_wait(self, timeout_s: float = 60) -> None:
        """Sync now, and wait until that sync run (and every file it started) has ended."""
        before = len(await self.sync_runs())
        response = await self.http.post("/creator/sync-now")
        assert response.status_code == 202, response.text
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            runs = await self.sync_runs()
            if len(runs) > before and all(r.status != WorkflowExecutionStatus.RUNNING for r in runs):
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"the sync run did not end within {timeout_s}s")

    async def files(self) -> list[dict]:
        response = await self.http.get("/creator/jobs", params={"limit": 200})
        assert response.status_code == 200, response.text
        return response.json()


@pytest_asyncio.fixture
async def creator(api_server, platform, oidc_provider, creator_drive, smtp):
    sub = f"creator-{uuid.uuid4().hex[:10]}"
    email = f"{sub}@example.com"
    async with httpx.AsyncClient(base_url=api_server.url, timeout=60) as http:
        await sign_in(http, api_server.url, oidc_provider, sub, email)
        me = (await http.get("/creator/me")).json()
        yield Creator(sub, email, me["id"], http, creator_drive, platform)
