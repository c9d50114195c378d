"""What each ComfyUI backend is doing, sampled for the metrics: up, queue depth, busy ratio.

A comfy worker asks every backend it serves for its `/queue` every BACKEND_POLL_S. Busy means a prompt was
running at the check; the ratio is over the last minute of checks, and `comfy_backend_busy_seconds` adds the
interval for each busy check, so `rate()` gives the same ratio over any window a dashboard picks.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time

from comfy_platform import metrics
from comfy_platform.comfyui.pool import BackendPool

log = logging.getLogger(__name__)
RATIO_WINDOW_S = 60.0


class BackendMonitor:
    def __init__(self, pool: BackendPool, every_s: float = 5.0) -> None:
        self.pool, self.every_s = pool, every_s
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
        label = metrics.backend_label(url)
        try:
            running, pending = await asyncio.wait_for(self.pool.get(url).queue(), timeout=max(1.0, self.every_s))
        except Exception as exc:  # a backend that does not answer is down, not a reason to stop watching
            log.debug("backend %s did not answer its queue check: %s", url, exc)
            metrics.BACKEND_UP.labels(label).set(0)
            return
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
