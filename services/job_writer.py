"""JobWriter: the rows of jobs submitted at the same time, written in one transaction."""

from __future__ import annotations

import asyncio
import weakref

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db import jobs as job_queries


class JobWriter:
    """Writes the rows of jobs submitted at the same time in one transaction: every job that arrives while a
    batch is being written goes into a next one.

    Why: each statement of a write is a round trip through this process's event loop, which under load is busy
    with everyone else's requests, and on SQLite every one of them is made holding its single write lock. Fifty
    clients each writing their own job queued for over a second (bench/api.py); a batch costs about what one job
    did. SQLite gets one batch at a time (one writer); PostgreSQL several, so a slow batch holds up no other."""

    MAX_BATCH = 100
    PARALLEL_BATCHES = 4  # PostgreSQL; a fraction of the connection pool (db/session.py)
    _writers: weakref.WeakKeyDictionary[async_sessionmaker, JobWriter] = weakref.WeakKeyDictionary()

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker
        self.loop = asyncio.get_running_loop()
        self._queue: list[tuple[job_queries.NewJob, asyncio.Future]] = []
        self._writing: set[asyncio.Task] = set()
        bind = sessionmaker.kw.get("bind")
        self.parallel = 1 if bind is None or bind.dialect.name == "sqlite" else self.PARALLEL_BATCHES

    @classmethod
    def of(cls, sessionmaker: async_sessionmaker[AsyncSession]) -> JobWriter:
        """The writer of this sessionmaker in the running event loop (tests run several loops)."""
        writer = cls._writers.get(sessionmaker)
        if writer is None or writer.loop is not asyncio.get_running_loop():
            writer = cls._writers[sessionmaker] = cls(sessionmaker)
        return writer

    async def create(self, job: job_queries.NewJob) -> job_queries.CreatedJob:
        """create_jobs for this one job in a transaction of its own, as far as the caller can tell."""
        done = self.loop.create_future()
        self._queue.append((job, done))
        if len(self._writing) < self.parallel:
            self._writing.add(self.loop.create_task(self._write_all()))
        result = await done
        if isinstance(result, Exception):
            raise result
        return result

    async def _write_all(self) -> None:
        batch: list[tuple[job_queries.NewJob, asyncio.Future]] = []
        try:
            while self._queue:
                batch, self._queue = self._queue[:self.MAX_BATCH], self._queue[self.MAX_BATCH:]
                try:
                    async with self.sessionmaker() as session, session.begin():
                        results = await job_queries.create_jobs(session, [job for job, _ in batch])
                except Exception:  # noqa: BLE001 - one job's failure must not fail the others: each alone
                    results = [await self._write_one(job) for job, _ in batch]
                for (_, done), result in zip(batch, results):
                    if not done.done():  # its request may have gone away; the row stays, as a lone write's would
                        done.set_result(result)
                batch = []
        except BaseException as exc:  # cancelled or killed: no caller may wait for an answer that never comes
            stopped = exc if isinstance(exc, Exception) else RuntimeError(f"the job writer stopped: {exc!r}")
            others_left = any(task is not asyncio.current_task() and not task.done() for task in self._writing)
            waiting = batch if others_left else [*batch, *self._queue]
            for _, done in waiting:
                if not done.done():
                    done.set_exception(stopped)
            if not others_left:
                self._queue = []
            raise
        finally:
            # At once, not in a done-callback a loop step later: a job queued in that step would find the
            # writer still counted, start none, and wait for good.
            self._writing.discard(asyncio.current_task())

    async def _write_one(self, job: job_queries.NewJob) -> job_queries.CreatedJob | Exception:
        try:
            async with self.sessionmaker() as session, session.begin():
                return (await job_queries.create_jobs(session, [job]))[0]
        except Exception as exc:  # noqa: BLE001 - handed to the one request it belongs to
            return exc
