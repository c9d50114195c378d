"""Creating a job: its one home, for the API route, `comfy-platform submit` and the creator's Drive activity.

`create_job` reads top to bottom as the steps: check the request's form; a retry with an Idempotency-Key gets the
job it named (its start finished if a crash cut it short); the door admits it (the API's per-key limits); resolve
it into a graph (presets/); refuse it if no backend has every node and model it needs (services/fleet.py) and
check the graph on one that has; load and check every input image; then `submit_job`:
store the inputs, record the job with its start payload, start its GenerationWorkflow. A job the API acknowledged
always runs (services/job_starts.py says how); if Temporal does not take it, the new row is taken back and the
caller told to try again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import mimetypes
import os
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowHandle

from comfy_platform import metrics
from comfy_platform.comfyui.pool import BackendPool
from comfy_platform.settings import Settings
from comfy_platform.statuses import JobStatus
from comfy_platform.storage import Storage
from comfy_platform.stored_files import StoredFile
from db import jobs as job_queries
from db.models import Job
from presets import (
    InvalidJobRequest,
    ResolvedJob,
    get_preset,
    resolve_graph,
    resolve_preset,
    resolve_template,
)
from services.errors import IdempotencyConflict
from services.fleet import unable_backends
from services.job_inputs import ImageSource, check_webhook_url, load_image, preflight_on
from services.job_presenter import REQUEST_HASH_KEY
from services.job_starts import (
    TemporalUnavailable,
    prepared_from_payload,
    start_generation,
    start_payload,
    start_recorded,
)
from services.job_writer import JobWriter
from workflows.shared import (
    COMFY_TASK_QUEUE,
    GenerationInput,
    GenerationResult,
    PreparedJob,
    generation_workflow_id,
)

__all__ = ["JobEnv", "JobOptions", "JobSpec", "Submission", "TemporalUnavailable", "create_job", "record_job",
           "submit_job"]

MAX_JSON_DEPTH = 64
MAX_METADATA_BYTES = 8 * 1024
FORMS = ("preset", "template", "graph")
PUBLIC_FORM_NAMES = {"preset": "preset", "template": "workflow", "graph": "graph"}  # the API calls a template so


@dataclass
class JobSpec:
    """What to run, as a person asks for it: exactly one of a preset (with its one `image`), a template (the API's
    `workflow`, with `images` by the names its loaders take) or a ComfyUI graph (with `images` by the file names
    its loaders read), and the parameters of the preset or template."""

    preset: str | None = None
    template: str | None = None
    graph: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    image: ImageSource | None = None
    images: dict[str, ImageSource] = field(default_factory=dict)


@dataclass
class JobEnv:
    """The clients creating a job takes. Without `comfy` the graph is not checked up front (the worker checks it
    on the backend that runs it); without `temporal` a job can be recorded but not started."""

    sessionmaker: async_sessionmaker[AsyncSession]
    storage: Storage
    settings: Settings
    temporal: Client | None = None
    comfy: BackendPool | None = None


@dataclass
class JobOptions:
    product: str = "api"
    user_id: str | None = None
    api_key_id: str | None = None
    metadata: dict | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None  # what the Idempotency-Key's request was, to tell a retry from a conflict
    webhook_url: str | None = None
    heartbeat_timeout_s: float = 20.0
    job_timeout_s: float = 3600.0
    comfy_task_queue: str = COMFY_TASK_QUEUE

    @classmethod
    def from_settings(cls, settings: Settings, **fields: object) -> JobOptions:
        defaults = {"heartbeat_timeout_s": settings.COMFY_HEARTBEAT_TIMEOUT_S,
                    "job_timeout_s": settings.COMFY_JOB_TIMEOUT_S, "comfy_task_queue": settings.COMFY_TASK_QUEUE}
        return cls(**{**defaults, **fields})


@dataclass
class Submission:
    """A created job: its row as recorded, whether this call recorded it, what starting it takes, and the handle
    of its workflow (None when the caller starts it, as the Drive flow does with a child workflow)."""

    job: Job
    created: bool  # False: the id or idempotency key named a job submitted before, and that job is returned
    prepared: PreparedJob | None  # None for a job an Idempotency-Key named that has ended
    handle: WorkflowHandle[Any, GenerationResult] | None = None


async def create_job(env: JobEnv, spec: JobSpec, options: JobOptions, *, job_id: str | None = None,
                     start: bool = True, admit: Callable[[], Awaitable[None]] | None = None) -> Submission:
    """Create the job `spec` asks for, or return the one its Idempotency-Key named. Raises InvalidJobRequest (and
    its kinds, services/errors.py) for anything bad, before anything is stored; IdempotencyConflict;
    TemporalUnavailable."""
    # 1. The request's form, and which input image is which.
    sources = check_form(spec, options, env.settings)
    # 2. A retry: the job it named.
    if options.idempotency_key is not None:
        earlier = await _earlier_job(env, options)
        if earlier is not None:
            return earlier
    # 3. The door's own limits, for new jobs only.
    if admit is not None:
        await admit()
    # 4. Into a graph, checked where it will run.
    job = resolve(spec, set(sources))
    if options.webhook_url is not None:
        await check_webhook_url(options.webhook_url, env.settings)
    # Only backends that have every node and model file it needs (none: 422 naming them), then the graph checked
    # on one of those that answers.
    unable = await unable_backends(env.sessionmaker, job, options.comfy_task_queue)
    if env.comfy is not None:
        await preflight_on(env.comfy, job, skip=unable)
    # 5. Every input, loaded and proved an image.
    images = {name: await load_image(source, where, options.api_key_id, env.sessionmaker, env.storage, env.settings)
              for name, (source, where) in sources.items()}
    # 6. Stored, recorded and started.
    if options.idempotency_key is not None and options.request_hash is not None:
        options = dataclasses.replace(options, metadata={**(options.metadata or {}),
                                                         REQUEST_HASH_KEY: options.request_hash})
    submission = await submit_job(env, job, images, options, job_id=job_id, start=start)
    if not submission.created and options.idempotency_key is not None:
        _same_request(submission.job, options)  # a concurrent request with this key recorded its job first
    return submission


def check_form(spec: JobSpec, options: JobOptions, settings: Settings) -> dict[str, tuple[ImageSource, str]]:
    """Refuse a request whose shape is wrong; return image name -> (source, how the person named it)."""
    forms = [name for name in FORMS if getattr(spec, name) is not None]
    if len(forms) != 1:
        public = [PUBLIC_FORM_NAMES[name] for name in forms] or list(PUBLIC_FORM_NAMES.values())
        message = f"give only one of preset, workflow or graph, not {' and '.join(public)}" if forms else \
            "give one of preset, workflow or graph"
        raise InvalidJobRequest(message, ",".join(public), {"fields": public}, code="invalid_request_form")
    form = PUBLIC_FORM_NAMES[forms[0]]
    if form != "preset" and spec.image is not None:
        raise InvalidJobRequest(f"'image' goes with a preset; a {form} takes 'images'", "image")
    if form == "preset" and spec.images:
        raise InvalidJobRequest("a preset takes one 'image', not 'images'", "images")
    if form == "graph" and spec.params:
        raise InvalidJobRequest("a graph takes no 'params': set the values in the graph itself", "params")
    for name, value in (("graph", spec.graph), ("params", spec.params), ("metadata", options.metadata)):
        if _depth(value) > MAX_JSON_DEPTH:
            raise InvalidJobRequest(f"{name} is nested deeper than {MAX_JSON_DEPTH} levels", name, code="too_deep")
    if len(json.dumps(options.metadata or {})) > MAX_METADATA_BYTES:
        raise InvalidJobRequest(f"metadata is larger than {MAX_METADATA_BYTES} bytes", "metadata")
    if options.webhook_url is not None and not re.match(r"^https?://[^\s/]+", options.webhook_url):
        raise InvalidJobRequest("webhook_url must be an http(s) URL", "webhook_url")
    if len(spec.images) > settings.MAX_IMAGES_PER_JOB:
        raise InvalidJobRequest(f"at most {settings.MAX_IMAGES_PER_JOB} images per job, got {len(spec.images)}",
                                "images", code="too_many_images")
    if form == "preset":
        if spec.image is None:
            return {}
        photo = get_preset(spec.preset).photo_input
        if photo is None:
            raise InvalidJobRequest(f"preset '{spec.preset}' takes no input image", "image", code="unknown_image")
        return {photo: (spec.image, "image")}
    return {name: (source, f"images.{name}") for name, source in spec.images.items()}


def resolve(spec: JobSpec, image_names: set[str]) -> ResolvedJob:
    """The graph to run, from a preset, a template or a graph, with its parameters checked (presets/)."""
    if spec.preset is not None:
        try:
            return resolve_preset(spec.preset, spec.params, image_names)
        except InvalidJobRequest as exc:
            if exc.code == "missing_image":  # the preset's single image is the request's `image`
                raise InvalidJobRequest(f"preset '{spec.preset}' needs an input 'image'", "image",
                                        code="missing_image") from None
            raise
    if spec.template is not None:
        return resolve_template(spec.template, spec.params, image_names)
    return resolve_graph(spec.graph, image_names)


async def submit_job(env: JobEnv, job: ResolvedJob, images: dict[str, Path | bytes], options: JobOptions, *,
                     job_id: str | None = None, start: bool = True) -> Submission:
    """Store `images` (keyed by the graph's image names), record the job and (with `start`) start its workflow.
    Shielded: a caller that goes away (a closed request) cannot leave a recorded job whose workflow never starts.
    Raises TemporalUnavailable, having taken the new job back, when Temporal does not take it."""
    prepared, recorded = await asyncio.shield(record_job(env, job, images, options, job_id, outbox=start))
    submission = Submission(recorded.job, recorded.inserted, prepared)
    if recorded.inserted:
        metrics.JOBS_CREATED.labels(options.product).inc()
    if not start:
        return submission
    try:
        submission.handle = await asyncio.shield(start_generation(env.temporal, prepared))
    except TemporalUnavailable:
        if recorded.inserted:
            await asyncio.shield(_take_back(env, prepared.job_id))
        raise
    return submission


def new_job_id() -> str:
    """Time-ordered and unguessable: 12 hex digits of milliseconds, then 16 random ones."""
    return f"{int(time.time() * 1000):012x}{os.urandom(8).hex()}"


async def _earlier_job(env: JobEnv, options: JobOptions) -> Submission | None:
    async with env.sessionmaker() as session:
        earlier = await job_queries.find_by_idempotency_key(session, options.api_key_id, options.idempotency_key)
    if earlier is None:
        return None
    _same_request(earlier, options)
    handle = await start_recorded(env.temporal, earlier)  # a no-op unless a crash cut its start short
    prepared = prepared_from_payload(earlier.id, earlier.workflow_id, earlier.start_payload) \
        if earlier.start_payload else None
    return Submission(earlier, False, prepared, handle)


def _same_request(job: Job, options: JobOptions) -> None:
    if (job.metadata_ or {}).get(REQUEST_HASH_KEY) != options.request_hash:
        raise IdempotencyConflict(job.id)


async def record_job(env: JobEnv, job: ResolvedJob, images: dict[str, Path | bytes], options: JobOptions,
                     job_id: str | None = None, *, outbox: bool) -> tuple[PreparedJob, job_queries.CreatedJob]:
    """Store the inputs and write the job row (or find the one its id or idempotency key names). With `outbox`,
    the row keeps what the start takes until the job ends, so that whoever sees it can finish a start a crash
    cut short (a child workflow needs none: its parent starts it durably)."""
    job_id = job_id or new_job_id()
    inputs: dict[str, str] = {}
    input_files = []
    for name, source in images.items():
        file_name = job.image_files[name]
        key = f"jobs/{job_id}/inputs/{file_name}"
        content_type = mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        if isinstance(source, Path):
            stored = await env.storage.put_file(key, source, content_type)
        else:
            stored = await env.storage.put_bytes(key, source, content_type)
        inputs[file_name] = key
        input_files.append(StoredFile(storage_key=key, filename=file_name, content_type=content_type,
                                      size=stored.size))

    attributes = {"JobId": job_id, "Product": options.product}
    if job.preset:
        attributes["Preset"] = job.preset
    if options.user_id:
        attributes["UserId"] = options.user_id
    generation = GenerationInput(
        job_id=job_id, graph=job.graph, inputs=inputs, product=options.product, preset=job.preset,
        user_id=options.user_id, heartbeat_timeout_s=options.heartbeat_timeout_s,
        job_timeout_s=options.job_timeout_s, comfy_task_queue=options.comfy_task_queue,
        api_key_id=options.api_key_id, webhook_url=options.webhook_url, template=job.template)
    prepared = PreparedJob(job_id=job_id, workflow_id=generation_workflow_id(job_id), input=generation,
                           search_attributes=attributes)
    recorded = await JobWriter.of(env.sessionmaker).create(job_queries.NewJob(dict(
        id=job_id, workflow_id=prepared.workflow_id, status=JobStatus.QUEUED, product=options.product,
        preset=job.preset, template=job.template, source=job.source, user_id=options.user_id,
        api_key_id=options.api_key_id, params=job.params, metadata_=options.metadata or {},
        idempotency_key=options.idempotency_key, webhook_url=options.webhook_url,
        start_payload=start_payload(prepared) if outbox else None), input_files))
    if recorded.job.id != job_id:
        # An idempotency key that names a job submitted before: that job, not a second one.
        if recorded.job.start_payload is not None:
            prepared = prepared_from_payload(recorded.job.id, recorded.job.workflow_id, recorded.job.start_payload)
        else:
            prepared = dataclasses.replace(prepared, job_id=recorded.job.id, workflow_id=recorded.job.workflow_id,
                                           input=dataclasses.replace(prepared.input, job_id=recorded.job.id))
    return prepared, recorded


async def _take_back(env: JobEnv, job_id: str) -> None:
    """Remove a job whose workflow did not start, so that the caller's retry creates it afresh. Kept when its
    workflow was started meanwhile (by the sweeper, or by a start whose reply was lost and then found)."""
    async with env.sessionmaker() as session, session.begin():
        taken_back = await job_queries.delete_unstarted_job(session, job_id)
    for key in taken_back or ():
        await env.storage.delete(key)


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level <= MAX_JSON_DEPTH:
                stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest
