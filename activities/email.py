"""EmailActivities: the creator's emails, a summary per sync batch and a notice when Drive must be reconnected.

Each email has a key naming what it is about. Its row in `sent_emails` is written as `sending` before an attempt
talks to the SMTP server and turned `sent` the moment the server accepts the message, before the conversation's
QUIT; an attempt that finds it sent sends nothing. What is left: a worker that dies after the server has the
message and before that one UPDATE leaves `sending`, and the retry sends a second copy with the same Message-ID
(which lets a receiving server or mail client drop it). Attempts heartbeat, so such a retry comes within seconds.
Only mail happens here (in CreatorEmailWorkflow, apart from the sync run): a failure retries this activity alone,
never the image work."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.heartbeats import heartbeating
from comfy_platform import metrics
from comfy_platform.mail import Body, Item, Mailer, MailRefused, surely_undelivered
from comfy_platform.statuses import DriveFileStatus
from db import drive as drive_queries
from db import emails as email_queries
from db import users as user_queries
from db.models import EmailNotices, SentEmailStatus, User
from workflows.shared import (
    LISTED_PER_STATUS,
    DriveFileOutcome,
    QuotaNoticeInput,
    ReconnectNoticeInput,
    SyncSummaryInput,
)

# A sync run can go through hundreds of files; the email lists this many per section and the dashboard the rest.
MAX_LISTED = LISTED_PER_STATUS
DIGEST_REACH = timedelta(days=31)  # how far back a daily digest counts after days without one


class EmailActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], mailer: Mailer, *, drive_web_url: str,
                 public_base_url: str) -> None:
        self.sessionmaker = sessionmaker
        self.mailer = mailer
        self.drive_web_url = drive_web_url.rstrip("/")
        self.public_base_url = public_base_url.rstrip("/")

    @activity.defn
    async def send_sync_summary(self, input: SyncSummaryInput) -> bool:
        """True if this call sent the summary; False when the run only skipped files or it was sent already."""
        counts = input.counts or _counted(input.outcomes)
        if not counts.get(DriveFileStatus.SUCCEEDED) and not counts.get(DriveFileStatus.FAILED):
            return False
        key, outcomes = input.key or input.sync_workflow_id, input.outcomes
        async with self.sessionmaker() as session:
            user = await user_queries.get_user(session, input.user_id)
            notices = user.email_notices if user is not None else EmailNotices.PER_BATCH
            if notices == EmailNotices.DAILY_DIGEST:
                # At most one a day (the day's first sync with news sends it), about every photo since the last
                # one (the past 24 hours for the first), so photos edited after a day's digest are in the next.
                now = datetime.now(UTC)
                key = f"digest-{input.user_id}-{now:%Y-%m-%d}"
                last = await email_queries.last_sent_at(session, input.user_id, f"digest-{input.user_id}-")
                since = max(last, now - DIGEST_REACH) if last is not None else now - timedelta(days=1)
                counts = await drive_queries.count_files_by_status(session, input.user_id, since=since)
        if notices == EmailNotices.OFF:
            activity.logger.info("sync summary %s not sent: the creator turned photo emails off", key)
            metrics.EMAILS.labels("sync_summary", "skipped").inc()
            return False
        return await self._send_once(
            key=key, kind="sync_summary", user_id=input.user_id, subject=summary_subject(outcomes, counts),
            body=lambda name: summary_body(name, outcomes, self.drive_web_url, self.public_base_url, counts))

    @activity.defn
    async def send_reconnect_notice(self, input: ReconnectNoticeInput) -> bool:
        """True if this call sent the notice; False when it was sent already."""
        return await self._send_once(
            key=input.notice_key, kind="reconnect", user_id=input.user_id,
            subject="Reconnect Google Drive to keep your photos edited",
            body=lambda name: Body(name, [
                "Your photos in Google Drive are not being edited any more: the connection to your Google Drive "
                "has to be renewed.",
                f"Why: {input.reason}",
                "Sign in again and editing picks up where it stopped.",
            ], action=("Reconnect Google Drive", f"{self.public_base_url}/creator/auth/login")))

    @activity.defn
    async def send_quota_notice(self, input: QuotaNoticeInput) -> bool:
        """True if this call sent the notice; False when it was sent already."""
        renews = datetime.fromisoformat(input.renews_at)
        full = input.percent >= 100
        subject = ("Your photos for this month are used" if full
                   else f"You have used {input.percent} % of this month's photos")
        lines = [f"You have edited {input.used} of the {input.included} photos your plan includes this month."]
        lines.append(f"New photos wait, and are edited on {renews.day} {renews:%B %Y} when the month renews, or as soon as you "
                     "upgrade your plan." if full else f"Your plan renews on {renews.day} {renews:%B %Y}.")
        return await self._send_once(
            key=input.notice_key, kind="quota", user_id=input.user_id, subject=subject,
            body=lambda name: Body(name, lines, action=("See your plan", f"{self.public_base_url}/creator/billing")))

    async def _send_once(self, *, key: str, kind: str, user_id: str, subject: str,
                         body: Callable[[str | None], Body]) -> bool:
        # Heartbeats through the SMTP conversation: a worker that dies in it is noticed after the heartbeat timeout.
        async with heartbeating(every_s=2.0):
            async with self.sessionmaker() as session:
                record = await email_queries.get_sent_email(session, key)
                if record is not None and record.status == SentEmailStatus.SENT:
                    activity.logger.info("%s email %s was sent already", kind, key)
                    metrics.EMAILS.labels(kind, "skipped").inc()
                    return False
                user = await user_queries.get_user(session, user_id)
            if user is None or not user.email:
                activity.logger.info("%s email %s not sent: user %s is gone or has no email address", kind, key,
                                     user_id)
                metrics.EMAILS.labels(kind, "skipped").inc()
                return False
            try:
                message = self.mailer.message(to=user.email, name=user.name, subject=subject, body=body(user.name),
                                              key=key)
                attempt = await self._begin_attempt(key, user, kind, subject)
                if attempt is None:
                    activity.logger.info("%s email %s was sent already", kind, key)
                    return False
                if record is not None and record.status == SentEmailStatus.SENDING:
                    activity.logger.warning(
                        "%s email %s: attempt %d; an earlier one began talking to the SMTP server and recorded no "
                        "answer, so this may be a second copy (it has the same Message-ID)", kind, key, attempt)
                try:
                    await self.mailer.send(message, on_accepted=lambda: self._record(key, SentEmailStatus.SENT))
                except Exception as exc:
                    metrics.EMAILS.labels(kind, "not_sent").inc()
                    if surely_undelivered(exc):  # the next attempt is no second copy
                        await self._record(key, SentEmailStatus.NOT_SENT)
                    raise
            except MailRefused as exc:
                # The server refused the address: expected, one line, no traceback (BENIGN: Temporal logs it
                # without one too).
                activity.logger.warning("%s email %s not sent: %s", kind, key, exc)
                raise ApplicationError(str(exc), type="MailRefused", non_retryable=True,
                                       category=ApplicationErrorCategory.BENIGN) from None
        metrics.EMAILS.labels(kind, "sent").inc()
        return True

    async def _begin_attempt(self, key: str, user: User, kind: str, subject: str) -> int | None:
        async with self.sessionmaker() as session, session.begin():
            return await email_queries.begin_attempt(session, key, user, kind, subject)

    async def _record(self, key: str, status: SentEmailStatus) -> None:
        """What became of the attempt: `sent` is written the moment the server has accepted the message, in one
        UPDATE before the conversation's QUIT."""
        async with self.sessionmaker() as session, session.begin():
            await email_queries.record_outcome(session, key, status)


