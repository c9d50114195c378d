"""ComfyActivities: run one graph on a ComfyUI backend, exactly once, and put its outputs into storage.

Exactly once on every ComfyUI release: each copy of the job's prompt carries the job's tag in `extra_data`, so a
retry finds the copy an earlier attempt queued whatever id the server gave it (servers before July 2025 ignore
the one asked for), and queues another only when no backend can still hold one: a copy ComfyUI lost (a restart
empties its queue) or one interrupted by someone else. Each such re-queue is counted, logged and bounded.
"""

from __future__ import annotations

import asyncio
import io
import logging
import mimetypes
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.backend_registry import BackendRegistry
from activities.comfy_slots import SlotLeases
from activities.prompt_trail import PromptTrail
from comfy_platform import metrics
from comfy_platform.comfyui import (
    ComfyClient,
    ComfyError,
    ComfyExecutionError,
    ComfyInterrupted,
    ComfyPromptLost,
    ComfyUnavailable,
    ComfyValidationError,
    Progress,
    PromptResult,
)
from comfy_platform.comfyui.graph import (
    rename_image_inputs,
    saved_files,
    tag_output_prefixes,
)
from comfy_platform.comfyui.names import public_backend_name
from comfy_platform.comfyui.pool import BackendPool
from comfy_platform.comfyui.preflight import preflight
from comfy_platform.comfyui.routing import Needs, inventory_of, missing, needs_of
from comfy_platform.statuses import JobStatus
from comfy_platform.storage import Storage
from db.slots import NoCapableBackend, Taken
from workflows.shared import (
    PROMPT_QUEUED_SIGNAL,
    REPORT_PROGRESS_SIGNAL,
    JobOutputRef,
    JobProgress,
    PromptQueued,
    RunGraphInput,
    RunGraphOutput,
)

log = logging.getLogger(__name__)

# An output up to this size is stored from memory; a larger one (a video) goes through a temp file.
OUTPUT_IN_MEMORY_BYTES = 32 * 1024 * 1024
# Most images one SaveImage node of a recovered prompt is looked for on disk (ComfyUI numbers them from 00001).
MAX_RECOVERED_BATCH = 64


class _BackendLacks(Exception):
    """The backend chosen lacks a node class or model file the job needs (the registry had it otherwise)."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(", ".join(names))
        self.names = names


def _no_backend(exc: NoCapableBackend) -> ApplicationError:
    """No backend of this group can run the job: it fails at once, naming what each one lacks."""
    names = list(dict.fromkeys(name for listed in exc.lacking.values() for name in listed))  # nodes first
    message = f"no ComfyUI backend can run this job: it needs {', '.join(names)}"
    details = {"missing": names, "backends": [{"backend": public_backend_name(url), "missing": lacking}
                                              for url, lacking in exc.lacking.items()]}
    log.warning(message)
    return ApplicationError(message, {"code": "no_backend_can_run", "message": message, "details": details},
                            type="NoBackendCanRun", non_retryable=True)


@dataclass
class _Found:
    """Where the copy an earlier attempt queued is: its backend and id, or its outputs found on that backend's disk."""

    backend: str
    prompt_id: str | None
    recovered: PromptResult | None = None


