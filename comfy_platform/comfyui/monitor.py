"""What each ComfyUI backend is doing, sampled for the metrics: up, queue depth, busy ratio.

A comfy worker asks every backend it serves for its `/queue` every BACKEND_POLL_S, and tells `on_sample` (the
backend registry) whether it answered. Busy means a prompt was
running at the check; the ratio is over the last minute of checks, and `comfy_backend_busy_seconds` adds the
interval for each busy check, so `rate()` gives the same ratio over any window a dashboard picks.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable

from comfy_platform import metrics
from comfy_platform.comfyui.pool import BackendPool

log = logging.getLogger(__name__)
RATIO_WINDOW_S = 60.0


class BackendMonitor:
    def __init__(self, pool: BackendPool, every_s: float = 5.0,
                 on_sample: Callable[[str, bool], Awaitable[None]] | None = None) -> None:
        self.pool, self.every_s, self.on_sample = pool, every_s, on_sample
        self._samples: dict[str, collections.deque[tuple[float, bool]]] = collections.defaultdict(collections.deque)
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="backend-monitor")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.gather(*(self.sample(url) for url in self.pool.urls))
            await asyncio.sleep(self.every_s)

    async def sample(self, url: str) -> None:
        up = await self._sample(url)
        if self.on_sample is not None:
            try:
                await self.on_sample(url, up)
            except Exception as exc:  # noqa: BLE001 - the registry's database may be away for a moment
                log.warning("backend %s: registry not updated (%s)", url, exc)

    async def _sample(self, url: str) -> bool:
        label = metrics.backend_label(url)
        try:
            running, pending = await asyncio.wait_for(self.pool.get(url).queue(), timeout=max(1.0, self.every_s))
        except Exception as exc:  # a backend that does not answer is down, not a reason to stop watching
            log.debug("backend %s did not answer its queue check: %s", url, exc)
            metrics.BACKEND_UP.labels(label).set(0)
            return False
        busy = bool(running)
        metrics.BACKEND_UP.labels(label).set(1)
        metrics.BACKEND_QUEUE_DEPTH.labels(label).set(len(running) + len(pending))
        if busy:
            metrics.BACKEND_BUSY_SECONDS.labels(label).inc(self.every_s)
        now = time.monotonic()
        samples = self._samples[url]
        samples.append((now, busy))
        while samples and samples[0][0] < now - RATIO_WINDOW_S:
            samples.popleft()
        metrics.BACKEND_BUSY_RATIO.labels(label).set(sum(b for _, b in samples) / len(samples))
        return True
