"""/_emulator/* controls: injected faults, latency, execution statistics and restarts."""

import asyncio
import time
import uuid

import aiohttp
import pytest

from tests.standins.comfyui.comfy import empty_save

TROUBLE = "500 Internal Server Error\n\nServer got itself in trouble"


def unique_color() -> int:
    return uuid.uuid4().int & 0xFFFFFF


def blur_graph(color: int) -> dict:
    graph = empty_save(color=color, prefix="faults/blur", width=8, height=8)
    graph["3"] = {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 1, "sigma": 1.0}}
    graph["2"]["inputs"]["images"] = ["3", 0]
    return graph


async def test_fail_node_makes_that_node_raise_an_execution_error(comfy, clean_emulator):
    await clean_emulator.set_faults(fail_node="ImageBlur", fail_message="GPU on fire", fail_times=1)
    sock, cid = await comfy.socket()
    reply = await comfy.queue_prompt(blur_graph(unique_color()), client_id=cid)
    frames = await sock.until_done(reply["prompt_id"])
    error = [f["data"] for f in frames if f["type"] == "execution_error"][0]
    assert (error["node_id"], error["node_type"]) == ("3", "ImageBlur")
    assert error["exception_message"] == "GPU on fire\n" and error["exception_type"] == "RuntimeError"
    assert error["executed"] == ["1"] and error["current_inputs"]["blur_radius"] == [1]
    # fail_times=1: the next run of the same graph works (the failed node was not cached)
    entry = await comfy.run(blur_graph(unique_color()))
    assert entry["status"]["status_str"] == "success"
    await sock.close()


async def test_drop_sockets_closes_every_connection_now(comfy, clean_emulator):
    sock, _ = await comfy.socket()
    await clean_emulator.set_faults(drop_sockets=True)
    with pytest.raises(ConnectionError):
        await sock.next(timeout=3)
    again, _ = await comfy.socket()  # new connections are accepted right away
    await again.close()


async def test_drop_socket_after_start_closes_the_clients_socket_but_the_prompt_completes(comfy, clean_emulator):
    await clean_emulator.set_faults(drop_socket_after_start=True)
    sock, cid = await comfy.socket()
    reply = await comfy.queue_prompt(empty_save(color=unique_color(), prefix="faults/drop"), client_id=cid)
    seen = []
    with pytest.raises(ConnectionError):
        while True:
            seen.append((await sock.next(timeout=3))["type"])
    assert seen[-1] == "execution_start"
    assert (await comfy.wait_history(reply["prompt_id"]))["status"]["status_str"] == "success"
    assert (await clean_emulator.stats())["executions"][reply["prompt_id"]] == 1
    # one-shot: the next prompt keeps its socket
    sock, cid = await comfy.socket()
    reply = await comfy.queue_prompt(empty_save(color=unique_color(), prefix="faults/drop"), client_id=cid)
    await sock.until_done(reply["prompt_id"])
    await sock.close()


async def test_silent_socket_keeps_the_connection_open_but_sends_nothing(comfy, clean_emulator):
    sock, cid = await comfy.socket()
    await clean_emulator.set_faults(silent_socket=True)
    reply = await comfy.queue_prompt(empty_save(color=unique_color(), prefix="faults/silent"), client_id=cid)
    await comfy.wait_history(reply["prompt_id"])
    assert await sock.quiet_for(0.3) == [] and not sock.ws.closed
    await clean_emulator.clear_faults()
    reply = await comfy.queue_prompt(empty_save(color=unique_color(), prefix="faults/silent"), client_id=cid)
    assert "execution_success" in [f["type"] for f in await sock.until_done(reply["prompt_id"])]
    await sock.close()


async def test_stall_holds_the_next_prompt_before_it_starts(comfy, clean_emulator):
    await clean_emulator.set_faults(stall_s=0.5)
    reply = await comfy.queue_prompt(empty_save(color=unique_color(), prefix="faults/stall"))
    await asyncio.sleep(0.2)
    _, queue = await comfy.get("/queue")
    assert [item[1] for item in queue["queue_running"]] == [reply["prompt_id"]]
    assert (await comfy.get(f"/history/{reply['prompt_id']}"))[1] == {}
    entry = await comfy.wait_history(reply["prompt_id"])
    started = entry["status"]["messages"][0][1]["timestamp"]
    assert started - entry["prompt"][3]["create_time"] >= 450
    quick = await comfy.run(empty_save(color=unique_color(), prefix="faults/stall"))  # one-shot
    assert quick["status"]["messages"][0][1]["timestamp"] - quick["prompt"][3]["create_time"] < 400


