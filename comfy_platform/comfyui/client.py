"""HTTP + WebSocket client for one ComfyUI server.

Written against ../shared/reference/comfyui_protocol.md so that it works unchanged against a real ComfyUI:
- every prompt is queued with our own `prompt_id` and a fresh `client_id` whose socket is open before the POST,
  so no event is lost to the "event before the HTTP reply" race and no other socket is orphaned;
- the end of a prompt is `executing` with `node: null` for our prompt id; the outcome is the message before it;
- a quiet or dropped socket falls back to polling `/history/{id}` (which stays `{}` until the prompt finished).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from comfy_platform.comfyui.errors import (
    ComfyExecutionError,
    ComfyInterrupted,
    ComfyMalformedPrompt,
    ComfyPromptLost,
    ComfyUnavailable,
    validation_error_from_response,
)
from comfy_platform.comfyui.graph import nodes_to_execute

log = logging.getLogger(__name__)
# How often a waiting prompt asks where it is in the queue; the first ask comes this long after queuing, by when
# most prompts have started and need not ask at all.
QUEUE_POSITION_EVERY_S = 0.5


@dataclass
class Progress:
    """What a waiting caller is told: `queued` with a position, or `running` with a fraction done."""

    prompt_id: str
    status: str  # queued | running
    progress: float = 0.0
    queue_position: int | None = None
    node: str | None = None


@dataclass
class PromptResult:
    prompt_id: str
    outputs: dict[str, Any]  # node id -> {"images": [{filename, subfolder, type}], ...}
    started_at_ms: int | None = None  # ComfyUI's own execution window, from the history messages
    finished_at_ms: int | None = None
    cached_nodes: list[str] = field(default_factory=list)

    def images(self) -> list[dict[str, Any]]:
        """Every image output as {node_id, index, filename, subfolder, type}, in node order."""
        found = []
        for node_id in sorted(self.outputs, key=_node_sort_key):
            for index, image in enumerate(self.outputs[node_id].get("images") or []):
                found.append({"node_id": node_id, "index": index, **image})
        return found


ProgressCallback = Callable[[Progress], Awaitable[None] | None]


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
        self._timeout = aiohttp.ClientTimeout(total=request_timeout_s, connect=min(5.0, request_timeout_s))
        self._session: aiohttp.ClientSession | None = None
        self._object_info: tuple[float, dict[str, Any]] | None = None
        self._object_info_ttl_s = object_info_ttl_s

    # ----------------------------------------------------------------- plumbing
    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> ComfyClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _request(self, method: str, path: str, **kwargs: Any) -> tuple[int, str, bytes]:
        try:
            async with self.session.request(method, self.base_url + path, **kwargs) as resp:
                return resp.status, resp.headers.get("Content-Type", ""), await resp.read()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise ComfyUnavailable(f"ComfyUI at {self.base_url} is unreachable: {exc!r}") from exc

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        status, _, body = await self._request(method, path, **kwargs)
        if status >= 500:
            raise ComfyUnavailable(f"ComfyUI at {self.base_url} answered {status} to {method} {path}")
        if status >= 400:
            raise ComfyUnavailable(f"ComfyUI answered {status} to {method} {path}: {body[:200]!r}")
        return json.loads(body) if body else None

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
        form = aiohttp.FormData()
        form.add_field("image", data, filename=name, content_type="application/octet-stream")
        form.add_field("subfolder", subfolder)
        form.add_field("type", "input")
        form.add_field("overwrite", "true" if overwrite else "false")
        reply = await self._json("POST", "/upload/image", data=form)
        return f"{reply['subfolder']}/{reply['name']}" if reply.get("subfolder") else reply["name"]

    async def queue_prompt(
        self, graph: dict[str, Any], *, prompt_id: str, client_id: str, front: bool = False
    ) -> dict[str, Any]:
        """POST /prompt. Raises a typed error for every refusal shape a real server has."""
        body = {"prompt": graph, "client_id": client_id, "prompt_id": prompt_id}
        if front:
            body["front"] = True
        status, content_type, raw = await self._request("POST", "/prompt", json=body)
        if status == 200:
            reply = json.loads(raw)
            if reply.get("node_errors"):
                # A 200 with node_errors means ComfyUI silently dropped a broken output and runs the rest:
                # the caller asked for all outputs, so the job is refused rather than half-run.
                await self.cancel(prompt_id)
                raise validation_error_from_response({"error": {"message": "Some outputs failed validation"},
                                                      "node_errors": reply["node_errors"]})
            return reply
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

    async def queue(self) -> tuple[list[str], list[str]]:
        """(running prompt ids, pending prompt ids in run order)."""
        reply = await self._json("GET", "/queue")
        running = [item[1] for item in reply.get("queue_running", [])]
        pending = [item[1] for item in sorted(reply.get("queue_pending", []), key=lambda item: item[0])]
        return running, pending

    async def interrupt(self, prompt_id: str | None = None) -> None:
        await self._request("POST", "/interrupt", json={"prompt_id": prompt_id} if prompt_id else {})

    async def cancel(self, prompt_id: str, wait_s: float = 0.0) -> str:
        """Stop a prompt wherever it is: delete it while pending, interrupt it while running.

        Returns "dequeued", "interrupted" or "not_queued". Checked twice because a pending prompt can
        start between our look at /queue and the delete. An interrupt takes effect at the next node
        boundary; with `wait_s` the call waits that long for the prompt to actually stop.
        """
        for _ in range(2):
            running, pending = await self.queue()
            if prompt_id in pending:
                await self._request("POST", "/queue", json={"delete": [prompt_id]})
                running, pending = await self.queue()
                if prompt_id not in running:
                    return "dequeued"
            if prompt_id in running:
                await self.interrupt(prompt_id)
                deadline = time.monotonic() + wait_s
                while time.monotonic() < deadline and prompt_id in (await self.queue())[0]:
                    await asyncio.sleep(self.poll_interval_s)
                return "interrupted"
        return "not_queued"

    async def download(self, image: dict[str, Any], chunk_size: int = 1 << 16) -> AsyncIterator[bytes]:
        """Stream one output file from /view."""
        params = {"filename": image["filename"], "subfolder": image.get("subfolder", ""),
                  "type": image.get("type", "output")}
        try:
            async with self.session.get(self.base_url + "/view", params=params) as resp:
                if resp.status != 200:
                    raise ComfyUnavailable(f"ComfyUI /view answered {resp.status} for {image['filename']}")
                async for chunk in resp.content.iter_chunked(chunk_size):
                    yield chunk
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise ComfyUnavailable(f"download of {image['filename']} failed: {exc!r}") from exc

    # ----------------------------------------------------------------- run and wait
    async def run(
        self,
        graph: dict[str, Any],
        *,
        prompt_id: str | None = None,
        on_progress: ProgressCallback | None = None,
        on_queued: Callable[[str], Awaitable[None] | None] | None = None,
    ) -> PromptResult:
        """Queue `graph` and wait for its end. Raises ComfyExecutionError / ComfyInterrupted on a failed run."""
        prompt_id = prompt_id or str(uuid.uuid4())
        watcher = _PromptWatcher(self, prompt_id, graph, on_progress)
        await watcher.connect()
        try:
            await self.queue_prompt(graph, prompt_id=prompt_id, client_id=watcher.client_id)
            if on_queued:
                await _maybe_await(on_queued(prompt_id))
            return await watcher.wait()
        finally:
            await watcher.close()

    async def attach(
        self, prompt_id: str, graph: dict[str, Any] | None = None, *, on_progress: ProgressCallback | None = None
    ) -> PromptResult:
        """Wait for a prompt queued earlier (by a process that may have died). Its events went to another
        socket, so this follows it through /queue and /history. Raises ComfyPromptLost if it is gone."""
        watcher = _PromptWatcher(self, prompt_id, graph or {}, on_progress, polling_only=True)
        return await watcher.wait()

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


class _PromptWatcher:
    """Follows one prompt to its end over a WebSocket, falling back to polling when the socket is quiet or gone."""

    def __init__(
        self,
        client: ComfyClient,
        prompt_id: str,
        graph: dict[str, Any],
        on_progress: ProgressCallback | None,
        polling_only: bool = False,
    ) -> None:
        self.client = client
        self.prompt_id = prompt_id
        self.client_id = uuid.uuid4().hex
        self.on_progress = on_progress
        self.polling_only = polling_only
        self.total_nodes = max(1, len(nodes_to_execute(graph))) if graph else 1
        self.done_nodes: set[str] = set()
        self.current: str | None = None
        self.node_fraction = 0.0
        self.started = False
        self.outcome: tuple[str, dict[str, Any]] | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._last_report: Progress | None = None
        self._position_pending = False
        self._position_task: asyncio.Future | None = None
        self._position_asked_at = time.monotonic()  # the first ask waits a while: most prompts start before

    async def connect(self) -> None:
        if self.polling_only:
            return
        try:
            self._ws = await self.client.session.ws_connect(
                self.client.base_url.replace("http", "ws", 1) + f"/ws?clientId={self.client_id}",
                heartbeat=None, max_msg_size=0,
            )
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise ComfyUnavailable(f"ComfyUI WebSocket at {self.client.base_url} is unreachable: {exc!r}") from exc

    async def close(self) -> None:
        if self._position_task is not None:
            self._position_task.cancel()
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()

    async def wait(self) -> PromptResult:
        while True:
            message = await self._next_message()
            if message is None:
                # Silence or no socket: ask the server directly.
                result = await self._poll()
                if result is not None:
                    return result
                continue
            if self._handle(message):
                entry = await self.client.history(self.prompt_id)
                return self._finish(entry)

    async def _next_message(self) -> dict[str, Any] | None:
        if self._ws is None or self._ws.closed:
            await asyncio.sleep(self.client.poll_interval_s)
            return None
        try:
            msg = await self._ws.receive(timeout=self.client.ws_silence_s)
        except asyncio.TimeoutError:
            return None
        if msg.type == aiohttp.WSMsgType.TEXT:
            try:
                return json.loads(msg.data)
            except ValueError:
                return {}
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR,
                        aiohttp.WSMsgType.CLOSING):
            log.warning("ComfyUI socket closed; following the prompt by polling",
                        extra={"prompt_id": self.prompt_id, "backend": self.client.base_url})
            await self.close()
            return None
        return {}  # binary preview frames carry nothing we need

    def _handle(self, message: dict[str, Any]) -> bool:
        """Update state from one event; True when the prompt has ended."""
        kind, data = message.get("type"), message.get("data") or {}
        if kind == "status":
            # The queue moved; while ours waits, tell the caller where it stands now.
            # Status goes to every client on every queue change: asking /queue on each would cost the backend
            # a request per prompt per change, so one ask covers the changes of QUEUE_POSITION_EVERY_S.
            if not self.started and self.on_progress is not None and not self._position_pending:
                self._position_pending = True
                delay = self._position_asked_at + QUEUE_POSITION_EVERY_S - time.monotonic()
                self._position_task = asyncio.ensure_future(self._report_queue_position(max(0.0, delay)))
            return False
        if data.get("prompt_id") != self.prompt_id:
            return False
        if kind == "execution_start":
            self.started = True
        elif kind == "execution_cached":
            self.done_nodes.update(data.get("nodes") or [])
        elif kind == "executing":
            node = data.get("node")
            if node is None:
                return True
            if self.current:
                self.done_nodes.add(self.current)
            self.current, self.node_fraction, self.started = node, 0.0, True
        elif kind == "progress":
            maximum = data.get("max") or 1
            self.node_fraction = min(1.0, (data.get("value") or 0) / maximum)
        elif kind in ("execution_success", "execution_error", "execution_interrupted"):
            self.outcome = (kind, data)
            return False
        else:
            return False
        self._report(Progress(self.prompt_id, "running", self._fraction(), node=self.current))
        return False

    def _fraction(self) -> float:
        done = len(self.done_nodes) + self.node_fraction
        return round(min(0.99, done / self.total_nodes), 4)

    def _report(self, progress: Progress) -> None:
        if progress == self._last_report or self.on_progress is None:
            return
        self._last_report = progress
        result = self.on_progress(progress)
        if asyncio.iscoroutine(result):
            asyncio.ensure_future(result)

    async def _report_queue_position(self, delay_s: float) -> None:
        try:
            await asyncio.sleep(delay_s)
            if self.started:
                return
            self._position_asked_at = time.monotonic()
            running, pending = await self.client.queue()
        except Exception:  # a progress hint is not worth failing the wait for
            return
        finally:
            self._position_pending = False
        if self.started:
            return
        if self.prompt_id in pending:
            self._report(Progress(self.prompt_id, "queued", 0.0, queue_position=pending.index(self.prompt_id) + len(running)))

    async def _poll(self) -> PromptResult | None:
        entry = await self.client.history(self.prompt_id)
        if entry is not None:
            return self._finish(entry)
        running, pending = await self.client.queue()
        if self.prompt_id in running:
            self.started = True
            self._report(Progress(self.prompt_id, "running", self._fraction(), node=self.current))
        elif self.prompt_id in pending:
            self._report(Progress(self.prompt_id, "queued", 0.0, queue_position=pending.index(self.prompt_id) + len(running)))
        else:
            entry = await self.client.history(self.prompt_id)
            if entry is not None:
                return self._finish(entry)
            raise ComfyPromptLost(f"prompt {self.prompt_id} is neither queued nor in history on {self.client.base_url}")
        # Keep a heartbeat flowing to the caller while nothing happens.
        if self.on_progress is not None and self._last_report is not None:
            result = self.on_progress(self._last_report)
            if asyncio.iscoroutine(result):
                await result
        return None

    def _finish(self, entry: dict[str, Any] | None) -> PromptResult:
        entry = entry or {}
        status = entry.get("status") or {}
        messages = {name: data for name, data in status.get("messages", [])}
        started = (messages.get("execution_start") or {}).get("timestamp")
        final_kind, final = None, {}
        for kind in ("execution_error", "execution_interrupted", "execution_success"):
            if kind in messages:
                final_kind, final = kind, messages[kind]
                break
        if final_kind is None and self.outcome is not None:
            final_kind, final = self.outcome
        if final_kind == "execution_error":
            details = {key: final.get(key) for key in
                       ("node_id", "node_type", "exception_type", "exception_message", "executed")}
            raise ComfyExecutionError(
                f"node {final.get('node_id')} ({final.get('node_type')}) failed: "
                f"{final.get('exception_type', 'error')}: {str(final.get('exception_message', '')).strip()}",
                details,
            )
        if final_kind == "execution_interrupted":
            raise ComfyInterrupted(f"prompt {self.prompt_id} was interrupted at node {final.get('node_id')}",
                                   {"node_id": final.get("node_id"), "node_type": final.get("node_type")})
        if not entry:
            raise ComfyPromptLost(f"prompt {self.prompt_id} ended but ComfyUI has no history for it")
        return PromptResult(
            prompt_id=self.prompt_id,
            outputs=entry.get("outputs") or {},
            started_at_ms=started,
            finished_at_ms=final.get("timestamp"),
            cached_nodes=list((messages.get("execution_cached") or {}).get("nodes") or []),
        )


def _node_sort_key(node_id: str) -> tuple[int, str]:
    return (int(node_id), node_id) if node_id.isdigit() else (1 << 30, node_id)


async def _maybe_await(value: Any) -> None:
    if asyncio.iscoroutine(value):
        await value
