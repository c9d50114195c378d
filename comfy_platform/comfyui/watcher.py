"""Following one prompt to its end: over the WebSocket the prompt was queued with, or by polling when the socket
is quiet, dropped, or (after a worker died) another process's."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from comfy_platform.comfyui.errors import (
    ComfyExecutionError,
    ComfyInterrupted,
    ComfyPromptLost,
    ComfyUnavailable,
)
from comfy_platform.comfyui.graph import OTHER_NODE_WEIGHT, node_weights

if TYPE_CHECKING:
    from comfy_platform.comfyui.client import ComfyClient

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


class PromptWatcher:
    """Follows one prompt to its end over a WebSocket, falling back to polling when the socket is quiet or gone."""

    def __init__(
        self,
        client: ComfyClient,
        prompt_id: str | None,
        graph: dict[str, Any],
        on_progress: ProgressCallback | None,
        polling_only: bool = False,
    ) -> None:
        self.client = client
        self.prompt_id = prompt_id
        self.client_id = uuid.uuid4().hex
        self.on_progress = on_progress
        self.polling_only = polling_only
        self.weights = node_weights(graph) if graph else {}
        self.total_weight = sum(self.weights.values()) or OTHER_NODE_WEIGHT
        self.high = 0.0  # progress only moves forward: a node ComfyUI runs again never moves the bar back
        self.done_nodes: set[str] = set()
        self.current: str | None = None
        self.node_fraction = 0.0
        self.started = False
        self.outcome: tuple[str, dict[str, Any]] | None = None
        self._ws: ClientConnection | None = None
        self._last_report: Progress | None = None
        self._position_pending = False
        self._position_task: asyncio.Future | None = None
        self._position_asked_at = time.monotonic()  # the first ask waits a while: most prompts start before

    async def connect(self) -> None:
        if self.polling_only:
            return
        try:
            self._ws = await connect(
                self.client.base_url.replace("http", "ws", 1) + f"/ws?clientId={self.client_id}",
                sock=await _open_tcp(self.client.base_url, self.client.connect_timeout_s),
                open_timeout=self.client.request_timeout_s,
                # No keepalive pings: ComfyUI neither sends nor needs them, and websockets would close the socket
                # when a pong is 20 s late, which a server whose event loop is held (a model load, a slow custom
                # node) can be. A quiet socket is the watcher's own business: after ws_silence_s it asks the server.
                ping_interval=None,
                # Take frames in as they come, however many wait unread. By default websockets stops reading past
                # 16: the server's closing frame then stays unread and close() waits out its 10 s, and in the end
                # ComfyUI, which writes to all its sockets from one loop, would wait on this one.
                max_queue=None,
                max_size=None,  # binary frames carry whole images
                compression=None,  # small JSON and already compressed images: deflate would only cost CPU
            )
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise ComfyUnavailable(f"ComfyUI WebSocket at {self.client.base_url} is unreachable: {exc}",
                                   delivered=False) from exc

    async def close(self) -> None:
        if self._position_task is not None:
            self._position_task.cancel()
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()

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
        if self._ws is None:
            await asyncio.sleep(self.client.poll_interval_s)
            return None
        try:
            async with asyncio.timeout(self.client.ws_silence_s):  # recv() loses nothing when cancelled
                frame = await self._ws.recv()
        except TimeoutError:
            return None
        except ConnectionClosed:
            log.warning("ComfyUI socket closed; following the prompt by polling",
                        extra={"prompt_id": self.prompt_id, "backend": self.client.base_url})
            await self.close()
            return None
        if isinstance(frame, bytes):
            return {}  # binary preview frames carry nothing we need
        try:
            return json.loads(frame)
        except ValueError:
            return {}

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
        """The weighted share of the work done (see graph.node_weights), never less than reported before; 1.0
        only when the prompt has succeeded, which the job's status says."""
        done = sum(self.weights.get(node, OTHER_NODE_WEIGHT) for node in self.done_nodes if node != self.current)
        if self.current is not None:
            done += self.weights.get(self.current, OTHER_NODE_WEIGHT) * self.node_fraction
        self.high = max(self.high, round(min(0.99, done / max(self.total_weight, done)), 4))
        return self.high

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


async def _open_tcp(url: str, timeout_s: float) -> socket.socket:
    """A TCP connection to the server of `url`, made within `timeout_s`. websockets times the connection only
    together with the handshake; made apart, the connection gets the connect timeout HTTP requests have, so a host
    that drops packets is given up on as soon, while the handshake keeps the whole request timeout."""
    target = httpx.URL(url)
    port = target.port or (443 if target.scheme == "https" else 80)
    loop = asyncio.get_running_loop()
    failure = OSError(f"{target.host} has no address")
    async with asyncio.timeout(timeout_s):
        # Every address in turn, as socket.create_connection does: "localhost" may name ::1 first.
        for family, kind, proto, _, address in await loop.getaddrinfo(target.host, port, type=socket.SOCK_STREAM):
            sock = socket.socket(family, kind, proto)
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, address)
            except BaseException as exc:
                sock.close()
                if not isinstance(exc, OSError):
                    raise
                failure = exc
                continue
            return sock
    raise failure


def _node_sort_key(node_id: str) -> tuple[int, str]:
    return (int(node_id), node_id) if node_id.isdigit() else (1 << 30, node_id)
