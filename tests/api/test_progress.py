"""The progress a client reads: proportional to the work (the sampler's steps dominate), only ever forward, and in
agreement with the status (a succeeded job is at 1.0; a cancelled one keeps where it got to)."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tests.helpers.images import slow_graph

TERMINAL = ("succeeded", "failed", "cancelled")


def t2i(steps: int) -> dict:
    return {"workflow": "t2i_basic", "params": {"steps": steps, "width": 64, "height": 64,
                                                "seed": uuid.uuid4().int % 10**9}}


async def follow(http: httpx.AsyncClient, job_id: str, until=TERMINAL, timeout: float = 60) -> list[dict]:
    """Every reading of the job, every 0.1 s, until its status is one of `until`."""
    seen = []
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        job = (await http.get(f"/api/v1/jobs/{job_id}")).json()
        seen.append(job)
        if job["status"] in until:
            return seen
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} still {seen[-1]['status']}")


def assert_forward_only(seen: list[dict]) -> None:
    progress = [job["progress"] for job in seen]
    assert progress == sorted(progress), " ".join(f"{job['status']}:{job['progress']}" for job in seen)


async def test_progress_follows_the_sampler_steps_and_only_moves_forward(api_server, make_key, clean_emulator):
    await clean_emulator.set_faults(node_latency={"KSampler": 4})
    created = await make_key()
    async with api_server.client(created.secret) as http:
        job = (await http.post("/api/v1/jobs", json=t2i(steps=20))).json()
        seen = await follow(http, job["id"])
    assert_forward_only(seen)
    running = [job["progress"] for job in seen if job["status"] == "running"]
    # Before sampling, the loaders and encoders are a small part of the work; sampling fills most of the bar.
    assert running and running[0] < 0.3, running
    assert len({round(p, 2) for p in running if 0.2 < p < 0.9}) >= 3, running  # it moves along while sampling
    assert seen[-1]["status"] == "succeeded" and seen[-1]["progress"] == 1.0
    assert all(job["progress"] < 1.0 for job in seen if job["status"] != "succeeded")


async def test_a_cancelled_job_never_shows_its_progress_going_back(api_server, make_key, clean_emulator):
    await clean_emulator.set_faults(node_latency={"KSampler": 6})
    created = await make_key()
    async with api_server.client(created.secret) as http:
        job = (await http.post("/api/v1/jobs", json=t2i(steps=30))).json()
        before = await follow(http, job["id"], until=("running",))
        while before[-1]["progress"] < 0.3:  # well into sampling
            before.append((await http.get(f"/api/v1/jobs/{job['id']}")).json())
            assert before[-1]["status"] == "running", before[-1]
            await asyncio.sleep(0.1)
        assert (await http.post(f"/api/v1/jobs/{job['id']}/cancel")).status_code == 202
        after = await follow(http, job["id"])
    assert_forward_only(before + after)
    assert after[-1]["status"] == "cancelled" and 0.3 <= after[-1]["progress"] < 1.0


async def test_a_graph_without_a_sampler_moves_node_by_node(api_server, make_key, clean_emulator):
    await clean_emulator.set_faults(node_latency={"ImageBlur": 3})
    created = await make_key()
    async with api_server.client(created.secret) as http:
        job = (await http.post("/api/v1/jobs", json={"graph": slow_graph(uuid.uuid4().int % 10**6)})).json()
        seen = await follow(http, job["id"])
    assert_forward_only(seen)
    running = {job["progress"] for job in seen if job["status"] == "running"}
    assert running and all(0 < p < 1 for p in running), running  # a third of the way: the image is made
    assert seen[-1]["progress"] == 1.0
