"""Usage: what this key has run in its account's billing period, beside what the account's plan includes."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import JobsKey, SessionDep, SettingsDep
from api.schemas import UsagePublic
from db.jobs import usage_summary
from services.billing.usage import usage_overview

router = APIRouter(tags=["usage"])


@router.get("/usage", response_model=UsagePublic, summary="This period's usage")
async def read_usage(key: JobsKey, session: SessionDep, settings: SettingsDep) -> UsagePublic:
    """Finished jobs, output images and GPU seconds of this key in the billing period (a calendar month, UTC, for
    an account without a paid plan), and the account's images against its plan's."""
    account = await usage_overview(session, key.account_id, settings)
    mine = await usage_summary(session, api_key_id=key.id, since=account["period_start"],
                               until=account["period_end"])
    return UsagePublic(period_start=account["period_start"], period_end=account["period_end"], jobs=mine["jobs"],
                       images=mine["images"], gpu_seconds=round(mine["gpu_seconds"], 1), plan=account["plan"],
                       account_images_used=account["api_images"]["used"],
                       account_images_included=account["api_images"]["included"],
                       past_included=account["api_images"]["past_included"])
