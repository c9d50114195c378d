"""A mixed fleet: three ComfyUI emulators with different model files and node sets behind one comfy worker. A job
goes only to a backend that can run it, a job none can run is refused naming what is missing, a backend that
gains a model starts getting those jobs, a job whose only capable backend is down waits for it, and affinity to
the loaded checkpoint never leaves a capable backend idle while jobs wait."""

from __future__ import annotations

import asyncio
import random
import re
import uuid

import pytest_asyncio
from prometheus_client import REGISTRY

from comfy_platform import metrics
from db import backends as backend_queries
from presets import resolve_graph, resolve_template
from standins.comfyui import EmulatorConfig, start_emulator
from tests.helpers.comfy_stats import prompts_of_job
from tests.helpers.ports import free_port
from workers.main import build_workers

COMMON = "common.safetensors"
RARE = "rare.safetensors"  # only gpu1 has it
FRESH = "fresh.safetensors"  # nobody has it until gpu0 is restarted with it
TXT2IMG_NODES = ["CheckpointLoaderSimple", "CLIPTextEncode", "EmptyLatentImage", "KSampler", "VAEDecode",
                 "SaveImage", "EmptyImage"]


def txt2img(ckpt: str, seed: int | None = None) -> dict:
    """The t2i_basic template on `ckpt`, small and short."""
    params = {"checkpoint": ckpt, "seed": random.randrange(1 << 30) if seed is None else seed, "steps": 2,
              "width": 64, "height": 64}
    return resolve_template("t2i_basic", params, set()).graph


def blur_graph() -> dict:
    """Needs ImageBlur, which gpu2 lacks."""
    return {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1,
                                                          "color": random.randrange(1 << 24)}},
            "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 1, "sigma": 1.0}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "fleet/blur"}}}


@pytest_asyncio.fixture
async def fleet(platform, tmp_path):
    gpus = [
        await start_emulator("127.0.0.1", free_port(), EmulatorConfig(data_dir=tmp_path / "gpu0",
                                                                      checkpoints=[COMMON])),
        await start_emulator("127.0.0.1", free_port(), EmulatorConfig(data_dir=tmp_path / "gpu1",
                                                                      checkpoints=[COMMON, RARE])),
        await start_emulator("127.0.0.1", free_port(), EmulatorConfig(data_dir=tmp_path / "gpu2",
                                                                      checkpoints=[COMMON],
                                                                      node_classes=TXT2IMG_NODES)),
    ]
    queue = f"comfy-fleet-{uuid.uuid4().hex[:8]}"
    settings = platform.settings.model_copy(update={
        "COMFYUI_URL": ",".join(gpu.url for gpu in gpus), "COMFY_TASK_QUEUE": queue, "COMFY_SLOTS_PER_BACKEND": 1,
        "BACKEND_POLL_S": 0.3, "COMFY_REGISTRY_REFRESH_S": 1.0, "COMFY_AFFINITY_WAIT_S": 1.0})
    workers, closers = await build_workers(platform.client, settings, role="comfy")
    tasks = [asyncio.create_task(worker.run()) for worker in workers]
    yield gpus, queue
    await asyncio.gather(*(worker.shutdown() for worker in workers), return_exceptions=True)
    for close in closers:
        await close()
    for task in tasks:
        task.cancel()
    for gpu in gpus:
        await gpu.stop()


async def run_jobs(platform, queue: str, graphs: list[dict]) -> list:
    handles = [await platform.submit(resolve_graph(graph, set()), comfy_task_queue=queue) for graph in graphs]
    await asyncio.gather(*(handle.result() for handle in handles))
    return [await platform.job(handle.id.removeprefix("gen-")) for handle in handles]


async def registry_row(platform, url: str):
    async with platform.sessionmaker() as session:
        return (await backend_queries.list_backends(session, urls=[url]))[0]


async def until_registry(platform, url: str, check, timeout_s: float = 20.0):
    async with asyncio.timeout(timeout_s):
        while not check(await registry_row(platform, url)):
            await asyncio.sleep(0.1)


