"""The creator's billing: their plan and what it includes, this period's use, invoices, and the way to change it
(a Stripe Checkout Session to subscribe, the Customer Portal to change plan, update the card or cancel)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import (
    BillingDep,
    CurrentCreator,
    MaybeBillingDep,
    SessionDep,
    SettingsDep,
)
from api.errors import ApiError
from api.responses import error_responses
from db.session import release_before_calling_out
from services.billing.errors import BillingUnavailable
from services.billing.plans import UnknownPlan
from services.billing.usage import catalog_of, usage_overview

router = APIRouter(prefix="/billing", tags=["billing"])


class PlanOffer(BaseModel):
    name: str
    title: str
    description: str
    monthly_price_cents: int
    creator_photos_per_month: int
    api_images_included_per_month: int
    api_overage: str = Field(description="meter: API use past the included images is billed; refuse: it is 402")


class Allowance(BaseModel):
    used: int
    included: int


class BillingPublic(BaseModel):
    plan: str
    plan_title: str
    status: str = Field(description="free | active | cancelling | past_due | ended")
    notice: str | None = Field(None, description="what to do about the plan, when there is something to do")
    period_start: datetime
    period_end: datetime
    creator_photos: Allowance
    api_images: Allowance
    api_gpu_seconds: float
    plans: list[PlanOffer]
    invoices: list[dict[str, Any]] = []
    invoices_unavailable: bool = Field(False, description="Stripe did not answer; invoices are missing")


class CheckoutRequest(BaseModel):
    model_config = {"extra": "forbid"}

    plan: str = Field(max_length=32, description="a plan for sale (GET /creator/billing lists them)")


class RedirectPublic(BaseModel):
    url: str = Field(description="where to send the browser")


@router.get("", response_model=BillingPublic, summary="The creator's plan, use and invoices")
async def read_billing(creator: CurrentCreator, session: SessionDep, settings: SettingsDep,
                       billing: MaybeBillingDep) -> BillingPublic:
    """Plan, status, this period's use against what the plan includes, the plans for sale, and invoices."""
    overview = await usage_overview(session, creator.id, settings)
    await release_before_calling_out(session)
    invoices, unavailable = [], False
    try:
        invoices = await billing.invoices(creator) if billing else []
    except BillingUnavailable:
        unavailable = True
    offers = [PlanOffer(**plan.model_dump()) for plan in catalog_of(settings).plans]
    return BillingPublic(**{k: v for k, v in overview.items() if k not in ("api_images", "api_jobs")},
                         api_images=Allowance(used=overview["api_images"]["used"],
                                              included=overview["api_images"]["included"]),
                         plans=offers, invoices=invoices, invoices_unavailable=unavailable)


@router.post("/checkout", response_model=RedirectPublic, summary="Subscribe to a plan",
             responses=error_responses(409, 422, 503))
async def create_checkout(body: CheckoutRequest, creator: CurrentCreator, billing: BillingDep,
                          settings: SettingsDep) -> RedirectPublic:
    """A Stripe Checkout Session for the plan; send the browser to its `url`. 409 when already on that plan."""
    try:
        plan = catalog_of(settings).plan(body.plan)
    except UnknownPlan as exc:
        raise ApiError(str(exc), code="unknown_plan", status_code=422, details={"field": "plan"}) from None
    if not plan.paid:
        raise ApiError(f"the {plan.title} plan is not sold: it is what an account has without one",
                       code="unknown_plan", status_code=422, details={"field": "plan"})
    base = settings.public_base_url
    url = await billing.checkout(creator, plan, success_url=f"{base}/creator/billing?checkout=success",
                                 cancel_url=f"{base}/creator/billing?checkout=cancelled")
    return RedirectPublic(url=url)


@router.post("/portal", response_model=RedirectPublic, summary="Manage the subscription",
             responses=error_responses(503))
async def create_portal(creator: CurrentCreator, billing: BillingDep, settings: SettingsDep) -> RedirectPublic:
    """A Stripe Customer Portal session (change plan, update the card, cancel); send the browser to its `url`."""
    return RedirectPublic(url=await billing.portal(creator, return_url=f"{settings.public_base_url}/creator/billing"))
