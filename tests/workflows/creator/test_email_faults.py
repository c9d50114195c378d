"""Creator emails under faults: every batch gets its own summary, an SMTP outage holds up no photo, and a worker
killed mid-send costs at most one second copy (same Message-ID), within seconds, or none once the server's
acceptance is recorded."""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta

import pytest
from temporalio.common import RetryPolicy

from tests.fixtures.creator import photo
from tests.fixtures.oidc import sign_in
from tests.fixtures.platform import PROJECT_ROOT
from workflows import creator_email
from workflows.creator_email import CreatorEmailWorkflow
from workflows.shared import (
    CreatorEmailInput,
    DriveFileOutcome,
    SyncSummaryInput,
    creator_email_key,
)


def body_of(message) -> str:
    return message.get_body(("plain",)).get_content()


async def until(condition, timeout_s: float = 30, what: str = "the condition") -> None:
    """Wait until `condition()` (a bool, or an awaitable of one) holds."""
    deadline = time.monotonic() + timeout_s
    while not ((await result) if inspect.isawaitable(result := condition()) else result):
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout_s}s"
        await asyncio.sleep(0.05)


@pytest.fixture
def quick_email_retries(monkeypatch):
    """Email retries a second apart, so a test sees mail go out soon after the SMTP server is back."""
    monkeypatch.setattr(creator_email, "EMAIL_RETRY", RetryPolicy(initial_interval=timedelta(milliseconds=200),
                                                                  maximum_interval=timedelta(seconds=1)))


async def test_two_sync_runs_under_one_workflow_id_each_send_their_own_summary(creator, smtp):
    """A schedule names its runs to the second, so a sync-now right after a sync (a double click) or a tick in the
    same second as a sync-now starts a second run under the first one's id once the first has ended."""
    folder = await creator.folder("Same second")
    await creator.watch(folder)
    await creator.drop(folder, "first.png", photo(1))
    assert (await (await creator.start_sync("same-second")).result())["succeeded"] == 1
    await creator.drop(folder, "second.png", photo(2))
    assert (await (await creator.start_sync("same-second")).result())["succeeded"] == 1

    summaries = await smtp.wait_for(2, to=creator.email)
    assert [m["Subject"] for m in summaries] == ["1 photo edited"] * 2
    bodies = [body_of(m) for m in summaries]
    assert sorted(("first.png" in b, "second.png" in b) for b in bodies) == [(False, True), (True, False)]
    assert summaries[0]["Message-ID"] != summaries[1]["Message-ID"]

    async def both_recorded() -> bool:  # the server keeps a message before it answers 250; the record follows
        return [e.status for e in await creator.sent_emails()] == ["sent", "sent"]

    await until(both_recorded, timeout_s=5, what="recording both summaries as sent")


async def test_a_second_revocation_under_one_workflow_id_sends_a_second_reconnect_notice(
        creator, smtp, oidc_provider):
    """The notice is keyed on the run too: a creator who reconnected and lost the grant again hears of it again.
    Its reason is in plain words, on the dashboard as in the email."""
    folder = await creator.folder("Twice revoked")
    await creator.watch(folder)
    await creator.drop(folder, "held.png", photo(3))

    async def revoked_run() -> None:
        # Drive holds the first listing call back; access is revoked while the run waits to retry it.
        await creator.drive_server.inject_fault(503, kind="changes.getStartPageToken", user=creator.sub)
        run = await creator.start_sync("revoked")
        await creator.faults_answered()
        await oidc_provider.revoke_tokens(creator.sub)
        await run.result()

    await revoked_run()
    (notice,) = await smtp.wait_for(1, to=creator.email)
    reason = (await creator.http.get("/creator/drive/watch")).json()["paused_reason"]
    for shown in (body_of(notice), reason):
        assert "Google no longer accepts the access you gave to your Google Drive" in shown
        assert "invalid_grant" not in shown and "{" not in shown and "('" not in shown

    await sign_in(creator.http, str(creator.http.base_url), oidc_provider, creator.sub, creator.email)
    await revoked_run()
    notices = await smtp.wait_for(2, to=creator.email)
    assert [m["Subject"] for m in notices] == ["Reconnect Google Drive to keep your photos edited"] * 2
    assert len({m["Message-ID"] for m in notices}) == 2
    assert sorted(e.kind for e in await creator.sent_emails()) == ["reconnect", "reconnect"]


