"""The creator's web pages: Jinja2 templates from web/templates rendered through one helper, `render`, and the
static files of web/static served at /static/ (no CDN, no build step: the pages work offline)."""

from __future__ import annotations

from importlib import resources
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import Response

from api.deps import SessionDep, SettingsDep
from db.models import User
from db.session import release_before_calling_out
from services.creator.sessions import InvalidSession, csrf_token, current_user

PRODUCT_NAME = "Comfy Platform"
NAV = (("dashboard", "Dashboard", "/creator/"), ("presets", "Presets", "/creator/gallery"),
       ("settings", "Settings", "/creator/settings"), ("billing", "Billing", "/creator/billing"),
       ("developers", "Developers", "/creator/developers"))

templates = Jinja2Templates(env=Environment(loader=PackageLoader("web", "templates"),
                                            autoescape=select_autoescape(default=True)))


def install_pages(app: FastAPI) -> None:
    """Serve web/static at /static/."""
    app.mount("/static", StaticFiles(directory=str(resources.files("web").joinpath("static"))), name="static")


def render(request: Request, template: str, *, user: User | None = None, nav_active: str | None = None,
           status_code: int = 200, **context: Any) -> Response:
    """A page in the one layout (base.html): the session's CSRF token for its forms and fetches, the signed-in
    user for the header, the nav entry to mark, and whether sign-in and Drive are this machine's stand-ins."""
    settings = request.app.state.settings
    token = csrf_token(settings, request.cookies.get(settings.SESSION_COOKIE_NAME)) if user else None
    return templates.TemplateResponse(request, template, {
        "csrf_token": token or "", "user": user, "nav_active": nav_active, "nav": NAV,
        "product_name": PRODUCT_NAME, "local_standins": settings.CREATOR_LOCAL_STANDINS, **context},
        status_code=status_code)


async def _page_creator(request: Request, session: SessionDep, settings: SettingsDep) -> User | None:
    """The signed-in creator of a page, or None: pages show the sign-in page rather than a 401."""
    try:
        user = await current_user(session, settings, request.cookies.get(settings.SESSION_COOKIE_NAME))
    except InvalidSession:
        return None
    await release_before_calling_out(session)
    return user


PageCreator = Annotated[User | None, Depends(_page_creator)]


def signed_out(request: Request, nav_active: str | None = None) -> Response:
    """The sign-in page, shown by every page to a visitor without a session."""
    return render(request, "signed_out.html", nav_active=nav_active, next_path=request.url.path,
                  account_deleted=request.query_params.get("deleted") == "1")
