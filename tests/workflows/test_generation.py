"""GenerationWorkflow end to end: real Temporal, PostgreSQL, S3 and the ComfyUI emulator."""

from __future__ import annotations

import asyncio
import random

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError

from presets import resolve_graph, resolve_preset, resolve_template
from services.jobs import JobOptions, submit_job
from tests.helpers.images import (
    empty_image_graph,
    invert_graph,
    open_png,
    png_bytes,
    slow_graph,
)
from workflows.generation import GenerationWorkflow
from workflows.shared import GenerationResult, JobProgress


async def read_output(platform, result: GenerationResult, index: int = 0):
    return open_png(await platform.storage.read_bytes(result.outputs[index].storage_key))


async def activity_attempts(handle, activity_type: str) -> list[int]:
    """The attempt number of every start of `activity_type` in the run's history."""
    history = await handle.fetch_history()
    scheduled = {e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events
                 if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED}
    attempts = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attrs = event.activity_task_started_event_attributes
            if scheduled.get(attrs.scheduled_event_id) == activity_type:
                attempts.append(attrs.attempt)
    return attempts


async def test_template_job_stores_a_png_of_the_requested_size_and_records_usage(platform):
    job = resolve_template("t2i_basic", {"width": 96, "height": 64, "seed": random.randrange(1 << 30), "steps": 3},
                           set())
    handle = await platform.submit(job)
    result = await handle.result()
    job_id = result.job_id

    assert result.status == "succeeded"
    assert (await read_output(platform, result)).size == (96, 64)
    row = await platform.job(job_id)
    assert row.status == "succeeded" and row.finished_at and row.backend == platform.settings.COMFYUI_URL
    assert row.comfy_started_at is not None and row.comfy_finished_at >= row.comfy_started_at
    [output] = await platform.outputs(job_id)
    assert (output.width, output.height, output.content_type) == (96, 64, "image/png")
    status = await handle.query(GenerationWorkflow.get_status)
    assert (status.status, status.progress) == ("succeeded", 1.0)


async def test_an_output_larger_than_memory_allows_is_stored_through_a_file_just_the_same(platform, monkeypatch):
    monkeypatch.setattr("activities.comfy.OUTPUT_IN_MEMORY_BYTES", 64)  # every PNG here is larger
    job = resolve_template("t2i_basic", {"width": 80, "height": 72, "seed": random.randrange(1 << 30), "steps": 2},
                           set())
    result = await (await platform.submit(job)).result()
    assert (await read_output(platform, result)).size == (80, 72)
    [output] = await platform.outputs(result.job_id)
    assert (output.width, output.height, output.content_type) == (80, 72, "image/png") and output.size > 64


async def test_preset_with_an_input_image_runs_model_free_on_any_comfyui(platform):
    job = resolve_preset("quick_enhance", {"scale": 0.5}, {"image"})
    handle = await platform.submit(job, {"image": png_bytes(80, 60)})
    result = await handle.result()
    assert (await read_output(platform, result)).size == (40, 30)
    row = await platform.job(result.job_id)
    assert (row.preset, row.status) == ("quick_enhance", "succeeded")


async def test_raw_graph_inverts_its_input(platform):
    job = resolve_graph(invert_graph("photo.png"), {"photo.png"})
    handle = await platform.submit(job, {"photo.png": png_bytes(32, 32, color=(10, 200, 100))})
    result = await handle.result()
    img = await read_output(platform, result)
    assert img.getpixel((31, 0)) == (245, 55, 155)
    assert img.getpixel((0, 0)) == (255 - 2, 255 - 50, 255 - 25)


async def test_non_image_input_fails_the_job_once_with_a_clear_error(platform, emulator):
    before = await emulator.stats()
    job = resolve_graph(invert_graph("photo.png"), {"photo.png"})
    handle = await platform.submit(job, {"photo.png": b"%PDF-1.4 definitely not an image"})
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    row = await platform.job(handle.id.removeprefix("gen-"))
    assert row.status == "failed"
    assert row.error["code"] == "invalid_input"
    assert "photo.png" in row.error["message"] and "not a readable image" in row.error["message"]
    assert await activity_attempts(handle, "check_inputs") == [1]
    assert await activity_attempts(handle, "run_graph") == []
    assert len((await emulator.stats())["prompts"]) == len(before["prompts"])


