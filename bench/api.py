"""Developer API benchmark: what the HTTP API adds over calling ComfyUI directly, and how fast it takes jobs.

(a) added latency of a job through the API to its result (POST /api/v1/generate, which answers with the
    finished job) over the same graph sent straight to the emulator, p50/p95, at concurrency 1 and 10;
(b) sustained submissions (POST /api/v1/jobs answered 202) per second and the p99 submit latency with 50
    concurrent clients for 20 s: once while the worker runs the jobs on the same two cores (`*_shared`), and once
    with the worker paused (SIGSTOP), so jobs queue in Temporal as they do in a burst larger than the GPU fleet
    and the API and Temporal have the machine: the intake on its own. The backlog drains after each window;
(c) the floor under (a): the CPU a minimal one-activity Temporal workflow costs the server and the Python SDK on
    this machine, measured in the same run, beside the CPU a job through the API costs in all and the CPU per job
    the concurrency-10 target leaves on this machine's cores.

Real processes on loopback: Temporal dev server, five emulators, `comfy-platform worker` and `comfy-platform api`
on the embedded defaults (SQLite, local disk), or on BENCH_DATABASE_URL.

    make bench            # writes bench/results/api.json (and engine.json)
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
from temporalio import activity, workflow
from temporalio.worker import Worker

from bench.stack import (
    CLI,
    LocalStack,
    cpu_seconds,
    direct_job,
    emulator_control,
    free_port,
    graph,
    percentile,
    save_results,
    wait_for_port,
)
from comfy_platform.comfyui import ComfyClient
from comfy_platform.secrets import Encryptor
from comfy_platform.temporal import connect
from db.api_keys import create_key
from db.session import create_engine, create_sessionmaker
from db.users import account_for_email

RESULTS = Path(__file__).parent / "results" / "api.json"
PROMPT_S = 0.1  # fixed per-prompt time on the emulator
SAMPLES = int(os.environ.get("BENCH_SAMPLES", 30))
SUSTAIN_CLIENTS = 50
SUSTAIN_S = float(os.environ.get("BENCH_SUSTAIN_S", 20))


async def through_api(http: httpx.AsyncClient) -> float:
    started = time.perf_counter()
    reply = await http.post("/api/v1/generate", json={"graph": graph(), "timeout": 60})
    assert reply.status_code == 200 and reply.json()["status"] == "succeeded", reply.text
    return time.perf_counter() - started


async def latency(http: httpx.AsyncClient, backends: list[str], concurrency: int, pids: list[int] = ()) -> dict:
    """Each of `concurrency` clients runs jobs back to back, through the API and then directly (client i on
    backend i mod n). With as many prompt slots as clients, neither side waits in a ComfyUI queue."""
    per_client = max(3, SAMPLES // concurrency)
    comfies = [ComfyClient(url) for url in backends]

    async def loop(run) -> list[float]:
        return [await run() for _ in range(per_client)]

    await through_api(http)  # warm-up: connections, caches, the first workflow task
    await direct_job(comfies[0])
    cpu_before = sum(map(cpu_seconds, pids))
    api = [t for ts in await asyncio.gather(*(loop(lambda: through_api(http)) for _ in range(concurrency)))
           for t in ts]
    cpu_ms_per_job = (sum(map(cpu_seconds, pids)) - cpu_before) * 1000 / len(api)  # all of `pids`, API jobs only
    raw = [t for ts in await asyncio.gather(*(loop(lambda i=i: direct_job(comfies[i % len(comfies)]))
                                             for i in range(concurrency))) for t in ts]
    for comfy in comfies:
        await comfy.close()
    return {"cpu_ms_per_job": cpu_ms_per_job, "p50": (percentile(api, 0.5) - percentile(raw, 0.5)) * 1000,
            "p95": (percentile(api, 0.95) - percentile(raw, 0.95)) * 1000,
            "api_p50": percentile(api, 0.5) * 1000, "direct_p50": percentile(raw, 0.5) * 1000}


async def paced(http: httpx.AsyncClient) -> dict:
    """50 clients each submit once a second (50/s offered) for SUSTAIN_S seconds: the rate the API keeps up and the
    submit latency a steady 50/s sees. A client whose request takes longer than a second falls behind, so a slow
    API shows as a rate under 50."""
    latencies: list[float] = []
    deadline = time.perf_counter() + SUSTAIN_S

    async def client(index: int) -> None:
        next_at = time.perf_counter() + index / SUSTAIN_CLIENTS  # spread over the first second
        while True:
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            if time.perf_counter() >= deadline:
                return
            started = time.perf_counter()
            reply = await http.post("/api/v1/jobs", json={"graph": graph()})
            if reply.status_code == 202:
                latencies.append(time.perf_counter() - started)
            next_at += 1.0

    await asyncio.gather(*(client(i) for i in range(SUSTAIN_CLIENTS)))
    # Accepted submissions per second of the window they were sent in.
    return {"paced_submissions_per_s": round(len(latencies) / SUSTAIN_S, 1),
            "paced_submit_p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
            "paced_submit_p99_ms": round(percentile(latencies, 0.99) * 1000, 1)}


async def sustained(http: httpx.AsyncClient) -> dict:
    """50 clients submit as fast as the API answers, for SUSTAIN_S seconds: the most the API accepts."""
    latencies: list[float] = []
    refused = 0
    deadline = time.perf_counter() + SUSTAIN_S

    async def client() -> None:
        nonlocal refused
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            reply = await http.post("/api/v1/jobs", json={"graph": graph()})
            if reply.status_code == 202:
                latencies.append(time.perf_counter() - started)
            else:
                refused += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(SUSTAIN_CLIENTS)))
    wall = time.perf_counter() - started
    return {"submissions_per_s": round(len(latencies) / wall, 1),
            "submit_p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
            "submit_p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
            "submissions_refused": refused, "sustain_s": SUSTAIN_S, "clients": SUSTAIN_CLIENTS}


async def drained(http: httpx.AsyncClient, timeout_s: float = 300) -> float:
    """Seconds until the key has no queued or running job left."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        busy = [(await http.get("/api/v1/jobs", params={"status": status, "limit": 1})).json()["data"]
                for status in ("queued", "running")]
        if not any(busy):
            return time.perf_counter() - started
        await asyncio.sleep(0.5)
    raise RuntimeError(f"jobs still unfinished after {timeout_s} s")


