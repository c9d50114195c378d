"""Scale-out on one machine: two API processes and two comfy workers over one Temporal server, PostgreSQL and three
ComfyUI emulators. A key's limits hold across both API processes; no backend ever holds more prompts than its
slots (measured at the emulators); killing one API process and one comfy worker under load loses no job and runs
none twice."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import uuid

import httpx
import pytest_asyncio

from standins.comfyui import EmulatorConfig, start_emulator
from tests.helpers.comfy_stats import prompts_of_job, successful_prompts_of_job
from tests.helpers.images import empty_image_graph
from tests.helpers.ports import free_port
from tests.helpers.processes import stop_process

SLOTS = 2
JOBS = 18
PROMPT_S = 0.4  # each prompt holds its GPU this long, so prompts overlap and slots fill


@pytest_asyncio.fixture
async def backends(tmp_path):
    emulators = [await start_emulator("127.0.0.1", free_port(), EmulatorConfig(data_dir=tmp_path / f"gpu{i}"))
                 for i in range(3)]
    for emulator in emulators:
        await emulator.set_faults(prompt_latency_s=PROMPT_S)
    yield emulators
    for emulator in emulators:
        await emulator.stop()


@pytest_asyncio.fixture
async def fleet(platform, backends):
    """Two `comfy-platform api` and two `comfy-platform worker --role comfy` processes, both workers serving all
    three backends on a task queue of their own; the session's io worker runs the workflows."""
    queue = f"comfy-fleet-{uuid.uuid4().hex[:8]}"
    common = {"COMFYUI_URL": ",".join(b.url for b in backends), "COMFY_TASK_QUEUE": queue, "LOG_LEVEL": "WARNING",
              "COMFY_SLOTS_PER_BACKEND": str(SLOTS), "COMFY_SLOT_LEASE_S": "30", "BACKEND_POLL_S": "1"}
    processes: dict[str, subprocess.Popen] = {}

    def start(name: str, *args: str, **env: str) -> None:
        processes[name] = subprocess.Popen([*platform.cli, *args], env=platform.env(**common, **env),
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    api_ports = [free_port(), free_port()]
    for i, port in enumerate(api_ports):
        start(f"api{i}", "api", API_PORT=str(port))
    for i in range(2):
        start(f"worker{i}", "worker", "--role", "comfy")
    urls = [f"http://127.0.0.1:{port}" for port in api_ports]
    async with httpx.AsyncClient() as http:
        for url in urls:
            for _ in range(300):
                try:
                    if (await http.get(url + "/api/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"{url} never became healthy")
    yield urls, processes
    for process in processes.values():
        if process.poll() is None:
            stop_process(process)


def graph() -> dict:
    return {"graph": empty_image_graph(color=random.randrange(1 << 24))}


async def test_a_keys_request_rate_holds_across_api_processes(fleet, make_key):
    urls, _ = fleet
    key = await make_key(rate_limit_per_minute=10)
    headers = {"Authorization": f"Bearer {key.secret}"}
    async with httpx.AsyncClient(headers=headers) as http:  # turn about, as a round-robin balancer sends them
        replies = [await http.get(urls[i % 2] + "/api/v1/presets") for i in range(24)]
    allowed = [r for r in replies if r.status_code == 200]
    # One bucket of 10 (plus what it refills while the requests are answered), not one per process.
    assert 10 <= len(allowed) <= 11
    for status in (200, 429):  # both processes spent from it, and both refused once it was empty
        assert {str(r.url).split("/api")[0] for r in replies if r.status_code == status} == set(urls)


async def test_a_keys_concurrent_jobs_hold_across_api_processes(fleet, backends, make_key):
    urls, _ = fleet
    for backend in backends:  # no job ends while the others are being submitted
        await backend.set_faults(prompt_latency_s=5)
    key = await make_key(rate_limit_per_minute=10_000, max_concurrent_jobs=3)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key.secret}"}, timeout=60) as http:
        replies = await asyncio.gather(*(http.post(urls[i % 2] + "/api/v1/jobs", json=graph()) for i in range(8)))
        accepted = [r.json()["id"] for r in replies if r.status_code == 202]
        refused = [r for r in replies if r.status_code == 429]
        assert len(accepted) == 3 and len(refused) == 5, [r.text for r in replies]
        assert {r.json()["error"]["code"] for r in refused} == {"too_many_jobs"}
        for job_id in accepted:
            await until_finished(http, urls[0], job_id)


async def test_killing_an_api_and_a_worker_under_load_loses_no_job_and_keeps_every_gpu_within_its_slots(
        fleet, backends, make_key):
    urls, processes = fleet
    key = await make_key(rate_limit_per_minute=10_000, max_concurrent_jobs=1000)
    requests = [(graph(), f"load-{uuid.uuid4().hex[:8]}") for _ in range(JOBS)]
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key.secret}"}, timeout=60) as http:

        async def submit(i: int, body: dict, idempotency_key: str) -> str:
            """Like a client behind a load balancer: the same request, with its key, to the next API until a 2xx."""
            for attempt in range(200):
                url = urls[(i + attempt) % 2]
                try:
                    reply = await http.post(url + "/api/v1/jobs", json=body,
                                            headers={"Idempotency-Key": idempotency_key})
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
                    continue
                if reply.status_code in (200, 202):
                    return reply.json()["id"]
                assert reply.status_code in (429, 503), reply.text
                await asyncio.sleep(0.2)
            raise AssertionError(f"{idempotency_key} was never acknowledged")

        async def kill_midway() -> None:
            while sum([len((await b.stats())["prompts"]) for b in backends]) < JOBS // 3:
                await asyncio.sleep(0.05)
            for name in ("api1", "worker1"):
                os.kill(processes[name].pid, signal.SIGKILL)

        killer = asyncio.create_task(kill_midway())
        job_ids = await asyncio.gather(*(submit(i, body, k) for i, (body, k) in enumerate(requests)))
        await killer
        for job_id in job_ids:
            assert (await until_finished(http, urls[0], job_id))["status"] == "succeeded"

    stats = [await b.stats() for b in backends]
    for job_id in job_ids:  # ran exactly once, on one of the GPUs
        assert sum(successful_prompts_of_job(s, job_id) for s in stats) == 1, job_id
    for backend, s in zip(backends, stats):
        ours = [p for job_id in job_ids for p in prompts_of_job(s, job_id)]
        assert most_at_once(ours) <= SLOTS, backend.url
    assert sum(1 for s in stats if any(prompts_of_job(s, j) for j in job_ids)) == 3  # every GPU took work


def most_at_once(prompts: list[dict]) -> int:
    """The most prompts the backend held at one moment, queued or running (from its own clock)."""
    events = sorted([(p["queued_at"], 1) for p in prompts] +
                    [(p["finished_at"], -1) for p in prompts if p["finished_at"] is not None])
    held = most = 0
    for _, change in events:  # at equal times the -1 sorts first: a prompt ending as the next arrives
        held += change
        most = max(most, held)
    return most


async def until_finished(http: httpx.AsyncClient, url: str, job_id: str, timeout_s: float = 120) -> dict:
    for _ in range(int(timeout_s / 0.2)):
        job = (await http.get(f"{url}/api/v1/jobs/{job_id}")).json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        await asyncio.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")
