"""Request and response bodies at the API's edge. The job object is also the webhook's body."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from comfy_platform.storage import Storage
from db.models import Job, JobOutput, WebhookDelivery
from workflows.shared import JobProgress


class JobOutputPublic(BaseModel):
    url: str = Field(description="download URL; it expires (see OUTPUT_URL_TTL_S)")
    filename: str
    content_type: str
    size: int
    width: int | None = None
    height: int | None = None
    node_id: str


class JobError(BaseModel):
    code: str
    message: str
    details: Any = None


class WebhookDeliveryPublic(BaseModel):
    attempt: int
    status_code: int | None = None
    error: str | None = None
    delivered: bool
    at: datetime


class JobPublic(BaseModel):
    id: str
    status: str = Field(description="queued | running | succeeded | failed | cancelled")
    progress: float = Field(ge=0, le=1)
    queue_position: int | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    preset: str | None = None
    workflow: str | None = None
    outputs: list[JobOutputPublic] = []
    error: JobError | None = None
    metadata: dict[str, Any] = {}
    webhook_deliveries: list[WebhookDeliveryPublic] = []


async def job_public(job: Job, outputs: list[JobOutput], storage: Storage, url_ttl_s: int,
                     live: JobProgress | None = None,
                     deliveries: list[WebhookDelivery] = ()) -> JobPublic:
    """The job as clients see it: the database row, with the workflow's live status while it runs."""
    status, progress, position = job.status, job.progress, None
    if live is not None and job.status in ("queued", "running"):
        status, progress, position = live.status, live.progress, live.queue_position
    return JobPublic(
        id=job.id, status=status, progress=progress, queue_position=position, created_at=job.created_at,
        started_at=job.started_at, finished_at=job.finished_at, preset=job.preset, workflow=job.workflow_name,
        outputs=[JobOutputPublic(url=await storage.url(o.storage_key, url_ttl_s, filename=o.filename),
                                 filename=o.filename, content_type=o.content_type, size=o.size, width=o.width,
                                 height=o.height, node_id=o.node_id) for o in outputs],
        error=JobError(**job.error) if job.error else None,
        metadata=job.metadata_ or {},
        webhook_deliveries=[WebhookDeliveryPublic(attempt=d.attempt, status_code=d.status_code, error=d.error,
                                                  delivered=d.delivered, at=d.created_at) for d in deliveries],
    )
