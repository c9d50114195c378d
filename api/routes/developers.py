"""The developer console's JSON, for a signed-in account (session cookie): its API keys (create with the secret
shown once, list, revoke), each key's webhook signing secret (reveal, rotate), usage per key per day, and the
recent jobs of its keys. Only the account's own keys and jobs are ever seen; another account's key is a 404."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from jinja2.utils import htmlsafe_json_dumps
from pydantic import BaseModel, Field, StringConstraints

from api.deps import CurrentCreator, EncryptorDep, SessionDep, SettingsDep, StorageDep
from api.errors import ApiError, Conflict, NotFound
from api.responses import error_responses
from api.web_pages import PageCreator, render, signed_out
from db import jobs as job_queries
from db import webhooks as webhook_queries
from db.models import ApiKey
from presets import list_presets, list_templates
from services import api_keys
from services.job_presenter import JobPublic, WebhookDeliveryPublic, job_public

router = APIRouter(prefix="/developers", tags=["developer console"])
NO_STORE = {"Cache-Control": "no-store"}

KeyName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Scope = Literal["generate", "jobs"]


class KeyCreate(BaseModel):
    name: KeyName = Field(description="what the key is for", examples=["my-app production"])
    scopes: list[Scope] = Field(min_length=1, max_length=len(api_keys.SCOPES),
                                description="`generate` creates work (jobs, generate, uploads); `jobs` reads and "
                                            "cancels it")
    expires_in_days: int | None = Field(None, ge=1, le=api_keys.MAX_EXPIRY_DAYS,
                                        description="days until it expires; null: never")


class KeyOut(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="the secret's first characters, to tell keys apart")
    scopes: list[str]
    state: Literal["active", "expired", "revoked"]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> KeyOut:
        return cls(id=key.id, name=key.name, prefix=key.prefix, scopes=list(key.scopes), state=api_keys.key_state(key),
                   created_at=key.created_at, expires_at=key.expires_at, revoked_at=key.revoked_at,
                   last_used_at=key.last_used_at)


class KeysOut(BaseModel):
    data: list[KeyOut]
    count: int


class KeyCreated(BaseModel):
    key: KeyOut
    secret: str = Field(description="the API key itself: shown this once, only its hash is stored")


class WebhookSecretOut(BaseModel):
    key_id: str
    webhook_secret: str = Field(description="signs this key's webhooks (Standard Webhooks, `whsec_...`)")


class DayOut(BaseModel):
    day: date
    jobs: int
    images: int
    gpu_seconds: float


class KeyUsageOut(BaseModel):
    key_id: str
    name: str
    prefix: str
    state: str
    images: int = Field(description="over the whole window")
    gpu_seconds: float
    days: list[DayOut]


class UsageOut(BaseModel):
    days: list[date] = Field(description="the window's UTC days, oldest first")
    keys: list[KeyUsageOut]


class JobEvent(BaseModel):
    at: datetime
    kind: Literal["queued", "started", "succeeded", "failed", "cancelled", "webhook"]
    text: str


class ConsoleJob(JobPublic):
    key_id: str
    key_name: str
    events: list[JobEvent]


class ConsoleJobsOut(BaseModel):
    data: list[ConsoleJob]
    count: int
    next_cursor: str | None = None


@router.get("", include_in_schema=False)
async def console_page(request: Request, user: PageCreator, settings: SettingsDep) -> Response:
    """The console page: its script reads the routes below; the playground calls the Developer API itself."""
    if user is None:
        return signed_out(request, nav_active="developers")
    data = {"api_base": settings.public_base_url, "catalog": playground_catalog(), "default_preset": "quick_enhance"}
    # As JSON in the page (a data block, not a script), parameters in the order their template declares them.
    return render(request, "developers.html", user=user, nav_active="developers",
                  console_data=htmlsafe_json_dumps(data))


def playground_catalog() -> list[dict]:
    """What the playground can run, as GET /api/v1/presets and /api/v1/workflows describe it: each preset and
    template with its parameters and the input images it takes."""
    presets = [{"kind": "preset", "name": p.name, "title": p.title, "description": p.description,
                "params": p.describe()["params"], "images": [p.photo_input] if p.photo_input else []}
               for p in list_presets()]
    templates = [{"kind": "workflow", "title": t.name, **t.describe()} for t in list_templates()]
    return presets + templates


@router.get("/keys", response_model=KeysOut, summary="The account's API keys")
async def list_keys(creator: CurrentCreator, session: SessionDep) -> KeysOut:
    """Every key of the account, newest first, revoked and expired ones included (never a secret)."""
    keys = [KeyOut.of(key) for key in await api_keys.list_keys(session, creator.id)]
    return KeysOut(data=keys, count=len(keys))


@router.post("/keys", status_code=201, response_model=KeyCreated, summary="Create an API key",
             responses=error_responses(409))
async def create_key(body: KeyCreate, creator: CurrentCreator, session: SessionDep, encryptor: EncryptorDep,
                     response: Response) -> KeyCreated:
    """A new key; its secret is in this answer only. 409 when the account already holds the most live keys."""
    try:
        created = await api_keys.create_key(session, encryptor, creator.id, name=body.name, scopes=body.scopes,
                                            expires_in_days=body.expires_in_days)
    except api_keys.TooManyKeys as exc:
        raise Conflict(str(exc), code="too_many_keys") from None
    await session.commit()  # before the answer: a client may use the key the moment it has it
    response.headers.update(NO_STORE)
    return KeyCreated(key=KeyOut.of(created.key), secret=created.secret)


@router.post("/keys/{key_id}/revoke", response_model=KeyOut, summary="Revoke an API key",
             responses=error_responses(404))
async def revoke_key(key_id: str, creator: CurrentCreator, session: SessionDep) -> KeyOut:
    """From now on the key is refused (401); revoking twice is harmless. Its jobs and usage stay listed."""
    with _own_key(key_id):
        key = await api_keys.revoke_key(session, creator.id, key_id)
    await session.commit()  # before the answer: once told "revoked", the key is refused
    return KeyOut.of(key)


@router.get("/keys/{key_id}/webhook-secret", response_model=WebhookSecretOut, summary="Reveal a webhook secret",
            responses=error_responses(404))
async def reveal_webhook_secret(key_id: str, creator: CurrentCreator, session: SessionDep, encryptor: EncryptorDep,
                                response: Response) -> WebhookSecretOut:
    """The secret that signs this key's webhooks (kept encrypted; decrypted for this answer only)."""
    with _own_key(key_id):
        secret = await api_keys.reveal_webhook_secret(session, encryptor, creator.id, key_id)
    response.headers.update(NO_STORE)
    return WebhookSecretOut(key_id=key_id, webhook_secret=secret)


