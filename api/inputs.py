"""From a request body to what submit_job takes: a resolved graph and input images as checked bytes.

Everything a request names is validated, fetched and decoded here, before any job row or workflow exists, so a
bad request leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from fastapi import UploadFile
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import InvalidInput, NotFound, PayloadTooLarge, field_details
from api.schemas import ImageInput, JobCreate
from comfy_platform.comfyui.errors import ComfyValidationError
from comfy_platform.comfyui.pool import BackendPool
from comfy_platform.comfyui.preflight import preflight
from comfy_platform.images import NotAnImage, image_checker
from comfy_platform.settings import Settings
from comfy_platform.storage import Storage
from db.models import ApiKey, Upload, new_id
from presets import InvalidJobRequest, ResolvedJob, get_preset, resolve_graph, resolve_preset, resolve_template
from presets.errors import UnusableContent

MAX_JSON_DEPTH = 64
MAX_METADATA_BYTES = 8 * 1024
OBJECT_INFO_TIMEOUT_S = 5.0
FORMS = ("preset", "workflow", "graph")


@dataclass
class PreparedJob:
    """A request ready for submit_job: nothing in it still needs checking."""

    job: ResolvedJob
    images: dict[str, bytes]


@dataclass
class CheckedImage:
    data: bytes
    width: int
    height: int
    content_type: str


async def prepare_job(body: JobCreate, key: ApiKey, session: AsyncSession, storage: Storage, settings: Settings,
                      comfy: BackendPool) -> PreparedJob:
    """Resolve the request into a graph, preflight it and load every input image; raise a 4xx on anything bad."""
    sources = _image_sources(body, settings)
    job = _resolve(body, set(sources))
    if body.webhook_url is not None:
        await _check_webhook_url(body.webhook_url, settings)
    await _preflight(job, comfy)
    images = {}
    for name, (source, field) in sources.items():
        images[name] = (await load_image(source, field, key, session, storage, settings)).data
    return PreparedJob(job, images)


def _image_sources(body: JobCreate, settings: Settings) -> dict[str, tuple[ImageInput, str]]:
    """Check the request's shape; return image name -> (input, the field to name in errors)."""
    forms = [name for name in FORMS if getattr(body, name) is not None]
    if len(forms) != 1:
        message = (f"give only one of preset, workflow or graph, not {' and '.join(forms)}" if forms
                   else "give one of preset, workflow or graph")
        raise InvalidJobRequest(message, ",".join(forms or FORMS), {"fields": forms or list(FORMS)},
                                code="invalid_request_form")
    form = forms[0]
    if form != "preset" and body.image is not None:
        raise InvalidJobRequest(f"'image' goes with a preset; a {form} takes 'images'", "image")
    if form == "preset" and body.images:
        raise InvalidJobRequest("a preset takes one 'image', not 'images'", "images")
    if form == "graph" and body.params:
        raise InvalidJobRequest("a graph takes no 'params': set the values in the graph itself", "params")
    for field in ("graph", "params", "metadata"):
        if _depth(getattr(body, field)) > MAX_JSON_DEPTH:
            raise InvalidJobRequest(f"{field} is nested deeper than {MAX_JSON_DEPTH} levels", field, code="too_deep")
    if len(json.dumps(body.metadata)) > MAX_METADATA_BYTES:
        raise InvalidJobRequest(f"metadata is larger than {MAX_METADATA_BYTES} bytes", "metadata")
    if body.webhook_url is not None and not re.match(r"^https?://[^\s/]+", body.webhook_url):
        raise InvalidJobRequest("webhook_url must be an http(s) URL", "webhook_url")
    if len(body.images) > settings.MAX_IMAGES_PER_JOB:
        raise InvalidJobRequest(f"at most {settings.MAX_IMAGES_PER_JOB} images per job, got {len(body.images)}",
                                "images", code="too_many_images")
    if form == "preset":
        if body.image is None:
            return {}
        photo = get_preset(body.preset).photo_input
        if photo is None:
            raise InvalidJobRequest(f"preset '{body.preset}' takes no input image", "image", code="unknown_image")
        return {photo: (body.image, "image")}
    return {name: (source, f"images.{name}") for name, source in body.images.items()}


def _resolve(body: JobCreate, names: set[str]) -> ResolvedJob:
    if body.preset is not None:
        try:
            return resolve_preset(body.preset, body.params, names)
        except InvalidJobRequest as exc:
            if exc.code == "missing_image":  # the preset's single image is the request's `image`
                raise InvalidJobRequest(f"preset '{body.preset}' needs an input 'image'", "image",
                                        code="missing_image") from None
            raise
    if body.workflow is not None:
        return resolve_template(body.workflow, body.params, names)
    return resolve_graph(body.graph, names)


