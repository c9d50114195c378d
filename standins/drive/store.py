"""One user's My Drive in memory: files by id, a root folder, and the changes feed.

Every create, update, trash and delete records a change with the next change id (per user,
strictly increasing); a file's `version` is the id of its latest change, so it increases on
every content or metadata change. As on Drive, the feed keeps only the latest change per file:
a file changed twice since a page token is listed once, in its current state. Trash is
inherited: a file inside a trashed folder reads `trashed: true`, and trashing or restoring a
folder records a change for everything under it.

A file with content keeps every content it had as a revision (`headRevisionId` names the
current one); a metadata change makes none. Drive purges old revisions of binary files after
30 days unless kept forever; this server keeps them until they are deleted.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .errors import ApiError, bad_request, not_found, root_is_read_only

FOLDER = "application/vnd.google-apps.folder"


def new_id() -> str:
    """33 URL-safe characters, the shape of a Drive file id."""
    return "1" + secrets.token_urlsafe(24)


def rfc3339(moment: float) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(eq=False)
class Revision:
    """One content a file had: what revisions.get answers, and the bytes of `alt=media`."""

    id: str
    content: bytes
    md5: str
    mime_type: str
    modified: float
    original_filename: str
    keep_forever: bool = False


def new_revision_id() -> str:
    """Revision ids of binary files are long opaque strings on Drive too."""
    return "0B" + secrets.token_urlsafe(36)


@dataclass(eq=False)
class DriveFile:
    id: str
    name: str
    mime_type: str
    parents: list[str]
    created: float
    seq: int  # creation order, breaks ties between equal timestamps
    modified: float = 0.0
    version: int = 0
    content: bytes | None = None  # None for folders
    md5: str | None = None
    app_properties: dict[str, str] = field(default_factory=dict)
    explicitly_trashed: bool = False
    revisions: list[Revision] = field(default_factory=list)  # oldest first; the last one is the head

    @property
    def is_folder(self) -> bool:
        return self.mime_type == FOLDER

    def set_content(self, data: bytes) -> None:
        """New content: a new head revision."""
        self.content = bytes(data)
        self.md5 = hashlib.md5(self.content).hexdigest()
        self.revisions.append(Revision(new_revision_id(), self.content, self.md5, self.mime_type, time.time(),
                                       self.name))

    def revision(self, revision_id: str) -> Revision:
        for revision in self.revisions:
            if revision.id == revision_id:
                return revision
        raise ApiError(404, "notFound", f"Revision not found: {revision_id}.", location="revisionId")


@dataclass
class Change:
    id: int
    file_id: str
    time: float
    removed: bool


class UserDrive:
    def __init__(self, web_url: str) -> None:
        self.web_url = web_url.rstrip("/")
        self.files: dict[str, DriveFile] = {}
        self.next_change_id = 1
        self._changes: dict[int, Change] = {}  # in id order; one entry per file
        self._latest: dict[str, int] = {}
        self._seq = itertools.count()
        now = time.time()
        self.root = DriveFile(new_id(), "My Drive", FOLDER, [], now, next(self._seq), modified=now, version=1)

    # --- lookups
    def resolve_id(self, file_id: str) -> str:
        return self.root.id if file_id == "root" else file_id

    def get(self, file_id: str, location: str = "fileId") -> DriveFile:
        file_id = self.resolve_id(file_id)
        if file_id == self.root.id:
            return self.root
        found = self.files.get(file_id)
        if found is None:
            raise not_found(file_id, location)
        return found

    def folder(self, folder_id: str) -> DriveFile:
        found = self.get(folder_id, location="parents")
        if not found.is_folder:
            raise bad_request("The specified parent is not a folder.")
        return found

    def is_trashed(self, file: DriveFile) -> bool:
        while file is not self.root:  # no cycles: update refuses to move a folder under itself
            if file.explicitly_trashed:
                return True
            parent = self.files.get(file.parents[0]) if file.parents else None
            if parent is None:
                return False
            file = parent
        return False

    def descendants(self, folder: DriveFile) -> list[DriveFile]:
        children: dict[str, list[DriveFile]] = {}
        for item in self.files.values():
            for parent in item.parents:
                children.setdefault(parent, []).append(item)
        found, todo = [], [folder.id]
        while todo:
            for child in children.get(todo.pop(), []):
                found.append(child)
                todo.append(child.id)
        return found

    # --- writes (each records a change)
    def create(self, name: str, mime_type: str, parents: list[str], content: bytes | None = None,
               app_properties: dict[str, str] | None = None) -> DriveFile:
        if len(parents) > 1:
            raise ApiError(403, "cannotAddParent", "Increasing the number of parents is not allowed.")
        parent_ids = [self.folder(p).id for p in parents] or [self.root.id]
        now = time.time()
        file = DriveFile(new_id(), name, mime_type, parent_ids, now, next(self._seq), modified=now,
                         app_properties=dict(app_properties or {}))
        if not file.is_folder:
            file.set_content(content or b"")
        self.files[file.id] = file
        self.record(file)
        return file

    def record(self, file: DriveFile, removed: bool = False) -> None:
        change_id = self.next_change_id
        self.next_change_id += 1
        previous = self._latest.pop(file.id, None)
        if previous is not None:
            del self._changes[previous]
        self._changes[change_id] = Change(change_id, file.id, time.time(), removed)
        self._latest[file.id] = change_id
        file.version = change_id

    def set_trashed(self, file: DriveFile, trashed: bool) -> None:
        if file is self.root:
            raise root_is_read_only()
        file.explicitly_trashed = trashed
        self.record(file)
        if file.is_folder:
            for item in self.descendants(file):
                self.record(item)

    def delete_revision(self, file: DriveFile, revision_id: str) -> None:
        """Deleting the head makes the revision before it the file's content again (a change); the last
        remaining revision cannot be deleted."""
        revision = file.revision(revision_id)
        if len(file.revisions) == 1:
            raise bad_request("The last remaining revision of a file cannot be deleted.")
        was_head = revision is file.revisions[-1]
        file.revisions.remove(revision)
        if was_head:
            head = file.revisions[-1]
            file.content, file.md5, file.modified = head.content, head.md5, time.time()
            self.record(file)

    def delete(self, file: DriveFile) -> None:
        if file is self.root:
            raise root_is_read_only()
        for item in [file, *(self.descendants(file) if file.is_folder else [])]:
            del self.files[item.id]
            self.record(item, removed=True)

    # --- the changes feed
    def changes_since(self, change_id: int) -> list[Change]:
        return [change for cid, change in self._changes.items() if cid >= change_id]

    # --- the File resource, every field this server knows; `fields` picks from it
    def resource(self, file: DriveFile) -> dict:
        link = (f"{self.web_url}/drive/folders/{file.id}" if file.is_folder
                else f"{self.web_url}/file/d/{file.id}/view?usp=drivesdk")
        body: dict = {
            "kind": "drive#file", "id": file.id, "name": file.name, "mimeType": file.mime_type,
            "trashed": self.is_trashed(file), "explicitlyTrashed": file.explicitly_trashed,
            "version": str(file.version), "createdTime": rfc3339(file.created),
            "modifiedTime": rfc3339(file.modified), "webViewLink": link, "ownedByMe": True,
            "spaces": ["drive"],
        }
        if file.parents:
            body["parents"] = list(file.parents)
        if file.app_properties:
            body["appProperties"] = dict(file.app_properties)
        if file.content is not None:
            body.update(size=str(len(file.content)), md5Checksum=file.md5, headRevisionId=file.revisions[-1].id)
        return body

    @staticmethod
    def revision_resource(revision: Revision) -> dict:
        """The Revision resource of a file with binary content, every field this server knows."""
        return {"kind": "drive#revision", "id": revision.id, "mimeType": revision.mime_type,
                "modifiedTime": rfc3339(revision.modified), "keepForever": revision.keep_forever,
                "md5Checksum": revision.md5, "size": str(len(revision.content)),
                "originalFilename": revision.original_filename}
