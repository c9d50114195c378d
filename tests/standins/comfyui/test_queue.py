"""Queue numbering, front, delete/clear, interrupt and /api/jobs (protocol §2, §7)."""

import asyncio
import uuid

from tests.standins.comfyui.comfy import empty_save, txt2img


def slow_graph(color: int, prefix: str = "queue/slow") -> dict:
    """EmptyImage -> ImageBlur -> ImageInvert -> SaveImage; tests give ImageBlur latency."""
    graph = empty_save(color=color, prefix=prefix, width=8, height=8)
    graph["3"] = {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 1, "sigma": 1.0}}
    graph["4"] = {"class_type": "ImageInvert", "inputs": {"image": ["3", 0]}}
    graph["2"]["inputs"]["images"] = ["4", 0]
    return graph


async def wait_running(comfy, prompt_id: str) -> None:
    async with asyncio.timeout(10):
        while True:
            _, queue = await comfy.get("/queue")
            if any(item[1] == prompt_id for item in queue["queue_running"]):
                return
            await asyncio.sleep(0.01)


def unique_color() -> int:
    return uuid.uuid4().int & 0xFFFFFF


async def test_front_negates_the_number_and_runs_first_and_delete_only_touches_pending(comfy, clean_emulator):
    await clean_emulator.set_latency(node_latency={"ImageBlur": 0.5})
    a = await comfy.queue_prompt(slow_graph(unique_color()))
    await wait_running(comfy, a["prompt_id"])
    b = await comfy.queue_prompt(empty_save(color=unique_color(), prefix="queue/b"))
    c = await comfy.queue_prompt(empty_save(color=unique_color(), prefix="queue/c"))
    d = await comfy.queue_prompt(empty_save(color=unique_color(), prefix="queue/d"), front=True)
    assert (b["number"], c["number"], d["number"]) == (a["number"] + 1, a["number"] + 2, -(a["number"] + 3))

    _, queue = await comfy.get("/queue")
    assert [item[1] for item in queue["queue_running"]] == [a["prompt_id"]]
    assert len(queue["queue_running"][0]) == 5
    assert sorted((item[0], item[1]) for item in queue["queue_pending"]) == sorted(
        [(b["number"], b["prompt_id"]), (c["number"], c["prompt_id"]), (d["number"], d["prompt_id"])])
    _, info = await comfy.get("/prompt")
    assert info == {"exec_info": {"queue_remaining": 4}}

    assert (await comfy.post("/queue", {"delete": [b["prompt_id"], a["prompt_id"]]})) == (200, None)
    _, queue = await comfy.get("/queue")
    assert [item[1] for item in queue["queue_running"]] == [a["prompt_id"]]  # running is untouched
    assert {item[1] for item in queue["queue_pending"]} == {c["prompt_id"], d["prompt_id"]}

    for reply in (a, c, d):
        await comfy.wait_history(reply["prompt_id"])
    _, history = await comfy.get("/history")
    order = [pid for pid in history if pid in {a["prompt_id"], c["prompt_id"], d["prompt_id"]}]
    assert order == [a["prompt_id"], d["prompt_id"], c["prompt_id"]]
    assert (await comfy.get(f"/history/{b['prompt_id']}")) == (200, {})
    assert (await comfy.get(f"/api/jobs/{b['prompt_id']}")) == (404, {"error": "Job not found"})


async def test_clear_empties_pending_but_the_running_prompt_finishes(comfy, clean_emulator):
    await clean_emulator.set_latency(node_latency={"ImageBlur": 0.4})
    a = await comfy.queue_prompt(slow_graph(unique_color()))
    await wait_running(comfy, a["prompt_id"])
    x = await comfy.queue_prompt(empty_save(color=unique_color(), prefix="queue/x"))
    assert (await comfy.post("/queue", {"clear": True}))[0] == 200
    _, queue = await comfy.get("/queue")
    assert queue["queue_pending"] == [] and len(queue["queue_running"]) == 1
    assert (await comfy.wait_history(a["prompt_id"]))["status"]["status_str"] == "success"
    await asyncio.sleep(0.1)
    assert (await comfy.get(f"/history/{x['prompt_id']}"))[1] == {}
    stats = await clean_emulator.stats()
    assert x["prompt_id"] not in stats["executions"]
    assert [p["status"] for p in stats["prompts"] if p["prompt_id"] == x["prompt_id"]] == ["deleted"]


