"""Which ComfyUI backends can run what, from the registry the comfy workers keep (db/backends.py): a job no
backend of its group can run is refused before it is recorded, naming what it needs and what each lacks."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfy_platform.comfyui.names import public_backend_name
from comfy_platform.comfyui.routing import missing, needs_of
from db import backends as backend_queries
from db.backends import as_backend
from presets import ResolvedJob
from services.errors import NoBackendCanRun


async def unable_backends(sessionmaker: async_sessionmaker[AsyncSession], job: ResolvedJob,
                          task_queue: str) -> set[str]:
    """The backends of `task_queue` the registry knows to lack a node class or model file the job's graph needs
    (a down one that has them all counts as able: the job waits for it). Raises NoBackendCanRun when the registry
    knows backends of that group and none can run the job; knowing none, it has no opinion."""
    async with sessionmaker() as session:
        rows = await backend_queries.list_backends(session, task_queue=task_queue)
    needs = needs_of(job.graph)
    lacking = {row.url: missing(needs, as_backend(row).inventory) for row in rows}
    unable = {url for url, names in lacking.items() if names}
    if not rows or len(unable) < len(rows):
        return unable
    names = list(dict.fromkeys(name for listed in lacking.values() for name in listed))  # nodes first
    raise NoBackendCanRun(
        f"no ComfyUI backend can run this job: none has {', '.join(names)}", job.source,
        {"missing": names, "backends": [{"backend": public_backend_name(url), "missing": names}
                                        for url, names in lacking.items()]},
        code="no_backend_can_run")


async def fleet_view(sessionmaker: async_sessionmaker[AsyncSession]) -> list[dict[str, Any]]:
    """Every backend the registry knows, and what it can run: for GET /api/ready."""
    async with sessionmaker() as session:
        rows = await backend_queries.list_backends(session)
    return [{"backend": public_backend_name(row.url), "group": row.task_queue, "up": row.up, "version": row.version,
             "node_classes": len(row.node_classes or []),
             "models": {name: sorted(files) for name, files in sorted((row.models or {}).items())},
             "loaded_checkpoint": row.loaded_checkpoint, "refreshed_at": row.refreshed_at} for row in rows]
