"""/_emulator/stats counted by the client's own extra_data, and stats that outlive the process."""

import asyncio
import json
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import aiohttp
import pytest

from standins.comfyui import EmulatorConfig, start_emulator
from tests.helpers.ports import free_port
from tests.standins.comfyui.comfy import Comfy, empty_save, slow_graph, unique_color

ROOT = Path(__file__).resolve().parents[3]


async def wait_final(emulator, count: int, **tag) -> list[dict]:
    async with asyncio.timeout(10):
        while True:
            records = await emulator.prompts_with(**tag)
            if len(records) == count and all(r["status"] not in ("pending", "running") for r in records):
                return records
            await asyncio.sleep(0.02)


async def test_stats_record_each_submissions_extra_data_and_outcome_so_a_tag_can_be_counted(
        versioned_comfy, versioned_emulator):
    tag = {"job": uuid.uuid4().hex, "attempt_of": "gen"}
    extra = {**tag, "auth_token_comfy_org": "secret", "api_key_comfy_org": "secret"}
    await versioned_emulator.set_faults(fail_node="ImageBlur", fail_times=1)
    await versioned_emulator.set_latency(node_latency={"ImageSharpen": 0.3})
    failed = await versioned_comfy.queue_prompt(slow_graph(unique_color()), client_id="c1", extra_data=dict(extra))
    running = await versioned_comfy.queue_prompt(slow_graph(unique_color(), "ImageSharpen"), extra_data=dict(extra))
    deleted = await versioned_comfy.queue_prompt(empty_save(color=unique_color()), extra_data=dict(extra))
    await versioned_comfy.wait_running(running["prompt_id"])
    await versioned_comfy.post("/queue", {"delete": [deleted["prompt_id"]]})
    ok = await versioned_comfy.queue_prompt(empty_save(color=unique_color()), extra_data=dict(extra))
    await versioned_comfy.queue_prompt(empty_save(color=unique_color()), extra_data={"job": "someone else"})

    records = await wait_final(versioned_emulator, 4, **tag)
    assert [(r["prompt_id"], r["status"]) for r in records] == [
        (failed["prompt_id"], "error"), (running["prompt_id"], "success"),
        (deleted["prompt_id"], "deleted"), (ok["prompt_id"], "success")]
    assert all(r["extra_data"] == tag for r in records)  # no client_id, create_time or secrets
    assert [r["number"] for r in records] == [failed["number"], running["number"], deleted["number"], ok["number"]]
    ran = [r for r in records if r["started_at"] is not None]
    assert len(ran) == 3 and all(r["queued_at"] <= r["started_at"] <= r["finished_at"] for r in ran)
    assert await versioned_emulator.prompts_with(job=tag["job"], attempt_of="other") == []


@pytest.mark.parametrize("versioned_emulator", ["0.3.33"], indirect=True)
async def test_on_0_3_33_a_requeued_prompt_gets_a_new_id_but_keeps_its_tag(versioned_comfy, versioned_emulator):
    prompt_id, tag = str(uuid.uuid4()), uuid.uuid4().hex
    graph = empty_save(color=unique_color(), prefix="stats/requeue")
    replies = [await versioned_comfy.queue_prompt(graph, prompt_id=prompt_id, extra_data={"job": tag}) for _ in range(2)]
    records = await wait_final(versioned_emulator, 2, job=tag)
    assert len({r["prompt_id"] for r in records} | {prompt_id}) == 3
    assert [r["prompt_id"] for r in records] == [reply["prompt_id"] for reply in replies]
    assert [r["status"] for r in records] == ["success", "success"]


async def test_stats_file_is_replayed_by_a_new_emulator_on_the_same_file(tmp_path):
    config = EmulatorConfig(data_dir=tmp_path / "data", stats_path=tmp_path / "stats.jsonl")
    first = await start_emulator("127.0.0.1", free_port(), config)
    try:
        async with aiohttp.ClientSession() as session:
            done = await Comfy(session, first.url).run(empty_save(color=1), extra_data={"job": "j1"})
    finally:
        await first.stop()
    lines = (tmp_path / "stats.jsonl").read_text().splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["queued", "started", "finished"]  # appended, one per change
    second = await start_emulator("127.0.0.1", free_port(), config)
    try:
        stats = await second.stats()
        assert stats["executions"] == {done["prompt"][1]: 1}
        assert [(r["prompt_id"], r["status"]) for r in await second.prompts_with(job="j1")] == [
            (done["prompt"][1], "success")]
    finally:
        await second.stop()


async def wait_up(url: str, process: subprocess.Popen) -> None:
    async with aiohttp.ClientSession() as session:
        async with asyncio.timeout(20):
            while True:
                assert process.poll() is None, "the emulator process exited"
                try:
                    async with session.get(url + "/system_stats") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.1)


def spawn(port: int, tmp_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "standins.comfyui", "--port", str(port), "--data-dir", str(tmp_path / "data"),
         "--stats-file", str(tmp_path / "stats.jsonl"), "--comfyui-version", "0.3.33", "--log-level", "WARNING"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def test_an_emulator_process_killed_and_started_again_still_reports_every_execution(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = spawn(port, tmp_path)
    try:
        await wait_up(url, process)
        async with aiohttp.ClientSession() as session:
            comfy = Comfy(session, url)
            done = await comfy.run(empty_save(color=2), extra_data={"job": "before-kill"})
            await comfy.post("/_emulator/faults", {"node_latency": {"ImageBlur": 30}})
            cut = await comfy.queue_prompt(slow_graph(3), extra_data={"job": "cut-short"})
            await comfy.wait_running(cut["prompt_id"])
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()

    process = spawn(port, tmp_path)
    try:
        await wait_up(url, process)
        async with aiohttp.ClientSession() as session:
            comfy = Comfy(session, url)
            after = await comfy.run(empty_save(color=4), extra_data={"job": "after-kill"})
            _, stats = await comfy.get("/_emulator/stats")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait()
    assert stats["executions"] == {done["prompt"][1]: 1, cut["prompt_id"]: 1, after["prompt"][1]: 1}
    outcome = {r["extra_data"]["job"]: r["status"] for r in stats["prompts"]}
    assert outcome == {"before-kill": "success", "cut-short": "lost", "after-kill": "success"}