async def test_http_500_answers_the_next_n_prompt_posts_with_the_crash_page(comfy, clean_emulator):
    await clean_emulator.set_faults(http_500=2)
    for _ in range(2):
        async with comfy.session.post(comfy.url + "/prompt", json={"prompt": empty_save()}) as resp:
            assert (resp.status, resp.content_type, await resp.text()) == (500, "text/plain", TROUBLE)
    assert (await comfy.get("/system_stats"))[0] == 200
    reply = await comfy.queue_prompt(empty_save(color=unique_color(), prefix="faults/500"))
    assert reply["prompt_id"]


async def test_unknown_fault_is_rejected(comfy):
    status, body = await comfy.post("/_emulator/faults", {"make_coffee": True})
    assert status == 400 and "make_coffee" in body["error"]


async def test_node_latency_slows_that_node(comfy, clean_emulator):
    await clean_emulator.set_latency(node_latency={"ImageBlur": 0.3})
    started = time.monotonic()
    await comfy.run(blur_graph(unique_color()))
    assert time.monotonic() - started >= 0.3
    faults = await clean_emulator.clear_faults()
    assert faults["node_latency"] == {} and faults["prompt_latency_s"] == 0


async def test_stats_count_real_executions(comfy, clean_emulator):
    prompt_id = str(uuid.uuid4())
    graph = empty_save(color=unique_color(), prefix="faults/stats")
    await comfy.run(graph, prompt_id=prompt_id)
    stats = await clean_emulator.stats()
    assert stats["executions"][prompt_id] == 1
    record = [p for p in stats["prompts"] if p["prompt_id"] == prompt_id][0]
    assert record["status"] == "success"
    assert record["queued_at"] <= record["started_at"] <= record["finished_at"]
    assert stats["busy_seconds"] > 0 and stats["uptime_s"] > 0
    # the same prompt id submitted again really runs again (served from cache, still an execution)
    await comfy.queue_prompt(graph, prompt_id=prompt_id)
    async with asyncio.timeout(5):
        while (await clean_emulator.stats())["executions"][prompt_id] != 2:
            await asyncio.sleep(0.02)


async def test_stop_really_closes_the_port_and_start_reopens_it(comfy, clean_emulator):
    done = await comfy.run(empty_save(color=unique_color(), prefix="faults/restart"))
    prompt_id = done["prompt"][1]
    await clean_emulator.stop()
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as session:
            await session.get(clean_emulator.url + "/system_stats")
    await clean_emulator.start()
    assert (await comfy.get("/system_stats"))[0] == 200
    assert (await comfy.get(f"/history/{prompt_id}"))[1] == {}  # history is lost, like a real restart
    assert (await clean_emulator.stats())["executions"][prompt_id] == 1  # stats survive
    await clean_emulator.restart(down_for=0.1)
    assert (await comfy.get("/system_stats"))[0] == 200


async def test_a_prompt_running_when_the_server_stops_is_lost_not_rerun(comfy, clean_emulator):
    await clean_emulator.set_latency(node_latency={"ImageBlur": 0.5})
    reply = await comfy.queue_prompt(blur_graph(unique_color()))
    async with asyncio.timeout(5):
        while (await clean_emulator.stats())["executions"].get(reply["prompt_id"]) != 1:
            await asyncio.sleep(0.02)
    await clean_emulator.restart()
    await asyncio.sleep(0.7)
    stats = await clean_emulator.stats()
    assert stats["executions"][reply["prompt_id"]] == 1
    assert [p["status"] for p in stats["prompts"] if p["prompt_id"] == reply["prompt_id"]] == ["lost"]
    assert (await comfy.get(f"/history/{reply['prompt_id']}"))[1] == {}
