"""ComfyActivities: run one graph on a ComfyUI backend, exactly once, and put its outputs into storage."""

from __future__ import annotations

import asyncio
import io
import logging
import mimetypes
import tempfile
import time
import uuid
from pathlib import Path

from PIL import Image
from temporalio import activity
from temporalio.exceptions import ApplicationError

from comfy_platform.comfyui import (
    ComfyClient,
    ComfyError,
    ComfyExecutionError,
    ComfyInterrupted,
    ComfyUnavailable,
    ComfyValidationError,
    Progress,
    PromptResult,
)
from comfy_platform.comfyui.graph import rename_image_inputs
from comfy_platform.comfyui.pool import BackendPool
from comfy_platform.comfyui.preflight import preflight
from comfy_platform.storage import Storage
from workflows.shared import JobOutputRef, JobProgress, RunGraphInput, RunGraphOutput

log = logging.getLogger(__name__)

# An output up to this size is stored from memory; a larger one (a video) goes through a temp file.
OUTPUT_IN_MEMORY_BYTES = 32 * 1024 * 1024

# prompt ids are derived from the activity's identity, so every attempt of one activity names the same prompt.
PROMPT_NAMESPACE = uuid.UUID("6f1d3c1e-4c55-4e3a-9f0b-9c2f4cbb7a10")


