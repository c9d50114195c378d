"""An io worker of its own for a test that kills one: `python -m tests.helpers.io_worker TASK_QUEUE`, configured by
the environment like `comfy-platform worker` (Platform.env()). It polls only TASK_QUEUE, so the session's
in-process workers never take its tasks and killing it kills every attempt it holds."""

from __future__ import annotations

import asyncio
import sys

from comfy_platform.settings import Settings
from comfy_platform.temporal import connect
from workers.main import build_workers


async def main(task_queue: str) -> None:
    settings = Settings()
    client = await connect(settings)
    workers, _ = await build_workers(client, settings, role="io", io_task_queue=task_queue)
    await asyncio.gather(*(worker.run() for worker in workers))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