async def _preflight(job: ResolvedJob, comfy: BackendPool) -> None:
    """Check the graph against the first healthy ComfyUI that answers; with none answering, the job goes ahead
    and the worker's own preflight or ComfyUI judges it. A backend that does not answer is skipped for a while
    (BackendPool.mark_down), so a dead one does not hold up every request for the timeout."""
    for url in comfy.healthy():
        try:
            object_info = await asyncio.wait_for(comfy.get(url).object_info(), OBJECT_INFO_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - an unreachable backend only means no preflight from it
            comfy.mark_down(url)
            continue
        try:
            preflight(job.graph, object_info, set(job.image_files.values()))
        except ComfyValidationError as exc:  # the request fits the schema; this ComfyUI cannot run it: 400
            raise UnusableContent(exc.message, "graph" if job.source == "graph" else "params", exc.details,
                                  code="invalid_graph") from None
        return


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level <= MAX_JSON_DEPTH:
                stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


async def load_image(source: ImageInput, field: str, key: ApiKey, session: AsyncSession, storage: Storage,
                     settings: Settings) -> CheckedImage:
    """The bytes of one INPUT (base64, URL or upload of this key), decoded once to prove they are an image (an
    upload was, when it was uploaded)."""
    given = [name for name in ("base64", "url", "upload_id") if getattr(source, name) is not None]
    if len(given) != 1:
        raise InvalidJobRequest("an image input takes exactly one of base64, url or upload_id", field,
                                code="invalid_image_input")
    if source.base64 is not None:
        data = _from_base64(source.base64, field, settings.MAX_INPUT_BYTES)
    elif source.url is not None:
        data = await _from_url(source.url, field, settings)
    else:
        upload = await session.scalar(select(Upload).where(Upload.id == source.upload_id,
                                                           Upload.api_key_id == key.id))
        if upload is None:  # another key's upload is as unknown as one that never existed
            raise NotFound(f"upload '{source.upload_id}' does not exist", code="upload_not_found",
                           details=field_details(field))
        if upload.size > settings.MAX_INPUT_BYTES:  # the limit may have been lowered since it was uploaded
            raise PayloadTooLarge(f"{field} is larger than {settings.MAX_INPUT_BYTES} bytes",
                                  details=field_details(field))
        return CheckedImage(await storage.read_bytes(upload.storage_key), upload.width, upload.height,
                            upload.content_type)
    return await check_image(data, field, settings)


def _from_base64(text: str, field: str, max_bytes: int) -> bytes:
    text = re.sub(r"^data:[\w/+.-]+;base64,", "", text.strip())
    if len(text) * 3 // 4 > max_bytes + 3:
        raise PayloadTooLarge(f"{field} is larger than {max_bytes} bytes", details=field_details(field))
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{field}.base64 is not valid base64", code="invalid_base64",
                           details=field_details(field)) from None


async def _from_url(url: str, field: str, settings: Settings) -> bytes:
    # The URL-safety module is imported when a URL input arrives: it is the only caller's concern.
    from comfy_platform import netguard

    try:
        return await netguard.fetch_url(url, max_bytes=settings.MAX_INPUT_BYTES,
                                        timeout_s=settings.URL_FETCH_TIMEOUT_S, allowlist=settings.URL_ALLOWLIST)
    except netguard.UnsafeUrl as exc:
        raise InvalidInput(f"{field}.url: {exc}", code="unsafe_url", details=field_details(field)) from None
    except netguard.ResponseTooLarge as exc:
        # The URL answered, with more than an input may hold: the 413 of a base64 image or upload over the limit.
        raise PayloadTooLarge(f"{field}.url is larger than {exc.max_bytes} bytes",
                              details=field_details(field)) from None
    except netguard.FetchFailed as exc:
        raise InvalidInput(f"{field}.url: {exc}", code="fetch_failed", details=field_details(field)) from None


async def _check_webhook_url(url: str, settings: Settings) -> None:
    """Refuse a webhook target the deliveries would refuse (not http(s), internal address) now, not a job later.
    A host that does not resolve yet, or not within URL_FETCH_TIMEOUT_S, is let through: delivery checks it
    again and retries for a day."""
    from comfy_platform import netguard

    try:
        await asyncio.wait_for(netguard.resolve_url(url, settings.URL_ALLOWLIST), settings.URL_FETCH_TIMEOUT_S)
    except netguard.UnsafeUrl as exc:
        raise InvalidInput(f"webhook_url: {exc}", code="unsafe_url", details=field_details("webhook_url")) from None
    except (netguard.FetchFailed, TimeoutError):  # does not resolve (yet), or slowly: each delivery checks again
        pass


async def check_image(data: bytes, field: str, settings: Settings) -> CheckedImage:
    if len(data) > settings.MAX_INPUT_BYTES:
        raise PayloadTooLarge(f"{field} is larger than {settings.MAX_INPUT_BYTES} bytes",
                              details=field_details(field))
    try:
        info = await image_checker(settings.IMAGE_DECODE_BUDGET_BYTES).check(data)
    except NotAnImage as exc:
        raise InvalidInput(f"{field} {exc}", code="invalid_image", details=field_details(field)) from None
    return CheckedImage(data, info.width, info.height, info.content_type)


async def store_upload(file: UploadFile, key: ApiKey, session: AsyncSession, storage: Storage,
                       settings: Settings) -> Upload:
    """Check an uploaded file is an image within the size limit, store it and record it for this key."""
    data = await file.read(settings.MAX_INPUT_BYTES + 1)
    image = await check_image(data, "file", settings)
    filename = re.sub(r"[^A-Za-z0-9._-]", "_", (file.filename or "image").rsplit("/", 1)[-1])[-128:].lstrip(".")
    upload_id = new_id()
    storage_key = f"uploads/{upload_id}/{filename or 'image'}"
    await storage.put_bytes(storage_key, data, image.content_type)
    upload = Upload(id=upload_id, api_key_id=key.id, storage_key=storage_key, filename=filename or "image",
                    content_type=image.content_type, size=len(data), width=image.width, height=image.height)
    session.add(upload)
    await session.flush()
    return upload
