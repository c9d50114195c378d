"""DriveActivities: what the creator's workflows do in Google Drive, with the creator's own tokens.

Drive errors become typed ApplicationErrors the workflows route on: a revoked token (`DriveAuthRevoked`) stops
the sync and pauses the schedule; a file deleted meanwhile (`DriveNotFound`) is skipped; rate limits retry
after Drive's own Retry-After; other faults of the moment retry with backoff.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.heartbeats import heartbeating
from comfy_platform import metrics
from comfy_platform.drive import (
    FOLDER,
    DriveAuthRevoked,
    DriveClient,
    DriveError,
    DriveFileTooLarge,
    DriveInvalidPageToken,
    DriveNotFound,
    DriveRateLimited,
)
from comfy_platform.images import NotAnImage, thumbnail
from comfy_platform.secrets import Encryptor
from comfy_platform.settings import Settings
from comfy_platform.statuses import DriveFileStatus, JobStatus
from comfy_platform.storage import Storage
from db import drive as drive_queries
from db import jobs as job_queries
from db.models import DriveWatch
from presets import InvalidJobRequest
from services.billing.usage import photos_to_take_up
from services.creator.drive_access import user_drive
from services.creator.thumbnails import thumbnail_key
from services.job_inputs import ImageSource
from services.jobs import JobEnv, JobOptions, JobSpec, create_job
from workflows.shared import (
    DriveFileOutcome,
    DriveFileRef,
    GenerationInput,
    JobOutputRef,
    ListNewFilesInput,
    ListNewFilesOutput,
    PreparedJob,
    ProcessDriveFileInput,
    UploadDriveOutputInput,
    UploadDriveOutputResult,
    WatchInfo,
)

log = logging.getLogger(__name__)

# The job id of a Drive file's edit, derived from its workflow id so that a retried prepare_job finds its job.
DRIVE_JOB_NAMESPACE = uuid.UUID("0b7f4f5e-2f7c-4a53-9a7e-3f9f1c2d8e41")
SOURCE_TAG = "comfySourceVersion"  # appProperties key on an output: "<source file id>@<version>"
# The error type of a listed version whose bytes Drive no longer has (a newer version replaced it and the old
# revision is gone): the version is recorded as skipped rather than edited from other bytes under its name.
SUPERSEDED = "DriveVersionSuperseded"
EDITION_ATTEMPTS = 5


class DriveActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], storage: Storage, settings: Settings,
                 encryptor: Encryptor) -> None:
        self.sessionmaker = sessionmaker
        self.storage = storage
        self.settings = settings
        self.encryptor = encryptor

    @activity.defn
    async def list_new_files(self, request: ListNewFilesInput) -> ListNewFilesOutput:
        """One page of new or changed image files (below); a run's first page counts as its sync tick."""
        try:
            listed = await self._list_new_files(request)
        except ApplicationError as exc:
            if request.cursor is None:
                metrics.DRIVE_SYNC_TICKS.labels(_TICK_OUTCOMES.get(exc.type or "", "failed")).inc()
            raise
        except Exception:
            if request.cursor is None:
                metrics.DRIVE_SYNC_TICKS.labels("failed").inc()
            raise
        if request.cursor is None:
            metrics.DRIVE_SYNC_TICKS.labels("ok").inc()
        return listed

    async def _list_new_files(self, request: ListNewFilesInput) -> ListNewFilesOutput:
        """One page of image files that are new or changed in the watched folder since the stored page token (or
        all of them, on a first sync or when the token has gone stale). When nothing is new this is one Drive
        call, and the new page token is saved here rather than by the workflow."""
        async with self.sessionmaker() as session:
            watch = await drive_queries.get_watch(session, request.user_id)
        if watch is None or watch.paused_reason:
            return ListNewFilesOutput(files=[], watch=None)
        cursor = request.cursor or ({"mode": "changes", "token": watch.page_token} if watch.page_token else None)
        async with self._drive(request.user_id) as drive:
            if cursor is not None and cursor["mode"] == "changes":
                try:
                    files, next_cursor, token = await self._changed_files(drive, watch, cursor["token"],
                                                                         request.max_files)
                except DriveInvalidPageToken:
                    log.info("stored page token refused; listing the folder", extra={"user_id": request.user_id})
                    cursor = None
            if cursor is None or cursor["mode"] == "list":
                cursor = cursor or {"mode": "list", "page_token": None, "start_token": await drive.start_page_token()}
                files, next_cursor, token = await self._listed_files(drive, watch, cursor, request.max_files)

        images, skipped = _split(files, watch)
        async with self.sessionmaker() as session, session.begin():
            done = await drive_queries.done_versions(session, request.user_id,
                                                     [(f.file_id, f.version) for f in images])
            new_skips = await drive_queries.record_new_skips(
                session, request.user_id,
                [{"file_id": f.file_id, "version": f.version, "name": f.name, "mime_type": f.mime_type,
                  "reason": reason, "sync_workflow_id": request.sync_workflow_id} for f, reason in skipped])
            new = [f for f in images if (f.file_id, f.version) not in done]
            # A run's first page also takes up photos that waited for the monthly quota, once it has room for
            # them: the page token passed them long ago, the database kept them.
            listed = {(f.file_id, f.version) for f in new}
            taken_up = [] if request.cursor is not None else [
                DriveFileRef(file_id=row.file_id, name=row.name, version=row.version, mime_type=row.mime_type or "",
                             revision=row.revision)
                for row in await photos_to_take_up(session, request.user_id, self.settings)
                if (row.file_id, row.version) not in listed]
            # Only on a run's first page: files of its earlier pages may still be in flight, and the token must not
            # pass them before they are done (the workflow saves it after them).
            if not new and token and next_cursor is None and request.cursor is None:
                if token != watch.page_token:
                    await drive_queries.save_page_token(session, request.user_id, token)
                token = None
        return ListNewFilesOutput(
            files=taken_up + new,
            watch=WatchInfo(folder_id=watch.folder_id, output_folder_id=watch.output_folder_id, preset=watch.preset),
            cursor=next_cursor, page_token_to_save=token,
            skipped=[DriveFileOutcome(file_id=s["file_id"], name=s["name"], status=DriveFileStatus.SKIPPED,
                                      reason=s["reason"]) for s in new_skips])

    @activity.defn
    async def prepare_job(self, task: ProcessDriveFileInput) -> PreparedJob:
        """Download the photo into storage as the job's input and record the job (product `creator`); its
        workflow starts the job as a child."""
        source = task.file
        if source.size is not None and source.size > self.settings.MAX_INPUT_BYTES:
            raise ApplicationError(f"the photo is {source.size} bytes; at most {self.settings.MAX_INPUT_BYTES} "
                                   "are accepted", type="InvalidInput", non_retryable=True)
        job_id = uuid.uuid5(DRIVE_JOB_NAMESPACE, activity.info().workflow_id).hex
        done = await self._succeeded_job(job_id)
        if done is not None:
            return done
        # On the dashboard as in progress from the first attempt (and waiting, should the grant be refused now).
        async with self.sessionmaker() as session, session.begin():
            await drive_queries.record_file(
                session, task.user_id, source.file_id, source.version, name=source.name,
                mime_type=source.mime_type, status=DriveFileStatus.PROCESSING.value,
                sync_workflow_id=task.sync_workflow_id)
        with tempfile.TemporaryDirectory(prefix="drive-") as tmp:
            path = Path(tmp) / "source"
            async with self._drive(task.user_id) as drive, heartbeating():
                await self._download_listed(drive, source, path)
            options = JobOptions.from_settings(
                self.settings, product="creator", user_id=task.user_id,
                metadata={"drive_file_id": source.file_id, "drive_version": source.version,
                          "source_name": source.name})
            env = JobEnv(self.sessionmaker, self.storage, self.settings)
            params = await self._preset_params(task)
            try:
                prepared = (await create_job(env, JobSpec(preset=task.watch.preset, params=params,
                                                          image=ImageSource(path=path)),
                                             options, job_id=job_id, start=False)).prepared
            except InvalidJobRequest as exc:
                raise ApplicationError(_in_creator_words(exc, task.watch.preset), type="InvalidInput",
                                       non_retryable=True) from None
            # Checked as an input by now (format, pixels within the decode budget): safe to decode again.
            await self._store_thumbnail(path, thumbnail_key(task.user_id, source.file_id, source.version, "before"))
        async with self.sessionmaker() as session, session.begin():
            await drive_queries.record_file(
                session, task.user_id, source.file_id, source.version, name=source.name,
                mime_type=source.mime_type, status=DriveFileStatus.PROCESSING.value, job_id=prepared.job_id,
                sync_workflow_id=task.sync_workflow_id)
        return prepared

    async def _store_thumbnail(self, path: Path, key: str) -> None:
        """The dashboard's preview of the photo or its edit. A file that is no image gets none (its edit fails and
        says why); a retry makes it again."""
        try:
            data = await asyncio.to_thread(thumbnail, path)
        except NotAnImage:
            return
        await self.storage.put_bytes(key, data, "image/jpeg")

    async def _preset_params(self, task: ProcessDriveFileInput) -> dict:
        """The creator's values of the preset's parameters, as their settings hold them when the job is made (a
        retry finds the job made with them). Values saved for another preset do not apply."""
        async with self.sessionmaker() as session:
            watch = await drive_queries.get_watch(session, task.user_id)
        if watch is None or watch.preset != task.watch.preset:
            return {}
        return dict(watch.preset_params or {})

    async def _download_listed(self, drive: DriveClient, source: DriveFileRef, path: Path) -> None:
        """The bytes of the version that was listed: its revision, whatever the file holds by now (a retry after
        a failed download can come after the creator replaced the photo). Refs listed before revisions were
        recorded download what the file holds."""
        try:
            await drive.download(source.file_id, path, max_bytes=self.settings.MAX_INPUT_BYTES,
                                 revision_id=source.revision)
        except DriveNotFound:
            if source.revision is None:
                raise
            await drive.get_file(source.file_id)  # DriveNotFound again: the file itself is gone
            raise ApplicationError("it was replaced by a newer version before it could be edited, and Drive no "
                                   "longer keeps this one; the newer version is edited instead", type=SUPERSEDED,
                                   non_retryable=True) from None

    async def _succeeded_job(self, job_id: str) -> PreparedJob | None:
        """The job of an earlier run of this file that got as far as a finished edit, if there was one."""
        async with self.sessionmaker() as session:
            job = await job_queries.get_job(session, job_id)
            if job is None or job.status != JobStatus.SUCCEEDED:
                return None
            outputs = await job_queries.list_job_outputs(session, job_id)
        return PreparedJob(job_id=job.id, workflow_id=job.workflow_id, input=GenerationInput(job_id=job.id, graph={}),
                           search_attributes={}, outputs=[JobOutputRef.of(output) for output in outputs])

    @activity.defn
    async def upload_output(self, upload: UploadDriveOutputInput) -> UploadDriveOutputResult:
        """Put the edited photo into the output folder, once: an upload an earlier attempt made is found by the
        source tag in its appProperties and reused."""
        tag = f"{upload.source.file_id}@{upload.source.version}"
        async with self._drive(upload.user_id) as drive:
            existing = await drive.find_by_app_property(upload.output_folder_id, SOURCE_TAG, tag)
            if existing is not None:
                return UploadDriveOutputResult(file_id=existing["id"], name=existing["name"], reused=True)
            name = edition_name(upload.name, await self._edition(upload))
            with tempfile.TemporaryDirectory(prefix="drive-") as tmp:
                path = Path(tmp) / "output"
                await self.storage.get_to_file(upload.storage_key, path)
                await self._store_thumbnail(path, thumbnail_key(upload.user_id, upload.source.file_id,
                                                                upload.source.version, "after"))
                async with heartbeating():
                    created = await drive.upload(upload.output_folder_id, name, path, upload.content_type,
                                                 {SOURCE_TAG: tag, "comfySourceFileId": upload.source.file_id})
        return UploadDriveOutputResult(file_id=created["id"], name=created["name"], reused=False)

    async def _edition(self, upload: UploadDriveOutputInput) -> int:
        """This version's edition among the file's edited versions (claimed once, kept for every retry)."""
        source = upload.source
        for attempt in itertools.count(1):
            try:
                async with self.sessionmaker() as session, session.begin():
                    # A run from before versions were taken up in prepare_job may have no row yet.
                    await drive_queries.record_file(
                        session, upload.user_id, source.file_id, source.version, name=source.name,
                        mime_type=source.mime_type, status=DriveFileStatus.PROCESSING.value)
                    return await drive_queries.claim_edition(session, upload.user_id, source.file_id,
                                                             source.version)
            except IntegrityError:  # another version of this file claimed the same number a moment ago
                if attempt == EDITION_ATTEMPTS:
                    raise

    @asynccontextmanager
    async def _drive(self, user_id: str) -> AsyncIterator[DriveClient]:
        try:
            async with user_drive(self.sessionmaker, user_id, self.settings, self.encryptor) as drive:
                yield drive
        except DriveError as exc:
            if isinstance(exc, DriveAuthRevoked) and exc.detail:
                log.warning("Drive refused the grant: %s", exc.detail, extra={"user_id": user_id})
            raise _application_error(exc) from exc

    @staticmethod
    async def _changed_files(drive: DriveClient, watch: DriveWatch, token: str, page_size: int):
        page = await drive.list_changes(token, page_size=page_size)
        files = []
        for change in page.changes:
            file = change.get("file") or {}
            if change.get("fileId") == watch.folder_id and (change.get("removed") or file.get("trashed")):
                raise _folder_gone(watch)
            if change.get("removed") or not file or file.get("trashed"):
                continue
            if watch.folder_id in file.get("parents", []):
                files.append(file)
        next_cursor = {"mode": "changes", "token": page.next_page_token} if page.next_page_token else None
        return files, next_cursor, page.new_start_page_token

    @staticmethod
    async def _listed_files(drive: DriveClient, watch: DriveWatch, cursor: dict, page_size: int):
        try:
            # Listing a folder that is gone finds nothing rather than failing, so a listing starts by reading the
            # folder itself: one deleted before the first sync, or while the page token went stale, is noticed.
            if cursor["page_token"] is None and (await drive.get_file(watch.folder_id)).get("trashed"):
                raise _folder_gone(watch)
            page = await drive.list_folder_files(watch.folder_id, cursor["page_token"], page_size=page_size)
        except DriveNotFound:
            raise _folder_gone(watch) from None
        if page.next_page_token:
            return page.files, {**cursor, "page_token": page.next_page_token}, None
        # The start token was taken before the listing, so nothing that changed during it is missed.
        return page.files, None, cursor["start_token"]


