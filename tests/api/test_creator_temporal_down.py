"""Temporal stopping under the creator API: routes answer 503 `temporal_unavailable` with Retry-After, never 500,
and watching or disconnecting changes the schedule and the creator's records together or not at all.

The session's Temporal server runs every other test, so this one stops a Temporal dev server of its own, under an
API process of its own on the session's database."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from temporalio.client import Client

from api.main import create_app
from cli.devstack import temporal_dev_command
from comfy_platform.settings import Settings
from comfy_platform.temporal import connect
from db import drive as drive_queries
from db import users as user_queries
from tests.fixtures.temporal import PAYLOAD_KEY
from tests.helpers.ports import free_port
from tests.helpers.processes import serving, stop_process
from workflows.shared import drive_sync_schedule_id

ROUTES_THAT_ASK_TEMPORAL = [("GET", "/creator/drive/watch"), ("POST", "/creator/sync-now"),
                            ("POST", "/creator/drive/disconnect"), ("POST", "/creator/drive/watch"),
                            ("DELETE", "/creator/account")]


class TemporalServer:
    """A Temporal dev server that can be stopped and started again on the same port and history file."""

    def __init__(self, settings, db_file: Path) -> None:
        self.port = free_port()
        local = settings.model_copy(update={"TEMPORAL_PORT": self.port, "TEMPORAL_UI_PORT": free_port()})
        self.command = [*temporal_dev_command(local, db_file), "--headless"]
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> Client:
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                return await connect(Settings(TEMPORAL_ADDRESS=self.address, TEMPORAL_PAYLOAD_KEYS=PAYLOAD_KEY))
            except RuntimeError:
                await asyncio.sleep(0.1)
        raise AssertionError("the Temporal dev server did not start")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None


@asynccontextmanager
async def creator_api_on(creator, temporal: TemporalServer) -> AsyncIterator[httpx.AsyncClient]:
    """An API process on this Temporal server and the session's database, with the creator's session cookie."""
    port = free_port()
    settings = creator.platform.settings.model_copy(update={
        "TEMPORAL_ADDRESS": temporal.address, "API_PORT": port, "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"})
    async with serving(create_app(settings), port), httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", cookies=creator.http.cookies, timeout=60,
            headers={"X-CSRF-Token": creator.http.headers["X-CSRF-Token"]}) as http:
        yield http


async def records_of(creator) -> tuple:
    async with creator.platform.sessionmaker() as session:
        watch = await drive_queries.get_watch(session, creator.user_id)
        user = await user_queries.get_user(session, creator.user_id)
    return (watch.folder_id, watch.paused_reason) if watch else None, user.drive_status


async def test_while_temporal_is_down_creator_routes_answer_503_and_change_nothing(creator, tmp_path):
    temporal = TemporalServer(creator.platform.settings, tmp_path / "temporal.db")
    await temporal.start()
    try:
        async with creator_api_on(creator, temporal) as http:
            first, second = await creator.folder("First"), await creator.folder("Second")
            watched = await http.post("/creator/drive/watch", json={"folder_id": first, "preset": "portrait_pro"})
            assert watched.status_code == 200, watched.text
            before = await records_of(creator)
            assert before == ((first, None), "connected")

            temporal.stop()
            answers = await asyncio.gather(*(
                http.request(method, path, json={"folder_id": second, "preset": "cinematic"} if method == "POST"
                             and path.endswith("watch") else None)
                for method, path in ROUTES_THAT_ASK_TEMPORAL))
            for (method, path), answer in zip(ROUTES_THAT_ASK_TEMPORAL, answers):
                assert answer.status_code == 503, f"{method} {path}: {answer.status_code} {answer.text}"
                assert answer.json()["error"]["code"] == "temporal_unavailable"
                assert answer.headers["retry-after"] == "5"
            # Neither the disconnect, the new watch nor the deletion went halfway: the records are as they were.
            assert await records_of(creator) == before

            client = await temporal.start()
            schedule = client.get_schedule_handle(drive_sync_schedule_id(creator.user_id))
            shown = await http.get("/creator/drive/watch")
            assert shown.status_code == 200 and shown.json()["folder_id"] == first
            assert shown.json()["schedule"]["paused"] is False
            assert not (await schedule.describe()).schedule.state.paused, "the failed disconnect left it running"

            # With Temporal back, each change reaches the schedule and the records together.
            assert (await http.post("/creator/drive/disconnect")).status_code == 204
            state = (await schedule.describe()).schedule.state
            assert state.paused and state.note == "disconnected by the creator"
            assert await records_of(creator) == (None, "disconnected")
            rewatched = await http.post("/creator/drive/watch", json={"folder_id": second, "preset": "cinematic"})
            assert rewatched.status_code == 200 and rewatched.json()["schedule"]["paused"] is False
            assert await records_of(creator) == ((second, None), "connected")
            assert (await http.post("/creator/sync-now")).status_code == 202
    finally:
        temporal.stop()
