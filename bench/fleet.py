"""Fleet scheduling: model-aware routing with checkpoint affinity against model-blind least-busy routing, in one run.

Eight emulator backends, each offering the same three checkpoints, each loading a checkpoint other than its loaded
one in 2 s and running a prompt in 0.5 s; a mixed stream of jobs (the three checkpoints in random order, the same
seeded stream for every configuration) submitted at once to one comfy worker process over PostgreSQL. For each
configuration: throughput (jobs / wall time from the first submission to the last job's end), the busy ratio
(time the GPUs ran prompts, loads included / (backends x wall time)), the generating ratio (the same without the
loads), and the loading share of busy time, all from the emulators' own stats. Configurations: model-blind
(`COMFY_AFFINITY=false`: the least busy backend) and model-aware (the default) on 8 backends; model-aware on 1
backend, for the scaling figure (throughput at 8 / throughput at 1).

Needs PostgreSQL at 127.0.0.1:5432 (trust auth, as the tests do) or BENCH_DATABASE_URL. About 6 minutes on
2 cores; BENCH_FLEET_JOBS sets the 8-backend stream's length (480: long enough that the eight first loads, which
no routing avoids, weigh as they would in a day's traffic rather than dominate the figures).
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import time
import uuid
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from bench.scale import bench_database, drop_database
from bench.stack import CLI, CpuShare, LocalStack, emulator_control, save_results
from comfy_platform.settings import Settings
from comfy_platform.storage import storage_from_settings
from comfy_platform.temporal import connect
from db.session import create_engine, create_sessionmaker
from presets import resolve_graph, resolve_template
from services.jobs import JobEnv, JobOptions, submit_job
from standins.comfyui.config import DEFAULT_CHECKPOINTS

RESULTS = Path(__file__).parent / "results" / "fleet.json"
BACKENDS = 8
LOAD_S = 2.0
PROMPT_S = 0.5
SLOTS = 2
JOBS = int(os.environ.get("BENCH_FLEET_JOBS", "480"))
JOBS_ONE_BACKEND = max(8, JOBS // 8)


def txt2img(ckpt: str, seed: int) -> dict:
    """The t2i_basic template on `ckpt`, as small and short as it goes."""
    params = {"checkpoint": ckpt, "seed": seed, "steps": 1, "width": 64, "height": 64}
    return resolve_template("t2i_basic", params, set()).graph


def stream(jobs: int) -> list[dict]:
    """The mixed stream: the same for every configuration of a run (seeded), a fresh seed per job."""
    rng = random.Random(16)
    return [txt2img(rng.choice(DEFAULT_CHECKPOINTS), rng.randrange(1 << 40)) for _ in range(jobs)]


async def stats(backends: list[str]) -> dict[str, float]:
    totals = {"busy_seconds": 0.0, "load_seconds": 0.0, "model_loads": 0.0}
    for url in backends:
        reply = await emulator_control(url, "GET", "/_emulator/stats")
        for name in totals:
            totals[name] += reply[name]
    return totals


async def polled(client: Client, queue: str) -> None:
    """Until a worker polls the queue's activities (the worker process is up and its registry read)."""
    for _ in range(600):
        reply = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY))
        if reply.pollers:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"no worker ever polled {queue}")


async def measure(stack: LocalStack, client: Client, settings: Settings, backends: list[str], affinity: bool,
                  graphs: list[dict]) -> dict:
    """One configuration: a comfy worker serving `backends`, the stream submitted at once, run to its end."""
    for url in backends:  # every configuration starts with no model loaded
        await emulator_control(url, "POST", "/free", {"unload_models": True})
    queue = f"fleet-{uuid.uuid4().hex[:8]}"
    worker = subprocess.Popen([*CLI, "worker", "--role", "comfy"], env={
        **os.environ, **stack.env, "COMFYUI_URL": ",".join(backends), "COMFY_TASK_QUEUE": queue,
        "COMFY_SLOTS_PER_BACKEND": str(SLOTS), "COMFY_AFFINITY": "true" if affinity else "false",
        "BACKEND_POLL_S": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sessionmaker = create_sessionmaker(engine := create_engine(settings.database_url))
    env = JobEnv(sessionmaker, storage_from_settings(settings), settings, client)
    options = JobOptions.from_settings(settings, product="cli", comfy_task_queue=queue)
    try:
        await polled(client, queue)
        before, cpu = await stats(backends), CpuShare(stack.pids + [worker.pid])
        started = time.perf_counter()
        handles = []
        for chunk in range(0, len(graphs), 20):
            handles += [s.handle for s in await asyncio.gather(*(
                submit_job(env, resolve_graph(graph, set()), {}, options) for graph in graphs[chunk:chunk + 20]))]
        results = await asyncio.gather(*(handle.result() for handle in handles))
        wall = time.perf_counter() - started
        after = await stats(backends)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        await engine.dispose()
    assert all(result.status == "succeeded" for result in results)
    busy, loading = after["busy_seconds"] - before["busy_seconds"], after["load_seconds"] - before["load_seconds"]
    capacity = len(backends) * wall
    return {"backends": len(backends), "jobs": len(graphs), "wall_s": round(wall, 2),
            "jobs_per_s": round(len(graphs) / wall, 3), "busy_ratio": round(busy / capacity, 3),
            "generating_ratio": round((busy - loading) / capacity, 3),
            "loading_share_of_busy": round(loading / busy, 3) if busy else 0.0,
            "model_loads": int(after["model_loads"] - before["model_loads"]), **cpu.result()}


async def main() -> dict:
    database_url, made = await bench_database()
    os.environ["BENCH_DATABASE_URL"] = database_url
    try:
        async with LocalStack(emulators=BACKENDS) as stack:
            for url in stack.backends:
                await emulator_control(url, "POST", "/_emulator/faults",
                                       {"model_load_s": LOAD_S, "prompt_latency_s": PROMPT_S})
            stack.start([*CLI, "worker", "--role", "io"])  # the workflows
            client = await connect(stack.settings)
            graphs = stream(JOBS)
            figures = {}
            for name, backends, affinity, jobs in (
                    ("model_blind_8", stack.backends, False, graphs),
                    ("model_aware_8", stack.backends, True, graphs),
                    ("model_aware_1", stack.backends[:1], True, graphs[:JOBS_ONE_BACKEND])):
                stack.check_alive()
                figures[name] = await measure(stack, client, stack.settings, backends, affinity, jobs)
                print(name, figures[name], flush=True)
    finally:
        if made:
            await drop_database(made)
    blind, aware, one = figures["model_blind_8"], figures["model_aware_8"], figures["model_aware_1"]
    figures.update(
        throughput_vs_model_blind=round(aware["jobs_per_s"] / blind["jobs_per_s"], 2),
        scaling_8_vs_1=round(aware["jobs_per_s"] / one["jobs_per_s"], 2),
        database="postgresql", checkpoints=len(DEFAULT_CHECKPOINTS), load_s=LOAD_S, prompt_s=PROMPT_S,
        slots_per_backend=SLOTS,
        targets={"throughput_vs_model_blind": ">= 1.5", "model_aware_8.generating_ratio": ">= 0.95",
                 "model_aware_8.loading_share_of_busy": "< 0.10", "scaling_8_vs_1": ">= 7.5"})
    return figures


def run() -> None:
    figures = asyncio.run(main())
    save_results(RESULTS, figures)
    print(f"throughput vs model-blind {figures['throughput_vs_model_blind']}, scaling 8 vs 1 "
          f"{figures['scaling_8_vs_1']}")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    run()
