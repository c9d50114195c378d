"""Task-queue names and the dataclasses that cross the workflow boundary (the API and CLI import these too).

Only ids, storage keys and small dicts travel here: every payload is written to workflow history.

Every payload is keyword-only. Runs in flight and recorded histories hold them as JSON objects, which Temporal's
data converter turns back into dataclasses by field name; a positional call would instead follow the field order,
and a reordered field would silently swap two values of the same type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
)

from comfy_platform.statuses import DriveFileStatus, JobStatus
from comfy_platform.stored_files import StoredFile

# Activities that talk to a ComfyUI backend; one worker per backend polls it with a slot per queued prompt.
COMFY_TASK_QUEUE = "comfy"
# Workflows and every other activity (storage, database, notifications).
IO_TASK_QUEUE = "io"

# Custom search attributes registered on the Temporal namespace (README: "Finding a run").
SEARCH_ATTRIBUTES = ("JobId", "Product", "Preset", "UserId")


def typed_search_attributes(values: dict[str, str]) -> TypedSearchAttributes:
    """Keyword search attributes from plain names and values (the form that can travel through history)."""
    return TypedSearchAttributes([SearchAttributePair(SearchAttributeKey.for_keyword(name), value)
                                  for name, value in values.items()])


GENERATION_WORKFLOW = "GenerationWorkflow"  # its type name, for starting it without importing the workflow


def generation_workflow_id(job_id: str) -> str:
    return f"gen-{job_id}"


@dataclass(kw_only=True)
class GenerationInput:
    """One ComfyUI job: a concrete graph and the stored input files its loaders read."""

    job_id: str
    graph: dict[str, Any]
    inputs: dict[str, str] = field(default_factory=dict)  # file name the graph reads -> storage key
    product: str = "api"
    preset: str | None = None
    user_id: str | None = None
    heartbeat_timeout_s: float = 20.0
    job_timeout_s: float = 3600.0
    # Which pool of ComfyUI workers runs it; a deployment may keep several (one per GPU type, say).
    comfy_task_queue: str = COMFY_TASK_QUEUE
    # Developer API: the key that owns the job (its webhook secret signs deliveries) and where to POST the end.
    api_key_id: str | None = None
    webhook_url: str | None = None
    template: str | None = None  # the template (comfy_workflows/) the graph came from, when it did


@dataclass(kw_only=True)
class JobOutputRef(StoredFile):
    """A file the job's graph saved: output `index` of node `node_id`. Its JSON is the flat object it always was
    (the stored file's fields beside these two), so recorded histories still read it."""

    node_id: str
    index: int


@dataclass(kw_only=True)
class PreparedJob:
    """A recorded job whose GenerationWorkflow is yet to start: its input and search attributes."""

    job_id: str
    workflow_id: str
    input: GenerationInput
    search_attributes: dict[str, str]
    # Set when the job had already succeeded (a file's run tried again after its upload failed): its outputs,
    # so the edit is not done twice.
    outputs: list[JobOutputRef] = field(default_factory=list)


# The Schedule that finishes submissions a crash cut short (workflows/job_starts.py): how often it looks, and how
# old a row still holding its start payload must be before it is started from there.
START_SWEEPER_SCHEDULE_ID = "job-start-sweeper"
START_SWEEP_EVERY_S = 30
START_SWEEP_GRACE_S = 60


@dataclass(kw_only=True)
class StartPendingJobsInput:
    grace_s: float = START_SWEEP_GRACE_S


@dataclass(kw_only=True)
class GenerationResult:
    job_id: str
    status: JobStatus
    outputs: list[JobOutputRef] = field(default_factory=list)
    error: dict[str, Any] | None = None


@dataclass(kw_only=True)
class JobProgress:
    """What the `get_status` query answers, and what the ComfyUI activity signals as it goes."""

    status: JobStatus = JobStatus.QUEUED
    progress: float = 0.0
    queue_position: int | None = None
    backend: str | None = None
    prompt_id: str | None = None
    error: dict[str, Any] | None = None
    requeues: int = 0


@dataclass(kw_only=True)
class CheckInputsInput:
    job_id: str
    inputs: dict[str, str]


@dataclass(kw_only=True)
class CheckInputsOutput:
    images: dict[str, dict[str, Any]]  # file name -> {width, height, format}


@dataclass(kw_only=True)
class RunGraphInput:
    job_id: str
    workflow_id: str
    graph: dict[str, Any]
    inputs: dict[str, str]
    output_prefix: str
    template: str | None = None  # the preset or template the graph came from: a label of the worker's metrics


@dataclass(kw_only=True)
class RunGraphOutput:
    backend: str
    prompt_id: str
    outputs: list[JobOutputRef]
    comfy_started_at_ms: int | None = None
    comfy_finished_at_ms: int | None = None
    requeues: int = 0  # times the prompt was queued again after ComfyUI lost it
    # From the activity being scheduled to the prompt starting on the GPU; whether the backend loaded a model first.
    queue_wait_ms: int | None = None
    model_load: bool | None = None


# GenerationWorkflow's signals, named here because the ComfyUI activity that sends them may not import the workflow
# (whose module imports the activity); callers that may (the API, the CLI, tests) use the workflow's methods.
# The progress of the job's prompt as it waits and runs (a JobProgress), at most once per progress interval.
REPORT_PROGRESS_SIGNAL = "report_progress"
# Sent when a prompt was queued whose id a retry could not work out by itself (the server chose it, or the prompt
# was queued again): the workflow records it on the job at once.
PROMPT_QUEUED_SIGNAL = "prompt_queued"


@dataclass(kw_only=True)
class PromptQueued:
    backend: str
    prompt_id: str
    requeues: int = 0


@dataclass(kw_only=True)
class MarkRunningInput:
    """The job whose prompt ComfyUI started (or queued, with `running` False), and where."""

    job_id: str
    backend: str | None = None
    prompt_id: str | None = None
    running: bool = True
    requeues: int | None = None


@dataclass(kw_only=True)
class FinishJobInput:
    job_id: str
    status: JobStatus
    workflow_id: str
    product: str = "api"
    preset: str | None = None
    user_id: str | None = None
    outputs: list[JobOutputRef] = field(default_factory=list)
    error: dict[str, Any] | None = None
    backend: str | None = None
    prompt_id: str | None = None
    comfy_started_at_ms: int | None = None
    comfy_finished_at_ms: int | None = None
    prompt_requeues: int = 0
    progress: float | None = None  # how far a job that did not succeed got (a succeeded one is at 1.0)
    queue_wait_ms: int | None = None
    model_load: bool | None = None


def webhook_id_of(job_id: str) -> str:
    """The `webhook-id` header: the same on every attempt, so receivers can drop duplicates."""
    return f"wh_{job_id}"


def webhook_workflow_id(job_id: str) -> str:
    return f"webhook-{job_id}"


@dataclass(kw_only=True)
class DeliverWebhookInput:
    job_id: str
    webhook_id: str


# --- creator product: Drive folder automation ------------------------------------------------------------------


DRIVE_SYNC_WORKFLOW = "DriveSyncWorkflow"  # the workflow type the schedules start


def drive_sync_schedule_id(user_id: str) -> str:
    return f"drive-sync-{user_id}"


def drive_sync_workflow_id(user_id: str) -> str:
    """Runs started by the schedule get this id plus the tick's timestamp; sync-now runs get it plus `-now-...`."""
    return f"drive-sync-run-{user_id}"


DRIVE_FILE_WORKFLOW = "ProcessDriveFileWorkflow"  # its type name: a failed photo's retry starts it directly


def drive_file_workflow_id(user_id: str, file_id: str, version: str) -> str:
    """One id per version of a file: a file is processed once, however often or concurrently sync runs see it."""
    return f"drive-file-{user_id}-{file_id}-{version}"


@dataclass(kw_only=True)
class DriveFileRef:
    """A file in a watched folder, as a sync run found it. `version` is Drive's, which grows with every change;
    `revision` is Drive's `headRevisionId` then, which names those bytes for as long as Drive keeps them (None in
    refs listed before it was recorded)."""

    file_id: str
    name: str
    version: str
    mime_type: str
    size: int | None = None
    revision: str | None = None


# Files of each status a sync run names in its summary email; the rest are counted ("and N more").
LISTED_PER_STATUS = 50


@dataclass(kw_only=True)
class DriveFileOutcome:
    """What became of one file: succeeded (with its output in Drive), failed or skipped, and why."""

    file_id: str
    name: str
    status: DriveFileStatus  # succeeded, failed or skipped
    reason: str | None = None
    job_id: str | None = None
    output_file_id: str | None = None
    output_name: str | None = None


@dataclass(kw_only=True)
class SyncTally:
    """What a sync run (and the runs it continued as) has done, carried across continue-as-new for the email:
    how many files ended each way, and the first LISTED_PER_STATUS of each (so a folder of ten thousand photos
    does not carry ten thousand outcomes through history)."""

    outcomes: list[DriveFileOutcome] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: DriveFileOutcome) -> None:
        self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1
        if self.counts[outcome.status] <= LISTED_PER_STATUS:
            self.outcomes.append(outcome)


