"""The creator's settings (JSON, for the settings page): the watch's preset and its parameters, the name of the
folder edited photos go to, and which emails they get. What is saved is what the next sync uses."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import (
    CurrentCreator,
    EncryptorDep,
    SessionDep,
    SessionmakerDep,
    SettingsDep,
)
from api.errors import ApiError, Conflict
from api.responses import error_responses
from api.routes.creator import _drive_errors, creator_presets
from db import drive as drive_queries
from db import users as user_queries
from db.session import release_before_calling_out
from services.creator.drive_access import user_drive
from services.creator.folders import output_folder_name
from services.creator.settings import (
    OUTPUT_FOLDER_NAME_MAX,
    SettingRefused,
    clean_output_folder_name,
    clean_params,
)

router = APIRouter(tags=["creator"])
Notices = Literal["per_batch", "daily_digest", "off"]


class CreatorSettings(BaseModel):
    watching: bool
    preset: str | None
    preset_title: str | None
    preset_params: dict[str, Any]
    output_folder_name: str
    email_notices: Notices


class SettingsChange(BaseModel):
    model_config = {"extra": "forbid"}

    preset: str | None = Field(None, max_length=128)
    preset_params: dict[str, Any] | None = Field(None, description="values of the preset's parameters; "
                                                 "empty or missing ones take the preset's default")
    output_folder_name: str | None = Field(None, max_length=OUTPUT_FOLDER_NAME_MAX)
    email_notices: Notices | None = None


@router.get("/preferences", response_model=CreatorSettings)
async def read_settings(creator: CurrentCreator, session: SessionDep, settings: SettingsDep) -> CreatorSettings:
    watch = await drive_queries.get_watch(session, creator.id)
    titles = {p.name: p.title for p in creator_presets()}
    return CreatorSettings(watching=watch is not None, preset=watch.preset if watch else None,
                           preset_title=titles.get(watch.preset) if watch else None,
                           preset_params=(watch.preset_params or {}) if watch else {},
                           output_folder_name=output_folder_name(watch, settings),
                           email_notices=creator.email_notices)


@router.put("/preferences", response_model=CreatorSettings, responses=error_responses(409, 422, 503))
async def change_settings(body: SettingsChange, creator: CurrentCreator, session: SessionDep,
                          sessionmaker: SessionmakerDep, settings: SettingsDep,
                          encryptor: EncryptorDep) -> CreatorSettings:
    """Save settings. The preset, its parameters and the output folder belong to the watched folder (409 when
    none is watched); a new output folder name makes (or finds) that folder beside the photos now."""
    watch = await drive_queries.get_watch(session, creator.id)
    changes: dict[str, Any] = {}
    try:
        if body.preset is not None or body.preset_params is not None or body.output_folder_name is not None:
            if watch is None:
                raise Conflict("pick a folder to watch on the dashboard first: these settings belong to it",
                               code="not_watching")
            preset = body.preset or watch.preset
            if preset not in {p.name for p in creator_presets()}:
                raise SettingRefused("that preset does not exist: pick one of the presets listed", "preset")
            if body.preset is not None:
                changes["preset"] = preset
            if body.preset_params is not None or preset != watch.preset:
                changes["preset_params"] = clean_params(preset, body.preset_params or {}) or None
            if body.output_folder_name is not None:
                name = clean_output_folder_name(body.output_folder_name)
                if name != output_folder_name(watch, settings):
                    changes["output_folder_name"] = name
    except SettingRefused as exc:
        raise ApiError(exc.message, code="invalid_setting", status_code=422, details={"field": exc.field}) from None
    if "output_folder_name" in changes:
        await release_before_calling_out(session)
        with _drive_errors(field="output_folder_name", folder_id=None):
            async with user_drive(sessionmaker, creator.id, settings, encryptor) as drive:
                folder = await drive.find_or_create_folder(changes["output_folder_name"], watch.folder_id)
        changes["output_folder_id"] = folder["id"]
    if changes:
        await drive_queries.update_watch_settings(session, creator.id, **changes)
    if body.email_notices is not None:
        await user_queries.set_email_notices(session, creator.id, body.email_notices)
        creator.email_notices = body.email_notices
    await session.commit()
    return await read_settings(creator, session, settings)