async def test_interrupt_stops_at_the_next_node_boundary(comfy, clean_emulator):
    await clean_emulator.set_latency(node_latency={"ImageBlur": 0.4})
    sock, cid = await comfy.socket()
    reply = await comfy.queue_prompt(slow_graph(unique_color()), client_id=cid)
    pid = reply["prompt_id"]
    async with asyncio.timeout(5):
        while (frame := await sock.next())["type"] != "executing" or frame["data"]["node"] != "3":
            pass
    assert (await comfy.post("/interrupt", {"prompt_id": pid})) == (200, None)
    frames = await sock.until_done(pid)
    kinds = [f["type"] for f in frames]
    assert kinds[-3:] == ["execution_interrupted", "status", "executing"]
    data = frames[-3]["data"]
    # the blur ran to its end; the next node saw the flag
    assert (data["node_id"], data["node_type"], data["executed"]) == ("4", "ImageInvert", ["1", "3"])
    entry = await comfy.wait_history(pid)
    assert entry["status"]["status_str"] == "error" and entry["status"]["completed"] is False
    assert entry["outputs"] == {} and entry["status"]["messages"][-1][0] == "execution_interrupted"
    _, job = await comfy.get(f"/api/jobs/{pid}")
    assert job["status"] == "cancelled"
    await sock.close()


async def test_interrupt_for_another_prompt_id_or_while_idle_changes_nothing(comfy, clean_emulator):
    assert (await comfy.post("/interrupt")) == (200, None)  # idle: still 200, flag cleared by next start
    await clean_emulator.set_latency(node_latency={"ImageBlur": 0.3})
    reply = await comfy.queue_prompt(slow_graph(unique_color()))
    await wait_running(comfy, reply["prompt_id"])
    assert (await comfy.post("/interrupt", {"prompt_id": str(uuid.uuid4())}))[0] == 200
    assert (await comfy.wait_history(reply["prompt_id"]))["status"]["status_str"] == "success"


async def test_ksampler_checks_interrupt_between_steps(comfy, clean_emulator):
    await clean_emulator.set_latency(node_latency={"KSampler": 2.0})
    sock, cid = await comfy.socket()
    reply = await comfy.queue_prompt(txt2img(seed=unique_color(), steps=20, prefix="queue/ks"), client_id=cid)
    async with asyncio.timeout(5):
        while (frame := await sock.next())["type"] != "progress" or frame["data"]["value"] < 2:
            pass
    await comfy.post("/interrupt")
    frames = await sock.until_done(reply["prompt_id"])
    interrupted = [f["data"] for f in frames if f["type"] == "execution_interrupted"]
    assert interrupted and interrupted[0]["node_id"] == "3" and interrupted[0]["node_type"] == "KSampler"
    assert max(f["data"]["value"] for f in frames if f["type"] == "progress") < 20
    await sock.close()


async def test_jobs_api_lists_and_describes_prompts(comfy):
    done = await comfy.run(empty_save(color=unique_color(), prefix="queue/job"))
    pid = done["prompt"][1]
    status, page = await comfy.get("/api/jobs", params={"status": "completed", "limit": "5"})
    assert status == 200 and page["pagination"]["limit"] == 5 and page["pagination"]["offset"] == 0
    assert pid in [job["id"] for job in page["jobs"]]
    status, job = await comfy.get(f"/api/jobs/{pid}")
    assert status == 200 and job["status"] == "completed" and job["outputs_count"] == 1
    assert job["preview_output"]["nodeId"] == "2" and job["preview_output"]["mediaType"] == "images"
    assert job["execution_start_time"] <= job["execution_end_time"]
    assert job["outputs"] == done["outputs"] and job["execution_status"] == done["status"]
    assert job["workflow"]["prompt"] == done["prompt"][2]
    status, body = await comfy.get("/api/jobs", params={"status": "done"})
    assert status == 400 and body["error"].startswith("Invalid status value(s): done")
    assert (await comfy.get(f"/api/jobs/{uuid.uuid4()}")) == (404, {"error": "Job not found"})
    assert (await comfy.get("/jobs"))[0] == 404  # only under /api


async def test_cancelling_jobs(comfy, clean_emulator):
    await clean_emulator.set_latency(node_latency={"ImageBlur": 0.4})
    running = await comfy.queue_prompt(slow_graph(unique_color()))
    await wait_running(comfy, running["prompt_id"])
    pending = await comfy.queue_prompt(empty_save(color=unique_color(), prefix="queue/cancel"))
    assert (await comfy.post(f"/api/jobs/{pending['prompt_id']}/cancel"))[1] == {"cancelled": True}
    assert (await comfy.post(f"/api/jobs/{uuid.uuid4()}/cancel")) == (200, {"cancelled": False})
    assert (await comfy.post(f"/api/jobs/{running['prompt_id']}/cancel"))[1] == {"cancelled": True}
    entry = await comfy.wait_history(running["prompt_id"])
    assert entry["status"]["messages"][-1][0] == "execution_interrupted"
