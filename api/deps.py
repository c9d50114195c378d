"""Dependencies routes declare as typed parameters; long-lived clients come from the app's lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.errors import ApiError, Forbidden
from comfy_platform.creator.sessions import InvalidSession, current_user
from comfy_platform.secrets import Encryptor
from comfy_platform.settings import Settings
from comfy_platform.storage import Storage
from api.limits import enforce_rate_limit
from db.api_keys import authenticate, touch_key
from db.models import ApiKey, User


class TemporalConnector:
    """Connects on first use and again after a failure, so the API starts even while Temporal does not answer."""

    def __init__(self, address: str, namespace: str) -> None:
        self.address, self.namespace = address, namespace
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Client:
        async with self._lock:
            if self._client is None:
                self._client = await Client.connect(self.address, namespace=self.namespace)
            return self._client


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


async def _temporal(request: Request) -> Client:
    try:
        return await request.app.state.temporal.get()
    except RuntimeError as exc:  # the SDK's "Failed client connect"
        raise ApiError(f"Temporal is not reachable: {exc}", code="temporal_unavailable", status_code=503,
                       headers={"Retry-After": "5"}) from None


async def _storage(request: Request) -> Storage:
    return request.app.state.storage


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


async def _api_key(request: Request, session: SessionDep) -> ApiKey:
    return await authenticate_request(request, session)


def require_scope(scope: str):
    """A dependency that admits keys holding `scope`."""

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


async def _creator(request: Request, session: SessionDep, settings: SettingsDep) -> User:
    """The signed-in creator, from the session cookie; 401 when it is missing, tampered with, expired or ended."""
    try:
        user = await current_user(session, settings, request.cookies.get(settings.SESSION_COOKIE_NAME))
    except InvalidSession as exc:
        raise Unauthorized(str(exc)) from None
    # End the lookup's transaction: creator routes go on to call Google Drive, which can take seconds, and an
    # open transaction would hold its pool connection (and, on SQLite, any lock it took) all that time.
    await session.commit()
    return user


CurrentCreator = Annotated[User, Depends(_creator)]