@dataclass(kw_only=True)
class DriveSyncInput:
    user_id: str
    parallel_files: int = 4  # children in flight at once (sliding window)
    files_per_run: int = 200  # then the run continues as new, so its history stays bounded
    # Where a run that continued as new goes on from (an opaque cursor from list_new_files); None = from the
    # watch's stored page token.
    cursor: dict[str, Any] | None = None
    tally: SyncTally | None = None


@dataclass(kw_only=True)
class ListNewFilesInput:
    user_id: str
    sync_workflow_id: str
    cursor: dict[str, Any] | None = None
    max_files: int = 100


@dataclass(kw_only=True)
class WatchInfo:
    folder_id: str
    output_folder_id: str
    preset: str


@dataclass(kw_only=True)
class ListNewFilesOutput:
    files: list[DriveFileRef]
    watch: WatchInfo | None  # None: the creator watches nothing (disconnected since the tick was scheduled)
    # Where the next call goes on from; None when this page was the last one.
    cursor: dict[str, Any] | None = None
    # The changes page token to store once every file listed so far has been processed.
    page_token_to_save: str | None = None
    # Files of the folder that are not processed (not images), recorded as skipped with the reason.
    skipped: list[DriveFileOutcome] = field(default_factory=list)


@dataclass(kw_only=True)
class SavePageTokenInput:
    user_id: str
    page_token: str


