"""Request and response bodies at the API's edge. The job object is also the webhook's body."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from comfy_platform.storage import Storage
from db.models import Job, JobOutput, WebhookDelivery
from workflows.shared import JobProgress


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
    # A terminal state counts once the row says so: outputs and error are written with it, never before.
    if live is not None and job.status in ("queued", "running") and live.status in ("queued", "running"):
        status, progress, position = live.status, live.progress, live.queue_position
    return JobPublic(
        id=job.id, status=status, progress=progress, queue_position=position, created_at=job.created_at,
        started_at=job.started_at, finished_at=job.finished_at, preset=job.preset, workflow=job.workflow_name,
        outputs=[JobOutputPublic(url=await storage.url(o.storage_key, url_ttl_s, filename=o.filename),
                                 filename=o.filename, content_type=o.content_type, size=o.size, width=o.width,
                                 height=o.height, node_id=o.node_id) for o in outputs],
        error=JobError(**job.error) if job.error else None,
        metadata={k: v for k, v in (job.metadata_ or {}).items() if k not in RESERVED_METADATA},
        webhook_deliveries=[WebhookDeliveryPublic(attempt=d.attempt, status_code=d.status_code, error=d.error,
                                                  delivered=d.delivered, at=d.created_at) for d in deliveries],
    )


# --- Requests -----------------------------------------------------------------------------------------------

IMAGE_INPUT_EXAMPLES = [{"base64": "iVBORw0KGgo..."}, {"url": "https://example.com/photo.png"},
                        {"upload_id": "6f1c0e3a9b8d4e2f8a7b6c5d4e3f2a1b"}]


class ImageInput(BaseModel):
    """One input image, given exactly one way: inline base64, a URL the API fetches, or an earlier upload."""

    model_config = {"extra": "forbid", "json_schema_extra": {"examples": IMAGE_INPUT_EXAMPLES}}

    base64: str | None = None
    url: str | None = None
    upload_id: str | None = None


class JobCreate(BaseModel):
    """Exactly one of `preset` (with `image`), `workflow` (with `images`) or `graph` (with `images`)."""

    model_config = {"extra": "forbid", "json_schema_extra": {"examples": [
        {"preset": "quick_enhance", "image": {"upload_id": "6f1c0e3a9b8d4e2f8a7b6c5d4e3f2a1b"},
         "params": {"sharpen": 1.2}, "metadata": {"order": "A-17"}},
        {"workflow": "t2i_basic", "params": {"prompt": "a red fox in snow", "seed": 7},
         "webhook_url": "https://example.com/hooks/comfy"},
        {"graph": {"1": {"class_type": "LoadImage", "inputs": {"image": "photo.png"}},
                   "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
                   "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "out"}}},
         "images": {"photo.png": {"url": "https://example.com/photo.png"}}},
    ]}}

    preset: str | None = Field(None, description="a preset name (GET /api/v1/presets)")
    workflow: str | None = Field(None, description="a workflow template name (GET /api/v1/workflows)")
    graph: Any = Field(None, description="a ComfyUI API-format graph ('Export (API)')")
    image: ImageInput | None = Field(None, description="the input image of a preset")
    images: dict[str, ImageInput] = Field({}, description="workflow: image name -> input; graph: file name -> input")
    params: dict[str, Any] = Field({}, description="parameters of the preset or workflow")
    webhook_url: str | None = Field(None, max_length=2048, description="POSTed the job object when it ends")
    metadata: dict[str, Any] = Field({}, description="your own small object, returned with the job")


class GenerateCreate(JobCreate):
    """A job request that waits up to `timeout` seconds for the result."""

    timeout: float = Field(60, gt=0, le=300, description="seconds to wait before answering 202 with the job")


class JobsPublic(BaseModel):
    data: list[JobPublic]
    count: int
    next_cursor: str | None = Field(None, description="pass as ?cursor= for the next page; null on the last")


class UploadPublic(BaseModel):
    id: str
    filename: str
    content_type: str
    size: int
    width: int | None = None
    height: int | None = None


class UsagePublic(BaseModel):
    period_start: datetime
    period_end: datetime
    jobs: int
    images: int
    gpu_seconds: float


class PresetsPublic(BaseModel):
    data: list[dict[str, Any]] = Field(description="name, title, description, params {name: schema}, models")
    count: int


class CheckPublic(BaseModel):
    ok: bool
    detail: str | None


class HealthPublic(BaseModel):
    status: str = Field(description="ok (health) or ready (ready) when every check passed; else unavailable")
    checks: dict[str, CheckPublic]


class WorkflowsPublic(BaseModel):
    data: list[dict[str, Any]] = Field(description="name, description, params {name: schema}, images")
    count: int