@activity.defn(name="bench_noop")
async def noop_activity(value: str) -> str:
    return value


@workflow.defn(name="BenchFloorWorkflow", sandboxed=False)
class FloorWorkflow:
    """The least a durable job can be on Temporal: one activity, nothing else."""

    @workflow.run
    async def run(self, value: str) -> str:
        return await workflow.execute_activity(noop_activity, value, start_to_close_timeout=timedelta(seconds=30))


async def temporal_floor(stack: LocalStack, temporal_pid: int, runs: int = 200) -> float:
    """CPU ms per run of FloorWorkflow: the Temporal server's plus this process's (worker and client SDK). Runs are
    started, then counted as they close; nobody long-polls for a result, as the API does not."""
    client = await connect(stack.settings)
    async with Worker(client, task_queue="bench-floor", workflows=[FloorWorkflow], activities=[noop_activity]):
        for _ in range(10):  # warm-up
            await client.execute_workflow(FloorWorkflow.run, "x", id=f"floor-{uuid.uuid4()}", task_queue="bench-floor")
        server, own = cpu_seconds(temporal_pid), time.process_time()
        for _ in range(runs):
            await client.start_workflow(FloorWorkflow.run, "x", id=f"floor-{uuid.uuid4()}", task_queue="bench-floor")
        running = "WorkflowType = 'BenchFloorWorkflow' AND ExecutionStatus = 'Running'"
        while (await client.count_workflows(running)).count:
            await asyncio.sleep(0.5)
        return (cpu_seconds(temporal_pid) - server + time.process_time() - own) * 1000 / runs


