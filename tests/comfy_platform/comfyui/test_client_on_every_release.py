"""The ComfyUI client on every release people run: 0.3.33 (May 2025: server-made prompt ids, an /interrupt that
stops whatever runs), 0.3.64 (targeted interrupt, no /api/jobs) and today's. Real HTTP and WebSocket against the
emulator in each version's mode."""

from __future__ import annotations

import asyncio
import random
import time
import uuid

import pytest

from comfy_platform.comfyui import ComfyClient, ComfyInterrupted, ComfyUnavailable
from tests.helpers.images import empty_image_graph, slow_graph
from tests.standins.comfyui.comfy import txt2img

EXPECTED = {  # version -> (targeted interrupt, jobs API)
    "0.3.33": (False, False),
    "0.3.64": (True, False),
    "0.33.0": (True, True),
}


@pytest.fixture
async def client(versioned_emulator):
    async with ComfyClient(versioned_emulator.url, ws_silence_s=0.5, poll_interval_s=0.1) as comfy:
        yield comfy


def version_of(emulator) -> str:
    return emulator.config.comfyui_version


def tagged(tag: str) -> dict:
    return {"comfy_platform": {"tag": tag}}


async def until_where(client: ComfyClient, prompt_id: str, wanted: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await client.locate(prompt_id) == wanted:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{prompt_id} never {wanted}")


async def test_what_a_server_supports_is_learned_from_it(client, versioned_emulator):
    learned = await client.capabilities()
    assert (learned.targeted_interrupt, learned.jobs_api) == EXPECTED[version_of(versioned_emulator)]
    assert learned.version.startswith(version_of(versioned_emulator))


async def test_a_server_that_comes_back_as_another_release_is_learned_again(clean_emulator):
    async with ComfyClient(clean_emulator.url, request_timeout_s=2) as client:
        assert (await client.capabilities()).jobs_api
        restart = asyncio.create_task(clean_emulator.restart(down_for=1.0, comfyui_version="0.3.33"))
        await asyncio.sleep(0.3)
        with pytest.raises(ComfyUnavailable):  # noticed while it is down
            await client.system_stats()
        await restart
        learned = await client.capabilities()
    assert (learned.targeted_interrupt, learned.jobs_api) == (False, False)


async def test_the_prompt_id_of_record_is_the_one_the_server_gives(client, versioned_emulator):
    asked = str(uuid.uuid4())
    told = []
    result = await client.run(empty_image_graph(color=random.randrange(1 << 24)), prompt_id=asked,
                              on_queued=told.append)
    assert told == [result.prompt_id] and result.images()
    if version_of(versioned_emulator) == "0.3.33":
        assert result.prompt_id != asked  # ignored: the server made its own
    else:
        assert result.prompt_id == asked


async def test_a_prompt_is_found_by_its_tag_whatever_id_the_server_gave_it(client, versioned_emulator):
    await versioned_emulator.set_faults(node_latency={"ImageBlur": 1.0})
    ahead = await client.queue_prompt(slow_graph(random.randrange(1 << 24)), prompt_id=str(uuid.uuid4()),
                                      client_id="x", extra_data=tagged("ahead"))
    tag = uuid.uuid4().hex
    mine = await client.queue_prompt(empty_image_graph(color=random.randrange(1 << 24)),
                                     prompt_id=str(uuid.uuid4()), client_id="y", extra_data=tagged(tag))
    found = await client.find_tagged(tag)
    assert (found.prompt_id, found.where) == (mine, "pending")
    await until_where(client, mine, "finished")
    found = await client.find_tagged(tag)
    assert (found.prompt_id, found.where) == (mine, "finished")
    assert await client.find_tagged(uuid.uuid4().hex) is None
    assert (await client.find_tagged("ahead")).prompt_id == ahead


async def test_an_interrupted_copy_is_not_found_by_its_tag(client, versioned_emulator):
    await versioned_emulator.set_faults(node_latency={"ImageBlur": 1.0})
    tag = uuid.uuid4().hex
    run = asyncio.ensure_future(client.run(slow_graph(random.randrange(1 << 24)), extra_data=tagged(tag)))
    await asyncio.sleep(0.3)
    found = await client.find_tagged(tag)
    assert found.where == "running"
    assert await client.cancel(found.prompt_id, wait_s=5) == "interrupted"
    with pytest.raises(ComfyInterrupted):
        await asyncio.wait_for(run, timeout=10)
    assert await client.find_tagged(tag) is None  # it will never finish: a caller queues another


async def test_cancel_dequeues_a_pending_prompt_and_interrupts_a_running_one(client, versioned_emulator):
    await versioned_emulator.set_faults(node_latency={"KSampler": 5.0})
    running = await client.queue_prompt(txt2img(seed=random.randrange(1 << 30), steps=50), prompt_id=str(uuid.uuid4()),
                                        client_id="a")
    await until_where(client, running, "running")
    pending = await client.queue_prompt(empty_image_graph(color=random.randrange(1 << 24)),
                                        prompt_id=str(uuid.uuid4()), client_id="b")
    assert await client.cancel(pending) == "dequeued"
    assert await client.locate(pending) == "unknown"
    assert await client.cancel(running, wait_s=5) == "interrupted"
    assert await client.locate(running) == "finished"
    assert await client.cancel(running) == "not_queued"
    stats = await versioned_emulator.stats()
    assert pending not in stats["executions"]


async def test_a_cancel_racing_the_next_prompt_hits_it_only_where_interrupt_is_untargeted(client, versioned_emulator):
    # The interrupt reaches ComfyUI 1.5 s after the cancel saw A running: A has ended, B runs.
    await versioned_emulator.set_faults(node_latency={"ImageBlur": 1.5}, interrupt_delay_s=1.5)
    first = await client.queue_prompt(slow_graph(random.randrange(1 << 24)), prompt_id=str(uuid.uuid4()),
                                      client_id="a")
    second = await client.queue_prompt(slow_graph(random.randrange(1 << 24)), prompt_id=str(uuid.uuid4()),
                                       client_id="b")
    await until_where(client, first, "running")
    await asyncio.sleep(0.8)
    if (await client.capabilities()).jobs_api:
        # /api/jobs cancels at once, so there is no window: A is stopped, B is untouched.
        assert await client.cancel(first, wait_s=5) == "interrupted"
    else:
        assert await client.cancel(first, wait_s=5) in ("interrupted", "not_queued")
    await until_where(client, second, "finished")
    statuses = {p["prompt_id"]: p["status"] for p in (await versioned_emulator.stats())["prompts"]}
    if version_of(versioned_emulator) == "0.3.33":
        assert (statuses[first], statuses[second]) == ("success", "interrupted")
    else:
        assert statuses[second] == "success"
