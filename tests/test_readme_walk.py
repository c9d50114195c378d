"""The README's examples run as written: this walks its developer sections top to bottom against a live stack (API,
worker, emulator of the test fixtures) and runs every shell command and Python snippet in them, putting in only
the key, the webhook secret, the ids the answers before gave and the stack's ports."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import httpx

from tests.helpers.images import invert_graph, write_png
from tests.helpers.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
# The sections walked, in the README's order; each must hold examples.
SECTIONS = ("## Running a job from the command line", "## Developer API", "### Python client",
            "### Webhooks to your machine", "### Seeing progress and cancelling locally")


def section(title: str) -> str:
    start = README.index(f"\n{title}\n")
    following = re.search(r"\n#{2,4} ", README[start + len(title) + 2:])
    return README[start:start + len(title) + 2 + (following.start() if following else len(README))]


def examples(text: str) -> list[tuple[str, str]]:
    return re.findall(r"```(sh|python)\n(.*?)```", text, flags=re.DOTALL)


def commands(script: str) -> list[str]:
    """The shell commands of a block, a command continued with a backslash joined into one."""
    return [c.strip() for c in re.sub(r"\\\n", " ", script).splitlines() if c.strip()]


class Walk:
    def __init__(self, cwd: Path, env: dict[str, str], api_url: str, emulator_url: str) -> None:
        self.cwd, self.env = cwd, env
        self.ports = {"localhost:8000": api_url.removeprefix("http://"),
                      "localhost:8188": emulator_url.removeprefix("http://")}
        self.receiver_port = free_port()
        self.ids: dict[str, str] = {}
        self.receiver: subprocess.Popen | None = None
        self.last_job: dict | None = None

    def put_in(self, text: str) -> str:
        for said, actual in self.ports.items():
            text = text.replace(said, actual)
        text = text.replace("127.0.0.1:8001", f"127.0.0.1:{self.receiver_port}")
        text = text.replace("8001), Receiver", f"{self.receiver_port}), Receiver")
        for placeholder, value in self.ids.items():
            text = text.replace(f"<{placeholder}>", value)
        assert not re.search(r"<(upload|job) id>", text), f"no id to put in: {text}"
        return text

    async def shell(self, command: str) -> None:
        if re.match(r"^KEY=sk_\.\.\.", command):
            self.env["KEY"] = self.env["COMFY_API_KEY"]
            return
        if "make dev" in command:  # the stack is the fixtures' (its URL_ALLOWLIST names 127.0.0.1)
            return
        if command.startswith("python receiver.py &"):
            await self.start_receiver()
            return
        # In a thread: the API under test serves from this test's event loop.
        done = await asyncio.to_thread(subprocess.run, ["bash", "-c", self.put_in(command)], cwd=self.cwd,
                                       env=self.env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        self.read_answer(command, done.stdout)

    def read_answer(self, command: str, out: str) -> None:
        if "keys create" in command:
            self.env["COMFY_API_KEY"] = out.strip().splitlines()[-1]
            self.env["COMFY_WEBHOOK_SECRET"] = re.search(r"webhook secret:\s+(\S+)", out).group(1)
            return
        if "text/event-stream" in command:
            assert "event: job" in out and '"status": "succeeded"' in out, out
            return
        if command.startswith(".venv/bin/comfy-platform submit"):
            [written] = out.split()
            assert (self.cwd / written).is_file(), written
            return
        if not command.startswith("curl"):
            assert out.strip(), command
            return
        answer = json.loads(out) if out.strip() else {}
        assert not (isinstance(answer, dict) and set(answer) == {"error"}), f"{command}\n{out}"
        if isinstance(answer, dict) and "id" in answer:
            if "status" in answer:
                self.ids["job id"], self.last_job = answer["id"], answer
            elif "filename" in answer:
                self.ids["upload id"] = answer["id"]

    async def start_receiver(self) -> None:
        self.receiver = subprocess.Popen([str(ROOT / ".venv" / "bin" / "python"), "receiver.py"], cwd=self.cwd,
                                         env=self.env, stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.receiver_port)) == 0:
                    return
            assert self.receiver.poll() is None and time.monotonic() < deadline, "receiver.py did not start"
            await asyncio.sleep(0.1)

    async def python(self, code: str) -> str:
        if code.startswith("# receiver.py"):
            (self.cwd / "receiver.py").write_text(self.put_in(code))
            return ""
        done = await asyncio.to_thread(subprocess.run, [str(ROOT / ".venv" / "bin" / "python"), "-c",
                                                        self.put_in(code)],
                                       cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, f"{code}\n{done.stdout}\n{done.stderr}"
        return done.stdout


async def test_the_readme_runs_as_written(platform, api_server, clean_emulator, tmp_path):
    assert "127.0.0.1" in api_server.settings.URL_ALLOWLIST
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    write_png(tmp_path / "photo.png", width=48, height=32)
    write_png(tmp_path / "photo.jpg", width=40, height=30)  # a PNG under that name: the platform reads content
    (tmp_path / "my_graph_api.json").write_text(json.dumps(invert_graph("photo.png")))
    walk = Walk(tmp_path, platform.env(), api_server.url, clean_emulator.url)
    # The key first: "Running a job from the command line" comes before the API, but `--api` needs none.
    ordered = sorted(SECTIONS, key=lambda title: README.index(f"\n{title}\n"))
    ordered.remove("## Developer API")
    ordered.insert(0, "## Developer API")
    for title in ordered:
        found = examples(section(title))
        assert found, f"README section {title} lost its examples"
        for language, code in found:  # files the section's commands run, such as receiver.py, first
            if language == "python" and code.startswith("# receiver.py"):
                await walk.python(code)
        for language, code in found:
            if language == "python":
                out = await walk.python(code)
                if "ComfyPlatformClient" in code:
                    status, *written = out.splitlines()[-1].split()
                    assert status == "succeeded" and all((tmp_path / path).is_file() for path in written), out
                continue
            for command in commands(code):
                await walk.shell(command)
            if title == "### Webhooks to your machine":
                line = await asyncio.to_thread(walk.receiver.stdout.readline)
                assert line.split() == ["job", walk.ids["job id"], "succeeded"], line
                walk.receiver.terminate()
                walk.receiver.wait()
            if title == "### Seeing progress and cancelling locally":
                async with httpx.AsyncClient(base_url=api_server.url, headers={
                        "Authorization": f"Bearer {walk.env['KEY']}"}) as http:
                    for _ in range(300):
                        job = (await http.get(f"/api/v1/jobs/{walk.ids['job id']}")).json()
                        if job["status"] in ("succeeded", "failed", "cancelled"):
                            break
                        await asyncio.sleep(0.1)
                assert job["status"] == "cancelled" and job["progress"] < 1.0, job
    assert os.path.isdir(tmp_path / "out") and any((tmp_path / "out").iterdir())
