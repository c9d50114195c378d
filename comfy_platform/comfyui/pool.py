"""One ComfyClient per backend URL, shared by every activity in a worker process."""

from __future__ import annotations

from comfy_platform.comfyui.client import ComfyClient


class BackendPool:
    def __init__(self, urls: list[str], **client_options: float) -> None:
        self._options = client_options
        self._clients = {url.rstrip("/"): ComfyClient(url, **client_options) for url in urls}

    @property
    def urls(self) -> list[str]:
        return list(self._clients)

    def get(self, url: str) -> ComfyClient:
        """The client for `url`; a backend named only in an old heartbeat gets one made on demand."""
        url = url.rstrip("/")
        if url not in self._clients:
            self._clients[url] = ComfyClient(url, **self._options)
        return self._clients[url]

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
