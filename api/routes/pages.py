"""The creator's pages (HTML). Each renders its first state from the same services the JSON routes use; its script
(web/static/) keeps it live through those routes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import SessionDep, SettingsDep
from api.routes.creator import creator_presets
from api.web_pages import PageCreator, render, signed_out
from db import drive as drive_queries
from services.billing.usage import usage_overview
from services.creator.folders import output_folder_name
from services.creator.photos import FILTER_LABELS, plain_pause

router = APIRouter(include_in_schema=False)

BILLING_RETURNS = {"success": ("ok", "Thank you: your plan is being updated. It shows here in a moment."),
                   "cancelled": ("info", "Checkout was cancelled; your plan did not change.")}


@router.get("/")
async def dashboard(request: Request, user: PageCreator, session: SessionDep, settings: SettingsDep) -> Response:
    if user is None:
        return signed_out(request)
    watch = await drive_queries.get_watch(session, user.id)
    usage = await usage_overview(session, user.id, settings)
    presets = creator_presets()
    titles = {p.name: p.title for p in presets}
    shown = None
    if watch is not None:
        shown = {"folder_id": watch.folder_id, "folder_name": watch.folder_name, "preset": watch.preset,
                 "preset_title": titles.get(watch.preset, "a preset no longer offered"),
                 "output_folder_name": output_folder_name(watch, settings),
                 "paused_reason": plain_pause(watch.paused_reason, user.drive_status)}
    notice = BILLING_RETURNS.get(request.query_params.get("billing", ""))
    return render(request, "dashboard.html", user=user, nav_active="dashboard", watch=shown, presets=presets,
                  output_folder_name=output_folder_name(watch, settings), filters=list(FILTER_LABELS.items()),
                  quota={"used": usage["creator_photos"]["used"], "included": usage["creator_photos"]["included"],
                         "renews_at": usage["period_end"], "plan_title": usage["plan_title"]},
                  billing_notice={"kind": notice[0], "text": notice[1]} if notice else None)
