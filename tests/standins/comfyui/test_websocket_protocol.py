"""The WebSocket message sequence and client_id routing of protocol §4."""

import asyncio
import uuid

from tests.standins.comfyui.comfy import empty_save, txt2img


def types(frames):
    return [f["type"] for f in frames]


async def test_connect_gets_status_with_its_sid(comfy):
    sock, client_id = await comfy.socket("hello-" + uuid.uuid4().hex)
    # comfy.socket() already asserted the first frame is status with sid == clientId
    await sock.close()


async def test_empty_image_to_save_image_emits_the_recorded_sequence(comfy):
    sock, cid = await comfy.socket()
    reply = await comfy.queue_prompt(empty_save(color=0x102030, prefix="ws/seq"), client_id=cid)
    pid = reply["prompt_id"]
    assert reply["number"] >= 0 and reply["node_errors"] == {}
    frames = await sock.until_done(pid)
    assert types(frames) == [
        "status", "status", "execution_start", "execution_cached", "progress_state", "executing",
        "progress_state", "progress_state", "executing", "executed", "progress_state",
        "execution_success", "status", "executing",
    ]
    assert [f["data"]["status"]["exec_info"]["queue_remaining"] for f in frames if f["type"] == "status"] == [1, 1, 0]
    assert frames[3]["data"]["nodes"] == []
    assert [f["data"]["node"] for f in frames if f["type"] == "executing"] == ["1", "2", None]
    executed = frames[9]["data"]
    assert executed["node"] == "2" and executed["prompt_id"] == pid
    assert executed["output"]["images"][0]["filename"].startswith("seq_") and executed["output"]["images"][0]["type"] == "output"
    assert frames[-3]["data"]["prompt_id"] == pid and "timestamp" in frames[-3]["data"]
    last_state = [f for f in frames if f["type"] == "progress_state"][-1]["data"]["nodes"]
    assert {n: s["state"] for n, s in last_state.items()} == {"1": "finished", "2": "finished"}
    await sock.close()


async def test_prompt_without_client_id_sends_no_per_prompt_events_to_anyone(comfy):
    sock, _ = await comfy.socket()
    reply = await comfy.queue_prompt(empty_save(color=0x010203, prefix="ws/anon"))
    await comfy.wait_history(reply["prompt_id"])
    frames = await sock.quiet_for(0.3)
    assert set(types(frames)) <= {"status", "progress_state"}
    assert "progress_state" in types(frames)  # broadcast when the prompt has no client_id
    await sock.close()


async def test_prompt_posted_with_another_clients_id_is_invisible_except_status(comfy):
    mine, _ = await comfy.socket()
    theirs, their_id = await comfy.socket()
    reply = await comfy.queue_prompt(empty_save(color=0x040506, prefix="ws/other"), client_id=their_id)
    their_frames = await theirs.until_done(reply["prompt_id"])
    assert "execution_success" in types(their_frames)
    assert set(types(await mine.quiet_for(0.3))) == {"status"}
    await mine.close()
    await theirs.close()


async def test_second_socket_with_same_client_id_orphans_the_first(comfy):
    first, cid = await comfy.socket()
    second, _ = await comfy.socket(cid)
    reply = await comfy.queue_prompt(empty_save(color=0x070809, prefix="ws/orphan"), client_id=cid)
    assert "execution_success" in types(await second.until_done(reply["prompt_id"]))
    assert await first.quiet_for(0.3) == []  # not even status
    assert not first.ws.closed
    await first.close()
    # closing the orphan must not unregister the live socket
    reply = await comfy.queue_prompt(empty_save(color=0x07080A, prefix="ws/orphan"), client_id=cid)
    assert "execution_success" in types(await second.until_done(reply["prompt_id"]))
    await second.close()


async def test_ksampler_sends_one_progress_event_per_step(comfy):
    sock, cid = await comfy.socket()
    reply = await comfy.queue_prompt(txt2img(seed=11, steps=5, prefix="ws/progress"), client_id=cid)
    frames = await sock.until_done(reply["prompt_id"])
    progress = [f["data"] for f in frames if f["type"] == "progress"]
    assert [(p["value"], p["max"], p["node"]) for p in progress] == [(i, 5, "3") for i in range(1, 6)]
    assert all(p["prompt_id"] == reply["prompt_id"] for p in progress)
    await sock.close()


async def test_feature_flags_handshake_is_answered_with_the_server_features(comfy):
    sock, _ = await comfy.socket()
    await sock.ws.send_json({"type": "feature_flags", "data": {"supports_preview_metadata": True}})
    frame = await sock.next()
    _, features = await comfy.get("/features")
    assert frame == {"type": "feature_flags", "data": features}
    await sock.close()


async def test_save_image_websocket_sends_binary_png_frames(comfy):
    sock, cid = await comfy.socket()
    graph = {"1": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 16, "batch_size": 2, "color": 5}},
             "2": {"class_type": "SaveImageWebsocket", "inputs": {"images": ["1", 0]}}}
    reply = await comfy.queue_prompt(graph, client_id=cid)
    frames = await sock.until_done(reply["prompt_id"])
    binary = [f["data"] for f in frames if f["type"] == "binary"]
    assert len(binary) == 2
    assert all(b[:8] == b"\x00\x00\x00\x01\x00\x00\x00\x02" and b[8:12] == b"\x89PNG" for b in binary)
    assert [f["data"]["value"] for f in frames if f["type"] == "progress"] == [0, 1]
    assert "executed" not in types(frames)  # no ui output, so no executed event
    await sock.close()


async def test_late_joiner_learns_the_running_node(comfy, clean_emulator):
    await clean_emulator.set_latency(node_latency={"ImageBlur": 0.8})
    cid = uuid.uuid4().hex
    graph = empty_save(color=0x0A0B0C, prefix="ws/late")
    graph["3"] = {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 1, "sigma": 1.0}}
    graph["2"]["inputs"]["images"] = ["3", 0]
    reply = await comfy.queue_prompt(graph, client_id=cid)
    await asyncio.sleep(0.3)
    sock, _ = await comfy.socket(cid)
    first = await sock.next()
    assert first == {"type": "executing", "data": {"node": "3"}}
    assert "execution_success" in types(await sock.until_done(reply["prompt_id"]))
    await sock.close()
