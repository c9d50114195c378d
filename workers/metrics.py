"""A worker's `/metrics`: the platform's series, the Temporal SDK's, and (io workers) the business figures.

The Temporal SDK serves its own series (task latencies, slots, polls, activity and workflow outcomes) from its
Rust core on an HTTP port of its own; the worker binds that to a loopback port nobody else sees and appends its
text to ours, so Prometheus scrapes one port per worker. Served by uvicorn inside the worker's event loop, so the
figures that need the database are computed there, with the worker's own async engine.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable

import httpx
import uvicorn
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

log = logging.getLogger(__name__)


def temporal_runtime(role: str) -> tuple[Runtime, str]:
    """A Temporal runtime whose metrics the SDK serves on a free loopback port; returns it and that port's URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    telemetry = TelemetryConfig(metrics=PrometheusConfig(bind_address=f"127.0.0.1:{port}", durations_as_seconds=True),
                                global_tags={"role": role})
    return Runtime(telemetry=telemetry), f"http://127.0.0.1:{port}/metrics"


class WorkerMetrics:
    """Serves `/metrics` on host:port until closed. `collectors` are this worker's own (the business figures),
    each refreshed (an async `refresh()`) before it is read."""

    def __init__(self, host: str, port: int, *, sdk_url: str | None = None, collectors: list = ()) -> None:
        self.sdk_url = sdk_url
        self.refreshers: list[Callable[[], Awaitable[None]]] = [c.refresh for c in collectors]
        self.registry = CollectorRegistry(auto_describe=False)
        for collector in collectors:
            self.registry.register(collector)
        app = Starlette(routes=[Route("/metrics", self._metrics)])
        self._server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                                                     lifespan="off"))
        self._task: asyncio.Task | None = None
        self._http = httpx.AsyncClient(timeout=5.0)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(), name="worker-metrics")
        while not self._server.started:
            if self._task.done():
                await self._task  # the port was taken: say so rather than run without metrics
                raise RuntimeError("the worker's metrics server stopped at start")
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        await self._http.aclose()

    async def _metrics(self, _request: Request) -> Response:
        await asyncio.gather(*(refresh() for refresh in self.refreshers))
        body = generate_latest(REGISTRY) + generate_latest(self.registry) + await self._sdk()
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def _sdk(self) -> bytes:
        if self.sdk_url is None:
            return b""
        try:
            return (await self._http.get(self.sdk_url)).content
        except httpx.HTTPError as exc:  # our own series still go out
            log.warning("the Temporal SDK's metrics did not answer: %s", exc)
            return b""
