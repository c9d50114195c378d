"""Heartbeats around slow outside calls (a Drive transfer, an SMTP conversation), so a worker that dies in one is
noticed within the activity's heartbeat timeout instead of its whole start-to-close timeout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from temporalio import activity


@asynccontextmanager
async def heartbeating(every_s: float = 10.0) -> AsyncIterator[None]:
    """Heartbeat every `every_s` while the block runs (the SDK throttles what it sends to the server)."""

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(every_s)

    ticker = asyncio.create_task(beat())
    try:
        yield
    finally:
        ticker.cancel()
        with suppress(asyncio.CancelledError):
            await ticker
