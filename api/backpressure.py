"""Backpressure: refuse new jobs (503 `overloaded`, with a Retry-After from the drain rate) while the work waiting
for a GPU is more than BACKLOG_PER_SLOT_LIMIT times the fleet's slots.

The work waiting is the ComfyUI task queue's backlog as Temporal counts it (activity tasks no worker has taken),
the same figure KEDA scales comfy workers on; the drain rate is the rate Temporal dispatches them. Every API
replica reads the same numbers, so the fleet is refused as a whole, not one replica at a time. A reading is kept
for a second: a burst of submissions costs Temporal one DescribeTaskQueue call per replica per second.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import asdict, dataclass

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from api.errors import ApiError
from comfy_platform.settings import Settings

log = logging.getLogger(__name__)
READING_TTL_S = 1.0
READ_TIMEOUT_S = 1.0  # a Temporal that hangs does not hold up admission longer than this
# When nothing drains (every worker stopped), a client is asked back after this; a longer wait is no better
# advice than asking again then.
NO_DRAIN_RETRY_AFTER_S = 60
MAX_RETRY_AFTER_S = 600


class Overloaded(ApiError):
    status_code = 503
    code = "overloaded"


@dataclass
class Backlog:
    waiting: int  # ComfyUI activity tasks no worker has taken yet
    capacity: int  # prompts the fleet runs or keeps queued at once: backends x slots
    limit: int  # past this, new jobs are refused (0: never)
    drain_per_s: float  # how fast Temporal hands the waiting work to workers, lately

    @property
    def overloaded(self) -> bool:
        return self.limit > 0 and self.waiting > self.limit

    @property
    def retry_after_s(self) -> int:
        """Seconds until the backlog is back under the limit at the current drain rate."""
        if self.drain_per_s <= 0:
            return NO_DRAIN_RETRY_AFTER_S
        return max(1, min(MAX_RETRY_AFTER_S, math.ceil((self.waiting - self.limit) / self.drain_per_s)))

    def public(self) -> dict:
        return {**asdict(self), "overloaded": self.overloaded}


class BacklogGauge:
    def __init__(self, settings: Settings, temporal) -> None:
        self.settings, self.temporal = settings, temporal
        self.capacity = len(settings.comfyui_urls) * settings.COMFY_SLOTS_PER_BACKEND
        self.limit = math.ceil(settings.BACKLOG_PER_SLOT_LIMIT * self.capacity)
        self._reading: Backlog | None = None
        self._read_at = 0.0
        self._lock = asyncio.Lock()

    async def read(self) -> Backlog:
        async with self._lock:  # a burst waits for one reading rather than each asking Temporal
            if self._reading is None or time.monotonic() - self._read_at > READING_TTL_S:
                await self._refresh()
        return self._reading

    async def _refresh(self) -> None:
        client: Client = await self.temporal.get()
        reply = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=self.settings.COMFY_TASK_QUEUE),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY, report_stats=True))
        self._reading = Backlog(waiting=reply.stats.approximate_backlog_count, capacity=self.capacity,
                                limit=self.limit, drain_per_s=reply.stats.tasks_dispatch_rate)
        self._read_at = time.monotonic()

    async def admit(self) -> None:
        """Refuse a new job while the fleet is overloaded. A backlog that cannot be read (Temporal slow to answer)
        admits it: the start that follows meets Temporal's own trouble, which has an answer of its own."""
        if self.limit <= 0:
            return
        try:
            backlog = await asyncio.wait_for(self.read(), READ_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - see the docstring
            log.warning("backlog not read, job admitted: %s", exc)
            return
        if backlog.overloaded:
            raise Overloaded(f"the GPUs are saturated: {backlog.waiting} jobs are waiting (the limit is "
                             f"{backlog.limit}); retry in {backlog.retry_after_s} s",
                             details={"waiting": backlog.waiting, "limit": backlog.limit,
                                      "retry_after": backlog.retry_after_s},
                             headers={"Retry-After": str(backlog.retry_after_s)})
