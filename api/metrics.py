"""The API's `/metrics`: requests by route template and status, latency histograms, jobs created by product
(services/jobs.py counts them), and refusals (402, 429, 503) by error code.

prometheus-fastapi-instrumentator's middleware times each request and names its route template; the series
themselves are ours (comfy_platform/metrics.py), defined once per process, so apps made again in one process
(tests) share them instead of registering them twice.
"""

from __future__ import annotations

import json

from fastapi import FastAPI
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_fastapi_instrumentator import Instrumentator
from prometheus_fastapi_instrumentator.metrics import Info
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from comfy_platform import metrics

REFUSALS = {402, 429, 503}


def install_metrics(app: FastAPI) -> None:
    """Add the middleware (call after every other middleware, so it times and sees what they answer too) and the
    `/metrics` route."""
    app.add_middleware(CountRefusals)
    Instrumentator(should_group_status_codes=False, excluded_handlers=["^/metrics$"]).add(_record).instrument(app)
    app.add_route("/metrics", _metrics, include_in_schema=False)


def _record(info: Info) -> None:
    metrics.HTTP_REQUESTS.labels(info.modified_handler, info.method, info.modified_status).inc()
    metrics.HTTP_LATENCY.labels(info.modified_handler, info.method).observe(info.modified_duration)


async def _metrics(_request: Request) -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


class CountRefusals:
    """Counts 402, 429 and 503 answers by their error code (`{"error": {"code"}}`): rate_limited and too_many_jobs
    tell a busy client from a saturated fleet (overloaded) or a database in trouble."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        status = None

        async def counting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start" and message["status"] in REFUSALS:
                status = message["status"]
            elif message["type"] == "http.response.body" and status is not None:
                metrics.API_REFUSALS.labels(str(status), _code(message.get("body", b""))).inc()
                status = None
            await send(message)

        await self.app(scope, receive, counting)


def _code(body: bytes) -> str:
    try:
        return str(json.loads(body)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "unknown"
