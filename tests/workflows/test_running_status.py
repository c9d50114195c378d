"""The job row follows the run: queued, running once ComfyUI has started the prompt, then its final status."""

from __future__ import annotations

import asyncio
import json
import random

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import ActivityEnvironment

from activities.jobs import JobActivities
from presets import resolve_graph
from tests.helpers.images import empty_image_graph, slow_graph
from tests.helpers.replay import replayer
from workflows.generation import GenerationWorkflow
from workflows.shared import FinishJobInput, MarkRunningInput


async def until_row_status(platform, job_id: str, wanted: str, timeout: float = 15):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        row = await platform.job(job_id)
        if row.status == wanted:
            return row
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached {wanted} in the database (last: {row.status})")


def markers(history) -> list[str]:
    return [e.marker_recorded_event_attributes.marker_name for e in history.events
            if e.HasField("marker_recorded_event_attributes")]


def running_signals(history) -> int:
    return sum(json.loads(e.workflow_execution_signaled_event_attributes.input.payloads[0].data)["status"] == "running"
               for e in history.events if e.HasField("workflow_execution_signaled_event_attributes"))


async def test_a_long_job_is_recorded_running_then_succeeded(platform, clean_emulator):
    await clean_emulator.set_faults(node_latency={"ImageBlur": 2.0})
    handle = await platform.submit(resolve_graph(slow_graph(random.randrange(1 << 24)), set()))
    job_id = handle.id.removeprefix("gen-")

    running = await until_row_status(platform, job_id, "running")
    assert running.started_at is not None and running.finished_at is None
    assert running.backend == platform.settings.COMFYUI_URL and running.prompt_id

    assert (await handle.result()).status == "succeeded"
    done = await platform.job(job_id)
    assert (done.status, done.started_at, done.prompt_id) == ("succeeded", running.started_at, running.prompt_id)
    assert done.finished_at >= done.started_at
    history = await handle.fetch_history()
    # record-running, mark_running, backend-memo, finish_job
    assert markers(history) == ["core_patch", "core_local_activity", "core_patch", "core_local_activity"]
    await replayer([GenerationWorkflow]).replay_workflow(history)
    # Where it ran, in the run's memo (the Temporal UI shows it), and on its row.
    assert await (await handle.describe()).memo_value("backend") == platform.settings.COMFYUI_URL
    assert done.queue_wait_ms is not None and done.queue_wait_ms >= 0


async def test_a_short_job_finishes_without_a_running_write_and_still_gets_started_at(platform, clean_emulator):
    handle = await platform.submit(resolve_graph(empty_image_graph(color=random.randrange(1 << 24)), set()))
    await handle.result()
    row = await platform.job(handle.id.removeprefix("gen-"))
    assert row.status == "succeeded" and row.started_at is not None
    history = await handle.fetch_history()
    # Done before the activity's first progress interval, it got no signal (a loaded machine may stretch it past):
    # then finish_job is its one write (after the backend-memo patch marker).
    if not running_signals(history):
        assert markers(history) == ["core_patch", "core_local_activity"]
    else:
        assert markers(history) == ["core_patch", "core_local_activity", "core_patch", "core_local_activity"]


async def test_a_cancelled_running_job_stays_cancelled(platform, clean_emulator):
    await clean_emulator.set_faults(node_latency={"ImageBlur": 10.0})
    handle = await platform.submit(resolve_graph(slow_graph(random.randrange(1 << 24)), set()))
    job_id = handle.id.removeprefix("gen-")
    running = await until_row_status(platform, job_id, "running")
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await asyncio.wait_for(handle.result(), timeout=10)
    await asyncio.sleep(0.6)  # longer than the activity's progress interval
    row = await platform.job(job_id)
    assert (row.status, row.started_at) == ("cancelled", running.started_at)


async def test_marking_a_finished_job_running_leaves_it_finished(platform):
    """finish_job may land first when a first "running" signal crosses the end of the job."""
    handle = await platform.submit(resolve_graph(empty_image_graph(color=random.randrange(1 << 24)), set()))
    await handle.result()
    job_id = handle.id.removeprefix("gen-")
    before = await platform.job(job_id)
    activities = JobActivities(platform.sessionmaker)
    await ActivityEnvironment().run(activities.mark_running,
                                    MarkRunningInput(job_id=job_id, backend="http://elsewhere", prompt_id="p-late"))
    after = await platform.job(job_id)
    assert (after.status, after.started_at, after.backend) == ("succeeded", before.started_at, before.backend)


async def test_marking_a_job_without_a_row_running_leaves_finish_job_to_create_it(platform):
    activities = JobActivities(platform.sessionmaker)
    job_id = f"operator{random.randrange(1 << 40)}"
    await ActivityEnvironment().run(activities.mark_running,
                                    MarkRunningInput(job_id=job_id, backend="http://gpu", prompt_id="p1"))
    assert await platform.job(job_id) is None
    await ActivityEnvironment().run(activities.finish_job,
                                    FinishJobInput(job_id=job_id, status="failed", workflow_id=f"gen-{job_id}"))
    assert (await platform.job(job_id)).status == "failed"
