"""Developer API benchmark: what the HTTP API adds over calling ComfyUI directly, and how fast it takes jobs.

(a) added latency of a job through the API to its result (POST /api/v1/generate, which answers with the
    finished job) over the same graph sent straight to the emulator, p50/p95, at concurrency 1 and 10;
(b) sustained submissions (POST /api/v1/jobs answered 202) per second and the p99 submit latency with 50
    concurrent clients for 20 s, while the worker runs the jobs.

Real processes on loopback: Temporal dev server, five emulators, `comfy-platform worker` and `comfy-platform api`
on the embedded defaults (SQLite, local disk).

    make bench            # writes bench/results/api.json (and engine.json)
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import httpx

from bench.stack import (
    CLI,
    LocalStack,
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
from db.api_keys import create_key
from db.session import create_engine, create_sessionmaker

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


async def latency(http: httpx.AsyncClient, backends: list[str], concurrency: int) -> dict:
    """Each of `concurrency` clients runs jobs back to back, through the API and then directly (client i on
    backend i mod n). With as many prompt slots as clients, neither side waits in a ComfyUI queue."""
    per_client = max(3, SAMPLES // concurrency)
    comfies = [ComfyClient(url) for url in backends]

    async def loop(run) -> list[float]:
        return [await run() for _ in range(per_client)]

    await through_api(http)  # warm-up: connections, caches, the first workflow task
    await direct_job(comfies[0])
    api = [t for ts in await asyncio.gather(*(loop(lambda: through_api(http)) for _ in range(concurrency)))
           for t in ts]
    raw = [t for ts in await asyncio.gather(*(loop(lambda i=i: direct_job(comfies[i % len(comfies)]))
                                             for i in range(concurrency))) for t in ts]
    for comfy in comfies:
        await comfy.close()
    return {"p50": (percentile(api, 0.5) - percentile(raw, 0.5)) * 1000,
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


async def main() -> dict:
    # Five backends with two slots each: ten prompts at once, so concurrency 10 measures the platform, not a queue.
    async with LocalStack(emulators=5) as stack:
        api_port = free_port()
        stack.start([*CLI, "worker"])
        stack.start([*CLI, "api"], {"API_PORT": str(api_port)})
        await wait_for_port(api_port)
        engine = create_engine(stack.settings.database_url)
        async with create_sessionmaker(engine)() as session, session.begin():
            key = await create_key(session, Encryptor.from_settings(stack.settings), name="bench",
                                   rate_limit_per_minute=1_000_000, max_concurrent_jobs=1_000_000)
        await engine.dispose()
        for backend in stack.backends:
            await emulator_control(backend, "POST", "/_emulator/faults", {"prompt_latency_s": PROMPT_S})
        headers = {"Authorization": f"Bearer {key.secret}"}
        limits = httpx.Limits(max_connections=SUSTAIN_CLIENTS + 10)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", headers=headers, timeout=120,
                                     limits=limits) as http:
            c1 = await latency(http, stack.backends[:1], 1)
            c10 = await latency(http, stack.backends, 10)
            steady = await paced(http)  # first: the backlog the full-speed run leaves would weigh on it
            load = await sustained(http)
    return {
        "added_latency_p50_ms_c1": round(c1["p50"], 1), "added_latency_p95_ms_c1": round(c1["p95"], 1),
        "added_latency_p50_ms_c10": round(c10["p50"], 1), "added_latency_p95_ms_c10": round(c10["p95"], 1),
        "api_latency_p50_ms_c1": round(c1["api_p50"], 1), "direct_latency_p50_ms_c1": round(c1["direct_p50"], 1),
        **steady, **load,
        "fixed_prompt_time_ms": PROMPT_S * 1000,
        "database": "sqlite" if stack.settings.database_url.startswith("sqlite") else "postgresql",
        "targets": {"added_latency_p50_ms": "<= 80", "submissions_per_s": ">= 50 for 20 s",
                    "submit_p99_ms": "< 300 (at 50/s offered: paced_submit_p99_ms)"},
    }


def run() -> None:
    figures = asyncio.run(main())
    save_results(RESULTS, figures)
    print(f"{'added latency p50 c1 / c10 (ms)':34} {figures['added_latency_p50_ms_c1']:>8} / "
          f"{figures['added_latency_p50_ms_c10']}")
    print(f"{'at 50/s offered: rate, p99 (ms)':34} {figures['paced_submissions_per_s']:>8} / "
          f"{figures['paced_submit_p99_ms']}")
    print(f"{'full speed: submissions/s, p99 (ms)':34} {figures['submissions_per_s']:>8} / {figures['submit_p99_ms']}")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    run()
