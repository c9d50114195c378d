"""Delivery rows: one per (job, attempt), however often an attempt is written."""

from __future__ import annotations

from db import jobs as job_queries
from db import webhooks as webhook_queries
from db.models import new_id


async def test_recording_an_attempt_again_keeps_one_row_with_the_last_outcome(platform):
    job_id = new_id()
    async with platform.sessionmaker() as session, session.begin():
        await job_queries.create_job(session, id=job_id, workflow_id=f"gen-{job_id}", product="api", source="graph")
        common = {"job_id": job_id, "webhook_id": f"wh_{job_id}", "url": "https://example.com/hook"}
        await webhook_queries.record_delivery(session, attempt=1, status_code=500, error="HTTP 500", **common)
        await webhook_queries.record_delivery(session, attempt=2, error="x" * 5000, **common)
        await webhook_queries.record_delivery(session, attempt=2, status_code=200, delivered=True, **common)
    async with platform.sessionmaker() as session:
        deliveries = await webhook_queries.list_deliveries(session, job_id)
    assert [(d.attempt, d.status_code, d.delivered, d.error) for d in deliveries] == [
        (1, 500, False, "HTTP 500"), (2, 200, True, None)]


async def test_long_errors_are_cut_to_the_column(platform):
    job_id = new_id()
    async with platform.sessionmaker() as session, session.begin():
        await job_queries.create_job(session, id=job_id, workflow_id=f"gen-{job_id}", product="api", source="graph")
        await webhook_queries.record_delivery(session, job_id=job_id, webhook_id="wh", attempt=1, url="u",
                                              error="x" * 5000)
    async with platform.sessionmaker() as session:
        [delivery] = await webhook_queries.list_deliveries(session, job_id)
    assert len(delivery.error) == webhook_queries.ERROR_MAX_CHARS
