"""The creator's file records on SQLite and PostgreSQL: editions that keep a file's outputs apart, and photos that
wait for the creator to reconnect."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db import drive as drive_queries
from db.models import DriveFile, User


@pytest.fixture
async def user_id(db_session: AsyncSession) -> str:
    user = User(subject=f"sub-{uuid.uuid4().hex}", email="ana@example.com")
    db_session.add(user)
    await db_session.commit()
    return user.id


async def record(session: AsyncSession, user_id: str, file_id: str, version: str, status: str, **fields) -> None:
    await drive_queries.record_file(session, user_id, file_id, version, name="p.png", status=status, **fields)


async def take_up(session: AsyncSession, user_id: str, file_id: str, version: str) -> None:
    await record(session, user_id, file_id, version, "processing")


async def rows(session: AsyncSession, user_id: str) -> dict[str, DriveFile]:
    return {row.version: row for row in await drive_queries.list_files(session, user_id, 50)}


async def test_each_version_of_a_file_claims_the_next_edition_once(db_session, user_id):
    for version in ("5", "9"):
        await take_up(db_session, user_id, "f1", version)
    await take_up(db_session, user_id, "other", "5")
    assert await drive_queries.claim_edition(db_session, user_id, "f1", "9") == 1
    assert await drive_queries.claim_edition(db_session, user_id, "f1", "5") == 2
    assert await drive_queries.claim_edition(db_session, user_id, "f1", "9") == 1, "a retry keeps its edition"
    assert await drive_queries.claim_edition(db_session, user_id, "other", "5") == 1, "per file"
    await db_session.commit()


async def test_a_version_edited_before_editions_existed_counts_as_the_first(db_session, user_id):
    await take_up(db_session, user_id, "f1", "3")
    await record(db_session, user_id, "f1", "3", "succeeded", output_file_id="o1",
                 output_name="p_portrait_pro.png")
    await take_up(db_session, user_id, "f1", "4")  # failed before any upload: no output, no edition
    await record(db_session, user_id, "f1", "4", "failed", reason="not an image")
    await take_up(db_session, user_id, "f1", "7")
    assert await drive_queries.claim_edition(db_session, user_id, "f1", "7") == 2
    await db_session.commit()


async def test_two_versions_cannot_hold_the_same_edition(db_session, user_id):
    for version in ("1", "2"):
        await take_up(db_session, user_id, "f1", version)
    assert await drive_queries.claim_edition(db_session, user_id, "f1", "1") == 1
    await db_session.commit()
    found = await rows(db_session, user_id)
    found["2"].edition = 1  # what a claim racing the first one would write
    with pytest.raises(IntegrityError):
        await db_session.commit()
    await db_session.rollback()


async def test_photos_in_flight_wait_for_the_creator_and_are_taken_up_again_after_reconnecting(db_session, user_id):
    await take_up(db_session, user_id, "f1", "1")
    await take_up(db_session, user_id, "f2", "1")
    await record(db_session, user_id, "f2", "1", "succeeded")
    assert await drive_queries.mark_waiting(db_session, user_id, "waiting for you to reconnect Google Drive") == 1
    await db_session.commit()
    db_session.expire_all()
    found = {row.file_id: row for row in await drive_queries.list_files(db_session, user_id)}
    assert (found["f1"].status, found["f1"].reason) == ("waiting", "waiting for you to reconnect Google Drive")
    assert found["f2"].status == "succeeded"
    # Not done: the next sync lists it again, and taking it up clears the reason.
    assert await drive_queries.done_versions(db_session, user_id, [("f1", "1")]) == set()
    await take_up(db_session, user_id, "f1", "1")
    await db_session.commit()
    db_session.expire_all()
    row = next(r for r in await drive_queries.list_files(db_session, user_id) if r.file_id == "f1")
    assert (row.status, row.reason) == ("processing", None)
