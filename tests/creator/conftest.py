"""A signed-in creator on the whole stack: the API under uvicorn, in-process workers, the OpenID Connect
provider, the creator Drive (which accepts that provider's tokens) and the SMTP server."""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest_asyncio
from googleapiclient.http import MediaInMemoryUpload
from PIL import Image
from sqlalchemy import select
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from services.creator.tokens import credentials_for
from comfy_platform.drive import DriveClient, build_drive_service
from comfy_platform.secrets import Encryptor
from db import users as user_queries
from db.models import SentEmail
from tests.fixtures.oidc import sign_in
from workflows.shared import (
    DRIVE_SYNC_WORKFLOW,
    IO_TASK_QUEUE,
    DriveSyncInput,
    drive_sync_schedule_id,
    drive_sync_workflow_id,
)


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

    async def replace(self, file_id: str, data: bytes, mime_type: str = "image/png") -> dict:
        """New content for a file in Drive (a new version and revision), as the creator's own app would upload it."""
        drive = await self.drive()
        service = build_drive_service(drive.credentials, self.platform.settings.GOOGLE_DRIVE_URL, 30)
        media = MediaInMemoryUpload(data, mimetype=mime_type)
        return await asyncio.to_thread(lambda: service.files().update(
            fileId=file_id, media_body=media, fields="id, version, headRevisionId").execute())

    async def sent_emails(self) -> list[SentEmail]:
        async with self.platform.sessionmaker() as session:
            return list(await session.scalars(select(SentEmail).where(SentEmail.user_id == self.user_id)))

    async def remove(self, file_id: str, *, trash: bool = False) -> None:
        """Delete a file or folder in Drive (or move it to the trash), as the creator would."""
        drive = await self.drive()
        service = build_drive_service(drive.credentials, self.platform.settings.GOOGLE_DRIVE_URL, 30)
        files = service.files()
        request = files.update(fileId=file_id, body={"trashed": True}) if trash else files.delete(fileId=file_id)
        await asyncio.to_thread(request.execute)

    async def start_sync(self, suffix: str, **options) -> WorkflowHandle:
        """A DriveSyncWorkflow run started directly, as the schedule would start it but under an id of its own."""
        return await self.platform.client.start_workflow(
            DRIVE_SYNC_WORKFLOW, DriveSyncInput(self.user_id, **options),
            id=f"{drive_sync_workflow_id(self.user_id)}-{suffix}", task_queue=IO_TASK_QUEUE)

    async def edits(self, at_least: int, timeout_s: float = 5) -> list:
        """The creator's GenerationWorkflow runs (one per photo edited, however often it was edited), once
        visibility lists at least `at_least` of them."""
        query = f'WorkflowType = "GenerationWorkflow" AND UserId = "{self.user_id}"'
        deadline = time.monotonic() + timeout_s
        while True:
            runs = [run async for run in self.platform.client.list_workflows(query)]
            if len(runs) >= at_least or time.monotonic() > deadline:
                return runs
            await asyncio.sleep(0.1)

    async def sync_revoked_midway(self, oidc_provider, fault_kind: str) -> None:
        """A sync whose Drive call of `fault_kind` meets a 503, with Google access revoked while it waits to
        retry: the worst moment for a revocation."""
        await self.drive_server.inject_fault(503, kind=fault_kind, user=self.sub)
        sync = asyncio.create_task(self.sync_and_wait())
        await self.faults_answered()
        await oidc_provider.revoke_tokens(self.sub)
        await sync

    async def faults_answered(self, timeout_s: float = 20) -> None:
        """Wait until Drive has answered every fault armed for this creator."""
        deadline = time.monotonic() + timeout_s
        while any(f["user"] == self.sub for f in await self.drive_server.faults()):
            assert time.monotonic() < deadline, "no request came for the faults armed"
            await asyncio.sleep(0.05)


@asynccontextmanager
async def signed_in_creator(api_server, platform, oidc_provider, creator_drive) -> AsyncIterator[Creator]:
    sub = f"creator-{uuid.uuid4().hex[:10]}"
    email = f"{sub}@example.com"
    async with httpx.AsyncClient(base_url=api_server.url, timeout=60) as http:
        await sign_in(http, api_server.url, oidc_provider, sub, email)
        me = (await http.get("/creator/me")).json()
        yield Creator(sub, email, me["id"], http, creator_drive, platform)


@pytest_asyncio.fixture
async def creator(api_server, platform, oidc_provider, creator_drive, smtp):
    async with signed_in_creator(api_server, platform, oidc_provider, creator_drive) as signed_in:
        yield signed_in


@pytest_asyncio.fixture
async def other_creator(api_server, platform, oidc_provider, creator_drive):
    """A second signed-in creator, with a Drive of their own."""
    async with signed_in_creator(api_server, platform, oidc_provider, creator_drive) as signed_in:
        yield signed_in
