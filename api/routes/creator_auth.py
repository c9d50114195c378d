"""Creator sign-in with Google (OpenID Connect authorization code + PKCE), logout, and who is signed in."""

from __future__ import annotations

import hmac
import logging
from typing import Annotated
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from api.deps import CurrentCreator, EncryptorDep, SessionDep, SettingsDep
from api.errors import ApiError, InvalidInput, NotFound, field_details
from api.responses import error_responses
from api.security_headers import content_security_policy
from api.web_pages import render
from comfy_platform import oidc
from comfy_platform.settings import Settings
from db import drive as drive_queries
from db.models import DriveStatus
from db.users import (
    STATE_MAX_AGE,
    consume_state,
    create_state,
    set_drive_status,
    upsert_user,
)
from services.creator.schedules import unpause_sync_schedule
from services.creator.sessions import (
    SIGN_IN_PATH,
    clear_session_cookie,
    cookie_options,
    end_session,
    set_session_cookie,
    start_session,
)
from services.creator.tokens import save_grant

log = logging.getLogger(__name__)
router = APIRouter(tags=["creator"])

DEFAULT_NEXT = "/creator/"
STATE_COOKIE_PATH = "/creator/auth"


class SignInRefused(ApiError):
    code = "sign_in_failed"


class ProviderDown(ApiError):
    status_code = 502
    code = "provider_unavailable"


class CreatorPublic(BaseModel):
    id: str
    email: str
    name: str | None
    drive_status: str


@router.get("/auth/login", response_class=RedirectResponse, status_code=302, responses=error_responses(400, 404))
async def login(session: SessionDep, settings: SettingsDep,
                next_path: Annotated[str, Query(alias="next", max_length=512)] = DEFAULT_NEXT) -> RedirectResponse:
    """Start Google sign-in: redirects to the provider's consent screen."""
    if not settings.GOOGLE_CLIENT_ID:
        raise NotFound("Google sign-in is not configured on this deployment (GOOGLE_CLIENT_ID is empty)")
    if not next_path.startswith("/") or next_path.startswith("//") or "\\" in next_path:
        # Only paths on this site: anything else would make sign-in an open redirect.
        raise InvalidInput("next must be a path on this site, such as /creator/", details=field_details("next"))
    authorization = oidc.start_authorization(settings)
    await create_state(session, state=authorization.state, code_verifier=authorization.code_verifier,
                       nonce=authorization.nonce, next_path=next_path)
    # Committed before the redirect goes out: SessionDep commits only after the response has been sent, and the
    # browser may be back at the callback sooner.
    await session.commit()
    # Local stand-ins (make dev): our own page asks for an email address first, not the provider's "Subject".
    target = (f"/creator/auth/local?{urlencode({'authorize': authorization.url})}" if settings.CREATOR_LOCAL_STANDINS
              else authorization.url)
    response = RedirectResponse(target, status_code=302)
    # The state also goes to this browser, so a callback only completes in the browser that started it
    # (otherwise anyone could sign a victim into the attacker's account by sending them a callback link).
    response.set_cookie(_state_cookie(settings), authorization.state, path=STATE_COOKIE_PATH,
                        max_age=int(STATE_MAX_AGE.total_seconds()), **cookie_options(settings))
    return response


@router.get("/auth/callback", response_class=RedirectResponse, status_code=302, responses=error_responses(400, 502))
async def complete_sign_in(request: Request, session: SessionDep, settings: SettingsDep, encryptor: EncryptorDep,
                           code: str | None = None, state: str | None = None, error: str | None = None,
                           error_description: str | None = None) -> Response:
    """Finish Google sign-in: sets the session cookie and redirects to the page that started it. A browser is
    shown a page saying what went wrong in plain words; other clients get the JSON error."""
    try:
        return await _finish_sign_in(request, session, settings, encryptor, code, state, error, error_description)
    except (SignInRefused, ProviderDown) as exc:
        if "text/html" not in request.headers.get("accept", ""):
            raise
        return render(request, "sign_in_failed.html", status_code=exc.status_code, reason=_plain_refusal(exc))


def _plain_refusal(exc: ApiError) -> str:
    if isinstance(exc, ProviderDown):
        return "Google did not answer just now. Try again in a moment."
    if exc.details and exc.details.get("error") == "access_denied":
        return "Google sign-in was cancelled, so you are not signed in."
    if "browser" in exc.message or "state" in exc.message:
        return "This sign-in took too long, was already used, or was started in another browser."
    return "Google sign-in did not complete."


