"""The creator's photos as the dashboard shows them: a status a person understands, a reason in plain words (never
the internals a stored reason may carry: temp paths, library errors, token errors, preset ids), progress, links.

Stored reasons are written by the workflows for the records and emails; they are read here by what they say, and
what is not recognised is shown as a general sentence rather than as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from comfy_platform.drive.errors import REVOKED_MESSAGE
from comfy_platform.settings import Settings
from comfy_platform.statuses import DriveFileStatus, JobStatus
from db.models import DriveFile, Job

# The dashboard's filters: what each shows.
FILTERS: dict[str, tuple[str, ...] | None] = {
    "all": None,
    "in_progress": (DriveFileStatus.PROCESSING.value, DriveFileStatus.WAITING.value),
    "edited": (DriveFileStatus.SUCCEEDED.value,),
    "failed": (DriveFileStatus.FAILED.value,),
    "skipped": (DriveFileStatus.SKIPPED.value,),
    "waiting_for_quota": (DriveFileStatus.WAITING_FOR_QUOTA.value,),
}
FILTER_LABELS = {"all": "All", "in_progress": "In progress", "edited": "Edited", "failed": "Failed",
                 "skipped": "Skipped", "waiting_for_quota": "Waiting for plan"}

# (what the stored reason says, what the creator reads), the first that matches.
_FAILURES = (
    (r"not a readable image|cannot identify image|not in an image format",
     "This file could not be opened as a photo: it may be damaged or in a format we cannot read. Export it "
     "again as JPEG or PNG."),
    (r"pixels", "This photo has too many pixels to edit. Export a smaller version and drop it in again."),
    (r"bytes|too large|larger than", "This photo is larger than we accept. Export a smaller version."),
    (r"could not be read from Drive", "We could not download this photo from Google Drive."),
    (r"could not be written to Drive", "The edited photo could not be saved to your Google Drive."),
    (r"produced no image", "The edit finished without making a photo."),
    (r"processing stopped|timed out|terminated", "The edit was interrupted before it finished."),
)
_SKIPS = (
    (r"not an image", "Not a photo, so it was left as it is."),
    (r"newer version|replaced", "A newer version of this photo replaced it; that one is edited instead."),
    (r"deleted|not found|gone|trash", "It was deleted or moved out of the folder before it could be edited."),
)


def plain_reason(status: str, reason: str | None, renews_at: datetime | None = None) -> str | None:
    """Why a photo failed, was skipped or waits, in words for its owner."""
    text = reason or ""
    if status == DriveFileStatus.FAILED:
        said = next((plain for pattern, plain in _FAILURES if re.search(pattern, text, re.I)),
                    "The edit did not work this time.")
        return said
    if status == DriveFileStatus.SKIPPED:
        return next((plain for pattern, plain in _SKIPS if re.search(pattern, text, re.I)), "Left as it is.")
    if status == DriveFileStatus.WAITING:
        return "Waiting for you to reconnect Google Drive: sign in again and it is edited."
    if status == DriveFileStatus.WAITING_FOR_QUOTA:
        when = f" on {renews_at:%B %-d}" if renews_at else ""
        return (f"This month's photos on your plan are used. It is edited when your plan renews{when}, or right "
                "after you upgrade.")
    return None


def plain_pause(paused_reason: str | None, drive_status: str) -> str | None:
    """Why syncing is paused, in words for the creator (the stored reason may quote Google's token errors)."""
    if not paused_reason:
        return None
    if paused_reason.startswith(REVOKED_MESSAGE):
        return f"{REVOKED_MESSAGE}. Sign in again to reconnect; waiting photos are then edited."
    if drive_status == "reconnect_needed" or re.search(r"token|grant|revoked|reconnect|auth", paused_reason, re.I):
        return "Google Drive stopped letting us in. Sign in again to reconnect; waiting photos are then edited."
    gone = re.fullmatch(r"the watched folder ('[^'{}()]{1,200}') was deleted in Drive", paused_reason)
    if gone:
        return f"The watched folder {gone.group(1)} was deleted in Drive. Pick another folder to watch."
    if re.search(r"folder", paused_reason, re.I):
        return "The watched folder was deleted or moved to the trash. Pick another folder to watch."
    if "disconnected" in paused_reason:
        return "You stopped syncing. Pick a folder to start again."
    return "Syncing is paused."


@dataclass(frozen=True)
class PhotoView:
    id: str
    name: str
    status: str  # waiting | processing | edited | failed | skipped | reconnect | waiting_for_quota
    label: str
    reason: str | None
    progress: float | None
    output_name: str | None
    output_link: str | None
    before_thumb: str | None
    after_thumb: str | None
    can_retry: bool
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "updated_at": self.updated_at.isoformat()}


_LABELS = {"waiting": "Waiting", "processing": "Editing", "edited": "Edited", "failed": "Failed",
           "skipped": "Skipped", "reconnect": "Waiting for Drive", "waiting_for_quota": "Waiting for plan"}


def photo_view(row: DriveFile, job: Job | None, settings: Settings, *, renews_at: datetime | None = None,
               thumbs: tuple[str | None, str | None] = (None, None)) -> PhotoView:
    status = _shown_status(row, job)
    progress = None
    if status == "processing":
        progress = round(job.progress, 3) if job is not None else 0.0
    return PhotoView(
        id=row.id, name=row.name, status=status, label=_LABELS[status],
        reason=plain_reason(row.status, row.reason, renews_at), progress=progress,
        output_name=row.output_name, output_link=output_link(settings, row.output_file_id),
        before_thumb=thumbs[0], after_thumb=thumbs[1],
        can_retry=row.status == DriveFileStatus.FAILED, updated_at=row.updated_at)


def output_link(settings: Settings, output_file_id: str | None) -> str | None:
    """Where the edited photo opens: Google Drive's viewer, or the local Drive test server's file when the
    stand-ins run (make dev), whose links would otherwise lead nowhere."""
    if not output_file_id:
        return None
    if settings.CREATOR_LOCAL_STANDINS:
        return f"{settings.GOOGLE_DRIVE_URL.rstrip('/')}/_drive/view/{output_file_id}"
    return f"{settings.GOOGLE_DRIVE_WEB_URL.rstrip('/')}/file/d/{output_file_id}/view"


def _shown_status(row: DriveFile, job: Job | None) -> str:
    if row.status == DriveFileStatus.PROCESSING:
        running = job is not None and job.status != JobStatus.QUEUED
        return "processing" if running else "waiting"
    return {DriveFileStatus.SUCCEEDED: "edited", DriveFileStatus.FAILED: "failed",
            DriveFileStatus.SKIPPED: "skipped", DriveFileStatus.WAITING: "reconnect",
            DriveFileStatus.WAITING_FOR_QUOTA: "waiting_for_quota"}[DriveFileStatus(row.status)]
