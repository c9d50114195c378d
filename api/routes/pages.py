"""The creator's pages (HTML): each reads what it shows through the JSON routes the page's script calls, so a
page is its layout, its first state and its script."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.web_pages import PageCreator, render, signed_out

router = APIRouter(include_in_schema=False)


@router.get("/")
async def dashboard(request: Request, user: PageCreator) -> Response:
    if user is None:
        return signed_out(request)
    return render(request, "dashboard.html", user=user, nav_active="dashboard")
