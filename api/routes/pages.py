"""The creator's pages (HTML). Each renders its first state from the same services the JSON routes use; its script
(web/static/) keeps it live through those routes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import MaybeBillingDep, SessionDep, SettingsDep, Unauthorized
from api.routes.billing import read_billing
from api.routes.creator import creator_presets
from api.web_pages import PageCreator, render, signed_out
from db import drive as drive_queries
from presets import get_preset
from services.billing.usage import entitlement_of, usage_overview
from services.creator.folders import output_folder_name
from services.creator.photos import FILTER_LABELS, plain_pause
from services.creator.settings import preset_fields

router = APIRouter(include_in_schema=False)

def creator_presets_full():
    """The presets a folder can use, as presets (with their template and parameters)."""
    return [get_preset(p.name) for p in creator_presets()]


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
    return render(request, "dashboard.html", user=user, nav_active="dashboard", watch=shown, presets=presets,
                  output_folder_name=output_folder_name(watch, settings), filters=list(FILTER_LABELS.items()),
                  quota={"used": usage["creator_photos"]["used"], "included": usage["creator_photos"]["included"],
                         "renews_at": usage["period_end"], "plan_title": usage["plan_title"]})


@router.get("/settings")
async def settings_page(request: Request, user: PageCreator, session: SessionDep, settings: SettingsDep) -> Response:
    if user is None:
        return signed_out(request, "settings")
    watch = await drive_queries.get_watch(session, user.id)
    plan = await entitlement_of(session, user.id, settings)
    presets = [{"name": p.name, "title": p.title, "description": p.description, "fields": preset_fields(p)}
               for p in creator_presets_full()]
    shown = None if watch is None else {"folder_name": watch.folder_name, "preset": watch.preset,
                                         "preset_params": watch.preset_params or {}}
    paid = plan.plan.title if plan.plan.paid and plan.status in ("active", "past_due") else None
    return render(request, "settings.html", user=user, nav_active="settings", watch=shown, presets=presets,
                  output_folder_name=output_folder_name(watch, settings), paid_plan=paid)


STATUS_LABELS = {"free": ("Free", "skipped"), "active": ("Active", "succeeded"),
                 "cancelling": ("Ends at the period's end", "waiting"), "past_due": ("Payment due", "failed"),
                 "ended": ("Ended", "skipped")}
CHECKOUT_RETURNS = {"success": ("ok", "Thank you! Your payment went through; your new plan shows here as soon as "
                                      "the payment provider confirms it (reload in a moment)."),
                    "cancelled": ("info", "Checkout was cancelled: your plan did not change.")}


@router.get("/billing")
async def billing_page(request: Request, user: PageCreator, session: SessionDep, settings: SettingsDep,
                       billing: MaybeBillingDep) -> Response:
    """The billing page for a browser; for everything else the billing resource (GET /creator/billing, JSON)."""
    if "text/html" not in request.headers.get("accept", ""):
        if user is None:
            raise Unauthorized("not signed in: sign in at /creator/auth/login")
        return await read_billing(user, session, settings, billing)
    if user is None:
        return signed_out(request, "billing")
    shown = await read_billing(user, session, settings, billing)
    label, css = STATUS_LABELS.get(shown.status, (shown.status.capitalize(), "skipped"))
    current = next((p.monthly_price_cents for p in shown.plans if p.name == shown.plan), 0)
    notice = CHECKOUT_RETURNS.get(request.query_params.get("checkout", ""))
    return render(request, "billing.html", user=user, nav_active="billing", b=shown, status_label=label,
                  status_class=css, current_price=current, billing_on=billing is not None,
                  has_customer=bool(user.stripe_customer_id),
                  checkout_notice={"kind": notice[0], "text": notice[1]} if notice else None)


@router.get("/gallery")
async def gallery_page(request: Request, user: PageCreator, session: SessionDep) -> Response:
    if user is None:
        return signed_out(request, "presets")
    watch = await drive_queries.get_watch(session, user.id)
    presets = [{"name": p.name, "title": p.title, "description": p.description, "fields": preset_fields(p)}
               for p in creator_presets_full()]
    return render(request, "gallery.html", user=user, nav_active="presets", presets=presets,
                  watching=watch is not None, current=watch.preset if watch else None,
                  params=(watch.preset_params or {}) if watch else {})
