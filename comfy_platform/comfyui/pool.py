"""The ComfyUI backends one worker process serves, and which of them takes the next prompt.

Each backend gets `slots` prompts at a time (2 keeps the next one queued in ComfyUI while the current one
runs). A new prompt goes to the backend with the fewest in flight, skipping for a while any backend that just
failed to answer, so one dead server does not stall the others.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from comfy_platform.comfyui.client import ComfyClient

UNHEALTHY_FOR_S = 10.0


class BackendPool:
    def __init__(self, urls: list[str], slots: int = 2, **client_options: float) -> None:
        self.slots = slots
        self._options = client_options
        self._clients = {url.rstrip("/"): ComfyClient(url, **client_options) for url in urls}
        self._in_flight = {url: 0 for url in self._clients}
        self._down_until: dict[str, float] = {}

    @property
    def urls(self) -> list[str]:
        return list(self._clients)

    @property
    def capacity(self) -> int:
        return self.slots * len(self._clients)

    def get(self, url: str) -> ComfyClient:
        """The client for `url`; a backend named only in an old heartbeat gets one made on demand."""
        url = url.rstrip("/")
        if url not in self._clients:
            self._clients[url] = ComfyClient(url, **self._options)
        return self._clients[url]

    def choose(self) -> str:
        """The configured backend that should take a new prompt: healthy first, then least busy."""
        now = time.monotonic()
        return min(self.urls, key=lambda url: (self._down_until.get(url, 0) > now, self._in_flight[url]))

    def healthy(self) -> list[str]:
        """The configured backends not marked down, in configured order."""
        now = time.monotonic()
        return [url for url in self.urls if self._down_until.get(url, 0) <= now]

    @asynccontextmanager
    async def lease(self, url: str | None = None) -> AsyncIterator[str]:
        """Count a prompt against `url` (or the chosen backend) while it runs."""
        url = url.rstrip("/") if url else self.choose()
        self._in_flight[url] = self._in_flight.get(url, 0) + 1
        try:
            yield url
        finally:
            self._in_flight[url] -= 1

    def mark_down(self, url: str) -> None:
        self._down_until[url.rstrip("/")] = time.monotonic() + UNHEALTHY_FOR_S

    def mark_up(self, url: str) -> None:
        self._down_until.pop(url.rstrip("/"), None)

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
