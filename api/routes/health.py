"""Health: 200 once every part of the stack answers (Temporal, workers, database, storage, a ComfyUI)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from api.schemas import BackendPublic, HealthPublic
from comfy_platform.comfyui.names import public_backend_name
from db.session import ping
from services.fleet import fleet_view
from workflows.shared import IO_TASK_QUEUE

router = APIRouter(tags=["health"])
CHECK_TIMEOUT_S = 3.0
ANSWERS = {"response_model": HealthPublic,
           "responses": {503: {"model": HealthPublic, "description": "some part does not answer: see `checks`"}}}


@router.get("/health", summary="Is the whole stack ready?", **ANSWERS)
async def read_health(request: Request) -> JSONResponse:
    """200 when Temporal, both worker queues, the database, storage and at least one ComfyUI answer; else 503."""
    return await _report(request.app.state, _temporal_workers(request.app.state), ok_status="ok")


@router.get("/ready", summary="Can the API take jobs?", **ANSWERS)
async def read_ready(request: Request) -> JSONResponse:
    """200 when Temporal, the database, storage and at least one ComfyUI answer; 503 naming what does not. The
    `backlog` (work waiting for a GPU, the fleet's capacity and the limit past which new jobs are refused) is
    reported without deciding readiness: every replica sees the same backlog, and taking them all out of service
    would leave clients without the 503 and Retry-After that `POST /api/v1/jobs` answers them. `backends` says
    which ComfyUI backends can run what (node classes, model files) and which answer."""
    return await _report(request.app.state, _temporal(request.app.state), ok_status="ready", backlog=True)


async def _report(state, temporal_probe, ok_status: str, backlog: bool = False) -> JSONResponse:
    checks = dict(zip(("temporal", "database", "storage", "comfyui"), await asyncio.gather(
        _check(temporal_probe), _check(_database(state)), _check(state.storage.ping()),
        _check(_any_comfyui(state)))))
    ok = all(c["ok"] for c in checks.values())
    body = {"status": ok_status if ok else "unavailable", "checks": checks}
    if backlog:
        try:
            body["backlog"] = (await asyncio.wait_for(state.backlog.read(), CHECK_TIMEOUT_S)).public()
        except Exception:  # noqa: BLE001 - Temporal's own check says why
            body["backlog"] = None
        try:
            backends = await asyncio.wait_for(fleet_view(state.sessionmaker), CHECK_TIMEOUT_S)
            body["backends"] = [BackendPublic(**backend).model_dump(mode="json") for backend in backends]
        except Exception:  # noqa: BLE001 - the database's own check says why
            body["backends"] = None
    return JSONResponse(body, status_code=200 if ok else 503)


async def _check(probe) -> dict[str, Any]:
    try:
        detail = await asyncio.wait_for(probe, CHECK_TIMEOUT_S)
        return {"ok": True, "detail": detail}
    except Exception as exc:  # a failed probe is reported, never raised
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}


async def _temporal_workers(state) -> str:
    client = await state.temporal.get()
    comfy_queue = state.settings.COMFY_TASK_QUEUE
    for queue in (IO_TASK_QUEUE, comfy_queue):
        for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
            if queue == comfy_queue and kind == TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW:
                continue
            reply = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
                namespace=client.namespace, task_queue=TaskQueue(name=queue), task_queue_type=kind))
            if not reply.pollers:
                raise RuntimeError(f"no worker polls task queue '{queue}'")
    return "workers polling io and comfy"


async def _temporal(state) -> str:
    client = await state.temporal.get()
    await client.service_client.check_health()
    return "ok"  # not its address: this answer is public


async def _database(state) -> str:
    async with state.sessionmaker() as session:
        await ping(session)
    return "ok"


async def _any_comfyui(state) -> str:
    errors = []
    for url in state.settings.comfyui_urls:
        try:
            stats = await state.comfy.get(url).system_stats()
            return f"{public_backend_name(url)} ({stats.get('system', {}).get('comfyui_version', '?')})"
        except Exception as exc:  # named, not addressed: this answer is public (the worker logs which is which)
            errors.append(f"{public_backend_name(url)}: {type(exc).__name__}")
    raise RuntimeError("; ".join(errors))
