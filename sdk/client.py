"""A small async client for the Developer API.

    async with ComfyPlatformClient("https://comfy.example.com", "sk_...") as api:
        job = await api.create_job(preset="quick_enhance", image=Path("photo.png"))
        job = await api.wait(job["id"])
        await api.download_outputs(job, "out/")

Jobs, uploads and usage are the API's JSON objects as plain dicts. Every error answer raises ApiError.
`verify_webhook(secret, headers, body)` checks a webhook delivery's signature (True/False).
Input images (`image=`, `images={name: ...}`) may be a Path or bytes (sent inline as base64), an http(s) URL
string (the API fetches it), the id of an earlier upload (a string that is not a file), or an input dict as is.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import httpx
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

__all__ = ["ApiError", "ComfyPlatformClient", "image_input", "new_output_file", "verify_webhook"]

# A copy of the server's (comfy_platform/statuses.py) on purpose: the SDK must not import the server.
TERMINAL_STATUSES = ("succeeded", "failed", "cancelled")


def verify_webhook(secret: str, headers: Mapping[str, str], body: bytes | str) -> bool:
    """True when a delivery was signed with the key's webhook secret (`whsec_...`) less than five minutes ago,
    either way. Pass the body exactly as received: a re-serialised JSON body will not verify."""
    try:
        Webhook(secret).verify(body, dict(headers), json_parse=False)
    except (WebhookVerificationError, ValueError):  # binascii.Error (a secret that is not base64) is a ValueError
        return False
    return True
ImageSource = Path | bytes | str | dict


class ApiError(Exception):
    """An error answer: the HTTP status and the body's {"error": {"code", "message", "details"}}."""

    def __init__(self, status: int, code: str, message: str, details: Any = None,
                 retry_after: float | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.details = status, code, message, details
        self.retry_after = retry_after  # seconds, from Retry-After on 429 and 503 answers


class ComfyPlatformClient:
    def __init__(self, base_url: str, api_key: str, timeout: float = 60.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, transport=transport,
                                       headers={"Authorization": f"Bearer {api_key}"})
        # Output URLs may be presigned object-storage URLs, which refuse a second credential: no API key there.
        self._downloads = httpx.AsyncClient(timeout=timeout, transport=transport, follow_redirects=True)

    async def __aenter__(self) -> ComfyPlatformClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._downloads.aclose()

    # --- jobs

    async def create_job(self, *, preset: str | None = None, workflow: str | None = None, graph: Any = None,
                         image: ImageSource | None = None, images: dict[str, ImageSource] | None = None,
                         params: dict[str, Any] | None = None, webhook_url: str | None = None,
                         metadata: dict[str, Any] | None = None, idempotency_key: str | None = None) -> dict:
        """Start a job (202) and return it; give exactly one of preset, workflow or graph."""
        body = _job_body(preset, workflow, graph, image, images, params, webhook_url, metadata)
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return await self._request("POST", "/api/v1/jobs", json=body, headers=headers)

    async def generate(self, *, preset: str | None = None, workflow: str | None = None, graph: Any = None,
                       image: ImageSource | None = None, images: dict[str, ImageSource] | None = None,
                       params: dict[str, Any] | None = None, webhook_url: str | None = None,
                       metadata: dict[str, Any] | None = None, idempotency_key: str | None = None,
                       timeout: float = 60.0) -> dict:
        """Run a job and wait up to `timeout` seconds on the server: the finished job, or the job still running."""
        body = _job_body(preset, workflow, graph, image, images, params, webhook_url, metadata)
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return await self._request("POST", "/api/v1/generate", json={**body, "timeout": timeout}, headers=headers,
                                   timeout=timeout + 30)

    async def get_job(self, job_id: str) -> dict:
        return await self._request("GET", f"/api/v1/jobs/{job_id}")

    async def list_jobs(self, *, status: str | None = None, page_size: int = 50,
                        limit: int | None = None) -> AsyncIterator[dict]:
        """Newest first, following cursors; stops after `limit` jobs when given."""
        cursor, seen = None, 0
        while True:
            query = {"limit": page_size, **({"status": status} if status else {}),
                     **({"cursor": cursor} if cursor else {})}
            page = await self._request("GET", "/api/v1/jobs", params=query)
            for job in page.get("data", page.get("items", [])):
                yield job
                seen += 1
                if limit is not None and seen >= limit:
                    return
            cursor = page.get("next_cursor")
            if not cursor:
                return

    async def cancel_job(self, job_id: str) -> dict:
        return await self._request("POST", f"/api/v1/jobs/{job_id}/cancel")

    async def wait(self, job_id: str, *, timeout: float | None = None, poll_interval: float = 0.5,
                   on_progress: Callable[[dict], Any] | None = None) -> dict:
        """Poll the job until it ends; `on_progress(job)` sees every state on the way (`status`, `progress` from 0 to
        1, only ever forward, and while queued `queue_position`, the jobs ahead, and `estimated_start_at`).
        TimeoutError after `timeout`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = await self.get_job(job_id)
            if on_progress is not None:
                on_progress(job)
            if job["status"] in TERMINAL_STATUSES:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout} s")
            await asyncio.sleep(poll_interval)

    async def download_outputs(self, job: dict, directory: str | Path) -> list[Path]:
        """Write the job's outputs into `directory` as `<job id>_<n>.<ext>` (n from 1, in output order), never
        over an existing file (see new_output_file); the paths written, in order."""
        directory = Path(directory)
        written: list[Path] = []
        for n, output in enumerate(job.get("outputs") or [], start=1):
            url = httpx.URL(self.base_url).join(output["url"])
            async with self._downloads.stream("GET", url) as reply:
                if reply.is_error:
                    await reply.aread()
                    raise _error(reply)
                target, file = new_output_file(directory, job["id"], n, Path(output["filename"]).suffix)
                with file:
                    async for chunk in reply.aiter_bytes():
                        file.write(chunk)
            written.append(target)
        return written

    # --- uploads and catalogue

    async def upload(self, source: str | Path | bytes, filename: str | None = None,
                     content_type: str | None = None) -> dict:
        """Upload one input image; use the returned `id` as an input elsewhere."""
        if isinstance(source, bytes):
            data, name = source, filename or "image"
        else:
            data, name = Path(source).read_bytes(), filename or Path(source).name
        file = (name, data, content_type) if content_type else (name, data)
        return await self._request("POST", "/api/v1/uploads", files={"file": file})

    async def presets(self) -> Any:
        return await self._request("GET", "/api/v1/presets")

    async def workflows(self) -> Any:
        return await self._request("GET", "/api/v1/workflows")

    async def usage(self, **query: str) -> dict:
        """This key's usage; query parameters (such as since/until) pass through."""
        return await self._request("GET", "/api/v1/usage", params=query or None)

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        reply = await self._http.request(method, path, **kwargs)
        if reply.is_error:
            raise _error(reply)
        return reply.json() if reply.content else None


def _job_body(preset, workflow, graph, image, images, params, webhook_url, metadata) -> dict[str, Any]:
    given = [name for name, value in (("preset", preset), ("workflow", workflow), ("graph", graph))
             if value is not None]
    if len(given) != 1:
        raise ValueError("give exactly one of preset, workflow or graph")
    body: dict[str, Any] = {given[0]: {"preset": preset, "workflow": workflow, "graph": graph}[given[0]]}
    if image is not None:
        body["image"] = image_input(image)
    if images:
        body["images"] = {name: image_input(value) for name, value in images.items()}
    if params:
        body["params"] = params
    if webhook_url:
        body["webhook_url"] = webhook_url
    if metadata:
        body["metadata"] = metadata
    return body


def new_output_file(directory: str | Path, job_id: str, n: int, suffix: str) -> tuple[Path, BinaryIO]:
    """(path, open file) of a job's n-th output: `<job id>_<n><suffix>`, or `<job id>_<n>-2<suffix>`... when that
    name is taken (a file is never overwritten). Made like any file the user creates: readable as their umask says
    (0o644 under the usual 022), not private to them."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    suffix = suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", suffix or "") else ".png"
    for copy in range(1, 1000):
        path = directory / (f"{job_id}_{n}{suffix}" if copy == 1 else f"{job_id}_{n}-{copy}{suffix}")
        try:
            return path, path.open("xb")
        except FileExistsError:
            continue
    raise FileExistsError(f"{directory} holds 999 copies of output {n} of job {job_id} already")


def image_input(source: ImageSource) -> dict[str, str]:
    """The API's INPUT object for a Path, bytes, URL, upload id or ready dict."""
    if isinstance(source, dict):
        return source
    if isinstance(source, bytes):
        return {"base64": base64.b64encode(source).decode()}
    if isinstance(source, Path):
        return {"base64": base64.b64encode(source.read_bytes()).decode()}
    if source.startswith(("http://", "https://")):
        return {"url": source}
    if Path(source).is_file():
        return image_input(Path(source))
    return {"upload_id": source}


def _error(reply: httpx.Response) -> ApiError:
    try:
        error = reply.json()["error"]
        code, message, details = error["code"], error["message"], error.get("details")
    except (ValueError, KeyError, TypeError):
        code, message, details = "http_error", reply.text[:500] or reply.reason_phrase, None
    retry_after = reply.headers.get("Retry-After")
    try:
        seconds = float(retry_after) if retry_after else None
    except ValueError:
        seconds = None
    return ApiError(reply.status_code, code, message, details, retry_after=seconds)
