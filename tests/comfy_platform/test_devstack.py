"""`make dev`'s launcher as a user runs it: no terminal, the whole stack up, a job through it, SIGTERM stops all."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.helpers.images import write_png
from tests.helpers.ports import free_port


def children_of(pid: int) -> set[int]:
    """Every live descendant of `pid`, from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry))
    found, stack = set(), [pid]
    while stack:
        for child in parents.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def dev_env(tmp_path):
    ports = {name: str(free_port()) for name in ("API_PORT", "TEMPORAL_PORT", "TEMPORAL_UI_PORT", "EMULATOR_PORT")}
    env = {**os.environ, **ports, "DATA_DIR": str(tmp_path / "var"), "COMFYUI_URL": "", "DATABASE_URL": "",
           "STORAGE_URL": "", "TEMPORAL_ADDRESS": ""}
    return env, ports


async def test_dev_stack_serves_a_job_and_stops_every_process_on_sigterm(dev_env, tmp_path):
    env, ports = dev_env
    launcher = subprocess.Popen([sys.executable, "-m", "comfy_platform.cli", "dev"], env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    started = set()
    try:
        async with httpx.AsyncClient() as http:
            deadline = time.monotonic() + 90
            while True:
                assert launcher.poll() is None, "the launcher exited before the stack was ready"
                assert time.monotonic() < deadline, "/api/health never answered 200"
                try:
                    if (await http.get(f"http://127.0.0.1:{ports['API_PORT']}/api/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.3)
            ui = await http.get(f"http://127.0.0.1:{ports['TEMPORAL_UI_PORT']}/")
            assert ui.status_code == 200
        started = children_of(launcher.pid)
        assert len(started) >= 4  # Temporal, emulator, worker, API

        photo = write_png(tmp_path / "photo.png", width=40, height=30)
        submit = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "comfy_platform.cli", "submit", "--preset", "quick_enhance", "--image", str(photo),
            "--out", str(tmp_path / "out"), "--no-progress", env=env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(submit.communicate(), timeout=60)
        assert submit.returncode == 0, err.decode()
        assert (tmp_path / "out").exists() and out.decode().strip().endswith(".png")
    finally:
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(timeout=30)
    banner = launcher.stdout.read().decode()
    assert f"http://127.0.0.1:{ports['TEMPORAL_UI_PORT']}" in banner and "EMULATOR" in banner
    assert launcher.returncode == 0
    assert [pid for pid in started if alive(pid)] == []
