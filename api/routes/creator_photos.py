"""The dashboard's photos: a page of them by status, live changes as server-sent events, and a failed photo's
retry. What each photo says comes from services/creator/photos.py, in plain words."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel
from temporalio.service import RPCError

from api.deps import CurrentCreator, SessionDep, SettingsDep, StorageDep, TemporalDep
from api.errors import ApiError, NotFound
from api.responses import error_responses
from comfy_platform.storage import ObjectNotFound
from db import drive as drive_queries
from db.session import release_before_calling_out
from services.billing.usage import usage_overview
from services.creator import schedules
from services.creator.photos import FILTER_LABELS, FILTERS, PhotoView, photo_view
from services.creator.retry import RetryRefused, retry_photo
from services.creator.thumbnails import Which, link_valid, thumbnail_key, thumbnail_link

router = APIRouter(tags=["creator"])
PER_PAGE = 24
LIVE_EVERY_S = 0.5  # how often the event stream looks for changes
SCHEDULE_EVERY = 4  # ...and asks Temporal about the schedule every this many looks


class PhotoOut(BaseModel):
    id: str
    name: str
    status: str
    label: str
    reason: str | None
    progress: float | None
    output_name: str | None
    output_link: str | None
    before_thumb: str | None
    after_thumb: str | None
    can_retry: bool
    updated_at: str


class Quota(BaseModel):
    used: int
    included: int
    renews_at: datetime
    plan_title: str


class PhotoPage(BaseModel):
    items: list[PhotoOut]
    show: str
    page: int
    pages: int
    total: int
    counts: dict[str, int]
    labels: dict[str, str]
    quota: Quota


Show = Literal["all", "in_progress", "edited", "failed", "skipped", "waiting_for_quota"]


@router.get("/photos", response_model=PhotoPage)
async def photos(creator: CurrentCreator, session: SessionDep, settings: SettingsDep, show: Show = "all",
                 page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> PhotoPage:
    """A page of the creator's photos (most recently changed first), how many there are of each kind, and the
    month's quota."""
    by_status = await drive_queries.count_files_by_status(session, creator.id)
    counts = {name: sum(n for s, n in by_status.items() if statuses is None or s in statuses)
              for name, statuses in FILTERS.items()}
    total = counts[show]
    rows = await drive_queries.page_files(session, creator.id, FILTERS[show], (page - 1) * PER_PAGE, PER_PAGE)
    usage = await usage_overview(session, creator.id, settings)
    views = [photo_view(row, job, settings, renews_at=usage["period_end"], thumbs=thumbs_of(settings, row))
             for row, job in rows]
    return PhotoPage(items=[PhotoOut(**v.as_dict()) for v in views], show=show, page=page,
                     pages=max(1, math.ceil(total / PER_PAGE)), total=total, counts=counts, labels=FILTER_LABELS,
                     quota=Quota(used=usage["creator_photos"]["used"], included=usage["creator_photos"]["included"],
                                 renews_at=usage["period_end"], plan_title=usage["plan_title"]))


@router.post("/photos/{photo_id}/retry", status_code=202, responses=error_responses(402, 404, 409, 503))
async def retry(creator: CurrentCreator, session: SessionDep, settings: SettingsDep, temporal: TemporalDep,
                photo_id: Annotated[str, Path(max_length=36)]) -> dict:
    """Edit a failed photo again."""
    try:
        await retry_photo(session, temporal, settings, creator.id, photo_id)
    except RetryRefused as exc:
        raise ApiError(exc.message, code=exc.code, status_code=exc.status) from None
    except RPCError:
        raise ApiError("the retry could not be started just now; try again shortly", code="temporal_unavailable",
                       status_code=503, headers={"Retry-After": "5"}) from None
    return {"status": "retrying"}


@router.get("/events", response_class=StreamingResponse)
async def events(request: Request, creator: CurrentCreator, session: SessionDep, settings: SettingsDep) \
        -> StreamingResponse:
    """Server-sent events for the dashboard: `photo` (a photo whose status or progress changed, as GET /photos
    shows it), `counts` (photos of each kind, after changes) and `sync` (whether a sync runs, the last and next)."""
    await release_before_calling_out(session)
    sessionmaker, temporal = request.app.state.sessionmaker, request.app.state.temporal
    user_id = creator.id

    async def stream() -> AsyncIterator[str]:
        since = datetime.now(UTC)
        sent: dict[str, tuple] = {}
        yield "retry: 2000\n\n"
        for tick in range(10**9):
            if await request.is_disconnected():
                return
            async with sessionmaker() as db:
                rows = await drive_queries.files_changed_since(db, user_id, since)
                fresh = [row for row, _ in rows if row.updated_at > since]
                usage = await usage_overview(db, user_id, settings) if fresh else None
                by_status = await drive_queries.count_files_by_status(db, user_id) if fresh else {}
            renews_at = usage["period_end"] if usage else None
            for row, job in rows:
                view: PhotoView = photo_view(row, job, settings, renews_at=renews_at,
                                             thumbs=thumbs_of(settings, row))
                key = (view.status, view.progress, view.updated_at, view.before_thumb is not None)
                if sent.get(view.id) != key:
                    sent[view.id] = key
                    yield _event("photo", view.as_dict())
            if usage is not None:
                since = max(row.updated_at for row in fresh)
                yield _event("counts", {
                    "counts": {name: sum(n for s, n in by_status.items() if statuses is None or s in statuses)
                               for name, statuses in FILTERS.items()},
                    "quota": {"used": usage["creator_photos"]["used"],
                              "included": usage["creator_photos"]["included"]}})
            if tick % SCHEDULE_EVERY == 0:
                try:
                    schedule = await schedules.describe_sync_schedule(await temporal.get(), user_id)
                except (RPCError, RuntimeError):
                    schedule = None
                if schedule is not None:
                    yield _event("sync", schedule)
            elif tick % 30 == 0:
                yield ": keep-alive\n\n"
            await asyncio.sleep(LIVE_EVERY_S)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.get("/photos/{photo_id}/thumbnail/{which}", response_class=Response, responses=error_responses(403, 404))
async def thumbnail(creator: CurrentCreator, session: SessionDep, settings: SettingsDep, storage: StorageDep,
                    photo_id: Annotated[str, Path(max_length=36)], which: Which,
                    expires: Annotated[int, Query(ge=0, le=2**40)], sig: Annotated[str, Query(max_length=64)]) \
        -> Response:
    """A photo's before or after thumbnail, through a link made for this account that expires."""
    if not link_valid(settings, creator.id, photo_id, which, expires, sig):
        raise ApiError("this preview link has expired or is not yours: reload the page", code="link_expired",
                       status_code=403)
    row = await drive_queries.get_file(session, creator.id, photo_id)
    if row is None:
        raise NotFound("no such photo of yours", code="not_found")
    await release_before_calling_out(session)
    try:
        data = await storage.read_bytes(thumbnail_key(creator.id, row.file_id, row.version, which))
    except ObjectNotFound:
        raise NotFound("this photo has no preview", code="no_thumbnail") from None
    return Response(data, media_type="image/jpeg",
                    headers={"Cache-Control": f"private, max-age={max(0, expires - int(time.time()))}"})


def thumbs_of(settings, row) -> tuple[str | None, str | None]:
    before = thumbnail_link(settings, row.user_id, row.id, "before") if row.job_id else None
    after = thumbnail_link(settings, row.user_id, row.id, "after") if row.status == "succeeded" else None
    return before, after


def _event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data, default=str)}\n\n"
