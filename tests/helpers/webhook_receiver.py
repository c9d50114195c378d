"""A webhook receiver for tests: a real aiohttp server on 127.0.0.1 that records what it is sent."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

from tests.helpers.ports import free_port


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    # Answers given in turn, as (status, headers); once used up every request gets 200.
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(Received(dict(request.headers), await request.read()))
        self.arrived.set()
        status, headers = self.answers.pop(0) if self.answers else (200, {})
        return web.Response(status=status, headers=headers, text="ok")

    async def wait_for(self, count: int, timeout: float = 20) -> list[Received]:
        async with asyncio.timeout(timeout):
            while len(self.requests) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.requests


@asynccontextmanager
async def running_receiver(*answers: tuple[int, dict[str, str]] | int):
    port = free_port()
    receiver = Receiver(f"http://127.0.0.1:{port}/hooks/comfy",
                        [a if isinstance(a, tuple) else (a, {}) for a in answers])
    app = web.Application()
    app.router.add_post("/hooks/comfy", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield receiver
    finally:
        await runner.cleanup()
