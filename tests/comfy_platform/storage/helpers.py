"""Fetching what a storage URL points at, whichever backend made it."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

import httpx

from comfy_platform.storage import LocalStorage, Storage


async def fetch_url(storage: Storage, url: str) -> tuple[int, bytes, dict[str, str]]:
    """GET an S3 presigned URL for real; resolve a local one the way the API's file route does."""
    if not isinstance(storage, LocalStorage):
        async with httpx.AsyncClient() as client:
            response = await client.get(url)
        return response.status_code, response.content, dict(response.headers)
    parts = urlsplit(url)
    key = unquote(parts.path.removeprefix("/api/files/"))
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    path = storage.path_for_signed_url(key, query["expires"], query["sig"], filename=query.get("filename"))
    return 200, path.read_bytes(), {}


async def chunks_of(path, chunk_size: int):
    """An async iterator over a file, like an HTTP request body."""
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            yield chunk
