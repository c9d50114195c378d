"""Request and response bodies at the API's edge. The job object (also the webhook's body) is presented by
services/job_presenter.py."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from comfy_platform.stored_files import StoredFile
from services.job_inputs import ImageSource
from services.job_presenter import JobPublic
from services.jobs import JobSpec

# --- Requests -----------------------------------------------------------------------------------------------

IMAGE_INPUT_EXAMPLES = [{"base64": "iVBORw0KGgo..."}, {"url": "https://example.com/photo.png"},
                        {"upload_id": "6f1c0e3a9b8d4e2f8a7b6c5d4e3f2a1b"}]


class ImageInput(BaseModel):
    """One input image, given exactly one way: inline base64, a URL the API fetches, or an earlier upload."""

    model_config = {"extra": "forbid", "json_schema_extra": {"examples": IMAGE_INPUT_EXAMPLES}}

    base64: str | None = None
    url: str | None = None
    upload_id: str | None = None

    def source(self) -> ImageSource:
        return ImageSource(base64=self.base64, url=self.url, upload_id=self.upload_id)


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

    def spec(self) -> JobSpec:
        """What to run, as services/jobs.py takes it (the API's `workflow` is a template there)."""
        return JobSpec(preset=self.preset, template=self.workflow, graph=self.graph, params=self.params,
                       image=self.image.source() if self.image else None,
                       images={name: image.source() for name, image in self.images.items()})


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

    @classmethod
    def of(cls, upload_id: str, file: StoredFile) -> UploadPublic:
        """The uploaded file under its id; its storage key stays inside (the model ignores the fields it does not
        declare)."""
        return cls.model_validate({**asdict(file), "id": upload_id})


class UsagePublic(BaseModel):
    """This key's use in the account's current billing period, beside the account's plan and what it includes."""

    period_start: datetime
    period_end: datetime
    jobs: int = Field(description="this key's finished jobs in the period")
    images: int = Field(description="this key's output images in the period")
    gpu_seconds: float = Field(description="this key's GPU time in the period, rounded to 0.1 s")
    plan: str = Field(description="the account's plan")
    account_images_used: int = Field(description="output images of all the account's keys in the period")
    account_images_included: int = Field(description="images the plan includes each period")
    past_included: str = Field(description="meter: use past the included images is billed; refuse: it is 402")


class PresetsPublic(BaseModel):
    data: list[dict[str, Any]] = Field(description="name, title, description, params {name: schema}, models")
    count: int


class CheckPublic(BaseModel):
    ok: bool
    detail: str | None


class BacklogPublic(BaseModel):
    waiting: int = Field(description="ComfyUI jobs waiting for a worker (Temporal's task-queue backlog)")
    capacity: int = Field(description="prompts the fleet holds at once: backends x slots per backend")
    limit: int = Field(description="past this many waiting, new jobs are refused with 503 overloaded (0: never)")
    drain_per_s: float = Field(description="how fast waiting jobs are being taken, lately")
    overloaded: bool


class BackendPublic(BaseModel):
    backend: str = Field(description="the ComfyUI backend's public name (`gpu-` and 8 hex digits; the comfy worker "
                                     "logs its URL when it starts)")
    group: str = Field(description="the task queue (backend group) whose workers serve it")
    up: bool = Field(description="whether it answered its last check")
    version: str | None = Field(None, description="the ComfyUI version it reports")
    node_classes: int = Field(description="node classes it has installed")
    models: dict[str, list[str]] = Field(description="model files it lists, by loader input (ckpt_name, "
                                                     "lora_name ...)")
    loaded_checkpoint: str | None = Field(None, description="the checkpoint of the last prompt queued on it")
    refreshed_at: datetime | None = Field(None, description="when what it can run was last read")


class HealthPublic(BaseModel):
    status: str = Field(description="ok (health) or ready (ready) when every check passed; else unavailable")
    checks: dict[str, CheckPublic]
    backlog: BacklogPublic | None = Field(None, description="ready only: the fleet's backlog (null when Temporal "
                                                            "does not say)")
    backends: list[BackendPublic] | None = Field(None, description="ready only: which backends can run what, as "
                                                                   "the comfy workers last read it (null when "
                                                                   "the database does not answer)")


class WorkflowsPublic(BaseModel):
    data: list[dict[str, Any]] = Field(description="name, description, params {name: schema}, images")
    count: int
