"""DriveSyncWorkflow: one tick of a creator's schedule. New or changed photos in the watched folder each get a
ProcessDriveFileWorkflow; when they have all ended, the run hands one summary email to a CreatorEmailWorkflow of
its own and ends, so mail never holds up the next sync.

A tick that finds nothing costs one Drive call (changes.list from the stored page token) and one activity.
The page token is stored only once every file listed before it is done, and not at all when the run stops for a
revoked grant: a run killed midway, or one whose files could not be read, leaves the token where it was and the
next tick lists those files again; their children's ids (one per file version) keep any of them from being
processed twice.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    WorkflowAlreadyStartedError,
)

with workflow.unsafe.imports_passed_through():
    from activities.billing import BillingActivities
    from activities.creator import CreatorActivities
    from activities.drive import DriveActivities
    from activities.email import EmailActivities
    from comfy_platform.statuses import DRIVE_FILE_DONE_STATUSES, DriveFileStatus
    from workflows.creator_email import EMAIL_RETRY, CreatorEmailWorkflow
    from workflows.drive_file import AUTH_REVOKED, DRIVE_RETRY, ProcessDriveFileWorkflow
    from workflows.shared import (
        DRIVE_SYNC_WORKFLOW,
        IO_TASK_QUEUE,
        CreatorEmailInput,
        DriveFileOutcome,
        DriveFileRef,
        DriveSyncInput,
        ListNewFilesInput,
        ListNewFilesOutput,
        PhotoQuota,
        PhotoQuotaInput,
        ProcessDriveFileInput,
        ReconnectNoticeInput,
        RecordDriveFileInput,
        SavePageTokenInput,
        SuspendSyncInput,
        SyncSummaryInput,
        SyncTally,
        WatchInfo,
        creator_email_key,
        creator_email_workflow_id,
        drive_file_workflow_id,
        typed_search_attributes,
    )

LIST_PAGE_SIZE = 100
# Reasons the sync stops and the creator's schedule is paused until they act.
SUSPENDING_ERRORS = {AUTH_REVOKED: "reconnect_needed", "DriveFolderGone": "folder_gone"}
# Names the version that stores the page token once the files before it are done, not merely started: runs
# recorded before it replay storing it as their last child started.
TOKEN_AFTER_FILES_PATCH = "token-after-files"
# Names the version that hands each email to a CreatorEmailWorkflow child instead of sending it from this run.
EMAIL_WORKFLOW_PATCH = "email-workflow"
# Names the version that admits each photo against the creator's monthly quota before its child starts.
PHOTO_QUOTA_PATCH = "photo-quota"


# Not sandboxed, like GenerationWorkflow: the sandbox re-creates the module for every run, which cost about a quarter of
# the worker's CPU with 200 creators ticking (bench/drive.py). The recorded histories (tests/workflows) and the
# replay of fresh runs (tests/creator/test_drive_sync.py) guard determinism instead.
@workflow.defn(name=DRIVE_SYNC_WORKFLOW, sandboxed=False)
class DriveSyncWorkflow:
    def __init__(self) -> None:
        self._running: set[asyncio.Task[None]] = set()
        self._unstarted = 0  # children asked for whose start has not been confirmed yet
        self._tally = SyncTally()
        self._suspended: tuple[str, str] | None = None  # (error type, message) that stopped this run

    @workflow.run
    async def run(self, sync: DriveSyncInput) -> dict[str, int]:
        self._tally = sync.tally or SyncTally()
        sync_id = workflow.info().workflow_id
        cursor, started = sync.cursor, 0
        try:
            while True:
                page: ListNewFilesOutput = await workflow.execute_activity_method(
                    DriveActivities.list_new_files,
                    ListNewFilesInput(user_id=sync.user_id, sync_workflow_id=sync_id, cursor=cursor,
                                      max_files=min(LIST_PAGE_SIZE, sync.files_per_run)),
                    task_queue=IO_TASK_QUEUE, start_to_close_timeout=timedelta(minutes=2), retry_policy=DRIVE_RETRY)
                if page.watch is None:
                    break  # disconnected since this tick was scheduled
                for skipped in page.skipped:
                    self._tally.add(skipped)
                for file in page.files:
                    await workflow.wait_condition(lambda: len(self._running) < sync.parallel_files
                                                  or self._suspended is not None)
                    if self._suspended:
                        break
                    self._spawn(sync.user_id, file, page.watch, sync_id)
                    started += 1
                if self._suspended:
                    break
                if page.page_token_to_save:
                    if workflow.patched(TOKEN_AFTER_FILES_PATCH):
                        # A file whose child stopped for a revoked grant must be listed again after reconnecting.
                        await self._drain()
                        if self._suspended:
                            break
                    else:
                        await workflow.wait_condition(lambda: self._unstarted == 0)
                    await workflow.execute_local_activity_method(
                        CreatorActivities.save_page_token,
                        SavePageTokenInput(user_id=sync.user_id, page_token=page.page_token_to_save),
                        start_to_close_timeout=timedelta(seconds=30))
                if page.cursor is None:
                    break
                cursor = page.cursor
                if started >= sync.files_per_run:
                    await self._drain()
                    workflow.continue_as_new(DriveSyncInput(user_id=sync.user_id, parallel_files=sync.parallel_files,
                                                            files_per_run=sync.files_per_run, cursor=cursor,
                                                            tally=self._tally))
            await self._drain()
        except ActivityError as err:
            if not (isinstance(err.cause, ApplicationError) and err.cause.type in SUSPENDING_ERRORS):
                raise
            await self._drain()
            self._suspended = (err.cause.type, err.cause.message)
        if self._suspended:
            await self._suspend(sync.user_id, sync_id, *self._suspended)
        return await self._summarize(sync.user_id, sync_id)

    @workflow.query
    def progress(self) -> dict[str, int]:
        """Files in flight and done so far in this run (the dashboard and operators read it)."""
        return {"in_flight": len(self._running), **_counts(self._tally)}

    def _spawn(self, user_id: str, file: DriveFileRef, watch: WatchInfo, sync_id: str) -> None:
        self._unstarted += 1
        task = asyncio.create_task(self._process(user_id, file, watch, sync_id))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _process(self, user_id: str, file: DriveFileRef, watch: WatchInfo, sync_id: str) -> None:
        try:
            if not await self._admitted(user_id, file, sync_id):
                return
            handle = await workflow.start_child_workflow(
                ProcessDriveFileWorkflow.run,
                ProcessDriveFileInput(user_id=user_id, file=file, watch=watch, sync_workflow_id=sync_id),
                id=drive_file_workflow_id(user_id, file.file_id, file.version), task_queue=IO_TASK_QUEUE,
                # A failed run (revoked token) may be tried again by a later tick; a finished one never.
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                # The child outlives this run if it is terminated: its file is then already in hand.
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                search_attributes=typed_search_attributes({"UserId": user_id, "Product": "creator"}))
        except WorkflowAlreadyStartedError:
            return  # another run (an overlapping tick, a sync-now) has this version of the file in hand
        finally:
            self._unstarted -= 1
        try:
            self._tally.add(await handle)
        except ChildWorkflowError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == AUTH_REVOKED:
                self._suspended = (AUTH_REVOKED, cause.message)
            else:  # the child ended without recording its file (terminated, timed out): record it here
                outcome = DriveFileOutcome(file_id=file.file_id, name=file.name, status=DriveFileStatus.FAILED,
                                           reason=f"processing stopped: {cause or err}")
                self._tally.add(outcome)
                await workflow.execute_local_activity_method(
                    CreatorActivities.record_drive_file,
                    RecordDriveFileInput(user_id=user_id, file=file, sync_workflow_id=sync_id, status=outcome.status,
                                         reason=outcome.reason),
                    start_to_close_timeout=timedelta(seconds=30))

    async def _admitted(self, user_id: str, file: DriveFileRef, sync_id: str) -> bool:
        """Within the creator's monthly photos (a version is admitted once). Past them the photo is recorded as
        waiting for quota, and a later run takes it up when the plan renews or is upgraded: no run stays open
        for it meanwhile, and the page token may pass it."""
        if not workflow.patched(PHOTO_QUOTA_PATCH):
            return True
        quota: PhotoQuota = await workflow.execute_activity_method(
            BillingActivities.check_photo_quota,
            PhotoQuotaInput(user_id=user_id, file=file, sync_workflow_id=sync_id), task_queue=IO_TASK_QUEUE,
            start_to_close_timeout=timedelta(minutes=1), retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)))
        if not quota.allowed:
            self._tally.add(DriveFileOutcome(file_id=file.file_id, name=file.name,
                                             status=DriveFileStatus.WAITING_FOR_QUOTA, reason=quota.reason))
        return quota.allowed

    async def _drain(self) -> None:
        await workflow.wait_condition(lambda: not self._running)

    async def _suspend(self, user_id: str, sync_id: str, error_type: str, message: str) -> None:
        """Pause the creator's schedule with the reason; a revoked grant also gets them an email about it."""
        await workflow.execute_activity_method(
            CreatorActivities.suspend_sync,
            SuspendSyncInput(user_id=user_id, state=SUSPENDING_ERRORS[error_type], reason=message),
            task_queue=IO_TASK_QUEUE, start_to_close_timeout=timedelta(minutes=1),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)))
        if error_type == AUTH_REVOKED:
            key = creator_email_key("reconnect", sync_id, workflow.info().first_execution_run_id)
            await self._email(user_id, "reconnect", CreatorEmailInput(
                notice=ReconnectNoticeInput(user_id=user_id, reason=message, notice_key=key)),
                legacy_key=f"suspended:{sync_id}")

    async def _summarize(self, user_id: str, sync_id: str) -> dict[str, int]:
        counts = _counts(self._tally)
        if counts[DriveFileStatus.SUCCEEDED] or counts[DriveFileStatus.FAILED]:
            # Keyed on the batch (this run and the runs it continued as), not the workflow id alone, which a
            # later run may share.
            key = creator_email_key("summary", sync_id, workflow.info().first_execution_run_id)
            summary = SyncSummaryInput(user_id=user_id, sync_workflow_id=sync_id, outcomes=self._tally.outcomes,
                                       counts=self._tally.counts, key=key)
            await self._email(user_id, "summary", CreatorEmailInput(summary=summary), legacy_key=sync_id)
        return counts

    async def _email(self, user_id: str, kind: str, email: CreatorEmailInput, legacy_key: str) -> None:
        """Hand the email to its own workflow, which outlives this run: an SMTP outage retries only the email,
        while the next sync runs. One workflow per batch and kind, so a batch's email is handed over once."""
        if not workflow.patched(EMAIL_WORKFLOW_PATCH):
            await self._send_here(email, legacy_key)
            return
        email_workflow_id = creator_email_workflow_id(kind, workflow.info().first_execution_run_id)
        try:
            await workflow.start_child_workflow(
                CreatorEmailWorkflow.run, email, id=email_workflow_id, task_queue=IO_TASK_QUEUE,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                search_attributes=typed_search_attributes({"UserId": user_id, "Product": "creator"}))
        except WorkflowAlreadyStartedError:
            # A reset run: the email was handed over already, and the creator must not get it twice.
            workflow.logger.info("email %s already handed over", email_workflow_id)

    @staticmethod
    async def _send_here(email: CreatorEmailInput, legacy_key: str) -> None:
        """How runs recorded before EMAIL_WORKFLOW_PATCH sent their email (replays only): from this run, which
        waited out an SMTP outage for a day, holding the creator's schedule meanwhile, and then ended well."""
        if email.summary is not None:
            send, message = EmailActivities.send_sync_summary, email.summary
            message.key = legacy_key
        else:
            send, message = EmailActivities.send_reconnect_notice, email.notice
            message.notice_key = legacy_key
        try:
            await workflow.execute_activity_method(
                send, message, task_queue=IO_TASK_QUEUE, start_to_close_timeout=timedelta(minutes=1),
                schedule_to_close_timeout=timedelta(days=1), retry_policy=EMAIL_RETRY)
        except ActivityError as err:
            workflow.logger.warning("email not sent: %s", err.cause or err)


def _counts(tally: SyncTally) -> dict[str, int]:
    return {status: tally.counts.get(status, 0) for status in DRIVE_FILE_DONE_STATUSES}
