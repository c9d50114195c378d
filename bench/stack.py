"""The stack benchmarks run against: real processes on loopback, embedded defaults (SQLite, local disk).

A Temporal dev server tuned as `make dev` runs it, N ComfyUI emulators, and `comfy-platform` workers/API
started with whatever environment a benchmark asks for.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from cli.devstack import temporal_dev_command
from comfy_platform.comfyui import ComfyClient
from comfy_platform.payload_codec import new_payload_key
from comfy_platform.settings import Settings
from db.session import migrate

CLI = [sys.executable, "-m", "cli.main"]
# A default plan no benchmark reaches the limits of: the figures are the platform's, not a plan's.
BENCH_PLANS = Path(__file__).with_name("plans.json")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def graph() -> dict:
    """A small model-free graph with a fresh colour, so ComfyUI's cache never serves it."""
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1,
                                                      "color": random.randrange(1 << 24)}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "bench"}},
    }


async def direct_job(comfy: ComfyClient) -> float:
    """The baseline: the same graph straight to ComfyUI, queued, waited for and its output downloaded."""
    started = time.perf_counter()
    result = await comfy.run(graph())
    for image in result.images():
        async for _ in comfy.download(image):
            pass
    return time.perf_counter() - started


def save_results(path: Path, figures: dict) -> None:
    """Write a benchmark's figures, with the machine they were measured on, as `bench/results/<name>.json`."""
    figures["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2) + "\n")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def wait_for_port(port: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"port {port} never opened")


async def emulator_control(url: str, method: str, path: str, body: dict | None = None) -> dict:
    async with aiohttp.ClientSession() as http, http.request(method, url + path, json=body) as resp:
        return await resp.json() if resp.content_type == "application/json" else {}


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (all its threads), from /proc; 0 once it is gone."""
    try:  # utime and stime, fields 14 and 15 of /proc/PID/stat (the name in parentheses may hold spaces)
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuShare:
    """How busy the machine's CPUs were from construction to `result()`, and the part of that spent outside the
    given processes: another job on the box slows every figure, and the results should say so. Linux /proc."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self._start = self._sample()

    def _sample(self) -> tuple[float, int, float]:
        cpu = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        own = sum(map(cpu_seconds, self.pids)) * os.sysconf("SC_CLK_TCK")
        return time.monotonic(), sum(cpu) - cpu[3] - cpu[4], own  # busy: all but idle and iowait

    def result(self) -> dict:
        (t0, busy0, own0), (t1, busy1, own1) = self._start, self._sample()
        capacity = (t1 - t0) * os.sysconf("SC_CLK_TCK") * os.cpu_count()
        return {"cpu_busy_share": round((busy1 - busy0) / capacity, 3),
                "cpu_share_outside_benchmark": round(max(0, (busy1 - busy0) - (own1 - own0)) / capacity, 3)}


class LocalStack:
    """`async with LocalStack(emulators=2) as stack:` then `stack.start(...)` more processes as needed.
    `versions` gives each emulator's ComfyUI version (default: today's, for all)."""

    def __init__(self, emulators: int = 1, versions: list[str] | None = None) -> None:
        self.data = Path(tempfile.mkdtemp(prefix="comfy-bench-"))
        self.emulator_ports = [free_port() for _ in range(emulators)]
        self.versions = versions or ["0.33.0"] * emulators
        self.backends = [f"http://127.0.0.1:{port}" for port in self.emulator_ports]
        # The embedded SQLite by default; BENCH_DATABASE_URL measures on another database (PostgreSQL).
        database_url = os.environ.get("BENCH_DATABASE_URL", "")
        # One payload key for the benchmark's own clients and every process it starts (encrypted payloads).
        payload_key = new_payload_key()
        self.settings = Settings(DATA_DIR=self.data, TEMPORAL_PORT=free_port(), TEMPORAL_UI_PORT=free_port(),
                                 COMFYUI_URL=",".join(self.backends), LOG_LEVEL="WARNING", DATABASE_URL=database_url,
                                 BILLING_PLANS_FILE=str(BENCH_PLANS), TEMPORAL_PAYLOAD_KEYS=payload_key)
        # Workers' metrics ports off: several workers share this machine (bench/scale.py turns them on one by one).
        self.env = {"DATA_DIR": str(self.data), "TEMPORAL_ADDRESS": self.settings.temporal_address,
                    "COMFYUI_URL": self.settings.COMFYUI_URL, "LOG_LEVEL": "WARNING", "DATABASE_URL": database_url,
                    "BILLING_PLANS_FILE": str(BENCH_PLANS), "TEMPORAL_PAYLOAD_KEYS": payload_key,
                    "WORKER_METRICS_PORT": "0"}
        self._log = open(os.environ.get("BENCH_LOG", os.devnull), "ab")
        self._running: list[subprocess.Popen] = []

    def start(self, command: list[str], env: dict | None = None) -> None:
        self._running.append(subprocess.Popen(command, env={**os.environ, **self.env, **(env or {})},
                                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log))

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self._running]

    def check_alive(self) -> None:
        """Fail fast when a process died, instead of waiting out a benchmark's timeouts."""
        for process in self._running:
            if process.poll() is not None:
                raise RuntimeError(f"{' '.join(map(str, process.args[:4]))} exited with code {process.returncode}"
                                   " (set BENCH_LOG=path to keep the processes' stderr)")

    async def start_drive_emulator(self) -> str:
        """The Drive test server on a free port; its URL is the GOOGLE_DRIVE_URL workers are given."""
        port = free_port()
        self.start([*CLI, "drive-emulator", "--port", str(port), "--log-level", "WARNING"])
        await wait_for_port(port)
        return f"http://127.0.0.1:{port}/"

    async def __aenter__(self) -> LocalStack:
        try:
            self.start([*temporal_dev_command(self.settings, self.data / "temporal.db"), "--headless"])
            for index, port in enumerate(self.emulator_ports):
                self.start([*CLI, "emulator", "--port", str(port), "--data-dir", str(self.data / f"emulator{index}"),
                            "--comfyui-version", self.versions[index], "--log-level", "WARNING"])
            for port in (self.settings.TEMPORAL_PORT, *self.emulator_ports):
                await wait_for_port(port)
            await migrate(self.settings.database_url)
        except BaseException:  # a stack that failed to start leaves no process or temp dir behind
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        for process in reversed(self._running):
            process.terminate()
        for process in self._running:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        self._log.close()
        shutil.rmtree(self.data, ignore_errors=True)  # a run's Temporal and SQLite files are not kept
