"""ComfyUI slot leases: which job's prompt holds which backend slot, shared by every comfy worker, and which
backend a job takes (routing by the registry of what each can run, affinity to its loaded checkpoint, oldest
waiters first).

Taking a slot is one short transaction that counts the live leases of the candidate backends and writes one; on
PostgreSQL every such transaction takes the same advisory lock first, so two workers cannot both see the last free
slot of a backend. That serializes one short transaction per prompt, far below what a GPU fleet queues. SQLite
deployments are one worker process, whose own lock (activities/comfy_slots.py) does the same.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from comfy_platform.comfyui.routing import Needs, missing, pick
from db import backends as backend_queries
from db.backends import as_backend
from db.models import ComfySlotLease, ComfySlotWaiter, utcnow

# Any constant: the same in every process that takes slots.
SLOT_LOCK_ID = 0x636F6D6679_5C07
# A job waiting this long goes before younger jobs, whatever it waits for: nobody starves.
STARVING_AFTER_S = 15.0


@dataclass(frozen=True)
class Taken:
    backend: str
    model_load: bool | None = None  # the backend ran another checkpoint last (None: not known, or forced)


class NoCapableBackend(Exception):
    """Every candidate backend is known to lack something the job needs."""

    def __init__(self, lacking: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{url} lacks {', '.join(names)}" for url, names in lacking.items()))
        self.lacking = lacking


async def take_slot(session: AsyncSession, job_id: str, candidates: list[str], slots: int, worker: str,
                    ttl_s: float, *, force: str | None = None, needs: Needs | None = None, affinity: bool = True,
                    affinity_wait_s: float = 0.0, queue: bool = False, waiter_ttl_s: float = 5.0) -> Taken | None:
    """The backend whose slot `job_id` now holds: `force` whatever its count (the job's prompt is already there,
    found by a retry), else one of `candidates` (in order of preference) that can run the job (`needs`, against
    the registry; a backend it does not know counts as able), answers, and has a free slot; None when there is
    none yet. Raises NoCapableBackend when every candidate is known to lack something.

    Among the free ones, one that loaded the job's checkpoint last is taken (no model load); while none is free
    but one is busy, the job lets free slots go for at most `affinity_wait_s` (with `queue`; without, it never
    waits for affinity). With `queue` a job that must wait is written down, oldest first: one past that bound,
    or waiting STARVING_AFTER_S in all, goes before younger jobs on the backends it can run on. A lease the job
    already holds is moved, not doubled. Call inside a transaction."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": SLOT_LOCK_ID})
    now = utcnow()
    if force is not None:
        return await _lease(session, job_id, Taken(force), worker, now, ttl_s)
    rows = {row.url: row for row in await backend_queries.list_backends(session, urls=candidates)}
    lacking = {url: missing(needs, as_backend(rows[url]).inventory)
               for url in candidates if needs is not None and url in rows}
    able = [url for url in candidates if not lacking.get(url)]
    if not able:
        raise NoCapableBackend(lacking)
    up = [url for url in able if url not in rows or rows[url].up]
    loaded = {url: rows[url].loaded_checkpoint if url in rows else None for url in up}
    checkpoint = needs.checkpoint if needs is not None and affinity else None
    held = await leases_by_backend(session, up, now, excluding=job_id)
    free = {url: slots - held[url] for url in up if held[url] < slots}
    me, others = (await _waiters(session, job_id, up, checkpoint, now, waiter_ttl_s)) if queue else (None, [])
    for other in others:  # older jobs past their bound take their slots first
        if _overdue(other, now, affinity_wait_s):
            mine = [url for url in other.backends if free.get(url, 0) > 0]
            if mine:
                url = pick(mine, held, loaded, other.checkpoint)
                free[url] -= 1
    choices = [url for url in up if free.get(url, 0) > 0]
    if not choices:
        return None
    if checkpoint is not None and checkpoint in loaded.values() and \
            not any(loaded[url] == checkpoint for url in choices):
        # Its checkpoint is loaded on a busy backend: worth a short wait, counted from the first free slot let go.
        if me is not None and me.passed_at is None:
            me.passed_at = now
        if me is not None and not _overdue(me, now, affinity_wait_s):
            return None
    wanted = frozenset(other.checkpoint for other in others if other.checkpoint)
    chosen = pick(choices, held, loaded, checkpoint, wanted)
    if me is not None:
        await session.delete(me)
    model_load = None
    if needs is not None and needs.checkpoint is not None:  # what the backend will have loaded after this prompt
        model_load = loaded[chosen] != needs.checkpoint if chosen in rows else None
        await backend_queries.set_loaded(session, chosen, needs.checkpoint)
    return await _lease(session, job_id, Taken(chosen, model_load), worker, now, ttl_s)


