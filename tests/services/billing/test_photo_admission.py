"""A creator's photos against the month's quota, on SQLite and PostgreSQL: admitted one at a time however many are
checked together, admitted once per version, waiting past the quota, taken up again once there is room (the
longest waiting first), a waiting version that a newer one replaced left alone."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from comfy_platform.settings import Settings
from comfy_platform.statuses import DriveFileStatus
from db import billing as billing_queries
from db import drive as drive_queries
from db import users as user_queries
from db.models import utcnow
from db.session import create_sessionmaker
from services.billing.usage import admit_photo, photos_to_take_up

PLANS = Path(__file__).parents[2] / "fixtures" / "plans.json"  # "creator": 2 photos a month


@pytest.fixture
def settings() -> Settings:
    return Settings(_env_file=None, BILLING_PLANS_FILE=str(PLANS))


@pytest.fixture
async def creator_on_plan(db_engine):
    """An account subscribed to the two-photo plan for this period."""
    sessionmaker = create_sessionmaker(db_engine)
    async with sessionmaker() as session, session.begin():
        user = await user_queries.upsert_user(session, subject=uuid.uuid4().hex, email="quota@example.com",
                                              name=None)
        await billing_queries.save_subscription(
            session, user.id, stripe_subscription_id=f"sub_{uuid.uuid4().hex}", plan="creator", status="active",
            current_period_start=utcnow() - timedelta(days=1), current_period_end=utcnow() + timedelta(days=29),
            cancel_at_period_end=False)
    return sessionmaker, user.id


async def admit(sessionmaker, settings, account_id: str, file_id: str, version: str = "1"):
    async with sessionmaker() as session, session.begin():
        return await admit_photo(session, account_id, settings, file_id=file_id, version=version,
                                 name=f"{file_id}.png", mime_type="image/png", revision=f"rev-{file_id}-{version}",
                                 sync_workflow_id="sync-test")


async def statuses(sessionmaker, account_id: str) -> dict[str, str]:
    async with sessionmaker() as session:
        return {f.file_id: f.status for f in await drive_queries.list_files(session, account_id, limit=100)}


async def test_photos_checked_together_never_overshoot_the_month_s_quota(creator_on_plan, settings):
    sessionmaker, account = creator_on_plan
    results = await asyncio.gather(*(admit(sessionmaker, settings, account, f"photo-{n}") for n in range(6)))
    assert sorted(r.allowed for r in results) == [False] * 4 + [True] * 2
    assert sorted((await statuses(sessionmaker, account)).values()) == ["processing"] * 2 + ["waiting_for_quota"] * 4
    refused = next(r for r in results if not r.allowed)
    assert "this month's 2 photos of the Creator plan are used" in refused.reason
    assert (refused.used, refused.included) == (2, 2)


async def test_a_version_admitted_already_is_admitted_again_without_counting_twice(creator_on_plan, settings):
    sessionmaker, account = creator_on_plan
    first = await admit(sessionmaker, settings, account, "again")
    retried = await admit(sessionmaker, settings, account, "again")
    assert (first.allowed, first.used) == (True, 1)
    assert (retried.allowed, retried.used) == (True, 1)


async def test_a_failed_edit_gives_its_photo_back_and_the_longest_waiting_is_taken_up(creator_on_plan, settings):
    sessionmaker, account = creator_on_plan
    for name in ("first", "second", "third", "fourth"):
        await admit(sessionmaker, settings, account, name)
    async with sessionmaker() as session:
        assert await photos_to_take_up(session, account, settings) == []
    async with sessionmaker() as session, session.begin():
        await drive_queries.record_file(session, account, "first", "1", name="first.png", status=DriveFileStatus.FAILED.value,
                                        reason="the preset produced no image")
    async with sessionmaker() as session, session.begin():
        taken_up = await photos_to_take_up(session, account, settings)
    assert [(f.file_id, f.revision) for f in taken_up] == [("third", "rev-third-1")]
    assert (await admit(sessionmaker, settings, account, "third")).allowed


async def test_a_waiting_version_a_newer_one_replaced_is_skipped(creator_on_plan, settings):
    sessionmaker, account = creator_on_plan
    for name in ("a", "b", "edited"):
        await admit(sessionmaker, settings, account, name)
    await admit(sessionmaker, settings, account, "edited", version="2")  # the creator changed the photo meanwhile
    async with sessionmaker() as session, session.begin():
        await drive_queries.record_file(session, account, "a", "1", name="a.png", status=DriveFileStatus.FAILED.value)
        await drive_queries.record_file(session, account, "b", "1", name="b.png", status=DriveFileStatus.FAILED.value)
    async with sessionmaker() as session, session.begin():
        taken_up = await photos_to_take_up(session, account, settings)
    assert [(f.file_id, f.version) for f in taken_up] == [("edited", "2")]
    async with sessionmaker() as session:
        rows = {(f.file_id, f.version): f for f in await drive_queries.list_files(session, account, limit=100)}
    assert rows[("edited", "1")].status == "skipped"
    assert rows[("edited", "1")].reason == "a newer version of this photo replaced it"
