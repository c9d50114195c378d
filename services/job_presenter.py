"""The job as clients see it, in API answers and webhook bodies alike: one presenter for both doors.

The database row, with the workflow's live status while it runs; outputs as expiring URLs; the API's own
metadata keys left out.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from comfy_platform.comfyui.names import public_backend_name
from comfy_platform.statuses import TERMINAL_STATUSES, JobStatus
from comfy_platform.storage import Storage
from db.models import Job, JobOutput, MeterReport, MeterReportStatus, WebhookDelivery
from services.queue_estimate import QueueEstimate
from workflows.shared import JobOutputRef, JobProgress

# Kept in a job's metadata for the API's own use, never shown: the hash of the request an Idempotency-Key named.
REQUEST_HASH_KEY = "_request_hash"
RESERVED_METADATA = {REQUEST_HASH_KEY}


class JobOutputPublic(BaseModel):
    url: str = Field(description="download URL; it expires (see OUTPUT_URL_TTL_S)")
    filename: str
    content_type: str
    size: int
    width: int | None = None
    height: int | None = None
    node_id: str

    @classmethod
    def of(cls, output: JobOutputRef, url: str) -> JobOutputPublic:
        """The output with a URL to fetch it; its storage key and index stay inside (the model ignores the fields
        it does not declare)."""
        return cls.model_validate({**asdict(output), "url": url})


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


class JobBilling(BaseModel):
    """How a succeeded job was billed by use; it appears once its usage is recorded, shortly after it ends."""

    status: str = Field(description="pending (being reported to Stripe; retried while Stripe does not answer) | "
                                    "sent | not_billed (within the plan's included images, or a plan not billed "
                                    "by use)", examples=[status.value for status in MeterReportStatus])
    billed_images: int = Field(description="images billed by use: those past the plan's included ones")
    gpu_seconds: float = Field(description="GPU time reported with them")
    reported_at: datetime | None = Field(None, description="when Stripe took the report")
    last_error: str | None = Field(None, description="why the last report did not reach Stripe, while pending")

    @classmethod
    def of(cls, report: MeterReport) -> JobBilling:
        return cls(status=report.status, billed_images=report.images, gpu_seconds=round(report.gpu_seconds, 3),
                   reported_at=report.sent_at,
                   last_error=report.last_error if report.status == MeterReportStatus.PENDING else None)


class JobPublic(BaseModel):
    id: str
    status: str = Field(description=" | ".join(JobStatus))
    progress: float = Field(ge=0, le=1)
    queue_position: int | None = Field(None, description="while queued: jobs ahead of this one, waiting or running "
                                                          "(0: it starts next); null once it runs")
    estimated_start_at: datetime | None = Field(None, description="while queued: when it should start, from recent "
                                                                  "run times (null before any job has run)")
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    preset: str | None = None
    workflow: str | None = None  # the template it ran, by the API's word for one
    backend: str | None = Field(None, description="the ComfyUI backend that ran it (or holds its prompt), by its "
                                "public name (`gpu-` and 8 hex digits)")
    queue_wait_ms: int | None = Field(None, description="milliseconds from being handed to the ComfyUI workers "
                                                        "to its prompt starting on the GPU, once it ran")
    model_load: bool | None = Field(None, description="whether the backend had to load the job's checkpoint "
                                                      "first (it had run another one last); null when not known")
    outputs: list[JobOutputPublic] = []
    error: JobError | None = None
    metadata: dict[str, Any] = {}
    webhook_deliveries: list[WebhookDeliveryPublic] = []
    billing: JobBilling | None = None


async def job_public(job: Job, outputs: list[JobOutput], storage: Storage, url_ttl_s: int,
                     live: JobProgress | None = None,
                     deliveries: list[WebhookDelivery] = (), meter: MeterReport | None = None,
                     queue: QueueEstimate | None = None) -> JobPublic:
    """The job as clients see it: the database row, with the workflow's live status while it runs, and where it
    stands in the queue (`queue`, see services/queue_estimate.py) while it waits."""
    status, progress, position = job.status, job.progress, None
    if live is not None and job.status not in TERMINAL_STATUSES:
        # A terminal state counts once the row says so: outputs and error are written with it, never before.
        # Until then a workflow that has ended still knows how far the job got: the row's progress lags.
        if live.status not in TERMINAL_STATUSES:
            status, position = live.status, live.queue_position
        progress = max(progress, live.progress)
    # Status and progress agree: 1.0 is a succeeded job, and only a succeeded job.
    progress = 1.0 if status == JobStatus.SUCCEEDED else min(progress, 0.99)
    start_at = None
    if status == JobStatus.QUEUED and queue is not None:
        position, start_at = queue.position, queue.estimated_start_at
    elif status != JobStatus.QUEUED:
        position = None
    return JobPublic(
        id=job.id, status=status, progress=progress, queue_position=position, estimated_start_at=start_at,
        created_at=job.created_at,
        started_at=job.started_at, finished_at=job.finished_at, preset=job.preset, workflow=job.template,
        backend=public_backend_name(job.backend) if job.backend else None, queue_wait_ms=job.queue_wait_ms,
        model_load=job.model_load,
        outputs=[JobOutputPublic.of(file, await storage.url(file.storage_key, url_ttl_s, filename=file.filename))
                 for file in map(JobOutputRef.of, outputs)],
        error=JobError(**job.error) if job.error else None,
        metadata={k: v for k, v in (job.metadata_ or {}).items() if k not in RESERVED_METADATA},
        webhook_deliveries=[WebhookDeliveryPublic(attempt=d.attempt, status_code=d.status_code, error=d.error,
                                                  delivered=d.delivered, at=d.created_at) for d in deliveries],
        billing=JobBilling.of(meter) if meter is not None else None,
    )
