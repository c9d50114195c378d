"""GET /api/jobs, /api/jobs/{id} and the cancel endpoints (only under /api, as upstream).

A job is a view over the queue and history: pending / in_progress from the queue; completed,
failed or cancelled (interrupted) from the history entry and its status messages.
"""

from __future__ import annotations

from aiohttp import web

from .state import state_of

STATUSES = ["pending", "in_progress", "completed", "failed", "cancelled"]
PREVIEWABLE = {"images", "video", "audio", "3d", "text"}


def _prune(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


def from_queue(item: list, status: str) -> dict:
    extra = item[3]
    workflow_id = (extra.get("extra_pnginfo") or {}).get("workflow", {}).get("id")
    return _prune({"id": item[1], "status": status, "priority": item[0], "create_time": extra.get("create_time"),
                   "outputs_count": 0, "previewable_outputs_count": 0, "workflow_id": workflow_id})


def _summary(outputs: dict) -> tuple[int, int, dict | None]:
    count = previewable = 0
    preview = fallback = None
    for node_id, node_outputs in outputs.items():
        for media, items in node_outputs.items():
            if media == "animated" or not isinstance(items, list):
                continue
            for item in items:
                if not isinstance(item, dict):
                    continue
                count += 1
                if media in PREVIEWABLE:
                    previewable += 1
                    enriched = {**item, "nodeId": node_id, "mediaType": media}
                    if item.get("type") == "output" and preview is None:
                        preview = enriched
                    elif fallback is None:
                        fallback = enriched
    return count, previewable, preview or fallback


def from_history(prompt_id: str, entry: dict, full: bool = False) -> dict:
    number, _, graph, extra, _ = entry["prompt"]
    status_info = entry.get("status") or {}
    start = end = error = None
    interrupted = False
    for event, data in status_info.get("messages", []):
        if event == "execution_start":
            start = data.get("timestamp")
        elif event in ("execution_success", "execution_error", "execution_interrupted"):
            end = data.get("timestamp")
            error = data if event == "execution_error" else error
            interrupted = interrupted or event == "execution_interrupted"
    if status_info.get("status_str") == "error":
        status = "cancelled" if interrupted else "failed"
    else:
        status = "completed"
    count, previewable, preview = _summary(entry.get("outputs") or {})
    job = _prune({
        "id": prompt_id, "status": status, "priority": number, "create_time": extra.get("create_time"),
        "execution_start_time": start, "execution_end_time": end, "execution_error": error,
        "outputs_count": count, "previewable_outputs_count": previewable, "preview_output": preview,
        "workflow_id": (extra.get("extra_pnginfo") or {}).get("workflow", {}).get("id"),
    })
    if full:
        job.update(outputs=entry.get("outputs") or {}, execution_status=status_info,
                   workflow={"prompt": graph, "extra_data": extra})
    return job


def _all_jobs(state) -> list[dict]:
    running, pending = state.queue.current()
    jobs = [from_queue(i, "in_progress") for i in running] + [from_queue(i, "pending") for i in pending]
    jobs += [from_history(pid, entry) for pid, entry in state.queue.history.items()]
    return jobs


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


async def list_jobs(request: web.Request) -> web.Response:
    query = request.rel_url.query
    wanted = STATUSES
    if query.get("status"):
        wanted = [s.strip() for s in query["status"].split(",") if s.strip()]
        invalid = [s for s in wanted if s not in STATUSES]
        if invalid:
            return _bad(f"Invalid status value(s): {', '.join(invalid)}. Valid values: {', '.join(STATUSES)}")
    sort_by = query.get("sort_by", "created_at")
    sort_order = query.get("sort_order", "desc")
    if sort_by not in ("created_at", "execution_duration"):
        return _bad("sort_by must be 'created_at' or 'execution_duration'")
    if sort_order not in ("asc", "desc"):
        return _bad("sort_order must be 'asc' or 'desc'")
    try:
        limit = int(query["limit"]) if "limit" in query else None
        offset = int(query.get("offset", 0))
    except ValueError:
        return _bad("limit and offset must be integers")
    if (limit is not None and limit <= 0) or offset < 0:
        return _bad("limit must be positive and offset non-negative")
    jobs = [j for j in _all_jobs(state_of(request)) if j["status"] in wanted]
    if query.get("workflow_id"):
        jobs = [j for j in jobs if j.get("workflow_id") == query["workflow_id"]]

    def key(job: dict) -> float:
        if sort_by == "execution_duration":
            start, end = job.get("execution_start_time"), job.get("execution_end_time")
            return end - start if start and end else 0
        return job.get("create_time", 0)

    jobs.sort(key=key, reverse=sort_order == "desc")
    total = len(jobs)
    page = jobs[offset:][:limit] if limit is not None else jobs[offset:]
    return web.json_response({"jobs": page, "pagination": {
        "offset": offset, "limit": limit, "total": total, "has_more": offset + len(page) < total}})


def find_job(state, prompt_id: str) -> dict | None:
    if prompt_id in state.queue.history:
        return from_history(prompt_id, state.queue.history[prompt_id], full=True)
    running, pending = state.queue.current()
    for items, status in ((running, "in_progress"), (pending, "pending")):
        for item in items:
            if item[1] == prompt_id:
                return from_queue(item, status)
    return None


async def get_job(request: web.Request) -> web.Response:
    job = find_job(state_of(request), request.match_info["job_id"])
    if job is None:
        return web.json_response({"error": "Job not found"}, status=404)
    return web.json_response(job)


def _cancel(state, prompt_id: str) -> bool:
    item = state.queue.delete(prompt_id)
    if item is not None:
        state.stats.finished(item, "deleted")
        return True
    return state.executor.interrupt(prompt_id)


async def cancel_job(request: web.Request) -> web.Response:
    return web.json_response({"cancelled": _cancel(state_of(request), request.match_info["job_id"])})


async def cancel_jobs(request: web.Request) -> web.Response:
    try:
        body = await request.json()
        ids = list(body["job_ids"])
    except (ValueError, KeyError, TypeError):
        return _bad("job_ids must be a list of job ids")
    state = state_of(request)
    return web.json_response({"cancelled": [i for i in ids if isinstance(i, str) and _cancel(state, i)]})


ROUTES = [
    ("GET", "/api/jobs", list_jobs),
    ("POST", "/api/jobs/cancel", cancel_jobs),
    ("GET", "/api/jobs/{job_id}", get_job),
    ("POST", "/api/jobs/{job_id}/cancel", cancel_job),
]
