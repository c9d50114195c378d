"""A failed photo edited again when its creator asks: the same ProcessDriveFileWorkflow a sync would start, under
an id of its own (the first run's id is taken for good), against the month's quota like any photo."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError

from comfy_platform.settings import Settings
from comfy_platform.statuses import DriveFileStatus
from db import billing as billing_queries
from db import drive as drive_queries
from db.session import release_before_calling_out
from services.billing.usage import entitlement_of
from workflows.shared import (
    DRIVE_FILE_WORKFLOW,
    IO_TASK_QUEUE,
    DriveFileRef,
    ProcessDriveFileInput,
    WatchInfo,
    drive_file_workflow_id,
    typed_search_attributes,
)


class RetryRefused(Exception):
    """Why the photo cannot be retried now, in the creator's words; `code` for the API."""

    def __init__(self, message: str, code: str, status: int = 409) -> None:
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


async def retry_photo(session: AsyncSession, temporal: Client, settings: Settings, user_id: str,
                      record_id: str) -> None:
    """Start the photo's edit again. The record is turned to processing first, only if it is still the failure
    that was read (a double click takes it up once), so the run's own records land on a photo in progress; if
    Temporal then refuses the start, the record goes back to the failure it was."""
    row = await drive_queries.get_file(session, user_id, record_id)
    if row is None:
        raise RetryRefused("that photo is not one of yours", "not_found", 404)
    if row.status != DriveFileStatus.FAILED:
        raise RetryRefused("only a photo whose edit failed can be retried", "not_failed")
    watch = await drive_queries.get_watch(session, user_id)
    if watch is None:
        raise RetryRefused("pick a Drive folder to watch first: the edited photo goes next to it", "not_watching")
    if watch.paused_reason:
        raise RetryRefused("syncing is paused: resume it before retrying a photo", "sync_paused")
    plan = await entitlement_of(session, user_id, settings)
    used = await billing_queries.creator_photos_used(session, user_id, plan.period_start)
    if used >= plan.plan.creator_photos_per_month:
        raise RetryRefused(f"this month's {plan.plan.creator_photos_per_month} photos of your plan are used: "
                           "upgrade, or retry after your plan renews", "quota_reached", 402)
    seen_at = row.updated_at
    workflow_id = f"{drive_file_workflow_id(user_id, row.file_id, row.version)}-retry-{int(seen_at.timestamp() * 1e6)}"
    task = ProcessDriveFileInput(
        user_id=user_id, sync_workflow_id=workflow_id,
        file=DriveFileRef(file_id=row.file_id, name=row.name, version=row.version, mime_type=row.mime_type or "",
                          revision=row.revision),
        watch=WatchInfo(folder_id=watch.folder_id, output_folder_id=watch.output_folder_id, preset=watch.preset))
    reason = row.reason
    if not await drive_queries.take_up_failed(session, user_id, record_id, seen_at):
        return  # taken up by the same retry, asked twice
    await session.commit()
    await release_before_calling_out(session)
    try:
        await temporal.start_workflow(DRIVE_FILE_WORKFLOW, task, id=workflow_id, task_queue=IO_TASK_QUEUE,
                                      search_attributes=typed_search_attributes({"UserId": user_id,
                                                                                 "Product": "creator"}))
    except WorkflowAlreadyStartedError:
        return
    except BaseException:
        await drive_queries.record_failed_again(session, user_id, record_id, reason)
        await session.commit()
        raise
