"""A job's input images, wherever they come from (inline base64, a URL, an earlier upload, a local or downloaded
file), loaded and checked before any job exists: a bad input leaves nothing behind. Also the checks of what a
request names outside its images: its webhook target, and its graph against a ComfyUI's /object_info."""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfy_platform import netguard
from comfy_platform.comfyui.errors import ComfyValidationError
from comfy_platform.comfyui.pool import BackendPool
from comfy_platform.comfyui.preflight import preflight
from comfy_platform.images import ImageInfo, NotAnImage, image_checker
from comfy_platform.settings import Settings
from comfy_platform.storage import Storage
from comfy_platform.stored_files import StoredFile
from db import uploads as upload_queries
from db.models import Upload, new_id
from presets import ResolvedJob
from presets.errors import InvalidJobRequest, UnusableContent
from services.errors import InputNotFound, InputRejected, InputTooLarge

OBJECT_INFO_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ImageSource:
    """One input image, given exactly one way."""

    base64: str | None = None
    url: str | None = None
    upload_id: str | None = None
    path: Path | None = None  # a file on this machine (the CLI's, or a photo a worker downloaded)


async def load_image(source: ImageSource, field: str, api_key_id: str | None,
                     sessionmaker: async_sessionmaker[AsyncSession], storage: Storage,
                     settings: Settings) -> bytes:
    """The bytes of one input, decoded once to prove they are an image (an upload was, when it was uploaded).
    `field` is how the person named it, for the error."""
    given = [name for name in ("base64", "url", "upload_id", "path") if getattr(source, name) is not None]
    if len(given) != 1:
        raise InvalidJobRequest("an image input takes exactly one of base64, url or upload_id", field,
                                code="invalid_image_input")
    if source.upload_id is not None:
        return await _from_upload(source.upload_id, field, api_key_id, sessionmaker, storage, settings)
    if source.base64 is not None:
        data = _from_base64(source.base64, field, settings.MAX_INPUT_BYTES)
    elif source.url is not None:
        data = await _from_url(source.url, field, settings)
    else:
        data = await _from_file(source.path, field, settings.MAX_INPUT_BYTES)
    await check_image(data, field, settings)
    return data


async def check_image(data: bytes, field: str, settings: Settings) -> ImageInfo:
    if len(data) > settings.MAX_INPUT_BYTES:
        raise InputTooLarge(f"{field} is larger than {settings.MAX_INPUT_BYTES} bytes", field,
                            code="payload_too_large")
    try:
        return await image_checker(settings.IMAGE_DECODE_BUDGET_BYTES).check(data)
    except NotAnImage as exc:
        raise InputRejected(f"{field} {exc}", field, code="invalid_image") from None


async def store_upload(data: bytes, filename: str | None, api_key_id: str, session: AsyncSession,
                       storage: Storage, settings: Settings) -> Upload:
    """Check an uploaded file is an image within the size limit, store it and record it for this key."""
    image = await check_image(data, "file", settings)
    filename = re.sub(r"[^A-Za-z0-9._-]", "_", (filename or "image").rsplit("/", 1)[-1])[-128:].lstrip(".")
    filename = filename or "image"
    upload_id = new_id()
    file = StoredFile(storage_key=f"uploads/{upload_id}/{filename}", filename=filename,
                      content_type=image.content_type, size=len(data), width=image.width, height=image.height)
    await storage.put_bytes(file.storage_key, data, file.content_type)
    return await upload_queries.create_upload(session, upload_id=upload_id, api_key_id=api_key_id, file=file)


async def check_webhook_url(url: str, settings: Settings) -> None:
    """Refuse a webhook target the deliveries would refuse (internal address) now, not a job later. A host that
    does not resolve yet, or not within URL_FETCH_TIMEOUT_S, is let through: each delivery checks it again."""
    try:
        await asyncio.wait_for(netguard.resolve_url(url, settings.URL_ALLOWLIST), settings.URL_FETCH_TIMEOUT_S)
    except netguard.UnsafeUrl as exc:
        raise InputRejected(f"webhook_url: {exc}", "webhook_url", code="unsafe_url") from None
    except (netguard.FetchFailed, TimeoutError):
        pass


async def preflight_on(pool: BackendPool, job: ResolvedJob, skip: set[str] = frozenset()) -> None:
    """Check the graph against the first healthy ComfyUI that answers, but those the fleet registry knows cannot
    run it (`skip`); with none answering, the job goes ahead and the worker's own preflight or
    ComfyUI judges it. A backend that does not answer is skipped for a while (BackendPool.mark_down), so a dead
    one does not hold up every request for the timeout."""
    for url in pool.healthy():
        if url in skip:
            continue
        try:
            object_info = await asyncio.wait_for(pool.get(url).object_info(), OBJECT_INFO_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - an unreachable backend only means no preflight from it
            pool.mark_down(url)
            continue
        try:
            preflight(job.graph, object_info, set(job.image_files.values()))
        except ComfyValidationError as exc:  # the request fits the schema; this ComfyUI cannot run it
            raise UnusableContent(exc.message, "graph" if job.source == "graph" else "params", exc.details,
                                  code="invalid_graph") from None
        return


async def _from_upload(upload_id: str, field: str, api_key_id: str | None,
                       sessionmaker: async_sessionmaker[AsyncSession], storage: Storage,
                       settings: Settings) -> bytes:
    async with sessionmaker() as session:
        upload = await upload_queries.get_upload(session, upload_id, api_key_id)
    if upload is None:
        raise InputNotFound(f"upload '{upload_id}' does not exist", field, code="upload_not_found")
    if upload.size > settings.MAX_INPUT_BYTES:  # the limit may have been lowered since it was uploaded
        raise InputTooLarge(f"{field} is larger than {settings.MAX_INPUT_BYTES} bytes", field,
                            code="payload_too_large")
    return await storage.read_bytes(upload.storage_key)


def _from_base64(text: str, field: str, max_bytes: int) -> bytes:
    text = re.sub(r"^data:[\w/+.-]+;base64,", "", text.strip())
    if len(text) * 3 // 4 > max_bytes + 3:
        raise InputTooLarge(f"{field} is larger than {max_bytes} bytes", field, code="payload_too_large")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InputRejected(f"{field}.base64 is not valid base64", field, code="invalid_base64") from None


async def _from_url(url: str, field: str, settings: Settings) -> bytes:
    try:
        return await netguard.fetch_url(url, max_bytes=settings.MAX_INPUT_BYTES,
                                        timeout_s=settings.URL_FETCH_TIMEOUT_S, allowlist=settings.URL_ALLOWLIST)
    except netguard.UnsafeUrl as exc:
        raise InputRejected(f"{field}.url: {exc}", field, code="unsafe_url") from None
    except netguard.ResponseTooLarge as exc:
        # The URL answered, with more than an input may hold: the 413 of a base64 image or upload over the limit.
        raise InputTooLarge(f"{field}.url is larger than {exc.max_bytes} bytes", field,
                            code="payload_too_large") from None
    except netguard.FetchFailed as exc:
        raise InputRejected(f"{field}.url: {exc}", field, code="fetch_failed") from None


async def _from_file(path: Path, field: str, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise InputTooLarge(f"{field} is larger than {max_bytes} bytes", field, code="payload_too_large")
        return await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        raise InputRejected(f"{field}: cannot read {path.name} ({exc.strerror or 'unreadable'})", field,
                            code="unreadable_file") from None
