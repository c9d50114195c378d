"""Waiting for jobs to end without asking Temporal: one database query for every job being waited on.

`POST /api/v1/generate` holds its request until the job ends. Waiting on the workflow's result is a long poll
that the Temporal server answers by re-reading the run's history as it grows, which measured about 18 ms of
server CPU per job (bench/api.py); the job's row turns final a moment before its workflow ends anyway. So each
API process keeps one watcher: while anyone waits, it asks the database which of the awaited jobs are final,
every `interval_s`, and wakes their waiters.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import TERMINAL_STATUSES, Job

log = logging.getLogger(__name__)


class JobWatcher:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], interval_s: float = 0.02) -> None:
        self.sessionmaker = sessionmaker
        self.interval_s = interval_s
        self._waiting: dict[str, list[asyncio.Future]] = {}
        self._task: asyncio.Task | None = None

    async def wait(self, job_id: str, timeout_s: float) -> bool:
        """True once the job's row is final; False when `timeout_s` passed first."""
        done = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(job_id, []).append(done)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._watch())
        try:
            await asyncio.wait_for(asyncio.shield(done), timeout_s)
            return True
        except TimeoutError:
            return False
        finally:
            waiters = self._waiting.get(job_id, [])
            if done in waiters:
                waiters.remove(done)
                if not waiters:
                    del self._waiting[job_id]

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _watch(self) -> None:
        while self._waiting:
            await asyncio.sleep(self.interval_s)
            try:
                async with self.sessionmaker() as session:
                    ended = list(await session.scalars(
                        select(Job.id).where(Job.id.in_(list(self._waiting)), Job.status.in_(TERMINAL_STATUSES))))
            except Exception as exc:  # noqa: BLE001 - a database hiccup: the waiters keep waiting, up to their timeout
                log.warning("could not check for finished jobs: %s", exc)
                await asyncio.sleep(1.0)
                continue
            for job_id in ended:
                for done in self._waiting.pop(job_id, []):
                    if not done.done():
                        done.set_result(True)
