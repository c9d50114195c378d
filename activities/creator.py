"""CreatorActivities: the creator product's own records (watched folder, files seen) and its schedule."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import Client

from comfy_platform import metrics
from db import drive as drive_queries
from db import users as user_queries
from db.models import DriveStatus
from services.creator.schedules import pause_sync_schedule
from workflows.shared import RecordDriveFileInput, SavePageTokenInput, SuspendSyncInput

log = logging.getLogger(__name__)
# What the dashboard says of a photo caught by a refused grant until the creator signs in again.
WAITING_REASON = "waiting for you to reconnect Google Drive"


class CreatorActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], temporal: Client) -> None:
        self.sessionmaker = sessionmaker
        self.temporal = temporal

    @activity.defn
    async def save_page_token(self, saved: SavePageTokenInput) -> None:
        async with self.sessionmaker() as session, session.begin():
            await drive_queries.save_page_token(session, saved.user_id, saved.page_token)

    @activity.defn
    async def record_drive_file(self, record: RecordDriveFileInput) -> None:
        async with self.sessionmaker() as session, session.begin():
            await drive_queries.record_file(
                session, record.user_id, record.file.file_id, record.file.version, name=record.file.name,
                mime_type=record.file.mime_type, status=record.status, reason=record.reason, job_id=record.job_id,
                output_file_id=record.output_file_id, output_name=record.output_name,
                sync_workflow_id=record.sync_workflow_id)
        metrics.DRIVE_FILES.labels(str(record.status)).inc()

    @activity.defn
    async def suspend_sync(self, suspend: SuspendSyncInput) -> None:
        """Pause the creator's schedule with the reason as its note, and show the reason on the dashboard."""
        async with self.sessionmaker() as session, session.begin():
            await drive_queries.pause_watch(session, suspend.user_id, suspend.reason)
            if suspend.state == "reconnect_needed":
                await user_queries.set_drive_status(session, suspend.user_id, DriveStatus.RECONNECT_NEEDED)
                # Their runs have ended (the sync drains them first); the next sync after reconnecting lists them.
                await drive_queries.mark_waiting(session, suspend.user_id, WAITING_REASON)
        await pause_sync_schedule(self.temporal, suspend.user_id, note=f"{suspend.state}: {suspend.reason}")
        log.warning("drive sync suspended: %s", suspend.reason,
                    extra={"user_id": suspend.user_id, "state": suspend.state})
