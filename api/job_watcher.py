"""Waiting for jobs to end without asking Temporal: the database says when a job's row turns final.

`POST /api/v1/generate` holds its request until the job ends. Waiting on the workflow's result is a long poll
that the Temporal server answers by re-reading the run's history as it grows, which measured about 15 ms of
server CPU per job (bench/api.py); the job's row turns final a moment before its workflow ends anyway. So each
API process keeps one watcher. On PostgreSQL, finish_job sends NOTIFY job_finished with the job's id
(db/jobs.py) and the watcher LISTENs on a connection of its own, so a waiter wakes as its job's transaction
commits. On SQLite, or while that connection is down, it asks the database which awaited jobs are final every
`interval_s`; on PostgreSQL it still asks every `safety_interval_s`, for a notification lost with its connection.
"""

from __future__ import annotations

import asyncio
import logging
import time

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db import jobs as job_queries
from db.jobs import JOB_FINISHED_CHANNEL
from db.session import listen_connect_args

log = logging.getLogger(__name__)
RECONNECT_EVERY_S = 5.0


class JobWatcher:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], *, interval_s: float = 0.02,
                 safety_interval_s: float = 1.0) -> None:
        self.sessionmaker = sessionmaker
        self.interval_s = interval_s
        self.safety_interval_s = safety_interval_s
        bind = sessionmaker.kw["bind"]
        self._listen_args = listen_connect_args(bind) if bind.dialect.name == "postgresql" else None
        self._listener: asyncpg.Connection | None = None
        self._listen_tried_at = float("-inf")
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
        if self._listener is not None:
            self._listener.terminate()  # nothing to flush; close() could wait on a dead socket
            self._listener = None

    @property
    def listening(self) -> bool:
        return self._listener is not None and not self._listener.is_closed()

    def _wake(self, job_id: str) -> None:
        for done in self._waiting.pop(job_id, []):
            if not done.done():
                done.set_result(True)

    async def _watch(self) -> None:
        # The first look comes at once: a job can end between its request's start and this task's.
        next_look = time.monotonic()
        while self._waiting:
            if not self.listening:
                await self._listen()
            await asyncio.sleep(max(0.0, next_look - time.monotonic()))
            next_look = time.monotonic() + (self.safety_interval_s if self.listening else self.interval_s)
            try:
                async with self.sessionmaker() as session:
                    ended = await job_queries.finished_among(session, list(self._waiting))
            except Exception as exc:  # noqa: BLE001 - a database hiccup: the waiters keep waiting, up to their timeout
                log.warning("could not check for finished jobs: %s", exc)
                next_look = time.monotonic() + 1.0
                continue
            for job_id in ended:
                self._wake(job_id)

    async def _listen(self) -> None:
        """LISTEN on a connection of its own (PostgreSQL), trying at most every RECONNECT_EVERY_S."""
        if self._listen_args is None or time.monotonic() - self._listen_tried_at < RECONNECT_EVERY_S:
            return
        self._listen_tried_at = time.monotonic()
        connection = None
        try:
            connection = await asyncpg.connect(**self._listen_args, timeout=5)
            await connection.add_listener(JOB_FINISHED_CHANNEL, lambda *event: self._wake(event[3]))
        except Exception as exc:  # noqa: BLE001 - without it the watcher polls; it tries again later
            log.warning("cannot LISTEN for finished jobs (polling instead): %s", exc)
            if connection is not None:
                connection.terminate()
            return
        self._listener = connection
