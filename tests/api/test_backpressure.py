"""Backpressure: with no worker taking the GPU work and the backlog past its limit, new jobs get 503 `overloaded`
with a Retry-After, /api/ready reports the backlog, and every job accepted before runs once a worker is back."""

from __future__ import annotations

import asyncio
import random
import uuid

from api.main import create_app
from tests.helpers.images import empty_image_graph
from tests.helpers.ports import free_port
from tests.helpers.processes import serving
from workers.main import build_workers

TERMINAL = ("succeeded", "failed", "cancelled")


async def test_a_saturated_fleet_refuses_new_jobs_and_runs_every_accepted_one(platform, make_key, api_server):
    # A ComfyUI task queue no worker polls yet: the paused fleet. One backend x 2 slots x 1 = a limit of 2 waiting.
    queue = f"comfy-paused-{uuid.uuid4().hex[:8]}"
    port = free_port()
    settings = api_server.settings.model_copy(update={"COMFY_TASK_QUEUE": queue, "BACKLOG_PER_SLOT_LIMIT": 1.0,
                                                      "API_PORT": port})
    key = await make_key(rate_limit_per_minute=10_000, max_concurrent_jobs=1000)
    accepted, refused = [], None
    async with serving(create_app(settings), port), api_server.client(key.secret) as http:
        http.base_url = f"http://127.0.0.1:{port}"
        for _ in range(40):  # Temporal's backlog count trails the starts by a moment
            reply = await http.post("/api/v1/jobs", json={"graph": empty_image_graph(color=random.randrange(1 << 24))})
            if reply.status_code == 503:
                refused = reply
                break
            assert reply.status_code == 202, reply.text
            accepted.append(reply.json()["id"])
            await asyncio.sleep(0.3)
        assert refused is not None, "never refused"
        assert refused.json()["error"]["code"] == "overloaded"
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["error"]["details"]["limit"] == 2
        ready = (await http.get("/api/ready")).json()
        assert ready["status"] == "ready" and ready["backlog"]["overloaded"] is True
        assert ready["backlog"]["waiting"] > ready["backlog"]["limit"] == 2

        # The fleet comes back: every job accepted before runs.
        workers, closers = await build_workers(platform.client, settings, role="comfy")
        tasks = [asyncio.create_task(worker.run()) for worker in workers]
        try:
            for job_id in accepted:
                for _ in range(300):
                    job = (await http.get(f"/api/v1/jobs/{job_id}")).json()
                    if job["status"] in TERMINAL:
                        break
                    await asyncio.sleep(0.1)
                assert job["status"] == "succeeded", job
        finally:
            await asyncio.gather(*(worker.shutdown() for worker in workers), return_exceptions=True)
            for close in closers:
                await close()
    assert len(accepted) >= 3