async def test_missing_model_fails_before_queueing_with_node_details(platform):
    job = resolve_template("t2i_basic", {"checkpoint": "missing.safetensors", "seed": random.randrange(1 << 30)},
                           set())
    handle = await platform.submit(job)
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    row = await platform.job(handle.id.removeprefix("gen-"))
    assert row.error["code"] == "invalid_graph"
    assert "ckpt_name" in row.error["message"]
    assert row.error["details"]["node_errors"]["4"]["errors"][0]["type"] == "value_not_in_list"
    assert await activity_attempts(handle, "run_graph") == [1]


async def test_node_failure_at_run_time_fails_the_job_with_node_type(platform, clean_emulator):
    await clean_emulator.set_faults(fail_node="ImageBlur", fail_message="simulated GPU fault")
    handle = await platform.submit(resolve_graph(slow_graph(random.randrange(1 << 24)), set()))
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    row = await platform.job(handle.id.removeprefix("gen-"))
    assert row.error["code"] == "execution_error"
    assert "ImageBlur" in row.error["message"] and "simulated GPU fault" in row.error["message"]
    assert await activity_attempts(handle, "run_graph") == [1]


async def test_status_query_reports_running_progress_while_the_prompt_runs(platform, clean_emulator):
    await clean_emulator.set_faults(node_latency={"KSampler": 2.0})
    job = resolve_template("t2i_basic", {"steps": 10, "seed": random.randrange(1 << 30), "width": 64,
                                         "height": 64}, set())
    handle = await platform.submit(job)
    seen: list[JobProgress] = []
    while not seen or seen[-1].status in ("queued", "running"):
        seen.append(await handle.query(GenerationWorkflow.get_status))
        await asyncio.sleep(0.1)
    running = [s.progress for s in seen if s.status == "running"]
    assert running == sorted(running)
    assert len({p for p in running if 0 < p < 1}) >= 2  # it moves while KSampler steps, before the end
    assert seen[-1].status == "succeeded"


async def test_job_waits_out_a_comfyui_outage_and_succeeds(platform, clean_emulator):
    await clean_emulator.stop()
    try:
        handle = await platform.submit(resolve_graph(empty_image_graph(color=random.randrange(1 << 24)), set()))
        await asyncio.sleep(3)
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    finally:
        await clean_emulator.start()
    result = await asyncio.wait_for(handle.result(), timeout=60)
    assert result.status == "succeeded"
    [attempt] = await activity_attempts(handle, "run_graph")  # history keeps the last attempt only
    assert attempt >= 2


async def test_same_job_id_started_twice_is_one_run_even_after_it_ended(platform, emulator):
    job = resolve_graph(empty_image_graph(color=random.randrange(1 << 24)), set())
    options = JobOptions.from_settings(platform.settings, product="cli")
    job_id = f"dup{random.randrange(1 << 40)}"
    submitted = await submit_job(platform.job_env, job, {}, options,
                                 job_id=job_id)
    repeated = await submit_job(platform.job_env, job, {}, options,
                                job_id=job_id)
    assert submitted.created and not repeated.created and repeated.job.id == job_id
    first, again = submitted.handle, repeated.handle
    assert again.result_run_id == first.result_run_id
    await first.result()
    prompts_before = len((await emulator.stats())["prompts"])
    after_end = (await submit_job(platform.job_env, job, {}, options,
                                  job_id=job_id)).handle
    assert (await after_end.describe()).run_id == first.result_run_id
    assert len((await emulator.stats())["prompts"]) == prompts_before


async def test_idempotency_key_returns_the_job_submitted_before(platform):
    job = resolve_graph(empty_image_graph(color=random.randrange(1 << 24)), set())
    key = f"idem-{random.randrange(1 << 40)}"
    first = await platform.submit(job, idempotency_key=key, api_key_id="key-1")
    second = await platform.submit(job, idempotency_key=key, api_key_id="key-1")
    assert second.id == first.id
    other_key = await platform.submit(job, idempotency_key=key, api_key_id="key-2")
    assert other_key.id != first.id
    await first.result()


async def test_operators_find_a_run_by_its_search_attributes(platform):
    job = resolve_preset("quick_enhance", {}, {"image"})
    handle = await platform.submit(job, {"image": png_bytes()}, user_id="user-42")
    result = await handle.result()
    query = f'JobId = "{result.job_id}" AND Preset = "quick_enhance" AND UserId = "user-42" AND Product = "cli"'
    for _ in range(50):
        found = [wf.id async for wf in platform.client.list_workflows(query)]
        if found:
            break
        await asyncio.sleep(0.1)
    assert found == [handle.id]


async def _until_status(handle, wanted: str, with_prompt: bool = False, timeout: float = 15) -> JobProgress:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        state = await handle.query(GenerationWorkflow.get_status)
        if state.status == wanted and (state.prompt_id or not with_prompt):
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"job never reached {wanted}")
