"""Several ComfyUI backends behind one worker: work spreads over them, and a dead one is routed around."""

from __future__ import annotations

import asyncio
import random
import uuid

import pytest_asyncio

from presets import resolve_graph
from standins.comfyui import EmulatorConfig, start_emulator
from tests.helpers.images import slow_graph
from tests.helpers.ports import free_port
from workers.main import build_workers


@pytest_asyncio.fixture
async def two_backends(platform, clean_emulator, tmp_path):
    """The session emulator plus a second one, served by a worker of their own on a task queue of its own."""
    second = await start_emulator("127.0.0.1", free_port(), EmulatorConfig(data_dir=tmp_path / "second"))
    queue = f"comfy-two-{uuid.uuid4().hex[:8]}"
    settings = platform.settings.model_copy(update={"COMFYUI_URL": f"{clean_emulator.url},{second.url}",
                                                    "COMFY_TASK_QUEUE": queue})
    workers, closers = await build_workers(platform.client, settings, role="comfy")
    tasks = [asyncio.create_task(w.run()) for w in workers]
    yield queue, clean_emulator, second
    await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
    for close in closers:
        await close()
    for task in tasks:
        task.cancel()
    await second.stop()


async def run_jobs(platform, queue: str, count: int) -> list:
    handles = [await platform.submit(resolve_graph(slow_graph(random.randrange(1 << 24)), set()),
                                     comfy_task_queue=queue) for _ in range(count)]
    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), timeout=60)
    assert all(r.status == "succeeded" for r in results)
    return [await platform.job(r.job_id) for r in results]


async def test_jobs_spread_over_both_backends(platform, two_backends):
    queue, first, second = two_backends
    for backend in (first, second):
        await backend.set_faults(node_latency={"ImageBlur": 0.5})
    rows = await run_jobs(platform, queue, 4)
    assert {row.backend for row in rows} == {first.url, second.url}


async def test_jobs_go_to_the_live_backend_when_the_other_is_down(platform, two_backends):
    queue, first, second = two_backends
    await second.stop()
    rows = await run_jobs(platform, queue, 4)
    assert {row.backend for row in rows} == {first.url}
