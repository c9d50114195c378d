"""EmailActivities run alone (ActivityEnvironment) against a real SMTP server and a migrated database, on SQLite
(what `make dev` uses) and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiosmtplib
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.email import MAX_LISTED, EmailActivities, summary_body, summary_subject
from comfy_platform.mail import Mailer, message_id
from comfy_platform.settings import Settings
from db.models import DriveFile, SentEmail, User
from db.session import create_engine, create_sessionmaker
from workflows.shared import DriveFileOutcome, ReconnectNoticeInput, SyncSummaryInput

BASE_URL = "https://photos.example"
DRIVE_WEB_URL = "https://drive.example"


@pytest.fixture(scope="module")
async def sessionmaker(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield create_sessionmaker(engine)
    await engine.dispose()


def settings_for(smtp_host: str, smtp_port: int = 25) -> Settings:
    return Settings(_env_file=None, SMTP_HOST=smtp_host, SMTP_PORT=smtp_port, SMTP_TIMEOUT_S=5,
                    EMAIL_FROM="Comfy Photos <photos@photos.example>", PUBLIC_BASE_URL=BASE_URL,
                    GOOGLE_DRIVE_WEB_URL=DRIVE_WEB_URL)


def email_activities(sessionmaker, settings: Settings) -> EmailActivities:
    return EmailActivities(sessionmaker, Mailer.from_settings(settings), drive_web_url=settings.GOOGLE_DRIVE_WEB_URL,
                           public_base_url=settings.public_base_url)


@pytest.fixture
def activities(sessionmaker, smtp) -> EmailActivities:
    return email_activities(sessionmaker, settings_for(smtp.host, smtp.port))


@pytest.fixture
async def user(sessionmaker) -> User:
    suffix = uuid.uuid4().hex[:8]
    async with sessionmaker() as session, session.begin():
        created = User(subject=f"sub-{suffix}", email=f"ana-{suffix}@example.com", name="Ana Lima")
        session.add(created)
    return created


def run_outcomes() -> list[DriveFileOutcome]:
    return [
        DriveFileOutcome(file_id="f1", name="beach.jpg", status="succeeded", job_id="j1", output_file_id="out1",
                         output_name="beach.png"),
        DriveFileOutcome(file_id="f2", name="dog.jpg", status="succeeded", job_id="j2", output_file_id="out2",
                         output_name="dog.png"),
        DriveFileOutcome(file_id="f3", name="cat.jpg", status="failed", reason="ComfyUI ran out of memory",
                         job_id="j3"),
        DriveFileOutcome(file_id="f4", name="notes.txt", status="skipped", reason="not an image"),
    ]


def summary_for(user: User, outcomes: list[DriveFileOutcome]) -> SyncSummaryInput:
    return SyncSummaryInput(user_id=user.id, sync_workflow_id=f"drive-sync-run-{user.id}-{uuid.uuid4().hex[:8]}",
                            outcomes=outcomes)


async def sent_emails(sessionmaker, user: User) -> list[SentEmail]:
    async with sessionmaker() as session:
        return list((await session.scalars(select(SentEmail).where(SentEmail.user_id == user.id))).all())


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def html_of(message) -> str:
    return message.get_body(("html",)).get_content()


async def test_summary_is_sent_once_even_when_the_activity_runs_again(activities, sessionmaker, smtp, user):
    summary = summary_for(user, run_outcomes())
    env = ActivityEnvironment()
    assert await env.run(activities.send_sync_summary, summary) is True
    assert await env.run(activities.send_sync_summary, summary) is False
    [message] = await smtp.wait_for(1)
    assert message["Subject"] == "2 photos edited, 1 failed"
    assert message["To"] == f"Ana Lima <{user.email}>"
    [record] = await sent_emails(sessionmaker, user)
    assert (record.key, record.kind, record.recipient, record.subject) == (
        summary.sync_workflow_id, "sync_summary", user.email, "2 photos edited, 1 failed")


async def test_summary_links_each_output_and_gives_each_failure_and_skip_its_reason(activities, smtp, user):
    await ActivityEnvironment().run(activities.send_sync_summary, summary_for(user, run_outcomes()))
    [message] = await smtp.wait_for(1)
    text, html = text_of(message), html_of(message)
    assert "- beach.jpg: saved as beach.png\n  https://drive.example/file/d/out1/view" in text
    assert "https://drive.example/file/d/out2/view" in text
    assert "Failed:\n- cat.jpg: ComfyUI ran out of memory" in text
    assert "Skipped:\n- notes.txt: not an image" in text
    assert "Open your dashboard: https://photos.example/creator/" in text
    assert '<a href="https://drive.example/file/d/out1/view">beach.jpg</a>' in html
    assert "cat.jpg: ComfyUI ran out of memory" in html and 'href="https://photos.example/creator/"' in html


async def test_nothing_is_sent_when_the_run_only_skipped_files(activities, sessionmaker, smtp, user):
    skipped = [DriveFileOutcome(file_id="f1", name="notes.txt", status="skipped", reason="not an image")]
    assert await ActivityEnvironment().run(activities.send_sync_summary, summary_for(user, skipped)) is False
    assert await ActivityEnvironment().run(activities.send_sync_summary, summary_for(user, [])) is False
    assert smtp.messages == [] and await sent_emails(sessionmaker, user) == []


async def test_temporary_refusal_fails_the_attempt_and_a_later_attempt_sends_one_email(activities, sessionmaker,
                                                                                      smtp, user):
    summary = summary_for(user, run_outcomes())
    smtp.refuse_next(1)
    with pytest.raises(aiosmtplib.SMTPDataError):  # not an ApplicationError: Temporal retries it
        await ActivityEnvironment().run(activities.send_sync_summary, summary)
    # The attempt was recorded before it began, and the server's refusal says nothing went out.
    assert [(r.status, r.attempts, r.sent_at) for r in await sent_emails(sessionmaker, user)] == [("not_sent", 1, None)]
    assert await ActivityEnvironment().run(activities.send_sync_summary, summary) is True
    assert await ActivityEnvironment().run(activities.send_sync_summary, summary) is False
    assert len(await smtp.wait_for(1)) == 1
    [record] = await sent_emails(sessionmaker, user)
    assert (record.status, record.attempts) == ("sent", 2) and record.sent_at is not None


async def test_summaries_of_two_runs_under_one_workflow_id_are_two_emails(activities, sessionmaker, smtp, user):
    """A schedule names its runs to the second, so a sync-now and a tick can share a workflow id: each batch's
    summary has a key of its own (the run's first run id in it), and neither counts as the other sent."""
    sync_id = f"drive-sync-run-{user.id}-2026-11-22T03:12:05Z"
    first, second = (SyncSummaryInput(user_id=user.id, sync_workflow_id=sync_id, outcomes=run_outcomes(),
                                      key=f"summary:{sync_id}:{run_id}")
                     for run_id in ("run-a", "run-b"))
    assert await ActivityEnvironment().run(activities.send_sync_summary, first) is True
    assert await ActivityEnvironment().run(activities.send_sync_summary, second) is True
    messages = await smtp.wait_for(2)
    assert len({m["Message-ID"] for m in messages}) == 2
    assert sorted(r.key for r in await sent_emails(sessionmaker, user)) == sorted([first.key, second.key])


async def test_an_attempt_that_finds_an_unanswered_one_sends_again_with_the_same_message_id(
        activities, sessionmaker, smtp, user, caplog):
    """What a worker killed mid-conversation leaves: a `sending` record. The retry cannot know whether the server
    took the message, so it sends (the email must not be lost), as the same message, and says so in the log."""
    summary = summary_for(user, run_outcomes())
    async with sessionmaker() as session, session.begin():
        session.add(SentEmail(key=summary.sync_workflow_id, user_id=user.id, kind="sync_summary",
                              recipient=user.email, subject="2 photos edited, 1 failed", status="sending", attempts=1))
    with caplog.at_level(logging.WARNING):
        assert await ActivityEnvironment().run(activities.send_sync_summary, summary) is True
    [message] = await smtp.wait_for(1)
    assert message["Message-ID"] == message_id(summary.sync_workflow_id, activities.mailer.sender)
    assert any("may be a second copy" in r.getMessage() for r in caplog.records)
    [record] = await sent_emails(sessionmaker, user)
    assert (record.status, record.attempts) == ("sent", 2)


async def test_the_send_is_recorded_before_the_conversation_ends(activities, sessionmaker, smtp, user):
    """The server holds its answer to QUIT: the email is already recorded as sent while the conversation is still
    open, so a worker dying there (or at QUIT) leaves nothing to send again."""
    smtp.hold_quit()
    heartbeats = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: heartbeats.append(details)
    sending = asyncio.create_task(env.run(activities.send_sync_summary, summary_for(user, run_outcomes())))
    deadline = asyncio.get_running_loop().time() + 5
    while smtp.quits_held == 0:
        assert asyncio.get_running_loop().time() < deadline, "no QUIT came"
        await asyncio.sleep(0.01)
    [record] = await sent_emails(sessionmaker, user)
    assert record.status == "sent" and not sending.done()
    smtp.release_quit()
    assert await sending is True
    assert heartbeats, "the attempt heartbeats while it talks to the server"


async def test_permanent_recipient_refusal_is_not_retried(activities, smtp, user):
    smtp.refuse_recipient(user.email)
    with pytest.raises(ApplicationError) as failure:
        await ActivityEnvironment().run(activities.send_sync_summary, summary_for(user, run_outcomes()))
    assert failure.value.non_retryable and failure.value.type == "MailRefused" and "550" in failure.value.message


async def test_reconnect_notice_says_why_and_links_to_sign_in(activities, sessionmaker, smtp, user):
    notice = ReconnectNoticeInput(user_id=user.id, reason="Google refused the saved sign-in (invalid_grant)",
                                  notice_key=f"reconnect-{user.id}")
    assert await ActivityEnvironment().run(activities.send_reconnect_notice, notice) is True
    assert await ActivityEnvironment().run(activities.send_reconnect_notice, notice) is False
    [message] = await smtp.wait_for(1)
    text = text_of(message)
    assert "Google Drive" in message["Subject"] and "has to be renewed" in text
    assert "Why: Google refused the saved sign-in (invalid_grant)" in text
    assert "https://photos.example/creator/auth/login" in text
    assert 'href="https://photos.example/creator/auth/login"' in html_of(message)
    [record] = await sent_emails(sessionmaker, user)
    assert (record.key, record.kind) == (notice.notice_key, "reconnect")


async def test_empty_smtp_host_logs_the_email_and_succeeds(sessionmaker, user, caplog):
    activities = email_activities(sessionmaker, settings_for(""))
    with caplog.at_level(logging.INFO, logger="comfy_platform.mail"):
        assert await ActivityEnvironment().run(activities.send_sync_summary, summary_for(user, run_outcomes())) is True
    assert any("'2 photos edited, 1 failed'" in r.getMessage() and "logged, not sent" in r.getMessage()
               for r in caplog.records)


async def test_file_names_are_escaped_in_the_html_part(activities, smtp, user):
    outcomes = [DriveFileOutcome(file_id="f1", name="<script>.png", status="failed", reason="<b>bad</b> input")]
    await ActivityEnvironment().run(activities.send_sync_summary, summary_for(user, outcomes))
    [message] = await smtp.wait_for(1)
    html = html_of(message)
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;script&gt;.png: &lt;b&gt;bad&lt;/b&gt; input" in html
    assert "- <script>.png: <b>bad</b> input" in text_of(message)


async def test_a_user_without_a_row_gets_nothing(activities, smtp):
    summary = SyncSummaryInput(user_id=uuid.uuid4().hex, sync_workflow_id="drive-sync-run-gone",
                               outcomes=run_outcomes())
    assert await ActivityEnvironment().run(activities.send_sync_summary, summary) is False
    assert smtp.messages == []


def test_subject_counts_edited_and_failed_photos():
    one = [DriveFileOutcome(file_id="f1", name="a.jpg", status="succeeded")]
    failed = [DriveFileOutcome(file_id=f"f{i}", name="a.jpg", status="failed") for i in range(2)]
    assert summary_subject(one) == "1 photo edited"
    assert summary_subject(failed) == "2 photos failed"
    assert summary_subject(one + failed) == "1 photo edited, 2 failed"


def test_a_long_run_lists_the_first_files_and_points_to_the_dashboard():
    outcomes = [DriveFileOutcome(file_id=f"f{i}", name=f"{i}.jpg", status="succeeded", output_file_id=f"o{i}")
                for i in range(60)]
    [(title, items)] = summary_body("Ana", outcomes, DRIVE_WEB_URL, BASE_URL).sections
    assert title == "Edited" and len(items) == MAX_LISTED + 1
    assert items[-1].label == f"and {60 - MAX_LISTED} more, listed on your dashboard" and items[-1].url is None


async def _notices(sessionmaker, user: User, notices: str) -> None:
    async with sessionmaker() as session, session.begin():
        (await session.get(User, user.id)).email_notices = notices


async def test_with_photo_emails_off_no_summary_is_sent(activities, sessionmaker, smtp, user):
    await _notices(sessionmaker, user, "off")
    assert await ActivityEnvironment().run(activities.send_sync_summary, summary_for(user, run_outcomes())) is False
    assert await sent_emails(sessionmaker, user) == []


async def test_a_daily_digest_is_one_email_a_day_counting_the_past_24_hours(activities, sessionmaker, smtp, user):
    await _notices(sessionmaker, user, "daily_digest")
    async with sessionmaker() as session, session.begin():
        session.add_all([DriveFile(user_id=user.id, file_id=f"d{n}", version="1", name=f"d{n}.jpg", status=status)
                         for n, status in enumerate(["succeeded", "succeeded", "succeeded", "failed"])])
    env = ActivityEnvironment()
    assert await env.run(activities.send_sync_summary, summary_for(user, run_outcomes())) is True
    assert await env.run(activities.send_sync_summary, summary_for(user, run_outcomes())) is False  # later batch
    [message] = await smtp.wait_for(1, to=user.email)
    assert message["Subject"] == "3 photos edited, 1 failed"  # the day's photos, not one batch's
    [record] = await sent_emails(sessionmaker, user)
    assert record.key.startswith(f"digest-{user.id}-")


async def test_a_daily_digest_counts_the_photos_since_the_previous_digest(activities, sessionmaker, smtp, user):
    """Photos edited after a day's digest went out are in the next one, even when it comes late the next day."""
    await _notices(sessionmaker, user, "daily_digest")
    now = datetime.now(UTC)
    async with sessionmaker() as session, session.begin():
        session.add(SentEmail(key=f"digest-{user.id}-2000-01-01", user_id=user.id, kind="sync_summary",
                              recipient=user.email, subject="earlier digest", status="sent",
                              sent_at=now - timedelta(hours=30)))
        session.add_all([DriveFile(user_id=user.id, file_id=f"old{n}", version="1", name=f"old{n}.jpg",
                                   status="succeeded", updated_at=now - timedelta(hours=31)) for n in range(3)])
        session.add_all([DriveFile(user_id=user.id, file_id=f"new{n}", version="1", name=f"new{n}.jpg",
                                   status=status, updated_at=now - timedelta(hours=hours))
                         for n, (status, hours) in enumerate([("succeeded", 29), ("succeeded", 1), ("failed", 1)])])
    assert await ActivityEnvironment().run(activities.send_sync_summary, summary_for(user, run_outcomes())) is True
    [message] = await smtp.wait_for(1, to=user.email)
    assert message["Subject"] == "2 photos edited, 1 failed"  # the one edited 29 hours ago too, not the older ones
