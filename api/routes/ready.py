"""Readiness: 200 when the API can take jobs (Temporal, database, storage, a ComfyUI answer); else 503."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.routes.health import _any_comfyui, _check, _database

router = APIRouter(tags=["health"])


@router.get("/ready", summary="Can the API take jobs?")
async def read_ready(request: Request) -> JSONResponse:
    """200 when Temporal, the database, storage and at least one ComfyUI answer; 503 naming what does not."""
    state = request.app.state
    checks = dict(zip(("temporal", "database", "storage", "comfyui"), await asyncio.gather(
        _check(_temporal(state)), _check(_database(state)), _check(state.storage.ping()),
        _check(_any_comfyui(state)))))
    ok = all(c["ok"] for c in checks.values())
    return JSONResponse({"status": "ready" if ok else "unavailable", "checks": checks},
                        status_code=200 if ok else 503)


async def _temporal(state) -> str:
    client = await state.temporal.get()
    await client.service_client.check_health()
    return client.service_client.config.target_host
