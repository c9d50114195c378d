"""WebSocket hub: sockets by clientId and ordered delivery of events.

Routing is ComfyUI's: an event with a sid goes only to the socket registered under that
clientId; sid None means broadcast. A second socket with the same clientId replaces the first
in the table, so the first stays open but hears nothing more (the "orphan" quirk).
Everything goes through one queue and one publisher task, as in ComfyUI, so the executor never
waits on a slow client and frames keep their order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import uuid
from typing import Any, Callable

from aiohttp import WSCloseCode, WSMsgType, web

from .faults import Faults

log = logging.getLogger("standins.comfyui.ws")

PREVIEW_IMAGE = 1
PREVIEW_IMAGE_WITH_METADATA = 4


class Hub:
    def __init__(self, faults: Faults, features: dict | None, queue_info: Callable[[], dict]) -> None:
        self.faults = faults
        self.features = features  # None: a server without feature flags ignores the handshake
        self.queue_info = queue_info
        self.sockets: dict[str, web.WebSocketResponse] = {}
        self.flags: dict[str, dict] = {}
        self.all_open: set[web.WebSocketResponse] = set()  # includes orphaned sockets
        self._outbox: asyncio.Queue = asyncio.Queue()
        self._publisher: asyncio.Task | None = None
        # Set by the executor so a late joiner learns which node is running.
        self.current_client_id: str | None = None
        self.last_node_id: str | None = None

    # --- lifecycle
    def start(self) -> None:
        self._publisher = asyncio.create_task(self._publish_loop(), name="emulator-ws-publisher")

    async def close(self) -> None:
        if self._publisher:
            self._publisher.cancel()
        await self.drop_all()

    # --- sending (non-blocking; delivered in order by the publisher)
    def send(self, event: str, data: dict, sid: str | None = None) -> None:
        self._outbox.put_nowait(("json", {"type": event, "data": data}, sid))

    def send_preview(self, png: bytes, sid: str | None, meta: dict) -> None:
        self._outbox.put_nowait(("preview", (png, meta), sid))

    def close_socket_after_queued(self, sid: str | None) -> None:
        """Close sid's socket once everything queued before this call has been sent."""
        self._outbox.put_nowait(("close", None, sid))

    def broadcast_status(self) -> None:
        self.send("status", {"status": self.queue_info()})

    async def drop_all(self) -> None:
        for ws in list(self.all_open):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"emulator dropped the connection")

    async def _publish_loop(self) -> None:
        while True:
            kind, payload, sid = await self._outbox.get()
            try:
                await self._deliver(kind, payload, sid)
            except Exception:  # noqa: BLE001 - one bad socket must not stop delivery to others
                log.debug("websocket send failed", exc_info=True)

    async def _deliver(self, kind: str, payload: Any, sid: str | None) -> None:
        if kind == "close":
            ws = self.sockets.get(sid) if sid is not None else None
            if ws is not None:
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"emulator dropped the connection")
            return
        if self.faults.silent_socket:
            return  # socket stays open but nothing is sent
        if sid is None:
            targets = list(self.sockets.items())
        else:
            ws = self.sockets.get(sid)
            targets = [(sid, ws)] if ws is not None else []
        for target_sid, ws in targets:
            if ws.closed:
                continue
            try:
                if kind == "json":
                    await ws.send_str(json.dumps(payload))
                else:
                    await ws.send_bytes(self._preview_frame(target_sid, *payload))
            except (ConnectionError, RuntimeError):
                log.debug("websocket %s went away", target_sid)

    def _preview_frame(self, sid: str, png: bytes, meta: dict) -> bytes:
        if self.flags.get(sid, {}).get("supports_preview_metadata"):
            blob = json.dumps({**meta, "image_type": "image/png"}).encode()
            return struct.pack(">I", PREVIEW_IMAGE_WITH_METADATA) + struct.pack(">I", len(blob)) + blob + png
        return struct.pack(">I", PREVIEW_IMAGE) + struct.pack(">I", 2) + png

    # --- the /ws handler
    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        sid = request.rel_url.query.get("clientId", "") or uuid.uuid4().hex
        self.sockets[sid] = ws  # replaces (orphans) an earlier socket with this clientId
        self.flags[sid] = {}
        self.all_open.add(ws)
        try:
            self.send("status", {"status": self.queue_info(), "sid": sid}, sid)
            if self.current_client_id == sid and self.last_node_id is not None:
                self.send("executing", {"node": self.last_node_id}, sid)
            first = True
            async for msg in ws:
                if msg.type == WSMsgType.TEXT and first:
                    try:
                        data = json.loads(msg.data)
                    except ValueError:
                        data = None
                    if isinstance(data, dict) and data.get("type") == "feature_flags" and self.features is not None:
                        self.flags[sid] = data.get("data") or {}
                        self.send("feature_flags", self.features, sid)
                first = False
        finally:
            self.all_open.discard(ws)
            # Only forget the entry if it is still ours (a newer socket may own the clientId).
            if self.sockets.get(sid) is ws:
                del self.sockets[sid]
                self.flags.pop(sid, None)
        return ws