def _overdue(waiter: ComfySlotWaiter, now: datetime, affinity_wait_s: float) -> bool:
    """Past its affinity bound (free slots let go that long), or waiting so long it must not wait any more."""
    if waiter.passed_at is not None and (now - waiter.passed_at).total_seconds() >= affinity_wait_s:
        return True
    return (now - waiter.since).total_seconds() >= STARVING_AFTER_S


async def _waiters(session: AsyncSession, job_id: str, backends: list[str], checkpoint: str | None,
                   now: datetime, ttl_s: float) -> tuple[ComfySlotWaiter, list[ComfySlotWaiter]]:
    """This job's place among the waiters (written down now if new), and the live ones before it, oldest first."""
    me = await session.get(ComfySlotWaiter, job_id)
    if me is None:
        # Rows of jobs whose worker died waiting: gone once nobody has renewed them for a while.
        await session.execute(delete(ComfySlotWaiter).where(ComfySlotWaiter.seen_at <= now - timedelta(minutes=10)))
        me = ComfySlotWaiter(job_id=job_id, backends=backends, checkpoint=checkpoint, since=now, seen_at=now)
        session.add(me)
    else:
        me.backends, me.checkpoint, me.seen_at = backends, checkpoint, now
    older = await session.scalars(select(ComfySlotWaiter).where(
        ComfySlotWaiter.since < me.since, ComfySlotWaiter.seen_at > now - timedelta(seconds=ttl_s),
        ComfySlotWaiter.job_id != job_id).order_by(ComfySlotWaiter.since))
    return me, list(older)


async def _lease(session: AsyncSession, job_id: str, taken: Taken, worker: str, now: datetime,
                 ttl_s: float) -> Taken:
    expires = now + timedelta(seconds=ttl_s)
    updated = await session.execute(update(ComfySlotLease).where(ComfySlotLease.job_id == job_id)
                                    .values(backend=taken.backend, worker=worker, expires_at=expires))
    if updated.rowcount == 0:
        session.add(ComfySlotLease(job_id=job_id, backend=taken.backend, worker=worker, expires_at=expires))
    return taken


async def leave_waiters(session: AsyncSession, job_id: str) -> None:
    """The job stopped waiting (cancelled, or its attempt failed)."""
    await session.execute(delete(ComfySlotWaiter).where(ComfySlotWaiter.job_id == job_id))


async def leases_by_backend(session: AsyncSession, backends: list[str], now: datetime | None = None,
                            excluding: str | None = None) -> Counter[str]:
    """Live leases per backend (expired ones belong to dead workers and count for nothing)."""
    query = select(ComfySlotLease.backend, func.count()).where(
        ComfySlotLease.backend.in_(backends), ComfySlotLease.expires_at > (now or utcnow()))
    if excluding is not None:
        query = query.where(ComfySlotLease.job_id != excluding)
    rows = await session.execute(query.group_by(ComfySlotLease.backend))
    return Counter({backend: count for backend, count in rows})


async def renew_slot(session: AsyncSession, job_id: str, ttl_s: float) -> None:
    await session.execute(update(ComfySlotLease).where(ComfySlotLease.job_id == job_id)
                          .values(expires_at=utcnow() + timedelta(seconds=ttl_s)))


async def release_slot(session: AsyncSession, job_id: str) -> None:
    await session.execute(delete(ComfySlotLease).where(ComfySlotLease.job_id == job_id))


async def drop_expired(session: AsyncSession) -> None:
    await session.execute(delete(ComfySlotLease).where(ComfySlotLease.expires_at <= utcnow()))
