"""StoredFile: one shape for a file in storage, wherever it crosses from one room to another.

A job's inputs and outputs and an upload are each a stored file: the workflow's payloads carry it (JobOutputRef
extends it), the database rows record it and the API's answers show it. Here, on the lowest floor, so that every
room may import it. The rows and the API's schemas keep their own classes; they are built from a StoredFile with
`dataclasses.asdict` (its fields are their column and field names) and read back into one with `StoredFile.of`.

The storage backends answer with their own StoredObject (key, size, content type): what a blob store knows of a
blob. A StoredFile adds what the platform knows of it, its name and pixel size.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Self


@dataclass(kw_only=True)
class StoredFile:
    """Where a file is in storage, what it is called and what it holds."""

    storage_key: str
    filename: str
    content_type: str
    size: int  # bytes
    width: int | None = None  # pixels, when it is an image
    height: int | None = None

    @classmethod
    def of(cls, record: object) -> Self:
        """The file a record of it describes (a JobOutput or Upload row): each field this class declares, read
        from the record's attribute of the same name."""
        return cls(**{f.name: getattr(record, f.name) for f in fields(cls)})
