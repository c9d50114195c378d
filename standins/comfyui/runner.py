"""Starting and stopping the emulator: in-process (tests, dev) or as a blocking CLI server."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import aiohttp
from aiohttp import web

from ..serving import listen, serve_until_signalled
from .config import EmulatorConfig
from .server import create_app
from .state import STATE
from .stats import Stats

log = logging.getLogger("standins.comfyui")


class RunningEmulator:
    """A listening emulator. stop()/start() really close and reopen the port (same port), so
    tests can make "ComfyUI" go down for a while; history is lost across that, like a real
    restart, while stats are carried over so executions can be counted across restarts.
    restart(comfyui_version=...) comes back as another version, like a server upgraded or
    downgraded while it was down; restart(checkpoints=[...], node_classes=[...]) comes back with another
    inventory (models copied in, custom nodes installed), and with no checkpoint loaded."""

    def __init__(self, host: str, port: int, config: EmulatorConfig) -> None:
        self.host, self.port, self.config = host, port, config
        self._stats = Stats(config.stats_path)  # carried across stop()/start()
        self.app: web.Application | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    @property
    def running(self) -> bool:
        return self._runner is not None

    @property
    def state(self):
        """The in-process EmulatorState (queue, hub, executor, faults), for white-box checks."""
        return self.app[STATE] if self.app is not None else None

    async def start(self) -> None:
        if self._runner is not None:
            return
        self.app = create_app(self.config, stats=self._stats)
        self._runner, self.port = await listen(self.app, self.host, self.port)
        log.warning("ComfyUI EMULATOR (not a real ComfyUI) of version %s listening on %s (data dir %s)",
                    self.config.comfyui_version, self.url, self.config.data_dir)

    async def stop(self) -> None:
        if self._runner is None:
            return
        runner, self._runner = self._runner, None
        await runner.cleanup()
        log.warning("ComfyUI EMULATOR on %s stopped", self.url)

    async def restart(self, down_for: float = 0.0, comfyui_version: str | None = None, **config: Any) -> None:
        """`config`: any EmulatorConfig field to come back with (checkpoints, loras, node_classes ...)."""
        if comfyui_version is not None:
            config["comfyui_version"] = comfyui_version
        if config:  # refused before going down if the version or a node class is unknown
            self.config = dataclasses.replace(self.config, **config)
        await self.stop()
        if down_for > 0:
            await asyncio.sleep(down_for)
        await self.start()

    # --- control helpers (over HTTP, exactly what an out-of-process test would do)
    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        async with aiohttp.ClientSession() as session:
            async with session.request(method, self.url + path, json=body) as resp:
                resp.raise_for_status()
                return await resp.json() if resp.content_type == "application/json" else None

    async def set_faults(self, **faults: Any) -> dict:
        return await self._call("POST", "/_emulator/faults", faults)

    async def clear_faults(self) -> dict:
        return await self._call("DELETE", "/_emulator/faults")

    async def set_latency(self, node_latency: dict[str, float] | None = None, prompt_latency_s: float | None = None) -> dict:
        body: dict[str, Any] = {}
        if node_latency is not None:
            body["node_latency"] = node_latency
        if prompt_latency_s is not None:
            body["prompt_latency_s"] = prompt_latency_s
        return await self._call("POST", "/_emulator/faults", body)

    async def stats(self) -> dict:
        """GET /_emulator/stats: executions per prompt id, one record per queued prompt, busy seconds."""
        return await self._call("GET", "/_emulator/stats")

    async def prompts_with(self, **extra_data: Any) -> list[dict]:
        """Stats records of the prompts whose extra_data holds all these items, oldest first."""
        records = (await self.stats())["prompts"]
        return [r for r in records if all(k in r["extra_data"] and r["extra_data"][k] == v
                                          for k, v in extra_data.items())]

    async def reset(self) -> None:
        await self._call("POST", "/_emulator/reset")


async def start_emulator(host: str = "127.0.0.1", port: int = 8188, config: EmulatorConfig | None = None) -> RunningEmulator:
    emulator = RunningEmulator(host, port, config or EmulatorConfig())
    await emulator.start()
    return emulator


def run(host: str = "127.0.0.1", port: int = 8188, config: EmulatorConfig | None = None) -> None:
    """Serve until SIGINT/SIGTERM (the CLI entry point)."""
    serve_until_signalled(lambda: start_emulator(host, port, config))
