"""The API's `/metrics`: requests by route template, method and status, latency histograms, jobs created by product
(services/jobs.py counts them), and refusals (402, 429, 503) by error code.

One pure ASGI middleware records them after the app has answered, reading the route template FastAPI put in the
request's scope while routing it. prometheus-fastapi-instrumentator does the same job, but matches every route a
second time on each request and builds a Request and a Response for it: `bench/scale.py` measured that at 2.5 %
of a 15 ms request, over the 1 % this may cost. The series themselves are defined once per process
(comfy_platform/metrics.py), so apps made again in one process (tests) share them.
"""

from __future__ import annotations

import json
import time

from fastapi import FastAPI
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from comfy_platform import metrics

REFUSALS = {402, 429, 503}


def install_metrics(app: FastAPI) -> None:
    """Add the middleware (call after every other middleware, so it times and sees what they answer too) and the
    `/metrics` route."""
    app.add_middleware(RequestMetrics)
    app.add_route("/metrics", _metrics, include_in_schema=False)


async def _metrics(_request: Request) -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


class RequestMetrics:
    """Counts and times each HTTP request by its route template (`none` for a path no route serves), and counts
    402, 429 and 503 answers by their error code (`{"error": {"code"}}`): rate_limited and too_many_jobs tell a busy
    client from a saturated fleet (overloaded) or a database in trouble."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/metrics":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def observing(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and status in REFUSALS:
                metrics.API_REFUSALS.labels(str(status), _code(message.get("body", b""))).inc()
            await send(message)

        try:
            await self.app(scope, receive, observing)
        finally:
            handler = _route_template(scope)
            metrics.HTTP_REQUESTS.labels(handler, scope["method"], str(status)).inc()
            metrics.HTTP_LATENCY.labels(handler, scope["method"]).observe(time.perf_counter() - started)


def _route_template(scope: Scope) -> str:
    """The template of the route that served the request (`/api/v1/jobs/{job_id}`), `none` when none did. FastAPI
    0.13x copies included routes with their prefix (the route's own path_format is whole); later releases keep
    the router's route and put the whole template in the request's route context."""
    context = (scope.get("fastapi") or {}).get("effective_route_context")
    return getattr(context, "path_format", None) or getattr(scope.get("route"), "path_format", None) or "none"


def _code(body: bytes) -> str:
    try:
        return str(json.loads(body)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "unknown"
