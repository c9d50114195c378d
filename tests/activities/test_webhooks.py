"""Webhooks end to end: a real job on the platform, POSTed signed to a receiver on loopback when it ends."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import timedelta

import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.common import RetryPolicy

import workflows.webhook
from db import webhooks as webhook_queries
from presets import resolve_preset, resolve_template
from sdk import verify_webhook as verify
from tests.helpers.images import open_png, png_bytes
from tests.helpers.webhook_receiver import running_receiver
from workflows.generation import GenerationWorkflow
from workflows.shared import webhook_workflow_id


@pytest.fixture
def quick_retries(monkeypatch):
    """The first webhook retry within 0.2 s instead of 5 s (the policy is read when the step is scheduled)."""
    monkeypatch.setattr(workflows.webhook, "WEBHOOK_RETRY",
                        RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=1)))


async def delivery_done(platform, job_id: str) -> bool:
    """Wait for the job's webhook workflow, which goes on after the job's own run has ended."""
    return await asyncio.wait_for(platform.client.get_workflow_handle(webhook_workflow_id(job_id)).result(), 30)


async def deliveries_of(platform, job_id: str):
    async with platform.sessionmaker() as session:
        return await webhook_queries.list_deliveries(session, job_id)


def quick_job():
    return resolve_preset("quick_enhance", {"scale": 0.5}, {"image"})


async def test_finished_job_is_posted_once_signed_with_the_keys_secret(platform, make_key):
    created = await make_key()
    async with running_receiver() as receiver:
        handle = await platform.submit(quick_job(), {"image": png_bytes(64, 48)}, api_key_id=created.key.id,
                                       webhook_url=receiver.url)
        result = await handle.result()
        assert await delivery_done(platform, result.job_id)
    [request] = receiver.requests
    assert request.headers["webhook-id"] == f"wh_{result.job_id}"
    assert request.headers["Content-Type"] == "application/json"
    assert verify(created.webhook_secret, request.headers, request.body)
    body = json.loads(request.body)
    assert (body["id"], body["status"], body["progress"], body["preset"]) == (result.job_id, "succeeded", 1.0,
                                                                              "quick_enhance")
    [output] = body["outputs"]
    async with httpx.AsyncClient() as http:
        download = await http.get(output["url"])
    assert open_png(download.content).size == (32, 24) == (output["width"], output["height"])
    [delivery] = await deliveries_of(platform, result.job_id)
    assert (delivery.attempt, delivery.status_code, delivery.delivered, delivery.error) == (1, 200, True, None)
    assert delivery.webhook_id == f"wh_{result.job_id}" and delivery.duration_ms > 0


async def test_receiver_error_is_retried_with_the_same_webhook_id(platform, make_key, quick_retries):
    created = await make_key()
    async with running_receiver(500) as receiver:
        handle = await platform.submit(quick_job(), {"image": png_bytes()}, api_key_id=created.key.id,
                                       webhook_url=receiver.url)
        result = await handle.result()
        assert await delivery_done(platform, result.job_id)
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == f"wh_{result.job_id}"
    assert all(verify(created.webhook_secret, r.headers, r.body) for r in (first, second))
    # The second attempt's body already shows the first one.
    assert [(d["attempt"], d["status_code"], d["delivered"]) for d in json.loads(second.body)["webhook_deliveries"]] \
        == [(1, 500, False)]
    deliveries = await deliveries_of(platform, result.job_id)
    assert [(d.attempt, d.status_code, d.delivered, d.error) for d in deliveries] == [
        (1, 500, False, "HTTP 500"), (2, 200, True, None)]


async def test_retry_after_of_a_busy_receiver_is_honoured(platform, make_key, monkeypatch):
    # Without the receiver's Retry-After the next attempt would wait a minute.
    monkeypatch.setattr(workflows.webhook, "WEBHOOK_RETRY", RetryPolicy(initial_interval=timedelta(minutes=1)))
    created = await make_key()
    async with running_receiver((429, {"Retry-After": "1"})) as receiver:
        handle = await platform.submit(quick_job(), {"image": png_bytes()}, api_key_id=created.key.id,
                                       webhook_url=receiver.url)
        result = await asyncio.wait_for(handle.result(), timeout=20)
        assert await delivery_done(platform, result.job_id)
    assert len(receiver.requests) == 2
    assert [d.status_code for d in await deliveries_of(platform, result.job_id)] == [429, 200]


async def test_failed_job_notifies_with_its_error(platform, make_key):
    created = await make_key()
    job = resolve_template("t2i_basic", {"checkpoint": "missing.safetensors", "seed": random.randrange(1 << 30)},
                           set())
    async with running_receiver() as receiver:
        handle = await platform.submit(job, api_key_id=created.key.id, webhook_url=receiver.url)
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        assert await delivery_done(platform, handle.id.removeprefix("gen-"))
    [request] = receiver.requests
    assert verify(created.webhook_secret, request.headers, request.body)
    body = json.loads(request.body)
    assert (body["status"], body["error"]["code"], body["outputs"]) == ("failed", "invalid_graph", [])


async def test_cancelled_job_still_notifies(platform, make_key, clean_emulator):
    await clean_emulator.set_faults(node_latency={"KSampler": 10.0})
    created = await make_key()
    job = resolve_template("t2i_basic", {"steps": 50, "seed": random.randrange(1 << 30)}, set())
    async with running_receiver() as receiver:
        handle = await platform.submit(job, api_key_id=created.key.id, webhook_url=receiver.url)
        while (await handle.query(GenerationWorkflow.get_status)).status != "running":
            await asyncio.sleep(0.05)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await asyncio.wait_for(handle.result(), timeout=10)
        assert await delivery_done(platform, handle.id.removeprefix("gen-"))
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    [request] = receiver.requests
    assert json.loads(request.body)["status"] == "cancelled"


async def test_unsafe_webhook_url_is_recorded_once_and_leaves_the_job_succeeded(platform, make_key):
    created = await make_key()
    handle = await platform.submit(quick_job(), {"image": png_bytes()}, api_key_id=created.key.id,
                                   webhook_url="http://169.254.169.254/latest/meta-data/")
    result = await handle.result()
    assert not await delivery_done(platform, result.job_id)
    assert result.status == "succeeded" and (await platform.job(result.job_id)).status == "succeeded"
    [delivery] = await deliveries_of(platform, result.job_id)
    assert not delivery.delivered and delivery.status_code is None
    assert "metadata address" in delivery.error


async def test_job_without_a_key_cannot_be_signed_and_is_not_posted(platform):
    async with running_receiver() as receiver:
        handle = await platform.submit(quick_job(), {"image": png_bytes()}, webhook_url=receiver.url)
        result = await handle.result()
        assert not await delivery_done(platform, result.job_id)
    assert receiver.requests == []
    [delivery] = await deliveries_of(platform, result.job_id)
    assert "no API key" in delivery.error


async def test_job_result_does_not_wait_for_a_receiver_that_keeps_failing(platform, make_key):
    created = await make_key()
    async with running_receiver(*([500] * 50)) as receiver:
        handle = await platform.submit(quick_job(), {"image": png_bytes()}, api_key_id=created.key.id,
                                       webhook_url=receiver.url)
        result = await asyncio.wait_for(handle.result(), timeout=15)
        delivery = platform.client.get_workflow_handle(webhook_workflow_id(result.job_id))
        assert result.status == "succeeded"
        assert (await delivery.describe()).status == WorkflowExecutionStatus.RUNNING  # still retrying
        await delivery.terminate("test over")


async def test_an_unreachable_receiver_is_logged_in_one_line_without_a_traceback(platform, make_key, quick_retries,
                                                                                  caplog):
    """Tracebacks are for bugs: a receiver that is down is an expected condition of the receiver's."""
    from tests.helpers.ports import free_port

    created = await make_key()
    caplog.set_level("DEBUG", logger="temporalio")
    handle = await platform.submit(quick_job(), {"image": png_bytes()}, api_key_id=created.key.id,
                                   webhook_url=f"http://127.0.0.1:{free_port()}/hook")
    result = await asyncio.wait_for(handle.result(), timeout=15)
    delivery = platform.client.get_workflow_handle(webhook_workflow_id(result.job_id))
    for _ in range(100):
        if len(await deliveries_of(platform, result.job_id)) >= 2:
            break
        await asyncio.sleep(0.1)
    await delivery.terminate("test over")
    said = [r for r in caplog.records if "not reached" in r.getMessage() or "webhook POST" in r.getMessage()]
    assert said and all(r.exc_info is None for r in said), said
    assert not [r for r in caplog.records if r.levelno >= 30 and r.exc_info], \
        [r.getMessage() for r in caplog.records if r.levelno >= 30 and r.exc_info]
