"""The creator product after sign-in: pick a Drive folder and a preset, sync now, see what was edited.

Routes only read and write the creator's records and start, trigger or pause their schedule; the work itself
happens in DriveSyncWorkflow runs. Temporal not answering is a 503 `temporal_unavailable` with Retry-After, and a
route that changes both the schedule and the records changes the schedule first: if Temporal refuses, nothing
changed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from temporalio.service import RPCError

from api.deps import (
    CurrentCreator,
    EncryptorDep,
    SessionDep,
    SessionmakerDep,
    SettingsDep,
    TemporalDep,
)
from api.errors import ApiError, Conflict, NotFound
from api.responses import error_responses
from comfy_platform.drive import (
    FOLDER,
    DriveAuthRevoked,
    DriveBadRequest,
    DriveError,
    DriveNotFound,
    DriveRateLimited,
)
from db import drive as drive_queries
from db import users as user_queries
from db.models import DriveStatus
from db.session import release_before_calling_out
from presets import list_presets
from services.accounts import request_deletion as request_account_deletion
from services.creator import schedules
from services.creator.drive_access import user_drive
from services.creator.folders import (
    output_folder_name,
    output_folders,
    watchable_folders,
)
from services.creator.photos import output_link, plain_pause

log = logging.getLogger(__name__)
router = APIRouter(tags=["creator"])



class PresetOut(BaseModel):
    name: str
    title: str
    description: str


class FolderOut(BaseModel):
    id: str
    name: str
    path: str = Field(description="where the folder is, as 'Parent / Folder'")


class WatchIn(BaseModel):
    folder_id: str = Field(min_length=1, max_length=256, examples=["1AbCdEf"])
    preset: str = Field(min_length=1, max_length=128, examples=["portrait_pro"])


class WatchOut(BaseModel):
    folder_id: str
    folder_name: str
    output_folder_id: str
    output_folder_name: str
    preset: str
    preset_title: str
    preset_params: dict
    paused_reason: str | None = Field(description="why syncing is paused, in plain words")
    schedule: dict | None = None


class DriveFileOut(BaseModel):
    file_id: str
    name: str
    version: str
    status: str
    reason: str | None
    job_id: str | None
    output_file_id: str | None
    output_name: str | None
    output_link: str | None
    updated_at: datetime


def creator_presets() -> list[PresetOut]:
    """Presets that edit one photo: the ones a Drive folder can use."""
    return [PresetOut(name=p.name, title=p.title, description=p.description) for p in list_presets()
            if p.photo_input is not None]


@router.get("/presets", response_model=list[PresetOut])
async def presets() -> list[PresetOut]:
    return creator_presets()


@router.get("/drive/folders", response_model=list[FolderOut], responses=error_responses(404, 409))
async def folders(creator: CurrentCreator, sessionmaker: SessionmakerDep, settings: SettingsDep,
                  encryptor: EncryptorDep,
                  parent: Annotated[str | None, Query(min_length=1, max_length=256)] = None) -> list[FolderOut]:
    """The creator's Drive folders they may watch (inside `parent` when given): never a folder edited photos go
    to, nor one inside it."""
    async with sessionmaker() as session:
        watch = await drive_queries.get_watch(session, creator.id)
    with _drive_errors(field="parent", folder_id=parent):
        async with user_drive(sessionmaker, creator.id, settings, encryptor) as drive:
            every = await drive.list_folders()
    choices = watchable_folders(every, watch, settings)
    if parent is not None:
        inside = {f["id"] for f in every if parent in (f.get("parents") or [])}
        choices = [c for c in choices if c.id in inside]
    return [FolderOut(id=c.id, name=c.name, path=c.path) for c in choices]


@router.get("/drive/watch", response_model=WatchOut, responses=error_responses(404))
async def get_watch(creator: CurrentCreator, session: SessionDep, temporal: TemporalDep,
                    settings: SettingsDep) -> WatchOut:
    watch = await drive_queries.get_watch(session, creator.id)
    if watch is None:
        raise NotFound("no Drive folder is watched", code="not_watching")
    await release_before_calling_out(session)
    with _temporal_errors():
        schedule = await schedules.describe_sync_schedule(temporal, creator.id)
    return _watch_out(watch, schedule, creator, settings)


@router.post("/drive/watch", response_model=WatchOut, responses=error_responses(404, 409))
async def watch(body: WatchIn, creator: CurrentCreator, session: SessionDep, sessionmaker: SessionmakerDep,
                settings: SettingsDep, encryptor: EncryptorDep, temporal: TemporalDep) -> WatchOut:
    """Watch a folder with a preset: makes (or reuses) its output folder and starts the creator's schedule."""
    if body.preset not in {p.name for p in creator_presets()}:
        raise ApiError("that preset does not exist: pick one of the presets listed", code="unknown_preset",
                       details={"field": "preset"}, status_code=422)
    current = await drive_queries.get_watch(session, creator.id)
    await release_before_calling_out(session)
    out_name = output_folder_name(current, settings)
    with _drive_errors(field="folder_id", folder_id=body.folder_id):
        async with user_drive(sessionmaker, creator.id, settings, encryptor) as drive:
            folder = await drive.get_file(body.folder_id)
            if folder.get("mimeType") != FOLDER or folder.get("trashed"):
                raise ApiError("that is not a folder: pick a folder to watch", code="not_a_folder",
                               details={"field": "folder_id"}, status_code=422)
            if body.folder_id in output_folders(await drive.list_folders(), current, settings):
                raise ApiError(f"“{folder['name']}” holds edited photos (it is an “{out_name}” folder or inside "
                               "one), so watching it would edit them again: pick the folder you put new photos in",
                               code="output_folder", details={"field": "folder_id"}, status_code=422)
            output = await drive.find_or_create_folder(out_name, body.folder_id)
    # The schedule first: if Temporal refuses, the creator's records are as they were (a retry finishes the
    # job). A schedule made for a watch whose record then fails to save finds nothing to sync.
    with _temporal_errors():
        await schedules.ensure_sync_schedule(temporal, settings, creator.id)
    watch = await drive_queries.set_watch(session, creator.id, folder_id=body.folder_id, folder_name=folder["name"],
                                          output_folder_id=output["id"], preset=body.preset)
    await user_queries.set_drive_status(session, creator.id, DriveStatus.CONNECTED)
    await session.commit()
    return _watch_out(watch, await _schedule_if_answered(temporal, creator.id), creator, settings)