@router.post("/keys/{key_id}/webhook-secret/rotate", response_model=WebhookSecretOut,
             summary="Rotate a webhook secret", responses=error_responses(404, 409))
async def rotate_webhook_secret(key_id: str, creator: CurrentCreator, session: SessionDep, encryptor: EncryptorDep,
                                response: Response) -> WebhookSecretOut:
    """A new signing secret; every delivery attempt from now on is signed with it. 409 for a revoked key."""
    with _own_key(key_id):
        try:
            secret = await api_keys.rotate_webhook_secret(session, encryptor, creator.id, key_id)
        except api_keys.KeyRevoked as exc:
            raise Conflict(str(exc), code="key_revoked") from None
    await session.commit()  # before the answer: the next delivery attempt signs with the secret shown
    response.headers.update(NO_STORE)
    return WebhookSecretOut(key_id=key_id, webhook_secret=secret)


@router.get("/usage", response_model=UsageOut, summary="Usage per key per day")
async def usage(creator: CurrentCreator, session: SessionDep,
                days: Annotated[int, Query(ge=1, le=api_keys.MAX_USAGE_DAYS)] = 30) -> UsageOut:
    """Each key's finished jobs, output images and GPU seconds per UTC day over the last `days` days (today
    included); days without use are zeros."""
    window, usage = await api_keys.usage_by_day(session, creator.id, days)
    return UsageOut(days=window, keys=[
        KeyUsageOut(key_id=u.key.id, name=u.key.name, prefix=u.key.prefix, state=api_keys.key_state(u.key),
                    images=sum(d.images for d in u.days), gpu_seconds=round(sum(d.gpu_seconds for d in u.days), 1),
                    days=[DayOut(day=d.day, jobs=d.jobs, images=d.images, gpu_seconds=round(d.gpu_seconds, 3))
                          for d in u.days])
        for u in usage])


