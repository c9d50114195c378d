"""A worker killed mid-prompt: the retried activity re-attaches to the queued prompt; the GPU never runs it twice."""

from __future__ import annotations

import asyncio
import random
import subprocess
import uuid

from presets import resolve_graph
from tests.helpers.images import slow_graph
from tests.workflows.test_generation import _until_status, activity_attempts
from workflows.shared import GenerationResult


def start_worker(platform, queue: str) -> subprocess.Popen:
    return subprocess.Popen([*platform.cli, "worker", "--role", "comfy"], env=platform.env(COMFY_TASK_QUEUE=queue),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def test_killed_worker_mid_prompt_is_replaced_and_the_prompt_runs_once(platform, clean_emulator):
    queue = f"comfy-crash-{uuid.uuid4().hex[:8]}"
    await clean_emulator.set_faults(node_latency={"ImageBlur": 4.0})
    first = start_worker(platform, queue)
    replacement = None
    try:
        handle = await platform.submit(resolve_graph(slow_graph(random.randrange(1 << 24)), set()),
                                       comfy_task_queue=queue)
        state = await _until_status(handle, "running", with_prompt=True, timeout=30)
        first.kill()  # SIGKILL: no graceful shutdown, no last heartbeat
        first.wait()
        replacement = start_worker(platform, queue)
        result = await asyncio.wait_for(handle.result(), timeout=60)
    finally:
        for process in (first, replacement):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=15)

    assert result.status == "succeeded" and result.outputs
    assert (await clean_emulator.stats())["executions"][state.prompt_id] == 1
    assert await activity_attempts(handle, "run_graph") == [2]  # history records the last attempt
    row = await platform.job(result.job_id)
    assert row.prompt_id == state.prompt_id