@router.post("/drive/disconnect", status_code=204)
async def disconnect(creator: CurrentCreator, session: SessionDep, temporal: TemporalDep) -> None:
    """Stop the automation: the schedule is paused with a note, the watch forgotten. Edited photos stay."""
    # The schedule first: a watch forgotten while its schedule kept ticking would be half a disconnect.
    with _temporal_errors():
        await schedules.pause_sync_schedule(temporal, creator.id, note="disconnected by the creator")
    await drive_queries.delete_watch(session, creator.id)
    await user_queries.set_drive_status(session, creator.id, DriveStatus.DISCONNECTED)
    await session.commit()


@router.post("/sync-now", status_code=202, responses=error_responses(409))
async def sync_now(creator: CurrentCreator, session: SessionDep, settings: SettingsDep,
                   temporal: TemporalDep) -> dict:
    watch = await drive_queries.get_watch(session, creator.id)
    if watch is None:
        raise Conflict("pick a Drive folder to watch first", code="not_watching")
    if watch.paused_reason:
        raise Conflict(plain_pause(watch.paused_reason, creator.drive_status), code="sync_paused")
    await release_before_calling_out(session)
    with _temporal_errors():
        await schedules.trigger_sync(temporal, settings, creator.id)
    return {"status": "triggered"}


