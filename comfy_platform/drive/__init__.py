"""Google Drive for the creator product: an async client over google-api-python-client and the
typed errors activities decide retries by."""

from .client import FOLDER, ChangesPage, DriveClient, FilesPage, build_drive_service
from .errors import (
    DriveAuthRevoked,
    DriveBadRequest,
    DriveError,
    DriveFileTooLarge,
    DriveInvalidPageToken,
    DriveNotFound,
    DriveRateLimited,
    DriveUnavailable,
)

__all__ = [
    "FOLDER", "ChangesPage", "DriveAuthRevoked", "DriveBadRequest", "DriveClient", "DriveError", "DriveFileTooLarge",
    "DriveInvalidPageToken",
    "DriveNotFound", "DriveRateLimited", "DriveUnavailable", "FilesPage", "build_drive_service",
]
