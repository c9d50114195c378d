"""Webhook delivery queries: one row per attempt, written by the webhook activity and shown on the job."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import WebhookDelivery, new_id, utcnow
from db.session import dialect_insert

ERROR_MAX_CHARS = 1024


async def record_delivery(session: AsyncSession, *, job_id: str, webhook_id: str, attempt: int, url: str,
                          status_code: int | None = None, error: str | None = None,
                          duration_ms: float | None = None, delivered: bool = False) -> None:
    """Record one attempt. Idempotent per (job_id, attempt): writing the same attempt again keeps the last outcome."""
    outcome = {"status_code": status_code, "error": error[:ERROR_MAX_CHARS] if error else None,
               "duration_ms": duration_ms, "delivered": delivered}
    insert = dialect_insert(session, WebhookDelivery).values(
        id=new_id(), job_id=job_id, webhook_id=webhook_id, attempt=attempt, url=url, created_at=utcnow(), **outcome)
    await session.execute(insert.on_conflict_do_update(index_elements=["job_id", "attempt"], set_=outcome))


async def list_deliveries(session: AsyncSession, job_id: str) -> list[WebhookDelivery]:
    return (await deliveries_of_jobs(session, [job_id]))[job_id]


async def deliveries_of_jobs(session: AsyncSession, job_ids: list[str]) -> dict[str, list[WebhookDelivery]]:
    """Each job's delivery attempts, in order, in one query."""
    found: dict[str, list[WebhookDelivery]] = {job_id: [] for job_id in job_ids}
    query = (select(WebhookDelivery).where(WebhookDelivery.job_id.in_(job_ids))
             .order_by(WebhookDelivery.job_id, WebhookDelivery.attempt))
    for delivery in await session.scalars(query.execution_options(populate_existing=True)):
        found[delivery.job_id].append(delivery)
    return found
