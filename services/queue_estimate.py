"""Where a queued job stands: how many jobs are ahead of it and when it should start.

The position counts every unfinished job created before it, whether it waits in the platform (in Temporal, for a
ComfyUI slot) or already sits in a ComfyUI queue or runs there; a ComfyUI that reports more prompts ahead (others
than ours) has the last word. The start is estimated from how long ComfyUI ran the latest succeeded jobs: the
median run time, times the jobs ahead, shared among the fleet's backends (each runs one prompt at a time).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from comfy_platform.settings import Settings
from db import jobs as job_queries
from db.models import Job, utcnow


@dataclass(frozen=True)
class QueueEstimate:
    position: int  # jobs ahead of this one: 0, it starts next
    estimated_start_at: datetime | None  # None until some job has run to compare with


async def queue_estimate(session: AsyncSession, job: Job, settings: Settings,
                         comfy_position: int | None = None) -> QueueEstimate:
    ahead = await job_queries.count_ahead(session, job)
    position = max(ahead, comfy_position or 0)
    runs = await job_queries.recent_run_seconds(session)
    if not runs:
        return QueueEstimate(position, None)
    backends = max(1, len(settings.comfyui_urls))
    wait_s = statistics.median(runs) * position / backends
    return QueueEstimate(position, utcnow() + timedelta(seconds=round(wait_s, 1)))