async def test_an_smtp_outage_holds_up_no_photo_and_each_batch_gets_its_summary_when_mail_is_back(
        creator, smtp, quick_email_retries):
    folder = await creator.folder("Mail down")
    watch = await creator.watch(folder)
    smtp.stop()
    for i in range(2):
        await creator.drop(folder, f"early{i}.png", photo(70 + i))
    await creator.sync_and_wait()
    first_run = (await creator.http.get("/creator/drive/watch")).json()["schedule"]["last_run_at"]

    # The first batch's summary cannot go; the creator's next sync runs and edits all the same.
    for i in range(2):
        await creator.drop(folder, f"late{i}.png", photo(80 + i))
    await creator.sync_and_wait(timeout_s=30)
    assert len(await creator.outputs(watch["output_folder_id"])) == 4
    assert {f["status"] for f in await creator.files()} == {"succeeded"}
    assert (await creator.http.get("/creator/drive/watch")).json()["schedule"]["last_run_at"] != first_run
    # None went out; a retry may be caught talking to the stopped server ("sending") at this moment.
    statuses = [e.status for e in await creator.sent_emails()]
    assert len(statuses) <= 2 and set(statuses) <= {"not_sent", "sending"}, statuses

    smtp.start()
    summaries = await smtp.wait_for(2, timeout=30, to=creator.email)
    assert [m["Subject"] for m in summaries] == ["2 photos edited"] * 2
    bodies = sorted(body_of(m) for m in summaries)
    assert "early0.png" in bodies[0] and "early1.png" in bodies[0] and "late0.png" not in bodies[0]
    assert "late0.png" in bodies[1] and "late1.png" in bodies[1] and "early0.png" not in bodies[1]

    async def both_recorded() -> bool:  # the server keeps a message before it answers 250; the record follows
        return [e.status for e in await creator.sent_emails()] == ["sent", "sent"]

    await until(both_recorded, timeout_s=5, what="recording both summaries as sent")


def start_io_worker(platform, smtp, queue: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.helpers.io_worker", queue], cwd=PROJECT_ROOT,
                            env=platform.env(SMTP_HOST=smtp.host, SMTP_PORT=str(smtp.port)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def send_with_the_worker_killed(creator, smtp, moment: str) -> tuple[list, float]:
    """A summary sent by an io worker of its own, which is SIGKILLed at `moment`: "received" (the SMTP server has
    the message and has not answered yet) or "accepted" (the server answered 250, the worker recorded the send,
    and the server holds its answer to QUIT, so the conversation has not ended).
    A replacement worker takes over. The creator's messages, and the seconds from the kill to the email
    workflow's end."""
    platform = creator.platform
    queue = f"io-crash-{uuid.uuid4().hex[:8]}"
    sync_id = f"drive-sync-run-{creator.user_id}-crash"
    key = creator_email_key("summary", sync_id, uuid.uuid4().hex)
    outcomes = [DriveFileOutcome(file_id="f1", name="kept.png", status="succeeded", output_file_id="o1",
                                 output_name="kept_x.png")]
    worker = start_io_worker(platform, smtp, queue)
    killed = threading.Event()

    async def sent_recorded() -> bool:
        return [e.status for e in await creator.sent_emails()] == ["sent"]

    def kill() -> None:
        if not killed.is_set():
            worker.kill()  # SIGKILL: no graceful shutdown, no last heartbeat
            worker.wait()
            killed.set()

    def ours(message) -> bool:  # another test's email, still being retried, may arrive meanwhile
        return creator.email in str(message["To"])

    if moment == "received":
        # On the server's thread, before it answers 250 to the creator's summary.
        smtp.on_message(lambda message: kill() if ours(message) else None)
    else:
        smtp.hold_quit()
    replacement = None
    try:
        handle = await platform.client.start_workflow(
            CreatorEmailWorkflow.run,
            CreatorEmailInput(summary=SyncSummaryInput(user_id=creator.user_id, sync_workflow_id=sync_id,
                                                       outcomes=outcomes, key=key)),
            id=f"creator-email-crash-{uuid.uuid4().hex}", task_queue=queue)
        if moment == "accepted":
            # Recorded as sent, and the conversation cannot end: the server holds its answer to QUIT.
            await until(sent_recorded, what="recording the summary as sent")
            kill()
        await until(killed.is_set, what="the kill")
        killed_at = time.monotonic()
        smtp.release_quit()
        replacement = start_io_worker(platform, smtp, queue)
        assert await asyncio.wait_for(handle.result(), timeout=60) is True
        return smtp.messages_to(creator.email), time.monotonic() - killed_at
    finally:
        for process in (worker, replacement):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=15)


async def test_a_worker_killed_as_the_smtp_server_takes_the_summary_sends_one_copy_more_within_seconds(
        creator, smtp):
    """The worker dies before it hears the server's 250: the one window left. The retry cannot know the server
    has the message, so it sends it again rather than lose it, with the same Message-ID; it comes after the
    heartbeat timeout (10 s) and the first backoff (5 s), not after a minute-long start-to-close timeout."""
    messages, after_kill_s = await send_with_the_worker_killed(creator, smtp, "received")
    assert len(messages) == 2 and messages[0]["Message-ID"] == messages[1]["Message-ID"]
    assert after_kill_s < 40
    [record] = await creator.sent_emails()
    assert (record.status, record.attempts) == ("sent", 2)


async def test_a_worker_killed_after_the_smtp_server_accepted_the_summary_sends_no_second_copy(creator, smtp):
    """The server has answered 250 and holds its answer to QUIT when the worker dies: the send was recorded the
    moment the server accepted it, so the retry finds it sent."""
    messages, _ = await send_with_the_worker_killed(creator, smtp, "accepted")
    assert len(messages) == 1
    [record] = await creator.sent_emails()
    assert (record.status, record.attempts) == ("sent", 1)
