"""What one running Drive test server holds: per-user drives, tokens, paging cursors, upload
sessions, faults and stats. In memory, the drives also saved under a data dir when one is given; a full reset
empties everything."""

from __future__ import annotations

import os
import pickle
import secrets
from collections import OrderedDict
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from aiohttp import web

from .auth import TokenAuth
from .faults import Faults, Stats
from .store import UserDrive

MAX_CURSORS = 10_000  # open files.list pages; the oldest are forgotten first
MAX_UPLOADS = 1_000  # unfinished resumable uploads


@dataclass
class DriveConfig:
    # OpenID Connect userinfo endpoint: tokens it accepts act for the user `sub`.
    userinfo_url: str | None = None
    userinfo_cache_s: float = 1.0
    # Base of the webViewLink of files and folders.
    web_url: str = "https://drive.google.com"
    # Keep the users' drives in <data_dir>/drive.pickle (written atomically after each change) and load them at
    # start, so `make dev` restarts with the files it had. None: in memory only (tests).
    data_dir: Path | None = None


@dataclass
class Cursor:
    """The rest of a files.list result: ids in order, re-checked against the query when served."""
    user: str
    ids: list[str]
    predicate: Callable[..., bool]


@dataclass
class UploadSession:
    user: str
    file_id: str | None  # None: the upload creates a file
    metadata: dict[str, Any]
    mime_type: str
    total: int | None
    params: dict[str, str]  # the opening request's query: fields, addParents, removeParents
    data: bytearray = field(default_factory=bytearray)


class DriveState:
    def __init__(self, config: DriveConfig) -> None:
        self.config = config
        self.auth = TokenAuth(config.userinfo_url, config.userinfo_cache_s)
        self.faults = Faults()
        self.stats = Stats()
        self.drives: dict[str, UserDrive] = self._load()
        self.cursors: OrderedDict[str, Cursor] = OrderedDict()
        self.uploads: OrderedDict[str, UploadSession] = OrderedDict()

    def drive(self, user: str) -> UserDrive:
        found = self.drives.get(user)
        if found is None:
            found = self.drives[user] = UserDrive(self.config.web_url)
        return found

    def keep_cursor(self, cursor: Cursor) -> str:
        return _keep(self.cursors, cursor, MAX_CURSORS)

    def keep_upload(self, session: UploadSession) -> str:
        return _keep(self.uploads, session, MAX_UPLOADS)

    def _file(self) -> Path | None:
        return None if self.config.data_dir is None else Path(self.config.data_dir) / "drive.pickle"

    def _load(self) -> dict[str, UserDrive]:
        path = self._file()
        if path is None or not path.exists():
            return {}
        with path.open("rb") as saved:
            return pickle.load(saved)  # our own file, written by save()

    def save(self) -> None:
        path = self._file()
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_bytes(pickle.dumps(self.drives))
        os.replace(partial, path)

    def reset(self) -> None:
        self.auth.reset(self.config.userinfo_url)
        self.faults = Faults()
        self.stats = Stats()
        self.drives.clear()
        self.cursors.clear()
        self.uploads.clear()
        self.save()


def _keep(table: OrderedDict, item: Any, limit: int) -> str:
    key = secrets.token_urlsafe(24)
    table[key] = item
    while len(table) > limit:
        table.popitem(last=False)
    return key


STATE = web.AppKey("drive_state", DriveState)


def state_of(request: web.Request) -> DriveState:
    return request.app[STATE]


# The authenticated user of the request being handled, set by the API middleware (a context
# variable: each request runs in its own task).
CURRENT_USER: ContextVar[str] = ContextVar("drive_user")


def current_user() -> str:
    return CURRENT_USER.get()


def drive_of(request: web.Request) -> UserDrive:
    """The authenticated user's drive."""
    return request.app[STATE].drive(CURRENT_USER.get())
