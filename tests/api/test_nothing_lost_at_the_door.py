"""A job the API acknowledged always runs, exactly once, whatever dies when; a submission that could not complete
is finished by the client's retry or leaves nothing behind. The API runs as a real process (killed with SIGKILL)
and reaches Temporal through a proxy that can make it hang or vanish."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import uuid
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select

from db.models import Job
from presets import resolve_graph
from services.jobs import JobOptions, record_job
from tests.helpers.comfy_stats import successful_prompts_of_job
from tests.helpers.images import empty_image_graph
from tests.helpers.ports import free_port
from tests.helpers.tcp_proxy import TcpProxy
from workflows.shared import StartPendingJobsInput


@dataclass
class ApiProcess:
    """`comfy-platform api` as a process of its own, on the test platform's stack, Temporal behind `proxy`."""

    platform: object
    proxy: TcpProxy
    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.port = free_port()
        env = self.platform.env(TEMPORAL_ADDRESS=self.proxy.address, API_PORT=str(self.port), LOG_LEVEL="WARNING")
        self.process = subprocess.Popen([*self.platform.cli, "api"], env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                assert self.process.poll() is None, "the API process exited"
                try:
                    # /api/ready connects the API's Temporal client, as a long-running API process has it.
                    if (await client.get(self.url + "/api/ready")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError("the API process did not come up")

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()


@pytest_asyncio.fixture
async def temporal_proxy(platform):
    host, port = platform.settings.temporal_address.rsplit(":", 1)
    proxy = await TcpProxy(host, int(port)).start()
    yield proxy
    await proxy.stop()


@pytest_asyncio.fixture
async def api_process(platform, temporal_proxy):
    api = ApiProcess(platform, temporal_proxy)
    await api.start()
    yield api
    api.stop()


def job_body() -> dict:
    return {"graph": empty_image_graph(color=random.randrange(1 << 24))}


async def submit(api: ApiProcess, secret: str, body: dict, key: str | None, timeout: float = 60) -> httpx.Response:
    headers = {"Authorization": f"Bearer {secret}", **({"Idempotency-Key": key} if key else {})}
    async with httpx.AsyncClient(timeout=timeout) as client:
        return await client.post(api.url + "/api/v1/jobs", json=body, headers=headers)


async def submit_until_acknowledged(api: ApiProcess, secret: str, body: dict, key: str) -> dict:
    """What a well-behaved client does: the same request, with its key, until a 2xx (honouring Retry-After)."""
    for _ in range(100):
        try:
            response = await submit(api, secret, body, key)
        except httpx.TransportError:
            await asyncio.sleep(0.2)
            continue
        if response.status_code in (200, 202):
            return response.json()
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"]
        await asyncio.sleep(min(float(response.headers["Retry-After"]), 1.0))
    raise AssertionError(f"{key} was never acknowledged")


async def row_of(platform, key_id: str, idempotency_key: str) -> Job | None:
    async with platform.sessionmaker() as session:
        return await session.scalar(select(Job).where(Job.api_key_id == key_id,
                                                      Job.idempotency_key == idempotency_key))


async def until_row(platform, key_id: str, idempotency_key: str, timeout: float = 20) -> Job:
    for _ in range(int(timeout / 0.05)):
        if (row := await row_of(platform, key_id, idempotency_key)) is not None:
            return row
        await asyncio.sleep(0.05)
    raise AssertionError(f"no row for {idempotency_key}")


async def until_succeeded_once(platform, emulator, job_id: str, timeout: float = 60) -> None:
    """The job's row is succeeded and ComfyUI ran its prompt to success exactly once."""
    for _ in range(int(timeout / 0.1)):
        row = await platform.job(job_id)
        if row is not None and row.is_terminal:
            break
        await asyncio.sleep(0.1)
    assert row is not None and row.status == "succeeded", row and (row.status, row.error)
    assert successful_prompts_of_job(await emulator.stats(), job_id) == 1


async def test_api_killed_between_the_row_and_the_workflow_the_retry_runs_the_job_once(
        platform, emulator, api_process, temporal_proxy, make_key):
    key = await make_key(scopes=["generate", "jobs"])
    body, idempotency_key = job_body(), f"crash-{uuid.uuid4().hex[:8]}"
    temporal_proxy.hold()  # the start waits: the row is written, the workflow not yet started
    pending = asyncio.create_task(submit(api_process, key.secret, body, idempotency_key))
    row = await until_row(platform, key.key.id, idempotency_key)
    api_process.kill()
    with pytest.raises(httpx.TransportError):
        await pending
    temporal_proxy.restore()
    await api_process.start()

    job = await submit_until_acknowledged(api_process, key.secret, body, idempotency_key)
    assert job["id"] == row.id
    await until_succeeded_once(platform, emulator, row.id)


async def test_a_burst_of_clients_retrying_through_api_kills_gets_every_job_run_exactly_once(
        platform, emulator, api_process, temporal_proxy, make_key):
    key = await make_key(scopes=["generate", "jobs"], rate_limit_per_minute=10_000, max_concurrent_jobs=1000)
    requests = [(job_body(), f"burst-{uuid.uuid4().hex[:8]}") for _ in range(12)]
    # Half are acknowledged before the first kill; the rest are written while Temporal hangs and then cut off.
    acknowledged = [await submit_until_acknowledged(api_process, key.secret, b, k) for b, k in requests[:6]]
    temporal_proxy.hold()
    cut_off = [asyncio.create_task(submit(api_process, key.secret, b, k)) for b, k in requests[6:]]
    for _, idempotency_key in requests[6:]:
        await until_row(platform, key.key.id, idempotency_key)
    api_process.kill()
    await asyncio.gather(*cut_off, return_exceptions=True)
    temporal_proxy.restore()
    await api_process.start()

    retried = await asyncio.gather(*(submit_until_acknowledged(api_process, key.secret, b, k) for b, k in requests))
    assert [j["id"] for j in retried[:6]] == [j["id"] for j in acknowledged]
    assert len({j["id"] for j in retried}) == len(requests)
    for job in retried:
        await until_succeeded_once(platform, emulator, job["id"])


async def test_temporal_down_for_30_s_answers_retry_and_every_retried_job_runs_once(
        platform, emulator, api_process, temporal_proxy, make_key):
    key = await make_key(scopes=["generate", "jobs"], rate_limit_per_minute=10_000, max_concurrent_jobs=1000)
    body, idempotency_key = job_body(), f"outage-{uuid.uuid4().hex[:8]}"
    temporal_proxy.refuse()
    loop = asyncio.get_running_loop()
    outage_ends = loop.time() + 30
    refused = []
    while loop.time() < outage_ends - 5:
        response = await submit(api_process, key.secret, body, idempotency_key)
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "temporal_unavailable"
        assert int(response.headers["Retry-After"]) > 0
        refused.append(response)
        assert await row_of(platform, key.key.id, idempotency_key) is None  # nothing a retry would trip over
        await asyncio.sleep(2)
    await asyncio.sleep(max(0.0, outage_ends - loop.time()))
    temporal_proxy.restore()

    job = await submit_until_acknowledged(api_process, key.secret, body, idempotency_key)
    assert len(refused) >= 3
    await until_succeeded_once(platform, emulator, job["id"])


async def test_a_submission_cut_short_without_a_key_is_started_by_the_sweeper(platform, emulator):
    job = resolve_graph(empty_image_graph(color=random.randrange(1 << 24)), set())
    # What a process that died right after writing the row leaves: the row with its start payload, no workflow.
    prepared, recorded = await record_job(platform.job_env, job, {},
                                           JobOptions.from_settings(platform.settings, product="api"), outbox=True)
    assert recorded.job.start_payload is not None
    started = await platform.client.execute_workflow(
        "StartPendingJobsWorkflow", StartPendingJobsInput(grace_s=0), id=f"sweep-{uuid.uuid4().hex[:8]}",
        task_queue="io", result_type=int)
    assert started >= 1
    await until_succeeded_once(platform, emulator, prepared.job_id)
    assert (await platform.job(prepared.job_id)).start_payload is None


async def test_the_sweeper_schedule_exists_once_the_worker_runs(platform):
    described = await platform.client.get_schedule_handle("job-start-sweeper").describe()
    assert described.schedule.spec.intervals[0].every.total_seconds() == 30
