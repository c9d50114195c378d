"""Engine benchmark: what the platform adds over calling ComfyUI directly, measured side by side in one run.

(a) added latency at concurrency 1: a job through the platform (DB row, Temporal workflow, ComfyUI activity,
    outputs into storage, job record) against the same graph sent straight to the emulator (queue, wait,
    download), both against one emulator with a fixed per-prompt time; and the same on an emulator behaving as
    ComfyUI 0.3.33 (server-made prompt ids, so the platform records each id at once), interleaved in one run;
(b) GPU busy ratio (time executing / wall time, summed over two emulator backends) while 40 jobs of 500 ms
    run through the platform, against submitting the same 40 prompts straight to the two backends.

Everything runs as real processes on loopback: the Temporal dev server (tuned as `make dev` runs it), two
emulators, and `comfy-platform worker` processes on the embedded defaults (SQLite, local disk).

    make bench            # writes bench/results/engine.json
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from temporalio.client import Client

from bench.stack import (
    CLI,
    LocalStack,
    direct_job,
    emulator_control,
    graph,
    percentile,
    save_results,
)
from comfy_platform.comfyui import ComfyClient
from comfy_platform.settings import Settings
from comfy_platform.storage import storage_from_settings
from comfy_platform.temporal import connect
from db.session import create_engine, create_sessionmaker
from presets import resolve_graph
from services.jobs import JobEnv, JobOptions, submit_job

RESULTS = Path(__file__).parent / "results" / "engine.json"
LATENCY_PROMPT_S = 0.2  # fixed per-prompt time for (a)
LATENCY_SAMPLES = int(os.environ.get("BENCH_SAMPLES", 60))
BUSY_JOBS = 40
BUSY_PROMPT_S = 0.5  # per-prompt time for (b)
LEGACY_VERSION = "0.3.33"  # a ComfyUI from before July 2025


async def busy_seconds(urls: list[str]) -> float:
    return sum([(await emulator_control(url, "GET", "/_emulator/stats"))["busy_seconds"] for url in urls])


class Bench:
    def __init__(self, settings: Settings, client: Client, backends: list[str]) -> None:
        self.settings, self.client, self.backends = settings, client, backends
        self.sessionmaker = create_sessionmaker(create_engine(settings.database_url))
        self.storage = storage_from_settings(settings)

    async def platform_job(self, queue: str) -> float:
        started = time.perf_counter()
        handle = (await submit_job(JobEnv(self.sessionmaker, self.storage, self.settings, self.client), resolve_graph(graph(), set()), {},
                                   JobOptions.from_settings(self.settings, product="cli",
                                                            comfy_task_queue=queue))).handle
        result = await handle.result()
        assert result.status == "succeeded" and result.outputs
        return time.perf_counter() - started

    async def added_latency(self, queues: dict[str, str]) -> dict:
        """`queues`: backend URL -> the task queue of the worker serving it; the first is today's ComfyUI, the
        second one from before July 2025. Samples are interleaved, so both see the same machine."""
        samples = {url: {"platform": [], "direct": []} for url in queues}
        clients = {url: ComfyClient(url) for url in queues}
        for url in queues:
            await emulator_control(url, "POST", "/_emulator/faults", {"prompt_latency_s": LATENCY_PROMPT_S})
        for round_ in range(5 + LATENCY_SAMPLES):  # five warm-up rounds: connections, caches, first tasks
            for url, queue in queues.items():
                platform, direct = await self.platform_job(queue), await direct_job(clients[url])
                if round_ >= 5:
                    samples[url]["platform"].append(platform)
                    samples[url]["direct"].append(direct)
        for client in clients.values():
            await client.close()
        current, legacy = (samples[url] for url in queues)
        ms = {name: {"p50": percentile(v, 0.5) * 1000, "p95": percentile(v, 0.95) * 1000}
              for name, v in current.items()}
        legacy_ms = {name: percentile(v, 0.5) * 1000 for name, v in legacy.items()}
        return {
            "added_latency_p50_ms": round(ms["platform"]["p50"] - ms["direct"]["p50"], 1),
            "added_latency_p95_ms": round(ms["platform"]["p95"] - ms["direct"]["p95"], 1),
            "added_latency_p50_ms_legacy": round(legacy_ms["platform"] - legacy_ms["direct"], 1),
            "platform_latency_p50_ms": round(ms["platform"]["p50"], 1),
            "platform_latency_p95_ms": round(ms["platform"]["p95"], 1),
            "direct_latency_p50_ms": round(ms["direct"]["p50"], 1),
            "direct_latency_p95_ms": round(ms["direct"]["p95"], 1),
            "platform_latency_p50_ms_legacy": round(legacy_ms["platform"], 1),
            "direct_latency_p50_ms_legacy": round(legacy_ms["direct"], 1),
            "legacy_comfyui_version": LEGACY_VERSION,
            "fixed_prompt_time_ms": LATENCY_PROMPT_S * 1000,
            "latency_samples": LATENCY_SAMPLES,
        }

    async def busy_ratio(self, queue: str) -> dict:
        for url in self.backends:
            await emulator_control(url, "POST", "/_emulator/faults", {"prompt_latency_s": BUSY_PROMPT_S})
        # Direct: every prompt queued at once, half on each backend; ComfyUI's own queue keeps each GPU busy.
        clients = [ComfyClient(url) for url in self.backends]
        busy_before, started = await busy_seconds(self.backends), time.perf_counter()
        await asyncio.gather(*(direct_job(clients[i % 2]) for i in range(BUSY_JOBS)))
        direct_wall = time.perf_counter() - started
        direct_busy = await busy_seconds(self.backends) - busy_before
        for client in clients:
            await client.close()
        # Platform: the same load as 40 jobs submitted at once.
        busy_before, started = await busy_seconds(self.backends), time.perf_counter()
        await asyncio.gather(*(self.platform_job(queue) for _ in range(BUSY_JOBS)))
        platform_wall = time.perf_counter() - started
        platform_busy = await busy_seconds(self.backends) - busy_before
        capacity = len(self.backends)
        return {
            "busy_ratio_platform": round(platform_busy / (capacity * platform_wall), 4),
            "busy_ratio_direct": round(direct_busy / (capacity * direct_wall), 4),
            "busy_wall_s_platform": round(platform_wall, 3),
            "busy_wall_s_direct": round(direct_wall, 3),
            "busy_jobs": BUSY_JOBS,
            "busy_prompt_time_ms": BUSY_PROMPT_S * 1000,
            "backends": capacity,
        }


async def main() -> dict:
    async with LocalStack(emulators=3, versions=["0.33.0", "0.33.0", LEGACY_VERSION]) as stack:
        current, second, legacy = stack.backends
        # One process runs workflows and the single-backend queue for (a); another serves the old-release backend
        # for (a); a third serves the two current backends for (b).
        stack.start([*CLI, "worker"], {"COMFYUI_URL": current, "COMFY_TASK_QUEUE": "bench-one"})
        stack.start([*CLI, "worker", "--role", "comfy"], {"COMFYUI_URL": legacy, "COMFY_TASK_QUEUE": "bench-legacy"})
        stack.start([*CLI, "worker", "--role", "comfy"],
                    {"COMFYUI_URL": f"{current},{second}", "COMFY_TASK_QUEUE": "bench-two"})
        client = await connect(stack.settings)
        bench = Bench(stack.settings, client, [current, second])
        figures = {**await bench.added_latency({current: "bench-one", legacy: "bench-legacy"}),
                   **await bench.busy_ratio("bench-two")}
    figures["targets"] = {"added_latency_p50_ms": "<= 60", "busy_ratio_platform": ">= 0.95",
                          "added_latency_p50_ms_legacy": "a few ms over added_latency_p50_ms"}
    return figures


def run() -> None:
    figures = asyncio.run(main())
    save_results(RESULTS, figures)
    print(f"{'added latency p50 / p95 (ms)':34} {figures['added_latency_p50_ms']:>8} / {figures['added_latency_p95_ms']}")
    print(f"{'  platform p50 / direct p50 (ms)':34} {figures['platform_latency_p50_ms']:>8} / "
          f"{figures['direct_latency_p50_ms']}")
    print(f"{'added latency p50, ComfyUI 0.3.33 (ms)':34} {figures['added_latency_p50_ms_legacy']:>8}")
    print(f"{'busy ratio platform / direct':34} {figures['busy_ratio_platform']:>8} / {figures['busy_ratio_direct']}")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    run()
