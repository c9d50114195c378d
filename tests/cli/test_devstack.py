"""`make dev`'s launcher as a user runs it: no terminal, the whole stack up, a job through it, SIGTERM stops all."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.fixtures.oidc import OidcProvider, sign_in
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
    ports = {name: str(free_port()) for name in ("API_PORT", "TEMPORAL_PORT", "TEMPORAL_UI_PORT", "EMULATOR_PORT",
                                                 "DEV_OIDC_PORT", "DEV_DRIVE_PORT", "DEV_SMTP_PORT", "CODEC_PORT",
                                                 "DEV_STRIPE_PORT")}
    env = {**os.environ, **ports, "DATA_DIR": str(tmp_path / "var"), "COMFYUI_URL": "", "DATABASE_URL": "",
           "STORAGE_URL": "", "TEMPORAL_ADDRESS": "", "GOOGLE_CLIENT_ID": "", "SMTP_HOST": ""}
    return env, ports


async def test_dev_stack_serves_a_job_and_stops_every_process_on_sigterm(dev_env, tmp_path):
    env, ports = dev_env
    launcher = subprocess.Popen([sys.executable, "-m", "cli.main", "dev"], env=env,
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
        assert len(started) >= 7  # Temporal, emulator, sign-in and Drive stand-ins, SMTP sink, worker, API

        photo = write_png(tmp_path / "photo.png", width=40, height=30)
        submit = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cli.main", "submit", "--preset", "quick_enhance", "--image", str(photo),
            "--out", str(tmp_path / "out"), "--no-progress", env=env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(submit.communicate(), timeout=60)
        assert submit.returncode == 0, err.decode()
        assert (tmp_path / "out").exists() and out.decode().strip().endswith(".png")
        await _creator_flow_on_local_standins(ports, tmp_path)
    finally:
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(timeout=30)
    banner = launcher.stdout.read().decode()
    assert f"http://127.0.0.1:{ports['TEMPORAL_UI_PORT']}" in banner and "EMULATOR" in banner
    assert "LOCAL STAND-INS" in banner
    assert launcher.returncode == 0
    assert [pid for pid in started if alive(pid)] == []


async def _creator_flow_on_local_standins(ports: dict[str, str], tmp_path) -> None:
    """Without Google credentials a creator signs in, watches a folder and gets a photo edited, all locally."""
    api = f"http://127.0.0.1:{ports['API_PORT']}"
    drive = f"http://127.0.0.1:{ports['DEV_DRIVE_PORT']}/_drive"
    async with httpx.AsyncClient(base_url=api, timeout=30) as http:
        await sign_in(http, api, OidcProvider(f"http://127.0.0.1:{ports['DEV_OIDC_PORT']}"), "dev-creator",
                      "dev@example.com")
        assert "Local stand-ins" in (await http.get("/creator/")).text
        folder = (await http.post(f"{drive}/users/dev-creator/files", json={
            "name": "Shoot", "mimeType": "application/vnd.google-apps.folder"})).json()
        await http.post(f"{drive}/users/dev-creator/files", json={
            "name": "me.png", "mimeType": "image/png", "parents": [folder["id"]],
            "content_base64": base64.b64encode(write_png(tmp_path / "me.png", width=32, height=24).read_bytes()).decode()})
        watch = await http.post("/creator/drive/watch", json={"folder_id": folder["id"], "preset": "portrait_pro"})
        assert watch.status_code == 200, watch.text
        assert (await http.post("/creator/sync-now")).status_code == 202
        deadline = time.monotonic() + 60
        while not [f for f in (await http.get("/creator/jobs")).json() if f["status"] == "succeeded"]:
            assert time.monotonic() < deadline, "the dropped photo was not edited within 60 s"
            await asyncio.sleep(0.5)
        names = [f["name"] for f in (await http.get(f"{drive}/users/dev-creator/files")).json()]
        assert "me_portrait_pro.png" in names
        # The link to the edited photo opens it from the local test Drive, not a dead drive.google.com page.
        (edited,) = [f for f in (await http.get("/creator/jobs")).json() if f["status"] == "succeeded"]
        opened = await http.get(edited["output_link"])
        assert opened.status_code == 200 and opened.headers["content-type"] == "image/png"
    mail = tmp_path / "var" / "mail"
    while not list(mail.glob("*.eml")):
        assert time.monotonic() < deadline + 10, "no summary email reached the local SMTP sink"
        await asyncio.sleep(0.3)


def test_a_second_make_dev_says_in_one_line_what_runs_and_leaves_it_alone(dev_env, tmp_path):
    env, ports = dev_env
    logs = tmp_path / "var" / "logs"
    logs.mkdir(parents=True)
    (logs / "temporal.log").write_text("the running stack's log\n")
    # A launcher that runs (this test's own process stands in for it) ...
    (tmp_path / "var" / "dev.pid").write_text(f"{os.getpid()}\n")
    second = subprocess.run([sys.executable, "-m", "cli.main", "dev"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert second.returncode == 1
    [line] = second.stderr.strip().splitlines()
    assert "already running" in line and f"pid {os.getpid()}" in line
    # ... or a port of the stack that something listens on.
    (tmp_path / "var" / "dev.pid").unlink()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", int(ports["API_PORT"])))
        busy.listen()
        second = subprocess.run([sys.executable, "-m", "cli.main", "dev"], env=env, capture_output=True, text=True,
                                timeout=60)
    assert second.returncode == 1
    [line] = second.stderr.strip().splitlines()
    assert f"{ports['API_PORT']} (API)" in line and "Traceback" not in line
    assert (logs / "temporal.log").read_text() == "the running stack's log\n"
    assert sorted(p.name for p in (tmp_path / "var").iterdir()) == ["logs"]


def test_stopping_the_stack_stops_each_child_after_the_ones_started_after_it(tmp_path):
    """The API and the worker end before the emulator and Temporal they use: a job in flight never sees its
    ComfyUI vanish first."""
    from cli.devstack import Stack
    from comfy_platform.settings import Settings

    stopped = tmp_path / "stopped"
    child = ("import signal, sys, time\n"
             "def stop(*_):\n"
             "    time.sleep(float(sys.argv[2]))\n"  # the later started, the longer its shutdown: each waited for
             f"    open({str(stopped)!r}, 'a').write(sys.argv[1] + chr(10))\n"
             "    sys.exit(0)\n"
             "signal.signal(signal.SIGTERM, stop)\n"
             f"open({str(tmp_path)!r} + '/ready-' + sys.argv[1], 'w').close()\n"
             "time.sleep(60)\n")
    stack = Stack(Settings(DATA_DIR=tmp_path / "var", LOG_FORMAT="console"))
    names = ["temporal-like", "emulator", "worker", "api"]
    for index, name in enumerate(names):
        stack.start(name if name != "temporal-like" else "backend",
                    [sys.executable, "-c", child, name, str(0.2 * index)])
    deadline = time.monotonic() + 30
    while not all((tmp_path / f"ready-{name}").exists() for name in names):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    stack.stop()
    assert stopped.read_text().split() == ["api", "worker", "emulator", "temporal-like"]
