"""The platform's tables: jobs, their inputs and outputs, and one usage record per finished job."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from comfy_platform.statuses import TERMINAL_STATUSES, DriveFileStatus, JobStatus

# Named constraints let later migrations drop or alter them by name on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Product(StrEnum):
    API = "api"
    CREATOR = "creator"
    CLI = "cli"


class SourceKind(StrEnum):
    PRESET = "preset"
    TEMPLATE = "workflow"  # stored under the API's word for a template
    GRAPH = "graph"


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out. SQLite keeps no zone, so values are stored as naive UTC there, which also
    keeps its text comparisons (keyset pagination) in time order."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSONB on PostgreSQL (indexable, compact); plain JSON text elsewhere. none_as_null: Python None is SQL NULL,
# not the JSON value null, so "error IS NULL" means no error.
JsonType = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def _one_of(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(_one_of("status", JobStatus), name="status"),
        CheckConstraint(_one_of("product", Product), name="product"),
        CheckConstraint(_one_of("source", SourceKind), name="source"),
        UniqueConstraint("api_key_id", "idempotency_key"),
        Index(None, "api_key_id", "created_at"),
        Index(None, "user_id", "created_at"),
        Index(None, "status"),
        # Jobs ahead of a queued one (db.jobs.count_ahead) and the latest run times (db.jobs.recent_run_seconds).
        Index("ix_jobs_status_created_at", "status", "created_at"),
        # Only the few rows still holding a start payload: what the start sweeper reads.
        Index("ix_jobs_awaiting_start", "created_at", postgresql_where=text("start_payload IS NOT NULL"),
              sqlite_where=text("start_payload IS NOT NULL")),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED.value)
    product: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))  # what the job was built from: a SourceKind
    preset: Mapped[str | None] = mapped_column(String(128))
    # The template (comfy_workflows/) the job's graph came from; its column keeps the API's word for one.
    template: Mapped[str | None] = mapped_column("workflow_name", String(128))
    user_id: Mapped[str | None] = mapped_column(String(64))
    api_key_id: Mapped[str | None] = mapped_column(String(64))
    workflow_id: Mapped[str] = mapped_column(String(128), unique=True)  # the Temporal workflow id
    params: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JsonType, default=dict)
    error: Mapped[dict[str, Any] | None] = mapped_column(JsonType)  # {code, message, details}
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    backend: Mapped[str | None] = mapped_column(String(512))  # ComfyUI base URL that ran it
    prompt_id: Mapped[str | None] = mapped_column(String(64))
    # Times the prompt was queued again because ComfyUI lost it (a restart) or it was interrupted from outside.
    prompt_requeues: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    webhook_url: Mapped[str | None] = mapped_column(String(2048))  # POSTed the job object when it ends
    # What starting the job's workflow takes (an outbox in the row), kept until the job ends: a start a crash cut
    # short is finished by whoever sees the row next (services/jobs.py).
    start_payload: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The execution window ComfyUI's history reports, which is what GPU time is billed from.
    comfy_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    comfy_finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # From the job's ComfyUI activity being scheduled to its prompt starting: the wait for a capable backend's
    # slot and for ComfyUI's own queue.
    queue_wait_ms: Mapped[int | None] = mapped_column(Integer)
    # Whether the backend had to load the job's checkpoint (it had run another one last).
    model_load: Mapped[bool | None] = mapped_column(Boolean)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


class JobInput(Base):
    __tablename__ = "job_inputs"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)  # the file name the graph's loader reads
    storage_key: Mapped[str] = mapped_column(String(1024))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)


class JobOutput(Base):
    __tablename__ = "job_outputs"
    __table_args__ = (UniqueConstraint("job_id", "node_id", "index"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    node_id: Mapped[str] = mapped_column(String(64))
    index: Mapped[int] = mapped_column(Integer)  # position within the node's outputs
    storage_key: Mapped[str] = mapped_column(String(1024))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)


class UsageRecord(Base):
    __tablename__ = "usage_records"
    __table_args__ = (
        Index(None, "api_key_id", "created_at"),
        Index(None, "user_id", "created_at"),
        # The API images of a period's first, partial day (ApiImagesByDay has the whole days), read from the index
        # alone.
        Index(None, "user_id", "product", "created_at", "images"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # Unique: a retried finish_job must not bill a job twice. SET NULL: purging old jobs keeps the billing history.
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), unique=True)
    user_id: Mapped[str | None] = mapped_column(String(64))
    api_key_id: Mapped[str | None] = mapped_column(String(64))
    product: Mapped[str] = mapped_column(String(16))
    images: Mapped[int] = mapped_column(Integer, default=0)
    gpu_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ApiImagesByDay(Base):
    """An account's API images per UTC day, added to in the transaction that writes each usage record: a job on a
    plan that refuses use past its included images is admitted on the period's images, summed from at most a
    month of these days and the records of the period's first, partial day, instead of every record of the period
    (bench/quota_check.py measures what that costs each job)."""

    __tablename__ = "api_images_by_day"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    images: Mapped[int] = mapped_column(Integer, default=0)


class ApiKey(Base):
    """A developer's key. Only the SHA-256 of the secret is kept; the webhook signing secret is encrypted."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # The account whose usage this key's jobs are, and whose plan sets its limits.
    account_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(16))  # the secret's first characters, to tell keys apart
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JsonType, default=list)
    webhook_secret_encrypted: Mapped[str] = mapped_column(String(512))
    rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer)  # None: the deployment's default
    max_concurrent_jobs: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Upload(Base):
    """An input image uploaded ahead of a job (POST /api/v1/uploads), owned by one key."""

    __tablename__ = "uploads"
    __table_args__ = (Index(None, "api_key_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    api_key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    storage_key: Mapped[str] = mapped_column(String(1024))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class WebhookDelivery(Base):
    """One attempt to deliver a job's webhook; the job shows them all."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("job_id", "attempt"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    webhook_id: Mapped[str] = mapped_column(String(64))  # the webhook-id header: same on every attempt
    attempt: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(String(2048))
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(1024))
    duration_ms: Mapped[float | None] = mapped_column(Float)
    delivered: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


# --- creator product -------------------------------------------------------------------------------------------


class DriveStatus(StrEnum):
    NOT_CONNECTED = "not_connected"  # signed in, no folder watched yet
    CONNECTED = "connected"  # a folder is watched and the schedule runs
    RECONNECT_NEEDED = "reconnect_needed"  # Google refused the refresh token: sign in again
    DISCONNECTED = "disconnected"  # the creator stopped the automation


class EmailNotices(StrEnum):
    PER_BATCH = "per_batch"  # an email after each sync that edited, failed or skipped photos
    DAILY_DIGEST = "daily_digest"  # one email a day about the day's photos
    OFF = "off"  # no emails about photos (notices about the account, such as reconnecting Drive, still go)


class User(Base):
    """An account: one per person, the one Google sign-in creates (known by the identity provider's subject id),
    or one an operator made for an email address (`keys create --account EMAIL`) that the person's first sign-in
    with that verified address takes over. It owns API keys, jobs and a subscription. OAuth tokens are
    Fernet-encrypted at rest."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_one_of("drive_status", DriveStatus), name="drive_status"),
                      Index(None, "email"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    subject: Mapped[str | None] = mapped_column(String(255), unique=True)  # the id_token's `sub`; None: not yet
    email: Mapped[str] = mapped_column(String(320))
    stripe_customer_id: Mapped[str | None] = mapped_column(String(64), unique=True)  # made once, at first checkout
    name: Mapped[str | None] = mapped_column(String(255))
    access_token_encrypted: Mapped[str | None] = mapped_column(String(4096))
    refresh_token_encrypted: Mapped[str | None] = mapped_column(String(4096))
    token_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    token_scopes: Mapped[str | None] = mapped_column(String(1024))
    drive_status: Mapped[str] = mapped_column(String(32), default=DriveStatus.NOT_CONNECTED.value)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Which emails about their photos the creator gets: EmailNotices.
    email_notices: Mapped[str] = mapped_column(String(16), default="per_batch", server_default="per_batch")
    # Set when the person asked for the account to be deleted: AccountDeletionWorkflow is deleting it.
    deletion_requested_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class CreatorSession(Base):
    """One signed-in browser. The cookie (an HS256 JWT) names it; logout deletes it, which invalidates the cookie."""

    __tablename__ = "creator_sessions"
    __table_args__ = (Index(None, "user_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())


class OAuthState(Base):
    """A sign-in in flight: its `state` and PKCE verifier. The callback deletes it, so a state works once."""

    __tablename__ = "oauth_states"

    state: Mapped[str] = mapped_column(String(128), primary_key=True)
    code_verifier: Mapped[str] = mapped_column(String(128))
    nonce: Mapped[str] = mapped_column(String(128))
    next_path: Mapped[str] = mapped_column(String(512), default="/creator/")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class DriveWatch(Base):
    """The Drive folder a creator watches, the preset applied to what lands there and the changes cursor."""

    __tablename__ = "drive_watches"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    folder_id: Mapped[str] = mapped_column(String(256))
    folder_name: Mapped[str] = mapped_column(String(1024))
    output_folder_id: Mapped[str] = mapped_column(String(256))
    preset: Mapped[str] = mapped_column(String(128))
    # The creator's values of the preset's parameters (None: the preset's defaults), read as each photo's job is made.
    preset_params: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    # The name of the folder edited photos go to, inside the watched one (None: DRIVE_OUTPUT_FOLDER_NAME).
    output_folder_name: Mapped[str | None] = mapped_column(String(255))
    # Drive changes API cursor; None until the first sync has listed the folder.
    page_token: Mapped[str | None] = mapped_column(String(256))
    paused_reason: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class DriveFile(Base):
    """One version of one file seen in a watched folder, and what became of it. Unique per version: a file is
    processed once, however often sync runs see it."""

    __tablename__ = "drive_files"
    __table_args__ = (
        CheckConstraint(_one_of("status", DriveFileStatus), name="status"),
        UniqueConstraint("user_id", "file_id", "version"),
        UniqueConstraint("user_id", "file_id", "edition"),
        Index(None, "user_id", "updated_at"),
        Index(None, "sync_workflow_id"),
        Index(None, "user_id", "admitted_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    file_id: Mapped[str] = mapped_column(String(256))
    version: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(1024))
    mime_type: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(24), default=DriveFileStatus.PROCESSING.value)
    reason: Mapped[str | None] = mapped_column(String(2048))  # why it failed or was skipped
    job_id: Mapped[str | None] = mapped_column(String(36))
    output_file_id: Mapped[str | None] = mapped_column(String(256))
    output_name: Mapped[str | None] = mapped_column(String(1024))
    sync_workflow_id: Mapped[str | None] = mapped_column(String(256))  # the sync run that found it
    # 1 for the first version of a file taken up for editing, 2 for the next...: names its output apart from
    # the outputs of the file's other versions. None until taken up (and on rows older than editions).
    edition: Mapped[int | None] = mapped_column(Integer)
    # When the creator's monthly quota let this version be edited (None while it waits for quota, and on rows
    # older than quotas): the month's photos are the versions admitted in it that did not fail.
    admitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Drive's headRevisionId of this version when listed: the bytes a photo waiting for quota is edited from.
    revision: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class SentEmailStatus(StrEnum):
    SENDING = "sending"  # an attempt began its SMTP conversation; whether the server took it is not known
    NOT_SENT = "not_sent"  # the last attempt never reached the server, or the server refused it
    SENT = "sent"  # the SMTP server accepted it


class SentEmail(Base):
    """An email under a key that names what it is about (a sync batch, a reconnect notice): recorded as `sending`
    before an attempt talks to the SMTP server, `sent` the moment the server accepts it (or `not_sent` when it
    surely did not), so a retried attempt does not send it twice, and one that finds `sending` knows an earlier
    attempt may have got through."""

    __tablename__ = "sent_emails"
    __table_args__ = (Index(None, "user_id", "sent_at"),
                      CheckConstraint(_one_of("status", SentEmailStatus), name="status"))

    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))  # sync_summary | reconnect
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(16), default=SentEmailStatus.SENT.value,
                                        server_default=SentEmailStatus.SENT.value)
    attempts: Mapped[int] = mapped_column(Integer, default=1, server_default="1")  # conversations begun
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())  # when the SMTP server accepted it


class Subscription(Base):
    """An account's Stripe subscription as last read from Stripe (never from an event's own copy, so events that
    arrive twice or out of order leave the state Stripe holds)."""

    __tablename__ = "subscriptions"

    account_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    stripe_subscription_id: Mapped[str] = mapped_column(String(64), unique=True)
    plan: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))  # Stripe's: active, past_due, canceled ...
    current_period_start: Mapped[datetime | None] = mapped_column(UtcDateTime())
    current_period_end: Mapped[datetime | None] = mapped_column(UtcDateTime())
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    past_due_since: Mapped[datetime | None] = mapped_column(UtcDateTime())  # when a renewal payment failed
    synced_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class StripeEvent(Base):
    """The inbox of Stripe webhook events: each stored once by its id; a StripeEventWorkflow handles it."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # evt_...
    type: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[str | None] = mapped_column(String(36))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    outcome: Mapped[str | None] = mapped_column(String(256))  # what handling did, or why it ignored the event


class MeterReportStatus(StrEnum):
    PENDING = "pending"  # to be reported (retried while Stripe does not answer)
    SENT = "sent"
    NOT_BILLED = "not_billed"  # nothing to bill: within the plan's included images, or a plan not billed by use


class MeterReport(Base):
    """What a succeeded API job was billed by use: one row per job, its meter events sent once (the job id is
    their identifier at Stripe, so a retried report is never billed twice)."""

    __tablename__ = "meter_reports"
    __table_args__ = (CheckConstraint(_one_of("status", MeterReportStatus), name="status"),
                      Index(None, "status", "created_at"))

    job_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=MeterReportStatus.PENDING.value)
    images: Mapped[int] = mapped_column(Integer, default=0)  # billed images (past the included ones)
    gpu_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


# --- operations: limits shared by every API process and ComfyUI slots shared by every comfy worker -------------


class RateLimitBucket(Base):
    """A key's request-rate token bucket on PostgreSQL, where every API replica spends from the same one (SQLite
    deployments are one process and keep theirs in memory). `updated_at` is the database's clock, in epoch
    seconds, so replicas whose clocks differ still refill it at one rate; `allowed` is whether the last request
    got a token (one statement spends and answers)."""

    __tablename__ = "rate_limit_buckets"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    allowed: Mapped[bool] = mapped_column(default=True)


class JobAdmission(Base):
    """A job an API key was admitted for and whose row is not written yet: counted with the key's unfinished
    jobs, so requests racing through the concurrent-jobs check on any replica cannot all pass it. Deleted when
    the request ends; one a crashed process left counts until it expires."""

    __tablename__ = "job_admissions"
    __table_args__ = (Index(None, "api_key_id"),)

    job_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    api_key_id: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ComfySlotLease(Base):
    """A prompt on a ComfyUI backend: one of its COMFY_SLOTS_PER_BACKEND slots, held by the job's ComfyUI activity
    on whichever worker runs it, so that any number of workers serving a backend keep at most that many prompts
    on it. Renewed while the prompt runs; a dead worker's lease expires, and its job's retry takes it over."""

    __tablename__ = "comfy_slot_leases"
    __table_args__ = (Index(None, "backend", "expires_at"),)

    job_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    backend: Mapped[str] = mapped_column(String(512))
    worker: Mapped[str] = mapped_column(String(255))  # the Temporal worker identity that holds it, for operators
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ComfyBackend(Base):
    """The registry of what each ComfyUI backend can run: the node classes and model files its `/object_info`
    lists (refreshed by the comfy workers serving it when it comes back and every COMFY_REGISTRY_REFRESH_S),
    whether it answers, and the checkpoint of the last prompt queued on it (what it will have loaded)."""

    __tablename__ = "comfy_backends"

    url: Mapped[str] = mapped_column(String(512), primary_key=True)
    task_queue: Mapped[str] = mapped_column(String(255))  # the backend group (COMFY_TASK_QUEUE) serving it
    up: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[str | None] = mapped_column(String(64))
    node_classes: Mapped[list[str]] = mapped_column(JsonType, default=list)
    models: Mapped[dict[str, list[str]]] = mapped_column(JsonType, default=dict)  # model input -> files
    loaded_checkpoint: Mapped[str | None] = mapped_column(String(512))
    refreshed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())  # inventory last read
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ComfySlotWaiter(Base):
    """A job's ComfyUI activity waiting for a slot, oldest first. A job that let free slots go for its affinity
    bound (COMFY_AFFINITY_WAIT_S), or has waited STARVING_AFTER_S in all, goes before younger ones on every
    backend it can run on, so no job starves. Renewed as it polls; a row nobody renews (its worker died) stops
    counting."""

    __tablename__ = "comfy_slot_waiters"

    job_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    backends: Mapped[list[str]] = mapped_column(JsonType, default=list)  # those it can run on
    checkpoint: Mapped[str | None] = mapped_column(String(512))  # the one it loads
    since: Mapped[datetime] = mapped_column(UtcDateTime())
    # When it first let a free slot go, waiting for a backend with its checkpoint loaded.
    passed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
