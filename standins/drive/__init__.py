"""Google Drive v3 test server: a stand-in that answers the requests google-api-python-client
sends (files, uploads, revisions, changes) the way Google does, with per-user drives held in memory, so the
creator product's Drive sync can be developed, tested and benchmarked offline. It labels itself
as a test server; /_drive/ holds its controls (tokens, seeding, faults, stats, reset)."""

from .runner import RunningDriveServer, run, start_drive_server
from .server import create_app
from .state import DriveConfig


def main(argv: list[str] | None = None) -> None:
    from .cli import main as cli_main

    cli_main(argv)


__all__ = ["DriveConfig", "RunningDriveServer", "create_app", "main", "run", "start_drive_server"]