@router.get("/jobs", response_model=ConsoleJobsOut, summary="Recent jobs of the account's keys",
            responses=error_responses(400, 404))
async def recent_jobs(creator: CurrentCreator, session: SessionDep, storage: StorageDep, settings: SettingsDep,
                      key_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
                      limit: Annotated[int, Query(ge=1, le=100)] = 20,
                      cursor: Annotated[str | None, Query(max_length=512)] = None) -> ConsoleJobsOut:
    """Newest first, of every key of the account (or of `key_id`), with status, outputs (expiring URLs) and what
    happened to each: queued, started, its end, every webhook attempt. Follow `next_cursor` for older ones."""
    keys = {key.id: key for key in await api_keys.list_keys(session, creator.id)}
    if key_id is not None and key_id not in keys:
        raise NotFound(f"no API key '{key_id}' in this account", code="key_not_found", details={"field": "key_id"})
    try:
        jobs, next_cursor = await job_queries.list_jobs(session, api_key_ids=[key_id] if key_id else list(keys),
                                                        limit=limit, cursor=cursor)
    except job_queries.InvalidCursor:
        raise ApiError("cursor is not one this API handed out: pass the next_cursor of the page before",
                       code="invalid_cursor", details={"field": "cursor"}) from None
    ids = [job.id for job in jobs]
    outputs = await job_queries.outputs_of_jobs(session, ids)
    deliveries = await webhook_queries.deliveries_of_jobs(session, ids)
    data = []
    for job in jobs:
        public = await job_public(job, outputs[job.id], storage, settings.OUTPUT_URL_TTL_S,
                                  deliveries=deliveries[job.id])
        key = keys[job.api_key_id]
        data.append(ConsoleJob(**public.model_dump(), key_id=key.id, key_name=key.name, events=_events(public)))
    return ConsoleJobsOut(data=data, count=len(data), next_cursor=next_cursor)


def _events(job: JobPublic) -> list[JobEvent]:
    """What happened to a job, in order: the times its row keeps and every webhook attempt."""
    events = [JobEvent(at=job.created_at, kind="queued", text="accepted and queued")]
    if job.started_at:
        events.append(JobEvent(at=job.started_at, kind="started", text="started on a GPU"))
    if job.finished_at and job.status in ("succeeded", "failed", "cancelled"):
        text = {"succeeded": f"succeeded with {len(job.outputs)} output(s)", "cancelled": "cancelled",
                "failed": f"failed: {job.error.message}" if job.error else "failed"}[job.status]
        events.append(JobEvent(at=job.finished_at, kind=job.status, text=text))
    for delivery in job.webhook_deliveries:
        events.append(JobEvent(at=delivery.at, kind="webhook",
                               text=f"webhook attempt {delivery.attempt}: {_delivery_outcome(delivery)}"))
    return sorted(events, key=lambda e: e.at)


def _delivery_outcome(delivery: WebhookDeliveryPublic) -> str:
    """A delivery attempt in a few plain words: the stored error of a failed connection names the HTTP library's
    exception, which is for the log and the API's own answer, not for a page."""
    if delivery.delivered:
        return f"delivered (HTTP {delivery.status_code})"
    if delivery.status_code is not None:
        return f"refused with HTTP {delivery.status_code}"
    error = delivery.error or ""
    if "timed out" in error:
        return "the webhook URL did not answer in time"
    if "may not be used" in error or "must be an http" in error or "no host" in error:
        return "the webhook URL may not be reached from here"
    if "no API key" in error:
        return "not sent: the key that signs it is gone"
    return "could not connect to the webhook URL"


@contextmanager
def _own_key(key_id: str) -> Iterator[None]:
    """KeyNotFound (another account's key, or none at all) as the console's 404."""
    try:
        yield
    except api_keys.KeyNotFound as exc:
        raise NotFound(str(exc), code="key_not_found", details={"field": "key_id"}) from None