async def _finish_sign_in(request: Request, session, settings: Settings, encryptor, code: str | None,
                          state: str | None, error: str | None, error_description: str | None) -> RedirectResponse:
    if error:
        reason = f"{error}: {error_description}" if error_description else error
        raise SignInRefused(f"Google sign-in did not complete ({reason}); start again at {SIGN_IN_PATH}",
                            details={"error": error})
    if not code or not state:
        raise SignInRefused(f"the sign-in callback needs both `code` and `state`; start again at {SIGN_IN_PATH}")
    if not hmac.compare_digest(request.cookies.get(_state_cookie(settings), "").encode(), state.encode()):
        raise SignInRefused("this sign-in was not started in this browser, or took over ten minutes; "
                            f"start again at {SIGN_IN_PATH}")
    started = await consume_state(session, state)
    await session.commit()  # a state works once, whatever happens next
    if started is None:
        raise SignInRefused(f"unknown, expired or already used sign-in state; start again at {SIGN_IN_PATH}")
    try:
        grant = await oidc.exchange_code(settings, code, started.code_verifier)
        identity = await oidc.verify_id_token(settings, grant.id_token, started.nonce)
    except oidc.SignInFailed as exc:
        raise SignInRefused(f"{exc}; start again at {SIGN_IN_PATH}") from None
    except oidc.ProviderUnavailable as exc:
        raise ProviderDown(f"{exc}; try again shortly") from None
    user = await upsert_user(session, subject=identity.subject, email=identity.email, name=identity.name,
                             email_verified=identity.email_verified)
    if user.deletion_requested_at is not None:
        await session.rollback()
        raise SignInRefused("your account is being deleted; sign in again in a few minutes to start a new one")
    await save_grant(session, user.id, grant, encryptor)
    token = await start_session(session, settings, user.id)
    if user.drive_status == DriveStatus.RECONNECT_NEEDED:
        await _resume_automation(request, session, user.id)
    await session.commit()  # the session must exist before the browser follows the redirect with its cookie
    response = RedirectResponse(started.next_path, status_code=302)
    set_session_cookie(response, settings, token)
    response.delete_cookie(_state_cookie(settings), path=STATE_COOKIE_PATH, **cookie_options(settings))
    return response


@router.post("/auth/logout", status_code=204)
async def logout(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """End this browser's session: its cookie stops working at once, copies of it included."""
    await end_session(session, settings, request.cookies.get(settings.SESSION_COOKIE_NAME))
    await session.commit()  # ended before the client hears so
    response = Response(status_code=204)
    clear_session_cookie(response, settings)
    return response


@router.get("/me", response_model=CreatorPublic)
async def read_creator(creator: CurrentCreator) -> CreatorPublic:
    """The signed-in creator."""
    return CreatorPublic.model_validate(creator, from_attributes=True)


def _state_cookie(settings: Settings) -> str:
    return settings.SESSION_COOKIE_NAME + "_state"


async def _resume_automation(request: Request, session, user_id: str) -> None:
    """A fresh grant after Google refused the old one: the folder automation goes on. The schedule is unpaused
    first and the creator marked connected only then, so if Temporal is down the creator still signs in and
    the next sign-in tries again."""
    try:
        await unpause_sync_schedule(await request.app.state.temporal.get(), user_id, note="Drive reconnected")
    except Exception as exc:  # noqa: BLE001 - Temporal unreachable: signing in must still work
        log.warning("could not resume the Drive sync schedule: %s", exc, extra={"user_id": user_id})
        return
    await set_drive_status(session, user_id, DriveStatus.CONNECTED)
    await drive_queries.resume_watch(session, user_id)


@router.get("/auth/local", response_class=HTMLResponse, include_in_schema=False)
async def local_sign_in(request: Request, settings: SettingsDep, authorize: Annotated[str, Query(max_length=4096)]):
    """Make dev's sign-in page: an email address, handed to the local OpenID Connect provider as the person who
    signs in (its own page would ask for a "Subject"). Only with the local stand-ins, only for that provider."""
    if not settings.CREATOR_LOCAL_STANDINS or not authorize.startswith(settings.GOOGLE_AUTH_URL + "?"):
        raise NotFound("there is no local sign-in page on this deployment")
    provider = urlsplit(settings.GOOGLE_AUTH_URL)
    response = render(request, "local_sign_in.html", authorize=authorize)
    response.headers["Content-Security-Policy"] = content_security_policy(
        settings, form_action=f"{provider.scheme}://{provider.netloc}")
    return response
