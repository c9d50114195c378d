"""Usage: what this key has run this calendar month (UTC)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import JobsKey, SessionDep
from api.schemas import UsagePublic
from db.jobs import usage_summary
from db.models import utcnow

router = APIRouter(tags=["usage"])


@router.get("/usage", response_model=UsagePublic, summary="This month's usage")
async def read_usage(key: JobsKey, session: SessionDep) -> UsagePublic:
    """Finished jobs, output images and GPU seconds of this key since the first of this month (UTC)."""
    start = utcnow().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    summary = await usage_summary(session, api_key_id=key.id, since=start, until=end)
    return UsagePublic(period_start=start, period_end=end, **summary)
