"""Dependencies routes declare as typed parameters; long-lived clients come from the app's lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.dependencies.utils import get_flat_params
from fastapi.params import Form, Query
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection
from temporalio.client import Client

from api.backpressure import BacklogGauge
from api.errors import ApiError, Forbidden
from api.job_watcher import JobWatcher
from api.limits import enforce_rate_limit
from api.responses import answers
from comfy_platform.secrets import Encryptor
from comfy_platform.settings import Settings
from comfy_platform.storable import check_storable
from comfy_platform.storage import Storage
from comfy_platform.temporal import connect
from db.api_keys import authenticate, touch_key
from db.models import ApiKey, User
from db.session import release_before_calling_out
from services.billing.errors import BillingUnavailable
from services.billing.stripe_billing import StripeBilling
from services.billing.usage import Entitlements
from services.creator.sessions import (
    InvalidSession,
    csrf_matches,
    csrf_token,
    current_user,
)
from services.jobs import JobEnv

log = logging.getLogger(__name__)


class TemporalConnector:
    """Connects on first use and again after a failure, so the API starts even while Temporal does not answer."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Client:
        async with self._lock:
            if self._client is None:
                self._client = await connect(self.settings)  # encrypted payloads, traced (comfy_platform/temporal.py)
            return self._client


@answers(503)
async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


@answers(503)
async def _temporal(request: Request) -> Client:
    try:
        return await request.app.state.temporal.get()
    except RuntimeError as exc:  # the SDK's "Failed client connect"
        log.warning("Temporal is not reachable: %s", exc)  # its text is a Rust error's debug form: for the log
        raise ApiError("Temporal is not reachable; try again", code="temporal_unavailable", status_code=503,
                       headers={"Retry-After": "5"}) from None


async def _storage(request: Request) -> Storage:
    return request.app.state.storage


@answers(503)
async def _sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    """For helpers that open their own short sessions (a creator's Drive client stores refreshed tokens)."""
    return request.app.state.sessionmaker


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


SessionDep = Annotated[AsyncSession, Depends(_session)]
TemporalDep = Annotated[Client, Depends(_temporal)]
StorageDep = Annotated[Storage, Depends(_storage)]
SettingsDep = Annotated[Settings, Depends(_settings)]
SessionmakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(_sessionmaker)]


async def _job_env(request: Request, temporal: TemporalDep) -> JobEnv:
    """What services/jobs.py creates jobs with: this app's database, storage, settings, Temporal and ComfyUI pool."""
    state = request.app.state
    return JobEnv(state.sessionmaker, state.storage, state.settings, temporal, state.comfy)


async def _job_watcher(request: Request) -> JobWatcher:
    return request.app.state.job_watcher


async def _entitlements(request: Request) -> Entitlements:
    return request.app.state.entitlements


@answers(503)
async def _backlog(request: Request) -> BacklogGauge:
    """The fleet's backlog, read before a new job is admitted (503 `overloaded` past its limit)."""
    return request.app.state.backlog


JobEnvDep = Annotated[JobEnv, Depends(_job_env)]
BacklogDep = Annotated[BacklogGauge, Depends(_backlog)]
JobWatcherDep = Annotated[JobWatcher, Depends(_job_watcher)]
EntitlementsDep = Annotated[Entitlements, Depends(_entitlements)]


class Unauthorized(ApiError):
    status_code = 401
    code = "unauthorized"


async def authenticate_request(connection: HTTPConnection, session: AsyncSession) -> ApiKey:
    """The live API key of the Authorization header (401 otherwise), its use counted against its rate limit (429).
    HTTP routes get it through their dependencies; the WebSocket route calls it itself."""
    scheme, _, secret = connection.headers.get("Authorization", "").partition(" ")
    challenge = {"WWW-Authenticate": "Bearer"}
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("missing API key: send 'Authorization: Bearer sk_...'", headers=challenge)
    key = await authenticate(session, secret.strip())
    if key is None:
        raise Unauthorized("unknown, expired or revoked API key", headers=challenge)
    connection.state.api_key = key
    await enforce_rate_limit(connection, key, connection.app.state.settings)  # every authenticated request counts
    if await touch_key(session, key):
        # SQLite has a single writer: holding this write until the request ends would lock out the job's
        # own insert (made in a session of its own) for the whole busy timeout.
        await session.commit()
    return key


def check_scope(key: ApiKey, scope: str) -> None:
    """403 unless the key holds `scope`: `generate` creates work, `jobs` reads and cancels it."""
    if scope not in key.scopes:
        raise Forbidden(f"this API key lacks the '{scope}' scope", details={"scope": scope})


# Only documents the scheme in OpenAPI (authenticate_request reads the header itself, for WebSockets too).
_bearer = HTTPBearer(auto_error=False, scheme_name="ApiKey", description="an API key: `Bearer sk_...`")