@dataclass(kw_only=True)
class ProcessDriveFileInput:
    user_id: str
    file: DriveFileRef
    watch: WatchInfo
    sync_workflow_id: str


@dataclass(kw_only=True)
class UploadDriveOutputInput:
    user_id: str
    source: DriveFileRef
    output_folder_id: str
    storage_key: str
    name: str
    content_type: str


@dataclass(kw_only=True)
class UploadDriveOutputResult:
    file_id: str
    name: str
    reused: bool  # an earlier attempt had uploaded it already


@dataclass(kw_only=True)
class RecordDriveFileInput:
    user_id: str
    file: DriveFileRef
    sync_workflow_id: str
    status: DriveFileStatus
    reason: str | None = None
    job_id: str | None = None
    output_file_id: str | None = None
    output_name: str | None = None


@dataclass(kw_only=True)
class SyncSummaryInput:
    user_id: str
    sync_workflow_id: str
    outcomes: list[DriveFileOutcome]  # the first LISTED_PER_STATUS of each status
    counts: dict[str, int] | None = None  # files per status in all; None: as many as `outcomes` lists
    # Names the email, so a retry never sends it twice (creator_email_key); None: the sync workflow id, as
    # summaries were named before two runs under one id were told apart.
    key: str | None = None


@dataclass(kw_only=True)
class SuspendSyncInput:
    user_id: str
    state: str  # reconnect_needed (Google refused the token) | folder_gone (the watched folder was deleted)
    reason: str


@dataclass(kw_only=True)
class ReconnectNoticeInput:
    user_id: str
    reason: str
    notice_key: str  # names the email, so a retry never sends it twice


def creator_email_key(kind: str, sync_workflow_id: str, first_run_id: str) -> str:
    """Names one email of one sync batch (`summary` or `reconnect`). The run id tells apart runs that share a
    workflow id: a schedule names its runs to the second, so a sync-now and a tick can share one."""
    return f"{kind}:{sync_workflow_id}:{first_run_id}"


def creator_email_workflow_id(kind: str, first_run_id: str) -> str:
    """One email workflow per sync batch and kind, named by the batch's first run id, which no other run has."""
    return f"creator-email-{kind}-{first_run_id}"


@dataclass(kw_only=True)
class CreatorEmailInput:
    """One creator email, handed to a workflow of its own: a sync batch's summary or a reconnect notice."""

    summary: SyncSummaryInput | None = None
    notice: ReconnectNoticeInput | None = None
    quota: QuotaNoticeInput | None = None


# --- billing ----------------------------------------------------------------------------------------------------


def stripe_event_workflow_id(event_id: str) -> str:
    """A Stripe event is handled by one run, however often Stripe delivers it."""
    return f"stripe-event-{event_id}"


def meter_workflow_id(job_id: str) -> str:
    return f"meter-{job_id}"




@dataclass(kw_only=True)
class QuotaNoticeInput:
    """A creator has used `percent` of the month's photos: told once per threshold and period."""

    user_id: str
    percent: int
    used: int
    included: int
    renews_at: str  # ISO-8601
    notice_key: str


@dataclass(kw_only=True)
class StripeEventInput:
    event_id: str
    event_type: str
    customer_id: str | None = None


@dataclass(kw_only=True)
class MeterUsageInput:
    job_id: str


@dataclass(kw_only=True)
class PhotoQuotaInput:
    user_id: str
    file: DriveFileRef
    sync_workflow_id: str


@dataclass(kw_only=True)
class PhotoQuota:
    """Whether a creator's photo may be edited now; if not, when the quota renews."""

    allowed: bool
    renews_at: str | None = None  # ISO-8601
    reason: str | None = None


def account_deletion_workflow_id(user_id: str) -> str:
    return f"account-deletion-{user_id}"


@dataclass(kw_only=True)
class AccountDeletionInput:
    user_id: str


@dataclass(kw_only=True)
class AccountDeletionReport:
    """What the run deleted: the account's jobs, uploads and photo records, and the subscriptions it ended."""

    jobs: int = 0
    uploads: int = 0
    photos: int = 0
    subscriptions_ended: int = 0