class ComfyActivities:
    """Runs prompts on the backends of `pool`; a retry finds the prompt an earlier attempt queued, wherever."""

    def __init__(self, pool: BackendPool, storage: Storage, *, progress_interval_s: float = 0.5,
                 heartbeat_every_s: float = 1.0, max_requeues: int = 3, backend_lost_after_s: float = 120.0,
                 slots: SlotLeases | None = None, registry: BackendRegistry | None = None) -> None:
        self.pool = pool
        # What each backend can run (db/backends.py), kept true by what this activity reads from them too.
        self.registry = registry
        # Slots shared with every other comfy worker through the database; without, this process counts its own.
        self.slots = slots
        self.storage = storage
        self.progress_interval_s = progress_interval_s
        self.heartbeat_every_s = heartbeat_every_s
        self.max_requeues = max_requeues
        self.backend_lost_after_s = backend_lost_after_s

    @activity.defn
    async def run_graph(self, job: RunGraphInput) -> RunGraphOutput:
        info = activity.info()
        trail = PromptTrail.resume(info, job.job_id)
        look_first = info.attempt > 1  # a first attempt has queued nothing yet
        needs = needs_of(job.graph)
        unfit = 0  # backends found lacking what the registry said they had
        while True:
            found = await self._find(trail, job) if look_first else None
            look_first = True  # from here on, every copy queued may exist
            async with self._slot(job, found.backend if found else None, trail, needs) as taken:
                backend = taken.backend
                client = self.pool.get(backend)
                context = {"job_id": job.job_id, "workflow_id": info.workflow_id, "backend": backend,
                           "attempt": info.attempt, "prompt_tag": trail.tag}
                reporter = _ProgressReporter(job.workflow_id, backend, trail, self.progress_interval_s)
                ticker = asyncio.create_task(self._heartbeat_forever(trail, reporter))
                try:
                    result = await self._run_or_attach(client, backend, job, trail, found, reporter, context, needs)
                    outputs = await self._store_outputs(client, result, job.output_prefix)
                except _BackendLacks as lack:
                    unfit += 1
                    if unfit > len(self.pool.urls):
                        raise _no_backend(NoCapableBackend({backend: lack.names})) from None
                    log.warning("backend %s lacks %s (the registry had it otherwise); routing again", backend,
                                ", ".join(lack.names), extra=context)
                    look_first = False  # nothing was queued there
                    continue
                except asyncio.CancelledError:
                    outcome = await asyncio.shield(_cancel_quietly(client, trail))
                    log.info("job cancelled; prompt %s", outcome, extra={**context, "prompt_id": trail.prompt_id})
                    raise
                except (ComfyInterrupted, ComfyPromptLost) as exc:
                    if not exc.retryable and not isinstance(exc, ComfyInterrupted):
                        raise _application_error(exc, context) from exc
                    # Not a cancel of ours (that arrives as CancelledError): ComfyUI restarted and lost the copy,
                    # or an interrupt meant for another prompt hit it. The copy will never finish: queue another.
                    log.warning("the prompt's copy on %s will not finish (%s); queuing it again", backend,
                                exc.message, extra={**context, "prompt_id": trail.prompt_id})
                    trail.lost(exc.message)
                    continue
                except ComfyError as exc:
                    if isinstance(exc, ComfyUnavailable):
                        self.pool.mark_down(backend)  # the retry should go elsewhere if it can
                    elif exc.retryable:  # a failed run worth trying again (out of GPU memory): not this copy
                        trail.lost(exc.message)
                    if exc.retryable:
                        activity.heartbeat(trail.details())  # what the retry needs to find this attempt's copy
                    raise _application_error(exc, context) from exc
                finally:
                    ticker.cancel()
            self.pool.mark_up(backend)
            log.info("prompt finished with %d outputs", len(outputs), extra={**context, "prompt_id": trail.prompt_id})
            # A retry that re-attached did not choose the backend: whether it loaded a model is not known.
            model_load = taken.model_load if found is None else None
            waited = _observe(backend, job, info, result, trail.requeues, model_load, reporter.load_seconds(needs))
            return RunGraphOutput(backend=backend, prompt_id=trail.prompt_id or result.prompt_id, outputs=outputs,
                                  comfy_started_at_ms=result.started_at_ms,
                                  comfy_finished_at_ms=result.finished_at_ms, requeues=trail.requeues,
                                  queue_wait_ms=waited, model_load=model_load)

    @asynccontextmanager
    async def _slot(self, job: RunGraphInput, backend: str | None, trail: PromptTrail,
                    needs: Needs) -> AsyncIterator[Taken]:
        """A slot on `backend` (where a retry found the prompt) or on the backend chosen for a new one."""
        if self.slots is None:
            async with self.pool.lease(backend) as url:
                yield Taken(url)
            return
        try:
            lease = self.slots.lease(job.job_id, backend, needs=needs, while_waiting=lambda: _heartbeat(trail))
            async with lease as taken:
                yield taken
        except NoCapableBackend as exc:  # raised while taking the slot, never by the prompt's run
            raise await self._refusal(exc, job) from None

    async def _run_or_attach(self, client: ComfyClient, backend: str, job: RunGraphInput, trail: PromptTrail,
                             found: _Found | None, reporter: _ProgressReporter, context: dict,
                             needs: Needs) -> PromptResult:
        if found is not None and found.recovered is not None:
            log.info("outputs of a finished copy found on the backend's disk (its history is gone)", extra=context)
            return found.recovered
        if found is not None:
            log.info("re-attaching to the copy an earlier attempt queued", extra={**context, "prompt_id": found.prompt_id})
            trail.queued(backend, found.prompt_id)
            return await client.attach(found.prompt_id, job.graph, on_progress=reporter.report)
        object_info = await self._inventory_check(client, backend, needs)
        if trail.prompt_id is not None:  # an earlier copy was queued and is gone
            trail.requeues += 1
            if trail.requeues > self.max_requeues:
                raise ComfyPromptLost(
                    f"ComfyUI did not finish this job's prompt in {trail.requeues} tries (last: "
                    f"{trail.last_loss or 'its server lost it'}); the job gives up",
                    {"requeues": self.max_requeues}, retryable=False)
        post = trail.next_post()
        graph, uploaded = await self._upload_inputs(client, job, tag_output_prefixes(job.graph, post))
        preflight(graph, object_info, uploaded)
        log.info("queuing prompt" + (f" again (new try {trail.requeues})" if trail.requeues else ""),
                 extra={**context, "requested_prompt_id": post, "requeues": trail.requeues})

        async def queued(prompt_id: str) -> None:
            trail.queued(backend, prompt_id)
            if prompt_id != post or trail.requeues:
                # A retry could not work this id out by itself: record it before waiting on it.
                activity.heartbeat(trail.details())
                await reporter.prompt_queued()

        newly_suspected = trail.posting_to(backend)
        try:
            return await client.run(graph, prompt_id=post, extra_data=trail.extra_data,
                                    on_progress=reporter.report, on_queued=queued)
        except ComfyUnavailable as exc:
            if newly_suspected and not exc.delivered and trail.backend != backend:
                trail.not_delivered(backend)  # refused before the POST: no copy there for a retry to wait for
            raise

    async def _refusal(self, exc: NoCapableBackend, job: RunGraphInput) -> ApplicationError:
        """Why no backend can run the job, as ComfyUI itself would say it (the node and input at fault) when one
        of them answers; a retry when what they list now differs from what the registry said."""
        context = {"job_id": job.job_id, "workflow_id": job.workflow_id}
        for url in exc.lacking:
            try:
                object_info = await self.pool.get(url).object_info(refresh=True)
            except ComfyError:
                continue
            if self.registry is not None:
                await self.registry.observed(url, object_info)
            try:
                preflight(job.graph, object_info, set(job.inputs))
            except ComfyValidationError as refused:
                return _application_error(refused, {**context, "backend": url})
            return ApplicationError(f"ComfyUI at {url} can run the job after all (what it lists changed); "
                                    "routing again", type="BackendInventoryChanged")
        return _no_backend(exc)

    async def _inventory_check(self, client: ComfyClient, backend: str, needs: Needs) -> dict:
        """The backend's `/object_info`, once it is sure to list everything the job needs (read afresh before
        saying it does not); the registry learns what it lists."""
        object_info = await client.object_info()
        if missing(needs, inventory_of(object_info)):
            object_info = await client.object_info(refresh=True)
        if self.registry is not None:
            await self.registry.observed(backend, object_info)
        lacks = missing(needs, inventory_of(object_info))
        if lacks:
            raise _BackendLacks(lacks)
        return object_info

    async def _find(self, trail: PromptTrail, job: RunGraphInput) -> _Found | None:
        """The copy of the prompt an earlier attempt (or loop) queued: running, pending or finished somewhere, or
        finished with its outputs on disk. None when none can exist any more, so another may be queued.

        Looks on the backends a copy may have reached, or on every backend when no heartbeat said which. A backend
        that does not answer may still hold the copy: the attempt fails (and retries with backoff) until it answers
        or has been silent for `backend_lost_after_s`, when it counts as dead with its queue."""
        candidates = self.pool.urls if trail.suspects is None else trail.suspects
        silent = []
        for backend in candidates:
            client = self.pool.get(backend)
            try:
                copy = await client.find_tagged(trail.tag, trail.known_ids, tuple(trail.dead))
                if copy is not None:
                    return _Found(backend, copy.prompt_id)
                recovered = await self._recover_from_files(client, trail, job)
                if recovered is not None:
                    return _Found(backend, recovered.prompt_id, recovered)
            except ComfyUnavailable as exc:
                log.warning("cannot look for the job's prompt on %s: %s", backend, exc.message,
                            extra={"job_id": job.job_id, "backend": backend})
                self.pool.mark_down(backend)
                silent.append(backend)
        if silent:
            waited = trail.backend_silent_for()
            if waited < self.backend_lost_after_s:
                activity.heartbeat(trail.details())  # the next attempt counts the silence from the same moment
                raise ComfyUnavailable(
                    f"ComfyUI at {', '.join(silent)} may still hold this job's prompt and does not answer; waiting "
                    f"for it ({waited:.0f} of {self.backend_lost_after_s:.0f} s)")
            log.warning("ComfyUI at %s silent for %.0f s: its prompt counts as lost", ", ".join(silent), waited,
                        extra={"job_id": job.job_id})
        return None

    async def _recover_from_files(self, client: ComfyClient, trail: PromptTrail,
                                  job: RunGraphInput) -> PromptResult | None:
        """The result of a copy that finished but whose history is gone, from the files it saved: only when every
        output node of the graph saves files whose names are known (SaveImage)."""
        object_info = await client.object_info()
        output_nodes = {node_id for node_id, node in job.graph.items()
                        if (object_info.get(node.get("class_type")) or {}).get("output_node")}
        for post in reversed(trail.posts):
            files = saved_files(tag_output_prefixes(job.graph, post), output_nodes)
            if files is None:
                return None
            outputs = {}
            for node_id, (subfolder, stem) in files.items():
                images = []
                for number in range(1, MAX_RECOVERED_BATCH + 1):
                    image = {"filename": f"{stem}_{number:05}_.png", "subfolder": subfolder, "type": "output"}
                    if not await client.has_file(image):
                        break
                    images.append(image)
                if not images:
                    break
                outputs[node_id] = {"images": images}
            else:
                return PromptResult(prompt_id=trail.prompt_id or post, outputs=outputs)
        return None

    async def _upload_inputs(self, client: ComfyClient, job: RunGraphInput, graph: dict) -> tuple[dict, set[str]]:
        """Copy stored inputs to the backend under a per-job folder and point the graph's loaders at them."""
        names = {}
        for name, key in job.inputs.items():
            data = await self.storage.read_bytes(key)
            names[name] = await client.upload_image(data, name, subfolder=f"cp-{job.job_id}")
        return rename_image_inputs(graph, names), set(names.values())

    async def _store_outputs(self, client: ComfyClient, result: PromptResult, prefix: str) -> list[JobOutputRef]:
        """Each output downloaded and stored: in memory, as an image of a few MB is (no temp file to write and
        read back), or through a temp file once it passes OUTPUT_IN_MEMORY_BYTES (a video, say)."""
        stored = []
        for image in result.images():
            suffix = Path(image["filename"]).suffix or ".png"
            name = f"{image['node_id']}_{image['index']}{suffix}"
            content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
            key = f"{prefix}/{name}"
            with tempfile.TemporaryDirectory(prefix="comfy-out-") as tmp:
                data = await _download(client, image, Path(tmp) / name)
                if isinstance(data, Path):
                    width, height = await asyncio.to_thread(_image_size, data)
                    obj = await self.storage.put_file(key, data, content_type)
                else:
                    width, height = _image_size(io.BytesIO(data))
                    obj = await self.storage.put_bytes(key, data, content_type)
            stored.append(JobOutputRef(node_id=image["node_id"], index=image["index"], storage_key=obj.key,
                                       filename=image["filename"], content_type=content_type, size=obj.size,
                                       width=width, height=height))
        return stored

    async def _heartbeat_forever(self, trail: PromptTrail, reporter: _ProgressReporter) -> None:
        # Heartbeats say "this worker is alive" (a dead one is noticed within heartbeat_timeout) and are the
        # only way a cancel reaches the activity; the details let a retry re-attach to the same prompt. The first
        # waits a tick: a short job then costs the server no heartbeat write, and a retry that finds no details
        # still finds the prompt by the tag every copy carries.
        renewed = time.monotonic()
        while True:
            await asyncio.sleep(self.heartbeat_every_s)
            trail.progress = reporter.latest.progress
            activity.heartbeat(trail.details())
            await reporter.flush()
            if self.slots is not None and time.monotonic() - renewed >= self.slots.ttl_s / 4:
                renewed = time.monotonic()
                await self.slots.renew(trail.job_id)