def _counted(outcomes: list[DriveFileOutcome]) -> dict[str, int]:
    return dict(Counter(o.status for o in outcomes))


def summary_subject(outcomes: list[DriveFileOutcome], counts: dict[str, int] | None = None) -> str:
    counts = counts or _counted(outcomes)
    edited, failed = counts.get(DriveFileStatus.SUCCEEDED, 0), counts.get(DriveFileStatus.FAILED, 0)
    if not edited:
        return f"{_photos(failed)} failed"
    return f"{_photos(edited)} edited" + (f", {failed} failed" if failed else "")


def summary_body(name: str | None, outcomes: list[DriveFileOutcome], drive_web_url: str,
                 public_base_url: str, counts: dict[str, int] | None = None) -> Body:
    counts = counts or _counted(outcomes)

    def section(title: str, status: DriveFileStatus, item) -> tuple[str, list[Item]] | None:
        chosen = [o for o in outcomes if o.status == status][:MAX_LISTED]
        if not chosen:
            return None
        items = [item(o) for o in chosen]
        more = counts.get(status, len(chosen)) - len(chosen)
        if more > 0:
            items.append(Item(f"and {more} more, listed on your dashboard"))
        return title, items

    def edited(o: DriveFileOutcome) -> Item:
        url = f"{drive_web_url}/file/d/{quote(o.output_file_id, safe='')}/view" if o.output_file_id else None
        return Item(o.name, url, f"saved as {o.output_name}" if o.output_name else None)

    sections = [
        section("Edited", DriveFileStatus.SUCCEEDED, edited),
        section("Failed", DriveFileStatus.FAILED, lambda o: Item(o.name, note=o.reason or "no reason given")),
        section("Skipped", DriveFileStatus.SKIPPED, lambda o: Item(o.name, note=o.reason)),
        section("Waiting for your plan", DriveFileStatus.WAITING_FOR_QUOTA, lambda o: Item(o.name, note=o.reason)),
    ]
    return Body(name, [f"Your latest Google Drive sync is done: {summary_subject(outcomes, counts)}."],
                action=("Open your dashboard", f"{public_base_url}/creator/"),
                sections=[s for s in sections if s is not None])


def _photos(count: int) -> str:
    return f"{count} photo" if count == 1 else f"{count} photos"
