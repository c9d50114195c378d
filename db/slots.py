"""ComfyUI slot leases: which job's prompt holds which backend slot, shared by every comfy worker.

Taking a slot is one short transaction that counts the live leases of the candidate backends and writes one; on
PostgreSQL every such transaction takes the same advisory lock first, so two workers cannot both see the last free
slot of a backend. That serializes one short transaction per prompt, far below what a GPU fleet queues. SQLite
deployments are one worker process, whose own lock (activities/comfy_slots.py) does the same.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import ComfySlotLease, utcnow

# Any constant: the same in every process that takes slots.
SLOT_LOCK_ID = 0x636F6D6679_5C07


async def take_slot(session: AsyncSession, job_id: str, candidates: list[str], slots: int, worker: str,
                    ttl_s: float, *, force: str | None = None) -> str | None:
    """The backend whose slot `job_id` now holds: `force` whatever its count (the job's prompt is already there,
    found by a retry), else the first of `candidates` (in order of preference) with a free slot; None when every
    candidate is full. A lease the job already holds is moved, not doubled. Call inside a transaction."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": SLOT_LOCK_ID})
    now = utcnow()
    if force is not None:
        chosen = force
    else:
        held = await leases_by_backend(session, candidates, now, excluding=job_id)
        free = [url for url in candidates if held[url] < slots]
        if not free:
            return None
        # The least busy of the free ones; ties go to the caller's order (healthy first).
        chosen = min(free, key=lambda url: held[url])
    expires = now + timedelta(seconds=ttl_s)
    updated = await session.execute(update(ComfySlotLease).where(ComfySlotLease.job_id == job_id)
                                    .values(backend=chosen, worker=worker, expires_at=expires))
    if updated.rowcount == 0:
        session.add(ComfySlotLease(job_id=job_id, backend=chosen, worker=worker, expires_at=expires))
    return chosen


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