class _ProgressReporter:
    """Signals the job's workflow as the prompt moves, at most once per interval; `flush` (called on every
    heartbeat tick) sends an update the interval held back.

    Each signal costs the workflow a task, so nothing is sent during the first interval: a job shorter than
    that finishes without any, and its result says more than its progress could have."""

    def __init__(self, workflow_id: str, backend: str, trail: PromptTrail, interval_s: float) -> None:
        self.handle = activity.client().get_workflow_handle(workflow_id)
        self.backend, self.trail, self.interval_s = backend, trail, interval_s
        self.sent = JobProgress(status=JobStatus.QUEUED, backend=backend, prompt_id=trail.prompt_id,
                                requeues=trail.requeues)
        self.latest = self.sent
        self._sent_at = time.monotonic()
        self._node: tuple[str, float] | None = None  # the node running and since when
        self.node_seconds: dict[str, float] = {}  # how long each finished node ran, as the socket told it

    def load_seconds(self, needs: Needs) -> float | None:
        """How long the checkpoint loader ran (its load time), when the socket followed it."""
        loaders = [self.node_seconds[node] for node in needs.loader_nodes if node in self.node_seconds]
        return max(loaders) if loaders else None

    async def report(self, update: Progress) -> None:
        if update.node is not None and (self._node is None or self._node[0] != update.node):
            now = time.monotonic()
            if self._node is not None:
                self.node_seconds[self._node[0]] = now - self._node[1]
            self._node = (update.node, now)
        # The prompt's status (queued or running) is the job's.
        self.latest = JobProgress(status=JobStatus(update.status), progress=update.progress,
                                  queue_position=update.queue_position, backend=self.backend,
                                  prompt_id=self.trail.prompt_id, requeues=self.trail.requeues)
        if time.monotonic() - self._sent_at >= self.interval_s:
            await self.flush()

    async def flush(self) -> None:
        if self.latest == self.sent or time.monotonic() - self._sent_at < self.interval_s:
            return
        self.sent, self._sent_at = self.latest, time.monotonic()
        await self._signal(REPORT_PROGRESS_SIGNAL, self.sent)

    async def prompt_queued(self) -> None:
        """Tell the workflow at once which id the server gave the prompt (it records it on the job)."""
        await self._signal(PROMPT_QUEUED_SIGNAL, PromptQueued(backend=self.backend,
                                                              prompt_id=self.trail.prompt_id or "",
                                                              requeues=self.trail.requeues))

    async def _signal(self, name: str, arg: object) -> None:
        try:
            await self.handle.signal(name, arg)
        except Exception as exc:  # progress is a courtesy; the job goes on without it
            log.debug("signal %s failed: %s", name, exc)