@router.get("/jobs", response_model=list[DriveFileOut])
async def jobs(creator: CurrentCreator, session: SessionDep, settings: SettingsDep,
               limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[DriveFileOut]:
    """The creator's photos, newest first: edited, failed (with why), skipped (with why) or in progress."""
    rows = await drive_queries.list_files(session, creator.id, limit)
    return [DriveFileOut(file_id=r.file_id, name=r.name, version=r.version, status=r.status, reason=r.reason,
                         job_id=r.job_id, output_file_id=r.output_file_id, output_name=r.output_name,
                         output_link=output_link(settings, r.output_file_id), updated_at=r.updated_at) for r in rows]


@router.delete("/account", status_code=202)
async def delete_account(creator: CurrentCreator, session: SessionDep, temporal: TemporalDep) -> dict[str, str]:
    """Delete the creator's account for good: signed out everywhere and API keys revoked at once, then the
    deletion run (AccountDeletionWorkflow) ends a paid plan at Stripe, stops the automation and Google access, and
    deletes every job, upload, photo record and file in storage, and the account."""
    await release_before_calling_out(session)
    with _temporal_errors():
        await request_account_deletion(session, temporal, creator.id)
    return {"status": "deleting"}


def _watch_out(watch, schedule: dict | None, creator, settings) -> WatchOut:
    titles = {p.name: p.title for p in creator_presets()}
    return WatchOut(folder_id=watch.folder_id, folder_name=watch.folder_name,
                    output_folder_id=watch.output_folder_id, output_folder_name=output_folder_name(watch, settings),
                    preset=watch.preset, preset_title=titles.get(watch.preset, watch.preset),
                    preset_params=watch.preset_params or {},
                    paused_reason=plain_pause(watch.paused_reason, creator.drive_status), schedule=schedule)


async def _schedule_if_answered(temporal, user_id: str) -> dict | None:
    """The schedule as the dashboard shows it, or None if Temporal stopped answering after the change was made:
    the change stands, and the dashboard reads the schedule again on its next refresh."""
    try:
        return await schedules.describe_sync_schedule(temporal, user_id)
    except RPCError:
        return None


@contextmanager
def _temporal_errors() -> Iterator[None]:
    """Temporal not answering (down, restarting, overloaded) as a 503 the client may retry, like the developer
    API's; a schedule that does not exist is handled where it is asked for (schedules.py)."""
    try:
        yield
    except RPCError as exc:
        raise ApiError("Temporal, which runs the syncs, did not answer; try again shortly",
                       code="temporal_unavailable", status_code=503, headers={"Retry-After": "5"},
                       details={"status": exc.status.name if exc.status else None}) from None


@contextmanager
def _drive_errors(field: str, folder_id: str | None) -> Iterator[None]:
    """Drive's answers as this API's errors: a folder the creator cannot see is 404, a lost grant 409."""
    try:
        yield
    except DriveAuthRevoked as exc:
        log.info("Drive refused the creator's grant: %s", exc.message)
        raise Conflict("Google Drive stopped letting us in: sign in again to reconnect",
                       code="drive_reconnect_needed") from None
    except DriveNotFound:
        raise NotFound("that folder is not in your Google Drive (deleted, or not shared with you)",
                       code="folder_not_found", details={"field": field}) from None
    except DriveBadRequest as exc:
        log.info("Drive refused folder %s: %s", folder_id, exc.message)
        raise ApiError("Google Drive did not accept that folder: pick another one", code="invalid_folder",
                       details={"field": field}, status_code=422) from None
    except DriveRateLimited as exc:
        raise ApiError("Google Drive is rate limiting; try again shortly", code="drive_busy", status_code=503,
                       headers={"Retry-After": str(int(exc.retry_after_s))}) from None
    except DriveError as exc:
        log.warning("Google Drive did not answer: %s", exc.message)
        raise ApiError("Google Drive did not answer; try again shortly", code="drive_unavailable",
                       status_code=503) from None