class ComfyActivities:
    """Runs prompts on the backends of `pool`; a retry finds the prompt an earlier attempt queued, wherever."""

    def __init__(self, pool: BackendPool, storage: Storage, *, progress_interval_s: float = 0.5,
                 heartbeat_every_s: float = 1.0) -> None:
        self.pool = pool
        self.storage = storage
        self.progress_interval_s = progress_interval_s
        self.heartbeat_every_s = heartbeat_every_s

    @activity.defn
    async def run_graph(self, job: RunGraphInput) -> RunGraphOutput:
        info = activity.info()
        prompt_id = str(uuid.uuid5(PROMPT_NAMESPACE, f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}"))
        found_on, where = await self._find_prompt(prompt_id, info)
        async with self.pool.lease(found_on) as backend:
            client = self.pool.get(backend)
            context = {"job_id": job.job_id, "workflow_id": info.workflow_id, "prompt_id": prompt_id,
                       "backend": backend, "attempt": info.attempt}
            reporter = _ProgressReporter(job.workflow_id, backend, prompt_id, self.progress_interval_s)
            ticker = asyncio.create_task(self._heartbeat_forever(backend, prompt_id, reporter))
            try:
                if found_on:
                    log.info("re-attaching to the prompt an earlier attempt queued (%s)", where, extra=context)
                    result = await client.attach(prompt_id, job.graph, on_progress=reporter.report)
                else:
                    graph, uploaded = await self._upload_inputs(client, job)
                    preflight(graph, await client.object_info(), uploaded)
                    log.info("queuing prompt", extra=context)
                    result = await client.run(graph, prompt_id=prompt_id, on_progress=reporter.report)
                outputs = await self._store_outputs(client, result, job.output_prefix)
            except asyncio.CancelledError:
                outcome = await asyncio.shield(_cancel_quietly(client, prompt_id))
                log.info("job cancelled; prompt %s", outcome, extra=context)
                raise
            except ComfyError as exc:
                if isinstance(exc, ComfyUnavailable):
                    self.pool.mark_down(backend)  # the retry should go elsewhere if it can
                log.warning("ComfyUI: %s", exc.message, extra=context)
                raise ApplicationError(exc.message, exc.to_dict(), type=_error_type(exc),
                                       non_retryable=not exc.retryable) from exc
            finally:
                ticker.cancel()
        self.pool.mark_up(backend)
        log.info("prompt finished with %d outputs", len(outputs), extra=context)
        return RunGraphOutput(backend, prompt_id, outputs, result.started_at_ms, result.finished_at_ms)

    async def _find_prompt(self, prompt_id: str, info: activity.Info) -> tuple[str | None, str]:
        """(backend holding the prompt, where it is there) or (None, "unknown") when it must be queued.

        A first attempt has queued nothing. A retry looks on the backend its last heartbeat names, or on every
        backend when the attempt died before its first heartbeat (the prompt id is the same for every attempt).
        A backend that does not answer has lost its in-memory queue (ComfyUI keeps none across a restart), so
        its prompt counts as gone and the job is queued again on a backend that answers.
        """
        if info.attempt == 1:
            return None, "unknown"
        details = info.heartbeat_details[0] if info.heartbeat_details else None
        candidates = [details["backend"]] if isinstance(details, dict) and details.get("backend") else self.pool.urls
        for backend in candidates:
            try:
                where = await self.pool.get(backend).locate(prompt_id)
            except ComfyUnavailable as exc:
                log.warning("cannot look for prompt %s: %s", prompt_id, exc.message, extra={"backend": backend})
                self.pool.mark_down(backend)
                continue
            if where != "unknown":
                return backend, where
        return None, "unknown"

    async def _upload_inputs(self, client: ComfyClient, job: RunGraphInput) -> tuple[dict, set[str]]:
        """Copy stored inputs to the backend under a per-job folder and point the graph's loaders at them."""
        names = {}
        for name, key in job.inputs.items():
            data = await self.storage.read_bytes(key)
            names[name] = await client.upload_image(data, name, subfolder=f"cp-{job.job_id}")
        return rename_image_inputs(job.graph, names), set(names.values())

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
            stored.append(JobOutputRef(image["node_id"], image["index"], obj.key, image["filename"], content_type,
                                       obj.size, width, height))
        return stored

    async def _heartbeat_forever(self, backend: str, prompt_id: str, reporter: _ProgressReporter) -> None:
        # Heartbeats say "this worker is alive" (a dead one is noticed within heartbeat_timeout) and are the
        # only way a cancel reaches the activity; the details let a retry re-attach to the same prompt. The first
        # waits a tick: a short job then costs the server no heartbeat write, and a retry that finds no details
        # still finds the prompt, whose id every attempt shares.
        while True:
            await asyncio.sleep(self.heartbeat_every_s)
            activity.heartbeat({"backend": backend, "prompt_id": prompt_id, "progress": reporter.latest.progress})
            await reporter.flush()


class _ProgressReporter:
    """Signals the job's workflow as the prompt moves, at most once per interval; `flush` (called on every
    heartbeat tick) sends an update the interval held back.

    Each signal costs the workflow a task, so nothing is sent during the first interval: a job shorter than
    that finishes without any, and its result says more than its progress could have."""

    def __init__(self, workflow_id: str, backend: str, prompt_id: str, interval_s: float) -> None:
        self.handle = activity.client().get_workflow_handle(workflow_id)
        self.backend, self.prompt_id, self.interval_s = backend, prompt_id, interval_s
        self.sent = JobProgress(status="queued", backend=backend, prompt_id=prompt_id)
        self.latest = self.sent
        self._sent_at = time.monotonic()

    async def report(self, update: Progress) -> None:
        self.latest = JobProgress(update.status, update.progress, update.queue_position, self.backend, self.prompt_id)
        if time.monotonic() - self._sent_at >= self.interval_s:
            await self.flush()

    async def flush(self) -> None:
        if self.latest == self.sent or time.monotonic() - self._sent_at < self.interval_s:
            return
        self.sent, self._sent_at = self.latest, time.monotonic()
        try:
            await self.handle.signal("report_progress", self.sent)
        except Exception as exc:  # progress is a courtesy; the job goes on without it
            log.debug("progress signal failed: %s", exc)


async def _cancel_quietly(client: ComfyClient, prompt_id: str) -> str:
    try:
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


def _error_type(exc: ComfyError) -> str:
    """The failure type the workflow's retry policy and error mapping key on."""
    for kind in (ComfyValidationError, ComfyExecutionError, ComfyInterrupted):
        if isinstance(exc, kind):
            return kind.__name__
    return type(exc).__name__