async def _heartbeat(trail: PromptTrail) -> None:
    activity.heartbeat(trail.details())


def _observe(backend: str, job: RunGraphInput, info: activity.Info, result: PromptResult, requeues: int,
             model_load: bool | None, load_s: float | None) -> int | None:
    """The finished prompt in the worker's metrics: its GPU time, how long the job waited for the GPU (returned,
    in ms) and the model it loaded."""
    label = metrics.backend_label(backend)
    labels = (label, job.template or "graph")
    if result.started_at_ms and result.finished_at_ms:
        ran_s = (result.finished_at_ms - result.started_at_ms) / 1000
        metrics.GENERATION_SECONDS.labels(*labels).observe(max(0.0, ran_s))
    if requeues:
        metrics.PROMPTS_REQUEUED.labels(labels[0]).inc(requeues)
    if model_load:
        metrics.BACKEND_MODELS_LOADED.labels(label).inc()
        if load_s is not None:
            metrics.BACKEND_MODEL_LOAD_SECONDS.labels(label).observe(load_s)
    if not result.started_at_ms:
        return None
    waited = max(0.0, result.started_at_ms / 1000 - info.scheduled_time.timestamp())
    metrics.QUEUE_WAIT_SECONDS.labels(*labels).observe(waited)
    return round(waited * 1000)


