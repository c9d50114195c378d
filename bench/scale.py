"""Scale-out on one machine, and what metrics cost.

1. Jobs per second and added latency through `POST /api/v1/generate` with 1 and 2 API processes and 1 and 2
   workers (`comfy-platform worker`, every role), all on this machine, over PostgreSQL (the database scale-out
   needs: limits and slots are shared there) and four emulators with a fixed prompt time and four slots each,
   so the GPUs are not what limits the figures. Ten clients, round-robin over the API processes, for a fixed
   window per configuration; added latency is the API's p50 over a direct emulator call measured in the same run.
2. The metrics: the time to scrape the API's `/metrics` and a worker's (ours, the Temporal SDK's and the
   business figures from the database), and the latency a request gains with metrics on, from two API processes
   side by side (METRICS_ENABLED true and false) asked in turn, so drift weighs on both alike. Target: under 1 %.

Needs PostgreSQL at 127.0.0.1:5432 (trust auth, as the tests do) or BENCH_DATABASE_URL. About 3 minutes on
2 cores; BENCH_WINDOW_S sets each configuration's window.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
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
)
from comfy_platform.comfyui import ComfyClient
from comfy_platform.secrets import Encryptor
from db.api_keys import create_key
from db.session import create_engine, create_sessionmaker, migrate
from db.users import account_for_email

RESULTS = Path(__file__).parent / "results" / "scale.json"
PROMPT_S = 0.1
SLOTS = 4
CLIENTS = 10
WINDOW_S = float(os.environ.get("BENCH_WINDOW_S", "20"))
METRICS_SAMPLES = 600


async def bench_database() -> tuple[str, str | None]:
    """The database URL to measure on, and the name of one made for this run (dropped afterwards)."""
    if os.environ.get("BENCH_DATABASE_URL"):
        return os.environ["BENCH_DATABASE_URL"], None
    name = f"comfy_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database="postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", name


async def drop_database(name: str) -> None:
    admin = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database="postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@asynccontextmanager
async def processes(stack: LocalStack, apis: int, workers: int, api_env: list[dict] | None = None):
    """`apis` API processes and `workers` workers on the stack; yields the APIs' URLs and every pid."""
    started, ports = [], []
    env = {**os.environ, **stack.env}
    try:
        for i in range(workers):
            started.append(subprocess.Popen([*CLI, "worker"], env={**env, "WORKER_METRICS_PORT": str(free_port())},
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for i in range(apis):
            ports.append(free_port())
            extra = (api_env or [{}] * apis)[i]
            started.append(subprocess.Popen([*CLI, "api"], env={**env, "API_PORT": str(ports[-1]), **extra},
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        async with httpx.AsyncClient() as http:
            for url in urls:
                for _ in range(600):
                    try:
                        if (await http.get(url + "/api/health")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.1)
                else:
                    raise RuntimeError(f"{url} never became healthy")
        yield urls, started
    finally:
        for process in started:
            process.terminate()
        for process in started:
            process.wait(timeout=30)


async def load(urls: list[str], secret: str) -> dict:
    """CLIENTS clients, each running jobs back to back through generate, round-robin over `urls`."""
    latencies: list[float] = []
    deadline = time.monotonic() + WINDOW_S
    limits = httpx.Limits(max_connections=CLIENTS * 2)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {secret}"}, timeout=120, limits=limits) as http:

        async def client(index: int) -> None:
            turn = index
            while time.monotonic() < deadline:
                started = time.perf_counter()
                reply = await http.post(urls[turn % len(urls)] + "/api/v1/generate",
                                        json={"graph": graph(), "timeout": 60})
                assert reply.status_code == 200 and reply.json()["status"] == "succeeded", reply.text
                latencies.append((time.perf_counter() - started) * 1000)
                turn += 1

        started = time.monotonic()
        await asyncio.gather(*(client(i) for i in range(CLIENTS)))
        elapsed = time.monotonic() - started
    return {"jobs_per_s": round(len(latencies) / elapsed, 2), "p50_ms": round(percentile(latencies, 0.5), 1),
            "p95_ms": round(percentile(latencies, 0.95), 1), "jobs": len(latencies)}


async def metrics_cost(stack: LocalStack, secret: str) -> dict:
    """Scrape times, and one request's latency with metrics on and off, asked in turn of two API processes."""
    on, off = {"METRICS_ENABLED": "true"}, {"METRICS_ENABLED": "false"}
    async with processes(stack, 2, 1, api_env=[on, off]) as (urls, started):
        headers = {"Authorization": f"Bearer {secret}"}
        async with httpx.AsyncClient(headers=headers, timeout=60) as http:
            job = (await http.post(urls[0] + "/api/v1/generate", json={"graph": graph(), "timeout": 60})).json()
            samples: dict[str, list[float]] = {"on": [], "off": []}
            for i in range(METRICS_SAMPLES + 50):
                for name, url in (("on", urls[0]), ("off", urls[1])) if i % 2 else (("off", urls[1]), ("on", urls[0])):
                    started_at = time.perf_counter()
                    assert (await http.get(f"{url}/api/v1/jobs/{job['id']}")).status_code == 200
                    if i >= 50:  # warmed up
                        samples[name].append((time.perf_counter() - started_at) * 1000)
            scrapes = {"api": [], "worker": []}
            worker_url = f"http://127.0.0.1:{worker_port_of(started[0])}/metrics"
            for _ in range(50):
                for name, url in (("api", urls[0] + "/metrics"), ("worker", worker_url)):
                    started_at = time.perf_counter()
                    assert (await http.get(url)).status_code == 200
                    scrapes[name].append((time.perf_counter() - started_at) * 1000)
    on_p50, off_p50 = percentile(samples["on"], 0.5), percentile(samples["off"], 0.5)
    return {"request_p50_ms_metrics_on": round(on_p50, 3), "request_p50_ms_metrics_off": round(off_p50, 3),
            "metrics_added_latency_pct": round((on_p50 - off_p50) / off_p50 * 100, 2),
            "scrape_ms_p50_api": round(percentile(scrapes["api"], 0.5), 1),
            "scrape_ms_p50_worker": round(percentile(scrapes["worker"], 0.5), 1)}


def worker_port_of(process: subprocess.Popen) -> int:
    return int(process_env(process)["WORKER_METRICS_PORT"])


def process_env(process: subprocess.Popen) -> dict[str, str]:
    raw = Path(f"/proc/{process.pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


async def main() -> dict:
    database_url, made = await bench_database()
    os.environ["BENCH_DATABASE_URL"] = database_url
    try:
        async with LocalStack(emulators=4) as stack:
            stack.env["COMFY_SLOTS_PER_BACKEND"] = str(SLOTS)
            await migrate(stack.settings.database_url)
            engine = create_engine(stack.settings.database_url)
            async with create_sessionmaker(engine)() as session, session.begin():
                account = await account_for_email(session, "bench@example.com")
                key = await create_key(session, Encryptor.from_settings(stack.settings), account_id=account.id,
                                       name="bench", rate_limit_per_minute=1_000_000, max_concurrent_jobs=1_000_000)
            await engine.dispose()
            for backend in stack.backends:
                await emulator_control(backend, "POST", "/_emulator/faults", {"prompt_latency_s": PROMPT_S})
            comfy = ComfyClient(stack.backends[0])
            direct = [await direct_job(comfy) * 1000 for _ in range(20)]
            await comfy.close()
            direct_p50 = percentile(direct, 0.5)
            figures: dict = {"direct_p50_ms": round(direct_p50, 1)}
            for apis, workers in ((1, 1), (2, 1), (1, 2), (2, 2)):
                async with processes(stack, apis, workers) as (urls, _):
                    measured = await load(urls, key.secret)
                name = f"{apis}api_{workers}worker"
                figures[name] = {**measured, "added_p50_ms": round(measured["p50_ms"] - direct_p50, 1)}
                print(name, figures[name], flush=True)
            figures["metrics"] = await metrics_cost(stack, key.secret)
            print("metrics", figures["metrics"], flush=True)
    finally:
        if made:
            await drop_database(made)
    figures.update(database="postgresql", fixed_prompt_time_ms=PROMPT_S * 1000, backends=4, slots_per_backend=SLOTS,
                   clients=CLIENTS, window_s=WINDOW_S,
                   targets={"metrics_added_latency_pct": "< 1"})
    return figures


def run() -> None:
    figures = asyncio.run(main())
    save_results(RESULTS, figures)
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    random.seed()
    run()