async def main() -> dict:
    # Five backends with two slots each: ten prompts at once, so concurrency 10 measures the platform, not a queue.
    async with LocalStack(emulators=5) as stack:
        api_port = free_port()
        stack.start([*CLI, "worker"])
        stack.start([*CLI, "api"], {"API_PORT": str(api_port)})
        temporal_pid, *_, worker_pid, api_pid = stack.pids
        await wait_for_port(api_port)
        engine = create_engine(stack.settings.database_url)
        async with create_sessionmaker(engine)() as session, session.begin():
            account = await account_for_email(session, "bench@example.com")
            key = await create_key(session, Encryptor.from_settings(stack.settings), account_id=account.id,
                                   name="bench", rate_limit_per_minute=1_000_000, max_concurrent_jobs=1_000_000)
        await engine.dispose()
        for backend in stack.backends:
            await emulator_control(backend, "POST", "/_emulator/faults", {"prompt_latency_s": PROMPT_S})
        headers = {"Authorization": f"Bearer {key.secret}"}
        limits = httpx.Limits(max_connections=SUSTAIN_CLIENTS + 10)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", headers=headers, timeout=120,
                                     limits=limits) as http:
            c1 = await latency(http, stack.backends[:1], 1)
            c10 = await latency(http, stack.backends, 10, stack.pids)
            floor_ms = await temporal_floor(stack, temporal_pid)
            shared = await paced(http)  # first: the backlog a full-speed run leaves would weigh on it
            shared_drain_s = await drained(http)
            os.kill(worker_pid, signal.SIGSTOP)
            try:
                intake = await paced(http)
                load = await sustained(http)
            finally:
                os.kill(worker_pid, signal.SIGCONT)
            intake_drain_s = await drained(http)
    # Concurrency 10 within the target: ten clients each finishing a job every (direct time + 80 ms).
    needed_per_s = 10 / ((c10["direct_p50"] + 80) / 1000)
    return {
        "added_latency_p50_ms_c1": round(c1["p50"], 1), "added_latency_p95_ms_c1": round(c1["p95"], 1),
        "added_latency_p50_ms_c10": round(c10["p50"], 1), "added_latency_p95_ms_c10": round(c10["p95"], 1),
        "api_latency_p50_ms_c1": round(c1["api_p50"], 1), "direct_latency_p50_ms_c1": round(c1["direct_p50"], 1),
        "api_latency_p50_ms_c10": round(c10["api_p50"], 1),
        "direct_latency_p50_ms_c10": round(c10["direct_p50"], 1),
        "cpu_ms_per_job_c10": round(c10["cpu_ms_per_job"], 1),
        "temporal_floor_cpu_ms_per_job": round(floor_ms, 1),
        "c10_target_cpu_budget_ms_per_job": round((os.cpu_count() or 1) * 1000 / needed_per_s, 1),
        **{f"{name}_shared": value for name, value in shared.items()},
        "shared_backlog_drained_s": round(shared_drain_s, 1),
        **intake, **load, "intake_backlog_drained_s": round(intake_drain_s, 1),
        "fixed_prompt_time_ms": PROMPT_S * 1000,
        "database": "sqlite" if stack.settings.database_url.startswith("sqlite") else "postgresql",
        "targets": {"added_latency_p50_ms": "<= 80", "submissions_per_s": ">= 50 for 20 s",
                    "submit_p99_ms": "< 300 (at 50/s offered: paced_submit_p99_ms)"},
    }


def run() -> None:
    figures = asyncio.run(main())
    save_results(RESULTS, figures)
    rows = [
        ("added latency p50 c1 / c10 (ms)", figures["added_latency_p50_ms_c1"], figures["added_latency_p50_ms_c10"]),
        ("c10: stack CPU per job / Temporal floor (ms)", figures["cpu_ms_per_job_c10"],
         figures["temporal_floor_cpu_ms_per_job"]),
        ("c10 within target: CPU budget per job (ms)", figures["c10_target_cpu_budget_ms_per_job"], ""),
        ("50/s offered, worker shared: rate, p99 (ms)", figures["paced_submissions_per_s_shared"],
         figures["paced_submit_p99_ms_shared"]),
        ("50/s offered, worker paused: rate, p99 (ms)", figures["paced_submissions_per_s"],
         figures["paced_submit_p99_ms"]),
        ("full speed, worker paused: rate, p99 (ms)", figures["submissions_per_s"], figures["submit_p99_ms"]),
    ]
    for label, first, second in rows:
        print(f"{label:46} {first:>8} {'/ ' + str(second) if second != '' else ''}")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    run()
