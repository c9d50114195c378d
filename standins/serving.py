"""What every stand-in server shares: serving in the foreground until SIGINT/SIGTERM, and logging in the
platform's JSON lines (`comfy-platform emulator`, `comfy-platform drive-emulator`)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web


class Stoppable(Protocol):
    async def stop(self) -> None: ...


async def listen(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve `app` on host:port (0 = a free port): its runner, to clean up when stopping, and the port it got.
    `reuse_address`, so a stand-in stopped and started again (a test's "restart") gets its port back at once."""
    runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


def serve_until_signalled(start: Callable[[], Awaitable[Stoppable]]) -> None:
    """Start a server with `start()` and keep it up until SIGINT or SIGTERM, then stop it."""

    async def serve() -> None:
        server = await start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await server.stop()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


def configure_logging(level: str, service: str) -> None:
    """The platform's JSON lines when it is installed (it always is in this repository); plain lines otherwise,
    so a stand-in copied elsewhere still runs."""
    try:
        from comfy_platform.logs import configure_logging as platform_logging
    except ImportError:
        logging.basicConfig(level=level.upper(), stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        return
    platform_logging(level=level, service=service)
