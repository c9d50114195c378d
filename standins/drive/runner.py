"""Starting and stopping the Drive test server: in-process (tests, dev) or as a blocking CLI
server, plus async helpers that drive the /_drive/ controls over HTTP, exactly as a test in
another process would."""

from __future__ import annotations

import base64
import logging
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web

from ..serving import listen, serve_until_signalled
from .server import create_app
from .state import STATE, DriveConfig, DriveState
from .store import FOLDER

log = logging.getLogger("standins.drive")


class RunningDriveServer:
    def __init__(self, host: str, port: int, config: DriveConfig) -> None:
        self.host, self.port, self.config = host, port, config
        self.app: web.Application | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The API root, what GOOGLE_DRIVE_URL is set to (ends with a slash)."""
        return f"http://{self.host}:{self.port}/"

    @property
    def state(self) -> DriveState | None:
        """The in-process state, for white-box checks."""
        return self.app[STATE] if self.app is not None else None

    async def start(self) -> None:
        if self._runner is not None:
            return
        self.app = create_app(self.config)
        self._runner, self.port = await listen(self.app, self.host, self.port)
        log.warning("Google Drive v3 TEST SERVER (not Google) listening on %s", self.url)

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    # --- control helpers
    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        async with aiohttp.ClientSession() as session:
            async with session.request(method, self.url + path.lstrip("/"), json=body) as resp:
                if resp.status >= 400:
                    raise RuntimeError(f"{method} {path}: {resp.status} {await resp.text()}")
                if resp.content_type == "application/json":
                    return await resp.json()
                return await resp.read()

    async def register_token(self, token: str, user: str) -> None:
        await self._call("POST", "/_drive/tokens", {"token": token, "user": user})

    async def revoke_token(self, token: str) -> None:
        await self._call("DELETE", f"/_drive/tokens/{quote(token, safe='')}")

    async def create_file(self, user: str, name: str, data: bytes = b"", *, parent: str = "root",
                          mime_type: str = "application/octet-stream",
                          app_properties: dict[str, str] | None = None) -> dict:
        """A file the user drops into their Drive (recorded in their changes feed); the full File."""
        body = {"name": name, "mimeType": mime_type, "parents": [parent],
                "content_base64": base64.b64encode(data).decode()}
        if app_properties:
            body["appProperties"] = app_properties
        return await self._call("POST", f"/_drive/users/{user}/files", body)

    async def create_folder(self, user: str, name: str, *, parent: str = "root") -> dict:
        return await self._call("POST", f"/_drive/users/{user}/files",
                                {"name": name, "mimeType": FOLDER, "parents": [parent]})

    async def files(self, user: str) -> list[dict]:
        """Every file of the user, trashed ones too, with every field."""
        return await self._call("GET", f"/_drive/users/{user}/files")

    async def content(self, user: str, file_id: str) -> bytes:
        return await self._call("GET", f"/_drive/users/{user}/files/{file_id}/content")

    async def inject_fault(self, status: int, *, times: int | None = 1, method: str | None = None,
                           path_prefix: str | None = None, kind: str | None = None, user: str | None = None,
                           reason: str | None = None, message: str | None = None,
                           retry_after: float | None = None) -> list[dict]:
        """Answer the next `times` matching API requests with this error (see standins.drive.faults)."""
        rule = {"status": status, "times": times, "method": method, "path_prefix": path_prefix, "kind": kind,
                "user": user, "reason": reason, "message": message, "retry_after": retry_after}
        return await self._call("POST", "/_drive/faults", rule)

    async def faults(self) -> list[dict]:
        """The rules still armed."""
        return await self._call("GET", "/_drive/faults")

    async def clear_faults(self) -> None:
        await self._call("DELETE", "/_drive/faults")

    async def stats(self) -> dict:
        return await self._call("GET", "/_drive/stats")

    async def reset_stats(self) -> None:
        await self._call("DELETE", "/_drive/stats")

    async def use_userinfo(self, url: str | None) -> None:
        """Accept the access tokens of this OpenID Connect userinfo endpoint (None: stop)."""
        await self._call("POST", "/_drive/userinfo", {"url": url})

    async def reset(self) -> None:
        await self._call("POST", "/_drive/reset")


async def start_drive_server(host: str = "127.0.0.1", port: int = 9500,
                             config: DriveConfig | None = None) -> RunningDriveServer:
    server = RunningDriveServer(host, port, config or DriveConfig())
    await server.start()
    return server


def run(host: str = "127.0.0.1", port: int = 9500, config: DriveConfig | None = None) -> None:
    """Serve until SIGINT/SIGTERM (the CLI entry point)."""
    serve_until_signalled(lambda: start_drive_server(host, port, config))
