"""Usage per key per UTC day (the developer console's chart) agrees with the records, on SQLite and PostgreSQL:
a job finished a minute before midnight UTC counts on that day, one a minute after on the next, each key apart,
and the window has every day, zeros included."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from comfy_platform.secrets import Encryptor
from db.api_keys import create_key
from db.jobs import create_job, finish_job
from db.models import new_id
from db.usage import usage_by_key_and_day
from db.users import account_for_email
from services.api_keys import usage_by_day

MIDNIGHT = datetime(2026, 3, 10, tzinfo=UTC)


async def finished(session: AsyncSession, key_id: str, user_id: str, at: datetime, images: int) -> None:
    job_id = new_id()
    await create_job(session, id=job_id, product="api", source="preset", preset="quick_enhance",
                     workflow_id=f"gen-{job_id}", api_key_id=key_id, user_id=user_id, params={})
    await finish_job(session, job_id, status="succeeded", finished_at=at, outputs=[
        {"node_id": "9", "index": i, "storage_key": f"jobs/{job_id}/{i}.png", "filename": f"{i}.png",
         "content_type": "image/png", "size": 1, "width": 1, "height": 1} for i in range(images)])


async def test_usage_is_counted_per_key_on_each_utc_day(db_session: AsyncSession):
    account = await account_for_email(db_session, f"dev-{new_id()[:12]}@example.com")
    encryptor = Encryptor("", "test")
    first = (await create_key(db_session, encryptor, account_id=account.id, name="first")).key
    second = (await create_key(db_session, encryptor, account_id=account.id, name="second")).key
    await finished(db_session, first.id, account.id, MIDNIGHT - timedelta(minutes=1), images=2)
    await finished(db_session, first.id, account.id, MIDNIGHT - timedelta(hours=20), images=1)
    await finished(db_session, first.id, account.id, MIDNIGHT + timedelta(minutes=1), images=4)
    await finished(db_session, second.id, account.id, MIDNIGHT + timedelta(hours=23, minutes=59), images=3)
    await finished(db_session, second.id, account.id, MIDNIGHT - timedelta(days=9), images=7)  # before the window
    await db_session.commit()

    rows = await usage_by_key_and_day(db_session, [first.id, second.id], MIDNIGHT - timedelta(days=2))
    found = {(row.api_key_id, row.day): (row.jobs, row.images) for row in rows}
    assert found == {(first.id, date(2026, 3, 9)): (2, 3), (first.id, date(2026, 3, 10)): (1, 4),
                     (second.id, date(2026, 3, 10)): (1, 3)}

    window, usage = await usage_by_day(db_session, account.id, 3, today=date(2026, 3, 11))
    assert window == [date(2026, 3, 9), date(2026, 3, 10), date(2026, 3, 11)]
    by_name = {u.key.name: [(d.jobs, d.images) for d in u.days] for u in usage}
    assert by_name == {"first": [(2, 3), (1, 4), (0, 0)], "second": [(0, 0), (1, 3), (0, 0)]}
    assert await usage_by_key_and_day(db_session, [], MIDNIGHT) == []
