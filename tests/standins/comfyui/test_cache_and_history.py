"""Caching of identical resubmissions and the history entry of protocol §5."""

import time
import uuid

import aiohttp

from standins.comfyui import EmulatorConfig, start_emulator
from tests.helpers.ports import free_port
from tests.standins.comfyui.comfy import Comfy, empty_save, png_bytes


def unique_color() -> int:
    return uuid.uuid4().int & 0xFFFFFF


async def test_identical_resubmission_replays_cached_outputs_without_a_new_file(comfy):
    graph = empty_save(color=unique_color(), prefix="cache/same")
    sock, cid = await comfy.socket()
    first = await comfy.queue_prompt(graph, client_id=cid)
    first_frames = await sock.until_done(first["prompt_id"])
    second = await comfy.queue_prompt(graph, client_id=cid)
    frames = await sock.until_done(second["prompt_id"])
    kinds = [f["type"] for f in frames if f["type"] != "status"]
    assert kinds == ["execution_start", "execution_cached", "executed", "progress_state", "execution_success", "executing"]
    assert [f["data"]["nodes"] for f in frames if f["type"] == "execution_cached"] == [["1", "2"]]
    old = [f["data"]["output"] for f in first_frames if f["type"] == "executed"][0]
    new = [f["data"]["output"] for f in frames if f["type"] == "executed"][0]
    assert new == old and old["images"][0]["filename"] == "same_00001_.png"
    assert (await comfy.get("/view", params={"filename": "same_00002_.png", "subfolder": "cache"}))[0] == 404
    entry = await comfy.wait_history(second["prompt_id"])
    assert entry["outputs"] == {"2": old}
    await sock.close()


async def test_changing_one_input_reruns_only_what_depends_on_it(comfy):
    graph = empty_save(color=unique_color(), prefix="cache/partial")
    await comfy.run(graph)
    graph["2"]["inputs"]["filename_prefix"] = "cache/partial_b"
    entry = await comfy.run(graph)
    assert dict(entry["status"]["messages"])["execution_cached"]["nodes"] == ["1"]
    assert entry["outputs"]["2"]["images"][0]["filename"] == "partial_b_00001_.png"


async def test_reuploading_different_bytes_invalidates_load_image(comfy):
    name = f"cache_{uuid.uuid4().hex[:6]}.png"
    await comfy.upload(name, png_bytes(color=(10, 10, 10)))
    graph = {"1": {"class_type": "LoadImage", "inputs": {"image": name}},
             "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "cache/load"}}}
    await comfy.run(graph)
    await comfy.upload(name, png_bytes(color=(20, 20, 20)), overwrite="true")
    entry = await comfy.run(graph)
    assert dict(entry["status"]["messages"])["execution_cached"]["nodes"] == []
    assert (await comfy.image(entry["outputs"]["2"]["images"][0])).convert("RGB").getpixel((0, 0)) == (20, 20, 20)


async def test_history_entry_shape_and_execution_timestamps(comfy, clean_emulator):
    await clean_emulator.set_latency(prompt_latency_s=0.2)
    before = int(time.time() * 1000)
    reply = await comfy.queue_prompt(empty_save(color=unique_color(), prefix="hist/shape"), client_id="hist-client")
    entry = await comfy.wait_history(reply["prompt_id"])
    number, pid, graph, extra, outputs = entry["prompt"]
    assert (number, pid, outputs) == (reply["number"], reply["prompt_id"], ["2"])
    assert extra["client_id"] == "hist-client" and before <= extra["create_time"]
    assert graph["2"]["class_type"] == "SaveImage"
    assert entry["meta"] == {"2": {"node_id": "2", "display_node": "2", "parent_node": None, "real_node_id": "2"}}
    status = entry["status"]
    assert status["status_str"] == "success" and status["completed"] is True
    events = [m[0] for m in status["messages"]]
    assert events == ["execution_start", "execution_cached", "execution_success"]
    started, ended = status["messages"][0][1]["timestamp"], status["messages"][-1][1]["timestamp"]
    assert extra["create_time"] <= started and ended - started >= 200


async def test_history_is_empty_until_finished_and_can_be_paged_and_deleted(comfy, clean_emulator):
    await clean_emulator.set_latency(prompt_latency_s=0.3)
    reply = await comfy.queue_prompt(empty_save(color=unique_color(), prefix="hist/wait"))
    assert (await comfy.get(f"/history/{reply['prompt_id']}")) == (200, {})
    await comfy.wait_history(reply["prompt_id"])
    await clean_emulator.clear_faults()
    last = await comfy.run(empty_save(color=unique_color(), prefix="hist/last"))
    _, newest = await comfy.get("/history", params={"max_items": "1"})
    assert list(newest) == [last["prompt"][1]]
    _, firsts = await comfy.get("/history", params={"max_items": "1", "offset": "0"})
    assert len(firsts) == 1
    assert (await comfy.post("/history", {"delete": [reply["prompt_id"]]})) == (200, None)
    assert (await comfy.get(f"/history/{reply['prompt_id']}"))[1] == {}


async def test_history_keeps_only_the_newest_entries(tmp_path):
    emulator = await start_emulator("127.0.0.1", free_port(), EmulatorConfig(data_dir=tmp_path, max_history=3))
    try:
        async with aiohttp.ClientSession() as session:
            comfy = Comfy(session, emulator.url)
            ids = [(await comfy.run(empty_save(color=c, prefix="cap/x")))["prompt"][1] for c in range(5)]
            _, history = await comfy.get("/history")
            assert list(history) == ids[2:]
            assert (await comfy.post("/history", {"clear": True}))[0] == 200
            assert (await comfy.get("/history"))[1] == {}
    finally:
        await emulator.stop()
