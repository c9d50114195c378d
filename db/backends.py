"""The registry of ComfyUI backends: what each can run, whether it answers, and what it loaded last.

Written by the comfy workers that serve a backend (activities/backend_registry.py) and by the slot leases (the
checkpoint of the prompt a slot was taken for); read by the API (which backends can run a job) and by routing.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from comfy_platform.comfyui.routing import Backend, Inventory
from db.models import ComfyBackend, utcnow
from db.session import dialect_insert


async def record_inventory(session: AsyncSession, url: str, task_queue: str, inventory: Inventory,
                           version: str | None, *, restarted: bool) -> None:
    """The backend answers with this inventory; `restarted`: it came back, with no model loaded."""
    now = utcnow()
    values = {"task_queue": task_queue, "up": True, "version": version, "refreshed_at": now, "updated_at": now,
              **inventory.as_json()}
    changes = {key: value for key, value in values.items() if value is not None}
    if restarted:
        changes["loaded_checkpoint"] = None
    statement = dialect_insert(session, ComfyBackend).values(url=url, **values)
    await session.execute(statement.on_conflict_do_update(index_elements=[ComfyBackend.url], set_=changes))


async def set_up(session: AsyncSession, url: str, up: bool) -> None:
    await session.execute(update(ComfyBackend).where(ComfyBackend.url == url, ComfyBackend.up != up)
                          .values(up=up, updated_at=utcnow()))


async def set_loaded(session: AsyncSession, url: str, checkpoint: str) -> None:
    await session.execute(update(ComfyBackend).where(ComfyBackend.url == url,
                                                     ComfyBackend.loaded_checkpoint.is_distinct_from(checkpoint))
                          .values(loaded_checkpoint=checkpoint, updated_at=utcnow()))


async def list_backends(session: AsyncSession, *, urls: Iterable[str] | None = None,
                        task_queue: str | None = None) -> list[ComfyBackend]:
    query = select(ComfyBackend).order_by(ComfyBackend.url)
    if urls is not None:
        query = query.where(ComfyBackend.url.in_(list(urls)))
    if task_queue is not None:
        query = query.where(ComfyBackend.task_queue == task_queue)
    return list((await session.scalars(query)).all())


def as_backend(row: ComfyBackend) -> Backend:
    """A row as the router (comfy_platform/comfyui/routing.py) sees it."""
    return Backend(row.url, Inventory.from_json(row.node_classes, row.models), up=row.up,
                   loaded_checkpoint=row.loaded_checkpoint)
