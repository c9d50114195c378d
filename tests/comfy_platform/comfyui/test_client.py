"""The ComfyUI client against the emulator over real HTTP and WebSocket connections."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid

import pytest

from comfy_platform.comfyui import (
    ComfyClient,
    ComfyExecutionError,
    ComfyInterrupted,
    ComfyMalformedPrompt,
    ComfyPromptLost,
    ComfyUnavailable,
    ComfyValidationError,
)
from tests.helpers.images import (
    empty_image_graph,
    invert_graph,
    open_png,
    png_bytes,
    slow_graph,
)
from tests.helpers.ports import free_port


@pytest.fixture
async def client(clean_emulator):
    async with ComfyClient(clean_emulator.url, ws_silence_s=0.5, poll_interval_s=0.1) as comfy:
        yield comfy


def unique_color() -> int:
    return random.randrange(0, 0xFFFFFF)


async def collect(client: ComfyClient, graph: dict, **kwargs):
    seen = []
    result = await client.run(graph, on_progress=seen.append, **kwargs)
    return result, seen


async def test_run_returns_outputs_that_download_as_the_requested_png(client):
    color = unique_color()
    result, progress = await collect(client, empty_image_graph(color=color, width=40, height=30))
    images = result.images()
    assert [(i["node_id"], i["index"], i["type"]) for i in images] == [("2", 0, "output")]
    data = b"".join([chunk async for chunk in client.download(images[0])])
    img = open_png(data)
    assert img.size == (40, 30)
    assert img.getpixel((5, 5)) == ((color >> 16) & 255, (color >> 8) & 255, color & 255)
    assert progress and progress[-1].status == "running"
    assert [p.progress for p in progress] == sorted(p.progress for p in progress)
    assert result.started_at_ms is not None and result.finished_at_ms >= result.started_at_ms


async def test_uploaded_input_is_inverted(client):
    name = await client.upload_image(png_bytes(color=(10, 200, 100)), "in.png", subfolder=f"t-{uuid.uuid4().hex}")
    result = await client.run(invert_graph(name))
    img = open_png(b"".join([c async for c in client.download(result.images()[0])]))
    assert img.getpixel((img.width - 1, 0)) == (245, 55, 155)  # 255 - (10, 200, 100)


async def test_events_that_arrive_before_the_http_reply_are_not_lost(clean_emulator):
    # With a long silence window a missed end event would hang the wait, not fall back to polling in time.
    async with ComfyClient(clean_emulator.url, ws_silence_s=30) as comfy:
        for _ in range(10):
            await asyncio.wait_for(comfy.run(empty_image_graph(color=unique_color())), timeout=10)


async def test_unknown_node_class_is_a_non_retryable_validation_error(client):
    graph = {"1": {"class_type": "NoSuchNode", "inputs": {}}}
    with pytest.raises(ComfyValidationError) as caught:
        await client.run(graph)
    assert caught.value.retryable is False
    assert caught.value.details["type"] == "missing_node_type"
    assert "NoSuchNode" in caught.value.message


async def test_value_out_of_range_error_names_node_and_input(client):
    graph = slow_graph(unique_color())
    graph["2"]["inputs"]["blur_radius"] = 0
    with pytest.raises(ComfyValidationError) as caught:
        await client.run(graph)
    assert "node 2 (ImageBlur)" in caught.value.message
    assert "blur_radius" in caught.value.message
    assert caught.value.details["node_errors"]["2"]["errors"][0]["type"] == "value_smaller_than_min"


async def test_broken_second_output_refuses_the_whole_job(client, clean_emulator):
    graph = empty_image_graph(color=unique_color())
    graph["3"] = {"class_type": "ImageInvert", "inputs": {"image": ["99", 0]}}
    graph["4"] = {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "broken"}}
    with pytest.raises(ComfyValidationError) as caught:
        await client.run(graph)
    assert "3" in caught.value.details["node_errors"]


async def test_malformed_body_500_is_a_typed_non_retryable_error(client):
    with pytest.raises(ComfyMalformedPrompt) as caught:
        await client.queue_prompt({"nodes": [], "links": []}, prompt_id=str(uuid.uuid4()), client_id="x")
    assert caught.value.retryable is False


async def test_node_failure_at_run_time_carries_node_type_and_exception(client):
    name = await client.upload_image(b"this is not a png", "bad.png", subfolder=f"t-{uuid.uuid4().hex}")
    with pytest.raises(ComfyExecutionError) as caught:
        await client.run(invert_graph(name))
    assert caught.value.details["node_type"] == "LoadImage"
    assert "cannot identify image file" in caught.value.details["exception_message"]
    assert caught.value.retryable is False


async def test_silent_socket_falls_back_to_history_polling(client, clean_emulator):
    await clean_emulator.set_faults(silent_socket=True)
    result = await asyncio.wait_for(client.run(empty_image_graph(color=unique_color())), timeout=10)
    assert result.images()


async def test_dropped_socket_falls_back_to_history_polling(client, clean_emulator):
    await clean_emulator.set_faults(drop_socket_after_start=True)
    result = await asyncio.wait_for(client.run(empty_image_graph(color=unique_color())), timeout=10)
    assert result.images()


async def test_cancel_dequeues_a_pending_prompt_and_interrupts_a_running_one(client, clean_emulator):
    await clean_emulator.set_faults(node_latency={"ImageBlur": 1.5})
    running_id, pending_id = str(uuid.uuid4()), str(uuid.uuid4())
    running = asyncio.ensure_future(client.run(slow_graph(unique_color()), prompt_id=running_id))
    await _until(lambda: client.locate(running_id), "running")
    pending = asyncio.ensure_future(client.run(slow_graph(unique_color()), prompt_id=pending_id))
    await _until(lambda: client.locate(pending_id), "pending")

    assert await client.cancel(pending_id) == "dequeued"
    assert await client.locate(pending_id) == "unknown"
    assert await client.cancel(running_id) == "interrupted"
    with pytest.raises(ComfyInterrupted):
        await asyncio.wait_for(running, timeout=10)
    with pytest.raises(ComfyPromptLost):
        await asyncio.wait_for(pending, timeout=10)
    stats = await clean_emulator.stats()
    assert pending_id not in stats["executions"]


async def test_a_prompt_waiting_behind_another_reports_its_queue_position(client, clean_emulator):
    await clean_emulator.set_faults(node_latency={"ImageBlur": 1.5})
    running_id = str(uuid.uuid4())
    running = asyncio.ensure_future(client.run(slow_graph(unique_color()), prompt_id=running_id))
    await _until(lambda: client.locate(running_id), "running")
    _, seen = await asyncio.wait_for(collect(client, empty_image_graph(color=unique_color())), timeout=15)
    await running
    queued = [p for p in seen if p.status == "queued"]
    assert queued and queued[0].queue_position == 1  # behind the one running
    assert seen[-1].status == "running"


async def test_attach_follows_a_prompt_queued_by_another_connection(client, clean_emulator):
    await clean_emulator.set_faults(node_latency={"ImageBlur": 0.5})
    prompt_id = str(uuid.uuid4())
    await client.queue_prompt(slow_graph(unique_color()), prompt_id=prompt_id, client_id=uuid.uuid4().hex)
    async with ComfyClient(clean_emulator.url, poll_interval_s=0.1) as other:
        result = await asyncio.wait_for(other.attach(prompt_id), timeout=10)
    assert result.images()
    assert (await clean_emulator.stats())["executions"][prompt_id] == 1


async def test_attach_to_an_unknown_prompt_says_it_is_lost(client):
    with pytest.raises(ComfyPromptLost):
        await client.attach(str(uuid.uuid4()))


async def test_unreachable_backend_is_a_retryable_unavailable_error():
    async with ComfyClient("http://127.0.0.1:9", request_timeout_s=2) as comfy:
        with pytest.raises(ComfyUnavailable) as caught:
            await comfy.system_stats()
    assert caught.value.retryable is True


async def test_a_refused_connection_says_the_request_never_reached_the_server():
    async with ComfyClient(f"http://127.0.0.1:{free_port()}", request_timeout_s=2) as comfy:
        with pytest.raises(ComfyUnavailable) as request:
            await comfy.queue_prompt(empty_image_graph(), prompt_id=str(uuid.uuid4()), client_id="x")
        with pytest.raises(ComfyUnavailable) as run:  # its socket is refused before anything is posted
            await comfy.run(empty_image_graph())
    assert request.value.delivered is False and run.value.delivered is False


@contextlib.asynccontextmanager
async def backend_that(handle):
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.close()


async def say_nothing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # until the client gives up
    writer.close()


@pytest.mark.parametrize("handle", [hang_up, say_nothing])
async def test_a_request_that_went_out_may_have_been_delivered_and_ends_within_the_request_timeout(handle):
    async with backend_that(handle) as url, ComfyClient(url, request_timeout_s=1) as comfy:
        started = asyncio.get_running_loop().time()
        with pytest.raises(ComfyUnavailable) as caught:
            await comfy.queue_prompt(empty_image_graph(), prompt_id=str(uuid.uuid4()), client_id="x")
        assert asyncio.get_running_loop().time() - started < 3
    assert caught.value.delivered is True


async def test_a_socket_handshake_never_answered_ends_within_the_request_timeout():
    async with backend_that(say_nothing) as url, ComfyClient(url, request_timeout_s=1) as comfy:
        started = asyncio.get_running_loop().time()
        with pytest.raises(ComfyUnavailable) as caught:
            await comfy.run(empty_image_graph())
        assert asyncio.get_running_loop().time() - started < 3
    assert caught.value.delivered is False  # nothing is posted before the socket is open


async def test_object_info_and_system_stats_are_read(client):
    stats = await client.system_stats()
    assert "comfyui_version" in stats["system"]
    info = await client.object_info()
    assert info["ImageInvert"]["input"]["required"]["image"] == ["IMAGE"]
    assert info["SaveImage"]["output_node"] is True


async def _until(probe, wanted: str, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await probe() == wanted:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never became {wanted}")