async def _cancel_quietly(client: ComfyClient, trail: PromptTrail) -> str:
    """Stop the job's prompt on ComfyUI. When the id is not known yet (cancelled while the POST was under way),
    the copy is looked for by its tag, so a cancelled job never leaves a prompt running on a GPU."""
    try:
        prompt_id = trail.prompt_id
        if prompt_id is None and trail.posts:
            copy = await client.find_tagged(trail.tag, trail.known_ids)
            prompt_id = copy.prompt_id if copy and copy.where != "finished" else None
        if prompt_id is None:
            return "not queued"
        # A cancelled job should mean a free GPU, so wait (a little) for the interrupt to land.
        return await client.cancel(prompt_id, wait_s=10.0)
    except ComfyError as exc:
        return f"not reached ({exc.message})"


async def _download(client: ComfyClient, image: dict, spill_to: Path) -> bytes | Path:
    """The output's bytes, or the file they were spilled to once past OUTPUT_IN_MEMORY_BYTES."""
    held = bytearray()
    spill = None
    try:
        async for chunk in client.download(image):
            if spill is None and len(held) + len(chunk) > OUTPUT_IN_MEMORY_BYTES:
                spill = spill_to.open("wb")
                spill.write(held)
            if spill is not None:
                spill.write(chunk)
            else:
                held += chunk
    finally:
        if spill is not None:
            spill.close()
    return spill_to if spill is not None else bytes(held)


def _image_size(source: Path | io.BytesIO) -> tuple[int | None, int | None]:
    try:
        with Image.open(source) as img:
            return img.size
    except Exception:  # a non-image output (text, video) has no pixel size
        return None, None


def _application_error(exc: ComfyError, context: dict) -> ApplicationError:
    log.warning("ComfyUI: %s", exc.message, extra=context)
    # Logged above in one line; BENIGN: the SDK logs it without a traceback (those are for bugs).
    return ApplicationError(exc.message, exc.to_dict(), type=_error_type(exc), non_retryable=not exc.retryable,
                            category=ApplicationErrorCategory.BENIGN)


def _error_type(exc: ComfyError) -> str:
    """The failure type the workflow's retry policy and error mapping key on."""
    if isinstance(exc, ComfyExecutionError) and exc.retryable:
        return "ComfyOutOfMemory"  # a node failed for want of GPU memory: retried, unlike other node failures
    for kind in (ComfyValidationError, ComfyExecutionError, ComfyInterrupted):
        if isinstance(exc, kind):
            return kind.__name__
    return type(exc).__name__
