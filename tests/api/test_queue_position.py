"""A queued job says how many jobs are ahead of it, counting those waiting in the platform for a ComfyUI slot as
well as those in ComfyUI's queue, and when it should start."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

from tests.api.test_jobs import wait_until
from tests.helpers.images import empty_image_graph, slow_graph


async def test_every_queued_job_has_its_own_position_and_an_estimated_start(api_server, make_key, clean_emulator):
    created = await make_key()
    async with api_server.client(created.secret) as http:
        # One quick job first, so there is a run time to estimate from.
        quick = (await http.post("/api/v1/jobs", json={"graph": empty_image_graph(color=uuid.uuid4().int % 10**6)}))
        assert (await wait_until(http, quick.json()["id"]))["status"] == "succeeded"

        await clean_emulator.set_faults(node_latency={"ImageBlur": 5})
        jobs = [(await http.post("/api/v1/jobs", json={"graph": slow_graph(uuid.uuid4().int % 10**6)})).json()
                for _ in range(6)]
        assert all(job["status"] == "queued" and job["queue_position"] is not None for job in jobs), jobs
        await asyncio.sleep(1)  # the first ones reach ComfyUI; the rest wait in Temporal for a slot
        seen = [(await http.get(f"/api/v1/jobs/{job['id']}")).json() for job in jobs]
        queued = [job for job in seen if job["status"] == "queued"]
        assert len(queued) >= 3, seen  # one backend keeps two prompts: the others wait in the platform
        positions = [job["queue_position"] for job in queued]
        assert positions == sorted(set(positions)), positions  # distinct, in the order they were sent
        starts = [datetime.fromisoformat(job["estimated_start_at"]) for job in queued]
        assert starts == sorted(starts) and starts[0] < starts[-1], starts
        assert all(job["queue_position"] is None and job["estimated_start_at"] is None
                   for job in seen if job["status"] != "queued")

        listed = {job["id"]: job for job in (await http.get("/api/v1/jobs", params={"status": "queued"})).json()["data"]}
        assert [listed[job["id"]]["queue_position"] for job in queued if job["id"] in listed] == \
               sorted(listed[job["id"]]["queue_position"] for job in queued if job["id"] in listed)
        for job in jobs:
            await http.post(f"/api/v1/jobs/{job['id']}/cancel")
        for job in jobs:
            assert (await wait_until(http, job["id"]))["status"] == "cancelled"
