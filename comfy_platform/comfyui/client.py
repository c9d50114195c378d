"""HTTP + WebSocket client for one ComfyUI server, correct on old and new releases alike.

Written against ../shared/reference/comfyui_protocol.md so that it works unchanged against a real ComfyUI:
- every prompt is queued with a fresh `client_id` whose socket is open before the POST, so no event is lost to
  the "event before the HTTP reply" race and no other socket is orphaned;
- the prompt id of record is the one the reply names: servers before July 2025 ignore the one asked for;
- every prompt carries the caller's own tag in `extra_data`, which ComfyUI keeps in each `/queue` item and
  `/history` entry, so a prompt is found again without knowing the id the server gave it;
- cancel uses what the server offers (`/api/jobs/{id}/cancel`, a targeted `/interrupt`), and on servers whose
  `/interrupt` stops whatever runs it interrupts only the prompt seen running a moment before.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from comfy_platform.comfyui.capabilities import Capabilities
from comfy_platform.comfyui.errors import (
    ComfyMalformedPrompt,
    ComfyUnavailable,
    validation_error_from_response,
)
from comfy_platform.comfyui.watcher import ProgressCallback, PromptResult, PromptWatcher

log = logging.getLogger(__name__)

# The key of the caller's own data in a prompt's extra_data (ComfyUI keeps it in /queue and /history).
PLATFORM_KEY = "comfy_platform"
# How many recent history entries a search by tag reads when no id is known: a prompt is looked for by tag
# only by a retry, seconds after the attempt that queued it died, and no GPU finishes this many prompts in that
# time. Each entry carries its graph, so the whole history (up to 10 000 entries) is never asked for.
HISTORY_SCAN_ITEMS = 256
# What a server is known to support is asked again after this long (a server may be upgraded in place).
CAPABILITIES_TTL_S = 300.0


@dataclass
class FoundPrompt:
    """A prompt found by its tag: its server id, and `running`, `pending` or `finished`."""

    prompt_id: str
    where: str


class ComfyClient:
    def __init__(
        self,
        base_url: str,
        *,
        ws_silence_s: float = 3.0,
        poll_interval_s: float = 0.5,
        request_timeout_s: float = 30.0,
        object_info_ttl_s: float = 60.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.ws_silence_s = ws_silence_s
        self.poll_interval_s = poll_interval_s
        # Every exchange (HTTP request, download, socket handshake) must end within request_timeout_s, and making the
        # connection within connect_timeout_s, so that a host that drops packets counts as down in seconds.
        self.request_timeout_s = request_timeout_s
        self.connect_timeout_s = min(5.0, request_timeout_s)
        self._session: httpx.AsyncClient | None = None
        self._object_info: tuple[float, dict[str, Any]] | None = None
        self._object_info_ttl_s = object_info_ttl_s
        self._capabilities: tuple[float, Capabilities] | None = None

    # ----------------------------------------------------------------- plumbing
    @property
    def session(self) -> httpx.AsyncClient:
        if self._session is None or self._session.is_closed:
            # httpx times only the connect here: its other timeouts are per read or write, and the whole request
            # is timed by the methods below. A ComfyUI is reached directly, never through the proxies the
            # environment names (trust_env=False), and behind a reverse proxy its redirects are followed.
            self._session = httpx.AsyncClient(timeout=httpx.Timeout(None, connect=self.connect_timeout_s),
                                              trust_env=False, follow_redirects=True)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.aclose()

    async def __aenter__(self) -> ComfyClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _request(self, method: str, path: str, **kwargs: Any) -> tuple[int, str, bytes]:
        try:
            async with asyncio.timeout(self.request_timeout_s):
                resp = await self.session.request(method, self.base_url + path, **kwargs)
            return resp.status_code, resp.headers.get("Content-Type", ""), resp.content
        except (httpx.HTTPError, TimeoutError, OSError) as exc:
            self.forget_capabilities()  # it may come back as another release
            # A connection that could not be made (refused, unknown host) proves the request never left. One that
            # timed out while connecting counts as delivered, as every other failure: that is never wrong, it only
            # costs a retry a look for the prompt.
            raise ComfyUnavailable(f"ComfyUI at {self.base_url} is unreachable: {exc}",
                                   delivered=not isinstance(exc, httpx.ConnectError)) from exc

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        status, _, body = await self._request(method, path, **kwargs)
        if status >= 500:
            raise ComfyUnavailable(f"ComfyUI at {self.base_url} answered {status} to {method} {path}")
        if status >= 400:
            raise ComfyUnavailable(f"ComfyUI answered {status} to {method} {path}: {body[:200]!r}")
        return json.loads(body) if body else None

    # ----------------------------------------------------------------- what the server is
    async def capabilities(self) -> Capabilities:
        """Learned once (version from /system_stats, /api/jobs by asking), again after the server was unreachable."""
        now = time.monotonic()
        if self._capabilities and now - self._capabilities[0] < CAPABILITIES_TTL_S:
            return self._capabilities[1]
        stats = await self.system_stats()
        version = str((stats or {}).get("system", {}).get("comfyui_version") or "")
        status, content_type, body = await self._request("GET", "/api/jobs", params={"limit": "1"})
        jobs_api = status == 200 and "json" in content_type and "jobs" in (json.loads(body or b"{}") or {})
        learned = Capabilities.learn(version, jobs_api)
        if self._capabilities is None or self._capabilities[1] != learned:
            log.info("ComfyUI %s: version %r, targeted interrupt %s, jobs API %s", self.base_url,
                     learned.version, learned.targeted_interrupt, learned.jobs_api, extra={"backend": self.base_url})
        self._capabilities = (now, learned)
        return learned

    def forget_capabilities(self) -> None:
        self._capabilities = None

    # ----------------------------------------------------------------- plain endpoints
    async def system_stats(self) -> dict[str, Any]:
        return await self._json("GET", "/system_stats")

    async def object_info(self, *, refresh: bool = False) -> dict[str, Any]:
        """All node classes. About 1.6 MB on a real server, so it is cached for a minute."""
        now = time.monotonic()
        if not refresh and self._object_info and now - self._object_info[0] < self._object_info_ttl_s:
            return self._object_info[1]
        info = await self._json("GET", "/object_info")
        self._object_info = (now, info)
        return info

    async def upload_image(self, data: bytes, name: str, *, subfolder: str = "", overwrite: bool = True) -> str:
        """Upload an input file; returns the value a LoadImage node takes ("subfolder/name")."""
        reply = await self._json("POST", "/upload/image",
                                 files={"image": (name, data, "application/octet-stream")},
                                 data={"subfolder": subfolder, "type": "input",
                                       "overwrite": "true" if overwrite else "false"})
        return f"{reply['subfolder']}/{reply['name']}" if reply.get("subfolder") else reply["name"]

    async def queue_prompt(self, graph: dict[str, Any], *, prompt_id: str, client_id: str,
                           extra_data: dict[str, Any] | None = None, front: bool = False) -> str:
        """POST /prompt; returns the id the server gave the prompt, which servers before July 2025 choose
        themselves whatever was asked. Raises a typed error for every refusal shape a real server has."""
        body: dict[str, Any] = {"prompt": graph, "client_id": client_id, "prompt_id": prompt_id}
        if extra_data:
            body["extra_data"] = extra_data
        if front:
            body["front"] = True
        status, content_type, raw = await self._request("POST", "/prompt", json=body)
        if status == 200:
            reply = json.loads(raw)
            queued_as = str(reply.get("prompt_id") or prompt_id)
            if reply.get("node_errors"):
                # A 200 with node_errors means ComfyUI silently dropped a broken output and runs the rest:
                # the caller asked for all outputs, so the job is refused rather than half-run.
                await self.cancel(queued_as)
                raise validation_error_from_response({"error": {"message": "Some outputs failed validation"},
                                                      "node_errors": reply["node_errors"]})
            return queued_as
        if status == 400 and "json" in content_type:
            raise validation_error_from_response(json.loads(raw))
        if status == 500 and "text/plain" in content_type:
            raise ComfyMalformedPrompt(
                "ComfyUI could not read the graph (500): it must be an API-format graph, a JSON object of nodes",
                {"status": status, "body": raw[:200].decode(errors="replace")},
            )
        raise ComfyUnavailable(f"ComfyUI answered {status} to POST /prompt: {raw[:200]!r}")

    async def history(self, prompt_id: str) -> dict[str, Any] | None:
        """The finished prompt's history entry, or None while it is queued, running, or unknown."""
        reply = await self._json("GET", f"/history/{prompt_id}")
        return (reply or {}).get(prompt_id)

    async def queue_items(self) -> tuple[list[list], list[list]]:
        """(running items, pending items in run order); an item is [number, prompt_id, graph, extra_data, outputs]."""
        reply = await self._json("GET", "/queue") or {}
        running = list(reply.get("queue_running", []))
        pending = sorted(reply.get("queue_pending", []), key=lambda item: item[0])
        return running, pending

    async def queue(self) -> tuple[list[str], list[str]]:
        """(running prompt ids, pending prompt ids in run order)."""
        running, pending = await self.queue_items()
        return [item[1] for item in running], [item[1] for item in pending]

    async def download(self, image: dict[str, Any], chunk_size: int = 1 << 16) -> AsyncIterator[bytes]:
        """Stream one output file from /view, the whole of it within the request timeout. The time the caller
        takes between chunks counts too, but only a read can fail on it: a timeout must not land in the caller's
        own code between two chunks."""
        params = {"filename": image["filename"], "subfolder": image.get("subfolder", ""),
                  "type": image.get("type", "output")}
        deadline = asyncio.get_running_loop().time() + self.request_timeout_s
        try:
            async with asyncio.timeout_at(deadline):
                resp = await self.session.send(self.session.build_request("GET", self.base_url + "/view",
                                                                          params=params), stream=True)
            try:
                if resp.status_code != 200:
                    raise ComfyUnavailable(f"ComfyUI /view answered {resp.status_code} for {image['filename']}")
                chunks = resp.aiter_bytes(chunk_size)
                while True:
                    async with asyncio.timeout_at(deadline):
                        chunk = await anext(chunks, None)
                    if chunk is None:
                        return
                    yield chunk
            finally:
                await resp.aclose()
        except (httpx.HTTPError, TimeoutError, OSError) as exc:
            raise ComfyUnavailable(f"download of {image['filename']} failed: {exc!r}") from exc

    async def has_file(self, image: dict[str, Any]) -> bool:
        """Whether /view serves this file (an output written before the server lost its history, say)."""
        params = {"filename": image["filename"], "subfolder": image.get("subfolder", ""),
                  "type": image.get("type", "output")}
        status, _, _ = await self._request("GET", "/view", params=params)
        if status >= 500:
            raise ComfyUnavailable(f"ComfyUI /view answered {status} for {image['filename']}")
        return status == 200

    # ----------------------------------------------------------------- finding a prompt again
    async def find_tagged(self, tag: str, known_ids: tuple[str, ...] = (),
                          dead: tuple[str, ...] = ()) -> FoundPrompt | None:
        """The copy of the prompt carrying `tag` that is pending, running or finished; None when the server has
        none. Copies that will never give a result do not count: interrupted ones, and the `dead` ones the caller
        names (one that ran out of GPU memory, say). Ids named earlier are asked directly first."""
        for prompt_id in known_ids:
            if prompt_id in dead:
                continue
            entry = await self.history(prompt_id)
            if entry is not None and not was_interrupted(entry):
                return FoundPrompt(prompt_id, "finished")
        # The queue before the history: a prompt moves only from the one to the other, so it cannot slip by.
        running, pending = await self.queue_items()
        for items, where in ((running, "running"), (pending, "pending")):
            for item in items:
                if tag_of(item[3]) == tag and item[1] not in dead:
                    return FoundPrompt(item[1], where)
        recent = await self._json("GET", "/history", params={"max_items": str(HISTORY_SCAN_ITEMS)}) or {}
        finished = [pid for pid, entry in recent.items() if pid not in dead
                    and tag_of((entry.get("prompt") or [None] * 4)[3]) == tag and not was_interrupted(entry)]
        return FoundPrompt(finished[-1], "finished") if finished else None

    async def locate(self, prompt_id: str) -> str:
        """Where a prompt is now: "finished", "running", "pending" or "unknown"."""
        if await self.history(prompt_id) is not None:
            return "finished"
        running, pending = await self.queue()
        if prompt_id in running:
            return "running"
        if prompt_id in pending:
            return "pending"
        # It may have finished between the two looks.
        return "finished" if await self.history(prompt_id) is not None else "unknown"

    # ----------------------------------------------------------------- run and wait
    async def run(
        self,
        graph: dict[str, Any],
        *,
        prompt_id: str | None = None,
        extra_data: dict[str, Any] | None = None,
        on_progress: ProgressCallback | None = None,
        on_queued: Callable[[str], Awaitable[None] | None] | None = None,
    ) -> PromptResult:
        """Queue `graph` and wait for its end; `on_queued` hears the id the server gave it at once.
        Raises ComfyExecutionError / ComfyInterrupted on a failed run."""
        watcher = PromptWatcher(self, None, graph, on_progress)
        await watcher.connect()
        try:
            # Events that arrive before the reply wait in the socket until the watcher reads them, by when it
            # knows the id they name.
            watcher.prompt_id = await self.queue_prompt(graph, prompt_id=prompt_id or str(uuid.uuid4()),
                                                        client_id=watcher.client_id, extra_data=extra_data)
            if on_queued:
                result = on_queued(watcher.prompt_id)
                if asyncio.iscoroutine(result):
                    await result
            return await watcher.wait()
        finally:
            await watcher.close()

    async def attach(
        self, prompt_id: str, graph: dict[str, Any] | None = None, *, on_progress: ProgressCallback | None = None
    ) -> PromptResult:
        """Wait for a prompt queued earlier (by a process that may have died). Its events went to another
        socket, so this follows it through /queue and /history. Raises ComfyPromptLost if it is gone."""
        watcher = PromptWatcher(self, prompt_id, graph or {}, on_progress, polling_only=True)
        return await watcher.wait()

    # ----------------------------------------------------------------- cancel
    async def cancel(self, prompt_id: str, wait_s: float = 0.0) -> str:
        """Stop a prompt wherever it is, without touching any other: "dequeued", "interrupted" or "not_queued".

        A pending prompt is deleted from the queue (targeted on every release). A running one is cancelled through
        /api/jobs where the server has it, interrupted by id where the server honours that, and otherwise
        interrupted only right after /queue shows it running: on such servers /interrupt stops whatever runs,
        and the prompt that started meanwhile would be hit (its own caller then queues it again, as it does for
        any interrupt it did not ask for). With `wait_s` the call waits that long for the prompt to stop.
        """
        capabilities = await self.capabilities()
        if capabilities.jobs_api:
            status, _, body = await self._request("POST", f"/api/jobs/{prompt_id}/cancel")
            if status == 404:  # the server changed under us: learn it again, cancel the careful way
                self.forget_capabilities()
                capabilities = Capabilities.learn(capabilities.version, jobs_api=False)
            elif status == 200:
                where = await self.locate(prompt_id)
                cancelled = bool((json.loads(body or b"{}") or {}).get("cancelled"))
                if not cancelled:
                    return "not_queued"
                if where == "running":
                    await self._until_stopped(prompt_id, wait_s)
                return "dequeued" if where == "unknown" else "interrupted"
        for _ in range(2):
            running, pending = await self.queue()
            if prompt_id in pending:
                await self._request("POST", "/queue", json={"delete": [prompt_id]})
                running, pending = await self.queue()
                if prompt_id not in running:
                    return "dequeued"
            if prompt_id in running:
                if capabilities.targeted_interrupt or (await self.queue())[0] == [prompt_id]:
                    await self._request("POST", "/interrupt", json={"prompt_id": prompt_id})
                    await self._until_stopped(prompt_id, wait_s)
                    if not capabilities.targeted_interrupt:
                        await self._report_collateral(prompt_id)
                    return "interrupted"
        return "not_queued"

    async def _until_stopped(self, prompt_id: str, wait_s: float) -> None:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and prompt_id in (await self.queue())[0]:
            await asyncio.sleep(self.poll_interval_s)

    async def _report_collateral(self, prompt_id: str) -> None:
        """After an untargeted interrupt: a prompt that ended on its own was not what the interrupt stopped, and the
        prompt that ran next may have been. Said in the log; that prompt's caller sees an interrupt it did not
        ask for and queues its prompt again."""
        entry = await self.history(prompt_id)
        if entry is not None and not was_interrupted(entry):
            log.warning("prompt %s ended before the interrupt landed; this server's /interrupt is not targeted, so "
                        "it may have stopped the prompt that ran next, whose job queues it again", prompt_id,
                        extra={"backend": self.base_url, "prompt_id": prompt_id})


def tag_of(extra_data: Any) -> str | None:
    """The caller's tag a queue item's or history entry's extra_data carries, if any."""
    if isinstance(extra_data, dict) and isinstance(extra_data.get(PLATFORM_KEY), dict):
        tag = extra_data[PLATFORM_KEY].get("tag")
        return tag if isinstance(tag, str) else None
    return None


def was_interrupted(entry: dict[str, Any]) -> bool:
    """A history entry of a prompt that was interrupted: it will never produce its outputs."""
    messages = (entry.get("status") or {}).get("messages") or []
    return any(isinstance(m, list) and m and m[0] == "execution_interrupted" for m in messages)
