"""Backend slots shared by every comfy worker, through leases in the database (db/slots.py).

Each prompt on a backend holds one of its COMFY_SLOTS_PER_BACKEND slots, whichever worker queued it: two workers
given the same backends together keep no more prompts on a GPU than one would, and a worker waiting for a slot
takes the first one freed on any of its backends, so no GPU idles while work waits. A lease is the job's, not the
worker's: a retry after a worker died re-attaches to the job's prompt and takes its lease over (forced: the prompt
is on that GPU already), and a lease nobody renews any more expires after COMFY_SLOT_LEASE_S.

Which backend: one that can run the job's graph (the registry, db/backends.py) and answers, preferring the one
that ran the job's checkpoint last (waiting for it at most COMFY_AFFINITY_WAIT_S), oldest waiting jobs first
(db/slots.py). While every backend that could run it is down, the job waits, within its own timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError

from comfy_platform import metrics
from comfy_platform.comfyui.pool import BackendPool
from comfy_platform.comfyui.routing import Needs
from db import slots as slot_queries
from db.slots import NoCapableBackend, Taken

log = logging.getLogger(__name__)

# How often a prompt waiting for a slot looks again (one looks at once when this process frees one). Each backend
# keeps its next prompt queued in ComfyUI itself, so a slot freed is filled long before that prompt's GPU runs dry.
POLL_S = 0.2


class SlotLeases:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], pool: BackendPool, *, worker: str,
                 ttl_s: float = 60.0, affinity: bool = True, affinity_wait_s: float = 1.5) -> None:
        self.sessionmaker, self.pool, self.worker, self.ttl_s = sessionmaker, pool, worker, ttl_s
        self.affinity, self.affinity_wait_s = affinity, affinity_wait_s
        # Notified when this process releases a slot: one waiting job looks at once (all of them would queue up
        # on the slot lock for one slot).
        self._freed = asyncio.Condition()
        # SQLite has no advisory lock; its deployments are one process, which this lock serializes.
        self._local = asyncio.Lock()

    @asynccontextmanager
    async def lease(self, job_id: str, backend: str | None = None, *, needs: Needs | None = None,
                    while_waiting: Callable[[], Awaitable[None]] | None = None) -> AsyncIterator[Taken]:
        """Hold a slot for the job's prompt while it runs: on `backend` (where a retry found the prompt, taken
        whatever its count) or on a backend that can run `needs` with a free slot, waiting for one. Raises
        NoCapableBackend when none of this worker's backends can run it."""
        taken = await self._take(job_id, backend, needs, while_waiting)
        url = taken.backend
        gauge = metrics.BACKEND_SLOTS_LEASED.labels(metrics.backend_label(url))
        gauge.inc()
        keep = False
        try:
            yield taken
        except ApplicationError as exc:
            # A failure the job retries may leave its prompt on the GPU (a dropped socket, a backend that stopped
            # answering): the slot stays taken until the retry takes the lease over, or it expires.
            keep = not exc.non_retryable
            raise
        finally:
            gauge.dec()
            if not keep:
                await asyncio.shield(self._release(job_id))

    async def renew(self, job_id: str) -> None:
        async with self.sessionmaker() as session, session.begin():
            await slot_queries.renew_slot(session, job_id, self.ttl_s)

    async def _take(self, job_id: str, force: str | None, needs: Needs | None, while_waiting) -> Taken:
        started = time.monotonic()
        last_beat = started
        try:
            while True:
                async with self._local, self.sessionmaker() as session, session.begin():
                    taken = await slot_queries.take_slot(
                        session, job_id, self._candidates(), self.pool.slots, self.worker, self.ttl_s,
                        force=force and force.rstrip("/"), needs=needs, affinity=self.affinity,
                        affinity_wait_s=self.affinity_wait_s, queue=True)
                if taken is not None:
                    metrics.SLOT_WAIT_SECONDS.observe(time.monotonic() - started)
                    return taken
                if while_waiting is not None and time.monotonic() - last_beat >= 1.0:
                    await while_waiting()  # a heartbeat: the wait is alive, and a cancel can reach it
                    last_beat = time.monotonic()
                async with self._freed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._freed.wait(), POLL_S * (0.5 + random.random()))
        except (asyncio.CancelledError, NoCapableBackend):
            await asyncio.shield(self._leave(job_id))
            raise

    def _candidates(self) -> list[str]:
        """Every backend of this worker, those not marked down first."""
        healthy = self.pool.healthy()
        return healthy + [url for url in self.pool.urls if url not in healthy]

    async def _leave(self, job_id: str) -> None:
        try:
            async with self.sessionmaker() as session, session.begin():
                await slot_queries.leave_waiters(session, job_id)
        except Exception as exc:  # noqa: BLE001 - a waiter nobody renews stops counting by itself
            log.debug("job %s: waiter row not removed (%s)", job_id, exc)

    async def _release(self, job_id: str) -> None:
        try:
            async with self.sessionmaker() as session, session.begin():
                await slot_queries.release_slot(session, job_id)
            async with self._freed:
                self._freed.notify(1)
        except Exception as exc:  # the lease expires by itself; the prompt's result matters more
            log.warning("could not release the slot lease of job %s: %s", job_id, exc)