@answers(401, 429)
async def _api_key(request: Request, session: SessionDep,
                   _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> ApiKey:
    return await authenticate_request(request, session)


def require_scope(scope: str):
    """A dependency that admits keys holding `scope`."""

    @answers(403)
    async def _scoped(key: Annotated[ApiKey, Depends(_api_key)]) -> ApiKey:
        check_scope(key, scope)
        return key

    return _scoped


CurrentApiKey = Annotated[ApiKey, Depends(_api_key)]
GenerateKey = Annotated[ApiKey, Depends(require_scope("generate"))]
JobsKey = Annotated[ApiKey, Depends(require_scope("jobs"))]


async def _encryptor(request: Request) -> Encryptor:
    return request.app.state.encryptor


EncryptorDep = Annotated[Encryptor, Depends(_encryptor)]


@answers(401)
async def _creator(request: Request, session: SessionDep, settings: SettingsDep) -> User:
    """The signed-in creator, from the session cookie; 401 when it is missing, tampered with, expired or ended."""
    try:
        user = await current_user(session, settings, request.cookies.get(settings.SESSION_COOKIE_NAME))
    except InvalidSession as exc:
        raise Unauthorized(str(exc)) from None
    # Creator routes go on to call Google Drive.
    await release_before_calling_out(session)
    return user


CurrentCreator = Annotated[User, Depends(_creator)]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER, CSRF_FIELD = "X-CSRF-Token", "csrf_token"


@answers(403)
async def require_csrf(request: Request) -> None:
    """On the creator routers: a state-changing request that carries a session cookie must also carry that
    session's CSRF token (header X-CSRF-Token from fetch, field csrf_token from a form), or it is refused with
    403 before the route runs. A request without a valid cookie is not the creator's: the route answers 401."""
    if request.method in SAFE_METHODS:
        return
    settings: Settings = request.app.state.settings
    cookie = request.cookies.get(settings.SESSION_COOKIE_NAME)
    if csrf_token(settings, cookie) is None:
        return
    presented = request.headers.get(CSRF_HEADER)
    if presented is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        field = (await request.form()).get(CSRF_FIELD)
        presented = field if isinstance(field, str) else None
    if not csrf_matches(settings, cookie, presented):
        raise Forbidden("this page is out of date or was not opened from this site: reload it and try again",
                        code="csrf_failed")


@answers(503)
async def _billing(request: Request) -> StripeBilling:
    """Stripe through the platform's billing service; 503 where billing is not set up (no STRIPE_SECRET_KEY)."""
    billing = request.app.state.billing
    if billing is None:
        raise BillingUnavailable("billing is not set up on this deployment (no STRIPE_SECRET_KEY)")
    return billing


async def _maybe_billing(request: Request) -> StripeBilling | None:
    return request.app.state.billing


BillingDep = Annotated[StripeBilling, Depends(_billing)]
MaybeBillingDep = Annotated[StripeBilling | None, Depends(_maybe_billing)]


async def storable_request(connection: HTTPConnection) -> None:
    """The one rule on values (comfy_platform.storable) over everything a route reads: path parameters, the query
    parameters it declares and a JSON body. An app-wide dependency, so it runs before any route code or database
    sees the request; a refusal is a 422 naming the field."""
    route = connection.scope.get("route")
    if connection.scope["type"] != "http" or not isinstance(route, APIRoute):
        return  # the WebSocket route checks its one parameter itself
    for name, value in connection.path_params.items():
        check_storable(value, name)
    declared = _query_names(route)
    for name, value in connection.query_params.multi_items():
        if name in declared:
            check_storable(value, name)
    body = route.body_field
    content_type = connection.headers.get("content-type", "").split(";")[0].strip()
    if (body is not None and not isinstance(body.field_info, Form) and content_type.endswith("json")
            and isinstance(connection, Request) and await connection.body()):  # an empty body: the route says so
        payload = await connection.json()  # parsed once already by FastAPI, which keeps it
        model = body.field_info.annotation
        if isinstance(payload, dict) and isinstance(model, type) and issubclass(model, BaseModel) \
                and model.model_config.get("extra") != "forbid":
            # Keys the model ignores are never read, let alone stored.
            names = {f.alias or name for name, f in model.model_fields.items()}
            payload = {key: value for key, value in payload.items() if key in names}
        check_storable(payload)


def _query_names(route: APIRoute) -> frozenset[str]:
    """The query parameters a route reads, kept on the route: walking its dependencies costs ~80 us a request."""
    if "_query_names" not in route.__dict__:
        params = get_flat_params(route.dependant)
        route.__dict__["_query_names"] = frozenset(p.alias for p in params if isinstance(p.field_info, Query))
    return route.__dict__["_query_names"]
