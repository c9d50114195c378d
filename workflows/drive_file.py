"""ProcessDriveFileWorkflow: one version of one photo from a watched Drive folder, edited once, written back once.

Drive -> storage (the job's input) -> the same GenerationWorkflow the developer API runs, as a child -> the
output uploaded into the folder's `Edited Photos` -> the file's record. Its id names the file's version, so a
file is processed once however many sync runs see it.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import PurePosixPath

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from activities.creator import CreatorActivities
    from activities.drive import SUPERSEDED, DriveActivities
    from comfy_platform.statuses import DriveFileStatus
    from workflows.generation import GenerationWorkflow
    from workflows.shared import (
        IO_TASK_QUEUE,
        DriveFileOutcome,
        GenerationResult,
        PreparedJob,
        ProcessDriveFileInput,
        RecordDriveFileInput,
        UploadDriveOutputInput,
        UploadDriveOutputResult,
        typed_search_attributes,
    )

# Drive faults of the moment retry with backoff (a 429's Retry-After overrides it); these never do.
DRIVE_NON_RETRYABLE = ["DriveAuthRevoked", "DriveNotFound", "DriveBadRequest", "InvalidInput"]
DRIVE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                          maximum_interval=timedelta(minutes=5), non_retryable_error_types=DRIVE_NON_RETRYABLE)
# Failures that mean the creator must reconnect Drive: the sync run stops and pauses the schedule.
AUTH_REVOKED = "DriveAuthRevoked"


# Not sandboxed, for the reason DriveSyncWorkflow gives.
@workflow.defn(name="ProcessDriveFileWorkflow", sandboxed=False)
class ProcessDriveFileWorkflow:
    @workflow.run
    async def run(self, task: ProcessDriveFileInput) -> DriveFileOutcome:
        source = task.file
        try:
            # 1. Download into storage and record the job (a retry finds the job it recorded).
            prepared: PreparedJob = await workflow.execute_activity_method(
                DriveActivities.prepare_job, task, task_queue=IO_TASK_QUEUE,
                start_to_close_timeout=timedelta(minutes=10), heartbeat_timeout=timedelta(minutes=1),
                retry_policy=DRIVE_RETRY)
        except ActivityError as err:
            return await self._end(task, _outcome_of(err, task, "could not be read from Drive"))

        # 2. The edit itself: the developer API's workflow, unchanged. A run of this file after an earlier one
        # got as far as a finished edit (then lost its Drive grant) uploads that edit instead of making it again.
        outputs = prepared.outputs
        if not outputs:
            try:
                result: GenerationResult = await workflow.execute_child_workflow(
                    GenerationWorkflow.run, prepared.input, id=prepared.workflow_id, task_queue=IO_TASK_QUEUE,
                    search_attributes=typed_search_attributes(prepared.search_attributes))
            except ChildWorkflowError as err:
                return await self._end(task, DriveFileOutcome(file_id=source.file_id, name=source.name,
                                                              status=DriveFileStatus.FAILED,
                                                              reason=_edit_failure(err), job_id=prepared.job_id))
            outputs = result.outputs
        if not outputs:
            return await self._end(task, DriveFileOutcome(file_id=source.file_id, name=source.name,
                                                          status=DriveFileStatus.FAILED,
                                                          reason="the preset produced no image",
                                                          job_id=prepared.job_id))

        # 3. Into the output folder; a retry finds an upload an earlier attempt made (tagged with the source).
        output = outputs[0]
        try:
            uploaded: UploadDriveOutputResult = await workflow.execute_activity_method(
                DriveActivities.upload_output,
                UploadDriveOutputInput(user_id=task.user_id, source=source,
                                       output_folder_id=task.watch.output_folder_id, storage_key=output.storage_key,
                                       name=output_name(source.name, task.watch.preset),
                                       content_type=output.content_type),
                task_queue=IO_TASK_QUEUE, start_to_close_timeout=timedelta(minutes=10),
                heartbeat_timeout=timedelta(minutes=1), retry_policy=DRIVE_RETRY)
        except ActivityError as err:
            outcome = _outcome_of(err, task, "could not be written to Drive")
            return await self._end(task, DriveFileOutcome(file_id=source.file_id, name=source.name,
                                                          status=DriveFileStatus.FAILED, reason=outcome.reason,
                                                          job_id=prepared.job_id))
        return await self._end(task, DriveFileOutcome(file_id=source.file_id, name=source.name,
                                                      status=DriveFileStatus.SUCCEEDED, job_id=prepared.job_id,
                                                      output_file_id=uploaded.file_id, output_name=uploaded.name))

    async def _end(self, task: ProcessDriveFileInput, outcome: DriveFileOutcome) -> DriveFileOutcome:
        """Record what became of the file; a revoked Drive connection is not an outcome but the run's failure."""
        await workflow.execute_local_activity_method(
            CreatorActivities.record_drive_file,
            RecordDriveFileInput(user_id=task.user_id, file=task.file, sync_workflow_id=task.sync_workflow_id,
                                 status=outcome.status, reason=outcome.reason, job_id=outcome.job_id,
                                 output_file_id=outcome.output_file_id, output_name=outcome.output_name),
            start_to_close_timeout=timedelta(seconds=30))
        return outcome


def output_name(source_name: str, preset: str) -> str:
    """`<original stem>_<preset>.png`; upload_output names a file's later edited versions `..._v2.png` and on."""
    return f"{PurePosixPath(source_name).stem}_{preset}.png"


def _edit_failure(err: ChildWorkflowError) -> str:
    """Why the edit failed, in the creator's words: an input the edit refused is named by the preset's input file
    (`image.png`), not by the creator's photo."""
    cause = err.cause
    if not isinstance(cause, ApplicationError):
        return "the edit failed"
    if cause.type in ("InvalidInput", "invalid_input"):
        return "it is not a readable image (damaged, or not in an image format)"
    return cause.message


def _outcome_of(err: ActivityError, task: ProcessDriveFileInput, what: str) -> DriveFileOutcome:
    """Outcome of a Drive activity that gave up: a file deleted meanwhile, or a version replaced before its bytes
    could be read, is skipped; a photo that is no usable image fails with why; anything else failed.
    A revoked connection is re-raised: the file is not done, the next sync after reconnecting picks it up."""
    source, cause = task.file, err.cause
    if isinstance(cause, ApplicationError) and cause.type == AUTH_REVOKED:
        raise ApplicationError(cause.message, type=AUTH_REVOKED, non_retryable=True) from err
    if isinstance(cause, ApplicationError) and cause.type in (SUPERSEDED, "InvalidInput"):
        status = DriveFileStatus.SKIPPED if cause.type == SUPERSEDED else DriveFileStatus.FAILED
        return DriveFileOutcome(file_id=source.file_id, name=source.name, status=status, reason=cause.message)
    message = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
    gone = isinstance(cause, ApplicationError) and cause.type == "DriveNotFound"
    status = DriveFileStatus.SKIPPED if gone else DriveFileStatus.FAILED
    return DriveFileOutcome(file_id=source.file_id, name=source.name, status=status, reason=f"it {what}: {message}")
