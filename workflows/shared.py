"""Task-queue names and the dataclasses that cross the workflow boundary (the API and CLI import these too).

Only ids, storage keys and small dicts travel here: every payload is written to workflow history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Activities that talk to a ComfyUI backend; one worker per backend polls it with a slot per queued prompt.
COMFY_TASK_QUEUE = "comfy"
# Workflows and every other activity (storage, database, notifications).
IO_TASK_QUEUE = "io"

# Custom search attributes registered on the Temporal namespace (README: "Finding a run").
SEARCH_ATTRIBUTES = ("JobId", "Product", "Preset", "UserId")


def generation_workflow_id(job_id: str) -> str:
    return f"gen-{job_id}"


@dataclass
class GenerationInput:
    """One ComfyUI job: a concrete graph and the stored input files its loaders read."""

    job_id: str
    graph: dict[str, Any]
    inputs: dict[str, str] = field(default_factory=dict)  # file name the graph reads -> storage key
    product: str = "api"
    preset: str | None = None
    user_id: str | None = None
    heartbeat_timeout_s: float = 20.0
    job_timeout_s: float = 3600.0
    # Which pool of ComfyUI workers runs it; a deployment may keep several (one per GPU type, say).
    comfy_task_queue: str = COMFY_TASK_QUEUE
    # Developer API: the key that owns the job (its webhook secret signs deliveries) and where to POST the end.
    api_key_id: str | None = None
    webhook_url: str | None = None


@dataclass
class JobOutputRef:
    node_id: str
    index: int
    storage_key: str
    filename: str
    content_type: str
    size: int
    width: int | None = None
    height: int | None = None


@dataclass
class GenerationResult:
    job_id: str
    status: str  # succeeded | failed | cancelled
    outputs: list[JobOutputRef] = field(default_factory=list)
    error: dict[str, Any] | None = None


@dataclass
class JobProgress:
    """What the `get_status` query answers, and what the ComfyUI activity signals as it goes."""

    status: str = "queued"  # queued | running | succeeded | failed | cancelled
    progress: float = 0.0
    queue_position: int | None = None
    backend: str | None = None
    prompt_id: str | None = None
    error: dict[str, Any] | None = None


@dataclass
class CheckInputsInput:
    job_id: str
    inputs: dict[str, str]


@dataclass
class CheckInputsOutput:
    images: dict[str, dict[str, Any]]  # file name -> {width, height, format}


@dataclass
class RunGraphInput:
    job_id: str
    workflow_id: str
    graph: dict[str, Any]
    inputs: dict[str, str]
    output_prefix: str


@dataclass
class RunGraphOutput:
    backend: str
    prompt_id: str
    outputs: list[JobOutputRef]
    comfy_started_at_ms: int | None = None
    comfy_finished_at_ms: int | None = None


@dataclass
class FinishJobInput:
    job_id: str
    status: str
    workflow_id: str
    product: str = "api"
    preset: str | None = None
    user_id: str | None = None
    outputs: list[JobOutputRef] = field(default_factory=list)
    error: dict[str, Any] | None = None
    backend: str | None = None
    prompt_id: str | None = None
    comfy_started_at_ms: int | None = None
    comfy_finished_at_ms: int | None = None


def webhook_id_of(job_id: str) -> str:
    """The `webhook-id` header: the same on every attempt, so receivers can drop duplicates."""
    return f"wh_{job_id}"


def webhook_workflow_id(job_id: str) -> str:
    return f"webhook-{job_id}"


@dataclass
class DeliverWebhookInput:
    job_id: str
    webhook_id: str