def _split(files: list[dict], watch: DriveWatch) -> tuple[list[DriveFileRef], list[tuple[DriveFileRef, str]]]:
    """Images to process, and other files with why they are skipped. Folders (the output folder) are neither."""
    images, skipped = [], []
    for file in files:
        mime = file.get("mimeType", "")
        if mime == FOLDER or file["id"] == watch.output_folder_id:
            continue
        ref = DriveFileRef(file_id=file["id"], name=file.get("name", ""), version=str(file.get("version", "0")),
                           mime_type=mime, size=int(file["size"]) if file.get("size") else None,
                           revision=file.get("headRevisionId"))
        if mime.startswith("image/"):
            images.append(ref)
        else:
            skipped.append((ref, f"not an image ({mime or 'unknown type'})"))
    return images, skipped


def edition_name(name: str, edition: int) -> str:
    """`photo_portrait_pro.png` for a file's first edited version, `photo_portrait_pro_v2.png` for the next..."""
    if edition <= 1:
        return name
    path = Path(name)
    return f"{path.stem}_v{edition}{path.suffix}"


def _in_creator_words(exc: InvalidJobRequest, preset: str) -> str:
    """Why the photo cannot be edited, said of the creator's own file: a job request names inputs by the preset's
    names (`image`), which mean nothing to them."""
    if exc.code == "invalid_image":
        if "not a readable image" in exc.message:
            return "it is not a readable image (damaged, or not in an image format)"
        return "it " + exc.message.removeprefix(f"{exc.field} ")  # too many pixels: the reason names no path
    if exc.code == "payload_too_large":
        return exc.message.replace(f"{exc.field} is", "the photo is", 1)
    return exc.message if f"'{preset}'" in exc.message else f"preset '{preset}': {exc.message}"


# What a failed listing means to an operator (the metric's outcome label), by the error type it raised.
_TICK_OUTCOMES = {"DriveFolderGone": "folder_gone", "DriveAuthRevoked": "reconnect_needed",
                  "DriveRateLimited": "rate_limited"}


def _folder_gone(watch: DriveWatch) -> ApplicationError:
    return ApplicationError(f"the watched folder '{watch.folder_name}' was deleted in Drive", type="DriveFolderGone",
                            non_retryable=True)


def _application_error(exc: DriveError) -> ApplicationError:
    if isinstance(exc, DriveFileTooLarge):  # the size Drive did not report, found while downloading
        return ApplicationError(f"the photo is larger than the {exc.max_bytes} bytes accepted", type="InvalidInput",
                                non_retryable=True)
    if isinstance(exc, DriveRateLimited):
        return ApplicationError(exc.message, type="DriveRateLimited",
                                next_retry_delay=timedelta(seconds=exc.retry_after_s))
    return ApplicationError(exc.message, type=type(exc).__name__, non_retryable=not exc.retryable)
