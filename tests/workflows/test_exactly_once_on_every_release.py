"""Exactly once on the GPU, on today's ComfyUI and on one from before July 2025 (which makes its own prompt ids,
and whose /interrupt stops whatever runs): workers killed, ComfyUI restarted, cancels racing the next prompt.
Executions are counted at the emulator by the job id every prompt carries in its extra_data."""

from __future__ import annotations

import asyncio
import random
import subprocess
import time
import uuid

import aiohttp
import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError

from presets import resolve_graph, resolve_template
from tests.helpers.comfy_stats import prompts_of_job, successful_prompts_of_job
from tests.helpers.images import open_png, slow_graph
from tests.helpers.processes import stop_process
from tests.workflows.test_generation import activity_attempts

LEGACY = "0.3.33"


def start_worker(platform, backend, queue: str) -> subprocess.Popen:
    env = platform.env(COMFY_TASK_QUEUE=queue, COMFYUI_URL=backend.emulator.url)
    return subprocess.Popen([*platform.cli, "worker", "--role", "comfy"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def submit_slow(platform, queue: str):
    return await platform.submit(resolve_graph(slow_graph(random.randrange(1 << 24)), set()), comfy_task_queue=queue)


def job_id_of(handle) -> str:
    return handle.id.removeprefix("gen-")


async def until_prompt(backend, job_id: str, status: str, copy: int = 0, timeout: float = 30) -> dict:
    """The job's `copy`-th prompt once the emulator reports it in `status`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        prompts = prompts_of_job(await backend.emulator.stats(), job_id)
        if len(prompts) > copy and prompts[copy]["status"] == status:
            return prompts[copy]
        await asyncio.sleep(0.05)
    raise AssertionError(f"prompt {copy} of job {job_id} never {status}: {prompts}")


async def run_killing_the_worker(platform, backend) -> tuple:
    """Submit a slow job to a worker process of its own; SIGKILL it (no graceful shutdown, no last heartbeat) once
    the job's prompt runs on ComfyUI, start a replacement, and wait for the job: (handle, result, running prompt)."""
    queue = f"comfy-crash-{uuid.uuid4().hex[:8]}"
    first = start_worker(platform, backend, queue)
    replacement = None
    try:
        handle = await submit_slow(platform, queue)
        running = await until_prompt(backend, job_id_of(handle), "running")
        first.kill()
        first.wait()
        replacement = start_worker(platform, backend, queue)
        return handle, await asyncio.wait_for(handle.result(), timeout=60), running
    finally:
        for process in (first, replacement):
            if process is not None and process.poll() is None:
                stop_process(process)


async def test_a_worker_killed_mid_prompt_is_replaced_and_the_prompt_runs_once(platform, comfy_backend):
    await comfy_backend.emulator.set_faults(node_latency={"ImageBlur": 4.0})
    handle, result, running = await run_killing_the_worker(platform, comfy_backend)

    assert result.status == "succeeded" and result.outputs
    prompts = prompts_of_job(await comfy_backend.emulator.stats(), result.job_id)
    assert [p["status"] for p in prompts] == ["success"]  # re-attached, never queued again
    assert await activity_attempts(handle, "run_graph") == [2]
    row = await platform.job(result.job_id)
    assert row.prompt_id == running["prompt_id"] and row.prompt_requeues == 0


async def test_a_worker_killed_before_it_learned_the_prompt_id_finds_the_prompt_by_its_tag(platform, comfy_backend):
    # The prompt is queued at once but its id reaches the worker 5 s later: the worker dies in between, before
    # any heartbeat could carry the id (on 0.3.33 a retry cannot work it out).
    await comfy_backend.emulator.set_faults(node_latency={"ImageBlur": 2.0}, reply_delay_s=5.0)
    _, result, running = await run_killing_the_worker(platform, comfy_backend)

    assert result.status == "succeeded"
    prompts = prompts_of_job(await comfy_backend.emulator.stats(), result.job_id)
    assert [p["status"] for p in prompts] == ["success"]
    assert (await platform.job(result.job_id)).prompt_id == running["prompt_id"]


async def test_comfyui_restarting_mid_prompt_runs_the_job_once_more_and_counts_it(platform, comfy_backend):
    await comfy_backend.emulator.set_faults(node_latency={"ImageBlur": 3.0})
    handle = await submit_slow(platform, comfy_backend.task_queue)
    await until_prompt(comfy_backend, job_id_of(handle), "running")
    await comfy_backend.emulator.restart()  # its queue and history are gone; the prompt never finished

    result = await asyncio.wait_for(handle.result(), timeout=90)
    assert result.status == "succeeded"
    prompts = prompts_of_job(await comfy_backend.emulator.stats(), result.job_id)
    assert [p["status"] for p in prompts] == ["lost", "success"]
    row = await platform.job(result.job_id)
    assert row.prompt_requeues == 1 and row.prompt_id == prompts[1]["prompt_id"]


async def test_a_prompt_that_finished_just_before_comfyui_restarted_is_not_run_again(platform, comfy_backend):
    # The socket says nothing, so the worker learns of the end only by polling, after the restart wiped history.
    await comfy_backend.emulator.set_faults(silent_socket=True, node_latency={"ImageBlur": 0.5})
    handle = await submit_slow(platform, comfy_backend.task_queue)
    await until_prompt(comfy_backend, job_id_of(handle), "success")
    await comfy_backend.emulator.restart()

    result = await asyncio.wait_for(handle.result(), timeout=90)
    assert result.status == "succeeded"
    prompts = prompts_of_job(await comfy_backend.emulator.stats(), result.job_id)
    assert [p["status"] for p in prompts] == ["success"]  # found by its files, not run again
    [output] = result.outputs
    assert open_png(await platform.storage.read_bytes(output.storage_key)).size == (16, 16)


async def test_a_cancel_racing_the_next_prompt_never_costs_that_prompt_its_run(platform, comfy_backend):
    # The cancel finds A running, but its interrupt reaches ComfyUI 2.5 s later, when A has ended and B runs.
    await comfy_backend.emulator.set_faults(node_latency={"ImageBlur": 3.0}, interrupt_delay_s=2.5)
    first = await submit_slow(platform, comfy_backend.task_queue)
    started = await until_prompt(comfy_backend, job_id_of(first), "running")
    second = await submit_slow(platform, comfy_backend.task_queue)
    await until_prompt(comfy_backend, job_id_of(second), "pending")
    await asyncio.sleep(max(0.0, started["started_at"] + 1.8 - time.time()))
    await first.cancel()

    with pytest.raises(WorkflowFailureError):
        await asyncio.wait_for(first.result(), timeout=30)
    result = await asyncio.wait_for(second.result(), timeout=60)
    assert result.status == "succeeded"
    assert (await platform.job(job_id_of(first))).status == "cancelled"
    second_prompts = prompts_of_job(await comfy_backend.emulator.stats(), result.job_id)
    assert successful_prompts_of_job(await comfy_backend.emulator.stats(), result.job_id) == 1
    if comfy_backend.version == LEGACY:
        # That server's /interrupt stopped B; B's job saw an interrupt it did not ask for and queued B again.
        assert [p["status"] for p in second_prompts] == ["interrupted", "success"]
        assert (await platform.job(result.job_id)).prompt_requeues == 1
    else:  # targeted: B was never touched
        assert [p["status"] for p in second_prompts] == ["success"]


async def test_cancelling_a_queued_job_deletes_its_prompt_unrun(platform, comfy_backend):
    await comfy_backend.emulator.set_faults(node_latency={"ImageBlur": 2.0})
    first = await submit_slow(platform, comfy_backend.task_queue)
    await until_prompt(comfy_backend, job_id_of(first), "running")
    second = await submit_slow(platform, comfy_backend.task_queue)
    await until_prompt(comfy_backend, job_id_of(second), "pending")
    await second.cancel()
    with pytest.raises(WorkflowFailureError):
        await asyncio.wait_for(second.result(), timeout=30)
    assert (await asyncio.wait_for(first.result(), timeout=30)).status == "succeeded"
    prompts = prompts_of_job(await comfy_backend.emulator.stats(), job_id_of(second))
    assert [p["status"] for p in prompts] == ["deleted"]
    assert (await platform.job(job_id_of(second))).status == "cancelled"


async def test_cancelling_a_running_job_interrupts_its_prompt(platform, comfy_backend):
    # KSampler checks for an interrupt between steps; a single long node would run to its end first.
    await comfy_backend.emulator.set_faults(node_latency={"KSampler": 10.0})
    job = resolve_template("t2i_basic", {"steps": 50, "seed": random.randrange(1 << 30)}, set())
    handle = await platform.submit(job, comfy_task_queue=comfy_backend.task_queue)
    await until_prompt(comfy_backend, job_id_of(handle), "running")
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await asyncio.wait_for(handle.result(), timeout=8)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    prompts = prompts_of_job(await comfy_backend.emulator.stats(), job_id_of(handle))
    assert [p["status"] for p in prompts] == ["interrupted"]
    assert (await platform.job(job_id_of(handle))).status == "cancelled"


async def test_interrupts_the_job_did_not_ask_for_requeue_its_prompt_at_most_max_requeues_times(platform,
                                                                                            comfy_backend):
    # KSampler is interrupted mid-way, so no copy leaves a cached result for the next one.
    await comfy_backend.emulator.set_faults(node_latency={"KSampler": 10.0})
    job = resolve_template("t2i_basic", {"steps": 50, "seed": random.randrange(1 << 30)}, set())
    handle = await platform.submit(job, comfy_task_queue=comfy_backend.task_queue)
    job_id = job_id_of(handle)
    limit = platform.settings.COMFY_MAX_REQUEUES
    async with aiohttp.ClientSession() as session:
        for copy in range(limit + 1):  # an operator interrupts every copy on ComfyUI itself
            running = await until_prompt(comfy_backend, job_id, "running", copy=copy)
            await session.post(comfy_backend.emulator.url + "/interrupt", json={"prompt_id": running["prompt_id"]})
    with pytest.raises(WorkflowFailureError):
        await asyncio.wait_for(handle.result(), timeout=60)
    row = await platform.job(job_id)
    assert row.status == "failed" and row.error["code"] == "comfy_prompt_lost"
    assert row.prompt_requeues == limit
    prompts = prompts_of_job(await comfy_backend.emulator.stats(), job_id)
    assert [p["status"] for p in prompts] == ["interrupted"] * (limit + 1)


async def test_a_prompt_that_ran_out_of_gpu_memory_is_queued_again_not_reattached(platform, comfy_backend):
    await comfy_backend.emulator.set_faults(fail_node="ImageBlur", fail_times=1,
                                            fail_message="CUDA out of memory. Tried to allocate 2.00 GiB")
    handle = await submit_slow(platform, comfy_backend.task_queue)
    result = await asyncio.wait_for(handle.result(), timeout=60)
    assert result.status == "succeeded"
    prompts = prompts_of_job(await comfy_backend.emulator.stats(), result.job_id)
    assert [p["status"] for p in prompts] == ["error", "success"]
    assert (await platform.job(result.job_id)).prompt_requeues == 1
