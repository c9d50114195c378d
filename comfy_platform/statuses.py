"""The statuses a job and a creator's Drive file go through, one vocabulary from the database to the API.

Here, on the lowest floor, because every room speaks them: the database stores them, the workflows (which may not
import the database) decide them, the services, activities, API and CLI read them. The SDK keeps its own copy of
the terminal statuses, as it must not import the server.
"""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


# A job in one of these has ended: its row, outputs and error do not change any more.
TERMINAL_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class DriveFileStatus(StrEnum):
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    WAITING = "waiting"  # caught by a revoked Drive grant: edited once the creator reconnects
    # Past the month's photos of the creator's plan: edited when the plan renews or is upgraded.
    WAITING_FOR_QUOTA = "waiting_for_quota"


# A file version in one of these is done with: a sync run that lists it again leaves it alone.
DRIVE_FILE_DONE_STATUSES = (DriveFileStatus.SUCCEEDED, DriveFileStatus.FAILED, DriveFileStatus.SKIPPED)
