"""`comfy-platform submit`: run a template, preset or raw graph through the platform and save its outputs."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError

from comfy_platform.comfyui.pool import BackendPool
from comfy_platform.settings import Settings
from comfy_platform.statuses import JobStatus
from comfy_platform.storage import storage_from_settings
from comfy_platform.temporal import connect
from db import jobs as job_queries
from db.session import create_engine, create_sessionmaker, migrate
from presets import InvalidJobRequest, get_preset, get_template
from sdk.client import ApiError, ComfyPlatformClient, new_output_file
from services.job_inputs import ImageSource
from services.jobs import JobEnv, JobOptions, JobSpec, TemporalUnavailable, create_job
from services.queue_estimate import queue_estimate
from workflows.generation import GenerationWorkflow
from workflows.shared import GenerationResult

err = Console(stderr=True)


def run_submit(settings: Settings, args: argparse.Namespace) -> int:
    try:
        if args.api:
            return asyncio.run(_submit_via_api(args, args.api_key or settings.COMFY_API_KEY))
        return asyncio.run(_submit(settings, args))
    except InvalidJobRequest as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        return 2
    except KeyboardInterrupt:
        return 130
    except httpx.TransportError as exc:
        err.print(f"[red]error:[/red] cannot reach the API at {args.api}: {exc}")
        return 1


async def _submit(settings: Settings, args: argparse.Namespace) -> int:
    spec = _job_spec(args)
    await migrate(settings.database_url)
    engine = create_engine(settings.database_url)
    comfy = BackendPool(settings.comfyui_urls, request_timeout_s=5.0)
    try:
        try:
            client = await connect(settings)
        except RuntimeError:  # the SDK's "Failed client connect": say where and what to start
            err.print(f"[red]error:[/red] cannot reach Temporal at {settings.temporal_address}: start the stack "
                      "with `make dev`, or set TEMPORAL_ADDRESS")
            return 1
        storage = storage_from_settings(settings)
        env = JobEnv(create_sessionmaker(engine), storage, settings, client, comfy)
        try:
            handle = (await create_job(env, spec, JobOptions.from_settings(settings, product="cli"))).handle
        except TemporalUnavailable:
            err.print("[red]error:[/red] Temporal did not take the job just now; nothing was recorded, try again")
            return 1
        err.print(f"job {handle.id.removeprefix('gen-')} submitted (workflow {handle.id})")
        try:
            result = await _follow(handle, show=not args.no_progress,
                                   where=_queue_reader(env, handle.id.removeprefix("gen-")))
        except (KeyboardInterrupt, asyncio.CancelledError):
            await handle.cancel()
            err.print("cancelled")
            return 130
        except WorkflowFailureError as exc:
            err.print(f"[red]error:[/red] {_failure_message(exc)}")
            return 1
        job_id = handle.id.removeprefix("gen-")
        for n, output in enumerate(result.outputs, start=1):
            target, file = new_output_file(args.out, job_id, n, Path(output.filename).suffix)
            with file:
                async for chunk in await storage.open_stream(output.storage_key):
                    file.write(chunk)
            print(target)
        return 0
    finally:
        await comfy.close()
        await engine.dispose()


def _job_spec(args: argparse.Namespace) -> JobSpec:
    """What to run, from the command line: images by the name the graph, template or preset takes them."""
    images = {name: ImageSource(path=path) for name, path in _parse_images(args).items()}
    if args.graph is not None:
        return JobSpec(graph=_read_graph(args.graph), images=images)
    if args.preset:
        return JobSpec(preset=args.preset, params=_parse_params(args.param, get_preset(args.preset).template),
                       image=next(iter(images.values()), None))
    return JobSpec(template=args.template, params=_parse_params(args.param, args.template), images=images)


def _queue_reader(env: JobEnv, job_id: str):
    """position(comfy_position) -> the jobs ahead of this one, as the API counts them (services/queue_estimate)."""

    async def position(comfy_position: int | None) -> int | None:
        async with env.sessionmaker() as session:
            job = await job_queries.get_job(session, job_id)
            if job is None:
                return comfy_position
            return (await queue_estimate(session, job, env.settings, comfy_position)).position

    return position


async def _follow(handle: WorkflowHandle, show: bool, where=None) -> GenerationResult:
    """Wait for the job, drawing its status and progress from the workflow's query (and, while it is queued, its
    place in the queue from `where`, see _queue_reader)."""
    result_task = asyncio.ensure_future(handle.result())
    columns = [TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=err, disable=not show, transient=False) as bar:
        task = bar.add_task(JobStatus.QUEUED, total=1.0)
        while not result_task.done():
            try:
                state = await handle.query(GenerationWorkflow.get_status)
                position = state.queue_position
                if state.status == JobStatus.QUEUED and where is not None:
                    position = await where(position)
                ahead = f" ({position} ahead)" if position is not None else ""
                bar.update(task, completed=state.progress, description=f"{state.status}{ahead}")
            except Exception:  # the query is a progress hint; the result is what counts
                pass
            await asyncio.wait([result_task], timeout=0.25)
        result = result_task.result()
        bar.update(task, completed=1.0, description=result.status)
    return result


async def _submit_via_api(args: argparse.Namespace, api_key: str) -> int:
    """The same job through the Developer API: exit 2 for a refused request, 1 for a failed job."""
    if not api_key:
        raise InvalidJobRequest("--api needs an API key: --api-key or COMFY_API_KEY", "api_key")
    body = _api_job(args)
    async with ComfyPlatformClient(args.api, api_key) as api:
        try:
            job = await api.create_job(**body)
        except ApiError as exc:
            err.print(f"[red]error:[/red] {exc.code}: {exc.message}")
            return 2 if exc.status in (400, 404, 413, 422) else 1
        err.print(f"job {job['id']} submitted")
        try:
            job = await _follow_api(api, job["id"], show=not args.no_progress)
        except (KeyboardInterrupt, asyncio.CancelledError):
            await api.cancel_job(job["id"])
            err.print("cancelled")
            return 130
        if job["status"] != JobStatus.SUCCEEDED:
            error = job.get("error") or {"code": job["status"], "message": f"the job was {job['status']}"}
            err.print(f"[red]error:[/red] {error['code']}: {error['message']}")
            return 1
        for path in await api.download_outputs(job, args.out):
            print(path)
        return 0


def _api_job(args: argparse.Namespace) -> dict[str, Any]:
    """create_job arguments from the flags; the server validates, these only read the files named."""
    images = _parse_images(args)
    if args.graph is not None:
        return {"graph": _read_graph(args.graph), "images": images}
    if args.preset:
        params = _parse_params(args.param, get_preset(args.preset).template)
        one = {"image": next(iter(images.values()))} if len(images) == 1 else {"images": images}
        return {"preset": args.preset, "params": params, **one}
    return {"workflow": args.template, "params": _parse_params(args.param, args.template), "images": images}


async def _follow_api(api: ComfyPlatformClient, job_id: str, show: bool) -> dict[str, Any]:
    columns = [TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=err, disable=not show, transient=False) as bar:
        task = bar.add_task(JobStatus.QUEUED, total=1.0)

        def draw(job: dict[str, Any]) -> None:
            position = job.get("queue_position")
            ahead = f" ({position} ahead)" if position is not None else ""
            bar.update(task, completed=job.get("progress") or 0.0, description=f"{job['status']}{ahead}")

        return await api.wait(job_id, poll_interval=0.25, on_progress=draw)


def _failure_message(exc: WorkflowFailureError) -> str:
    cause = exc.cause
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.cause
    if isinstance(cause, ApplicationError):
        details = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
        return f"{details.get('code', cause.type)}: {details.get('message', cause.message)}"
    return str(exc.cause or exc)


def _read_graph(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InvalidJobRequest(f"graph file {path} does not exist", "graph") from None
    except ValueError as exc:
        raise InvalidJobRequest(f"graph file {path} is not JSON: {exc}", "graph") from None


def _parse_images(args: argparse.Namespace) -> dict[str, Path]:
    images = {}
    for spec in args.image:
        name, _, path = spec.rpartition("=")
        if not name and args.graph is not None:
            name = Path(path).name  # the file name the graph's loader reads
        elif not name:
            template = get_template(get_preset(args.preset).template if args.preset else args.template)
            if len(template.images) != 1:
                takes = ", ".join(sorted(template.images)) or "no image"
                raise InvalidJobRequest(f"--image {spec}: say which image it is, as NAME=PATH (it takes {takes})",
                                        "image")
            name = next(iter(template.images))
        if not Path(path).is_file():
            raise InvalidJobRequest(f"--image {spec}: {path} is not a file", f"images.{name}")
        images[name] = Path(path)
    return images


def _parse_params(pairs: list[str], template_name: str) -> dict[str, Any]:
    """KEY=VALUE strings, converted to each declared parameter's type."""
    declared = get_template(template_name).params
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise InvalidJobRequest(f"--param {pair}: expected KEY=VALUE", "params")
        kind = declared[key].type if key in declared else "string"
        try:
            params[key] = {"int": int, "float": float, "bool": lambda v: v.lower() in ("1", "true", "yes"),
                           "string": str}[kind](raw)
        except ValueError:
            raise InvalidJobRequest(f"--param {key}: '{raw}' is not a {kind}", f"params.{key}") from None
    return params