async def test_jobs_go_only_to_backends_that_have_their_model_and_nodes(platform, fleet):
    gpus, queue = fleet
    rows = await run_jobs(platform, queue, [txt2img(RARE) for _ in range(4)] + [blur_graph() for _ in range(4)]
                          + [txt2img(COMMON) for _ in range(3)])
    assert {row.backend for row in rows[:4]} == {gpus[1].url}  # only gpu1 has the rare checkpoint
    assert gpus[2].url not in {row.backend for row in rows[4:8]}  # gpu2 lacks ImageBlur
    assert all(row.status == "succeeded" for row in rows)
    for gpu in (gpus[0], gpus[2]):  # and nothing was even tried there
        stats = await gpu.stats()
        assert not any(prompts_of_job(stats, row.id) for row in rows[:4])
    assert all(row.queue_wait_ms is not None for row in rows)


async def test_a_job_no_backend_can_run_is_refused_naming_what_is_missing(api_server, make_key):
    key = await make_key(rate_limit_per_minute=10_000)
    graph = txt2img("nowhere.safetensors")
    graph["2"] = {"class_type": "NoSuchNode", "inputs": {}}
    async with api_server.client(key.secret) as http:
        reply = await http.post("/api/v1/jobs", json={"graph": graph})
        assert reply.status_code == 422, reply.text
        error = reply.json()["error"]
        assert error["code"] == "no_backend_can_run"
        assert error["details"]["missing"] == ["node NoSuchNode", "ckpt_name nowhere.safetensors"]
        assert error["details"]["backends"] and all(b["missing"] == error["details"]["missing"]
                                                    for b in error["details"]["backends"])
        assert (await http.get("/api/v1/jobs")).json()["data"] == []  # nothing was recorded
        ready = (await http.get("/api/ready"))
        assert any(b["models"].get("ckpt_name") for b in ready.json()["backends"])
    # Backends go by public names there, never by their addresses.
    named = [b["backend"] for b in error["details"]["backends"] + ready.json()["backends"]]
    assert all(re.fullmatch(r"gpu-[0-9a-f]{8}", name) for name in named), named
    assert "127.0.0.1" not in reply.text and "127.0.0.1" not in ready.text


async def test_a_backend_that_gains_a_model_starts_receiving_its_jobs(platform, fleet):
    gpus, queue = fleet
    assert FRESH not in (await registry_row(platform, gpus[0].url)).models["ckpt_name"]
    await gpus[0].restart(checkpoints=[COMMON, FRESH])  # the model copied in, ComfyUI restarted
    await until_registry(platform, gpus[0].url, lambda row: FRESH in row.models["ckpt_name"])
    rows = await run_jobs(platform, queue, [txt2img(FRESH) for _ in range(3)])
    assert {row.backend for row in rows} == {gpus[0].url}
    assert all(row.status == "succeeded" for row in rows)


async def test_a_job_waits_while_its_only_capable_backend_is_down_and_runs_when_it_returns(platform, fleet):
    gpus, queue = fleet
    await gpus[1].stop()
    await until_registry(platform, gpus[1].url, lambda row: not row.up)
    handle = await platform.submit(resolve_graph(txt2img(RARE), set()), comfy_task_queue=queue)
    job_id = handle.id.removeprefix("gen-")
    await asyncio.sleep(3)  # several slot polls and heartbeats: it is waiting, not failing
    assert (await platform.job(job_id)).status == "queued"
    await gpus[1].start()
    assert (await handle.result()).status == "succeeded"
    row = await platform.job(job_id)
    assert row.backend == gpus[1].url and len(prompts_of_job(await gpus[1].stats(), job_id)) == 1


async def test_affinity_never_leaves_a_capable_backend_idle_while_jobs_wait(platform, fleet):
    gpus, queue = fleet
    for gpu in gpus:
        await gpu.set_faults(model_load_s=0.3, prompt_latency_s=0.3)
    rows = await run_jobs(platform, queue, [txt2img(COMMON) for _ in range(12)])
    used = {row.backend for row in rows}
    assert used == {gpu.url for gpu in gpus}  # every capable backend took work, though one had it loaded first
    loads = [(await gpu.stats())["model_loads"] for gpu in gpus]
    assert loads == [1, 1, 1]  # each loaded the checkpoint once, then kept it
    assert sum(1 for row in rows if row.model_load) == 3
    for gpu in gpus:  # and the worker's metrics say so, per backend
        labels = {"backend": metrics.backend_label(gpu.url)}
        assert REGISTRY.get_sample_value("comfy_backend_models_loaded_total", labels) == 1
