"""The worker process: settings -> clients -> activity instances -> one Worker per task queue."""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from activities.accounts import AccountActivities
from activities.backend_registry import BackendRegistry
from activities.billing import BillingActivities
from activities.comfy import ComfyActivities
from activities.comfy_slots import SlotLeases
from activities.creator import CreatorActivities
from activities.drive import DriveActivities
from activities.email import EmailActivities
from activities.jobs import JobActivities
from activities.storage import StorageActivities
from activities.webhooks import WebhookActivities
from comfy_platform.comfyui.monitor import BackendMonitor
from comfy_platform.comfyui.names import public_backend_name
from comfy_platform.comfyui.pool import BackendPool
from comfy_platform.images import image_checker
from comfy_platform.mail import Mailer
from comfy_platform.secrets import Encryptor
from comfy_platform.settings import Settings
from comfy_platform.storage import storage_from_settings
from comfy_platform.stripe_client import stripe_client
from comfy_platform.temporal import connect
from comfy_platform.tracing import setup_tracing
from db.metrics import BusinessFigures
from db.session import create_engine, create_sessionmaker, migrate
from services.accounts import AccountDeletion
from services.billing.stripe_billing import StripeBilling
from services.job_starts import ensure_start_sweeper
from workers.metrics import WorkerMetrics, temporal_runtime
from workflows.account_deletion import AccountDeletionWorkflow
from workflows.billing import MeterUsageWorkflow, StripeEventWorkflow
from workflows.creator_email import CreatorEmailWorkflow
from workflows.drive_file import ProcessDriveFileWorkflow
from workflows.drive_sync import DriveSyncWorkflow
from workflows.generation import GenerationWorkflow
from workflows.job_starts import StartPendingJobsWorkflow
from workflows.shared import IO_TASK_QUEUE
from workflows.webhook import WebhookDeliveryWorkflow

log = logging.getLogger(__name__)


async def build_workers(client: Client, settings: Settings, role: str = "all",
                        io_task_queue: str = IO_TASK_QUEUE) -> tuple[list[Worker], list]:
    """The Workers this process runs, and what to close after them. `role`: all | io | comfy. `io_task_queue` is
    for tests that need an io worker of their own (one they can kill) beside the session's."""
    storage = storage_from_settings(settings)
    workers, closers = [], []
    engine = create_engine(settings.database_url)
    closers.append(engine.dispose)
    sessionmaker = create_sessionmaker(engine)
    if role in ("all", "io"):
        encryptor = Encryptor.from_settings(settings)
        await ensure_start_sweeper(client)
        jobs = JobActivities(sessionmaker)
        webhooks = WebhookActivities(sessionmaker, storage, encryptor,
                                     url_ttl_s=settings.OUTPUT_URL_TTL_S, timeout_s=settings.WEBHOOK_TIMEOUT_S,
                                     allowlist=settings.URL_ALLOWLIST)
        drive = DriveActivities(sessionmaker, storage, settings, encryptor)
        creator = CreatorActivities(sessionmaker, client)
        emails = EmailActivities(sessionmaker, Mailer.from_settings(settings),
                                 drive_web_url=settings.GOOGLE_DRIVE_WEB_URL, public_base_url=settings.public_base_url)
        inputs = StorageActivities(storage, image_checker(settings.IMAGE_DECODE_BUDGET_BYTES))
        stripe = stripe_client(settings)
        stripe_billing = StripeBilling(stripe, sessionmaker, settings) if stripe else None
        billing = BillingActivities(sessionmaker, settings, stripe_billing)
        accounts = AccountActivities(AccountDeletion(sessionmaker, storage, client, settings, encryptor, stripe_billing))
        workers.append(Worker(
            client, task_queue=io_task_queue,
            workflows=[GenerationWorkflow, WebhookDeliveryWorkflow, DriveSyncWorkflow, ProcessDriveFileWorkflow,
                       CreatorEmailWorkflow, StartPendingJobsWorkflow, StripeEventWorkflow, MeterUsageWorkflow,
                       AccountDeletionWorkflow],
            activities=[inputs.check_inputs, jobs.mark_running, jobs.finish_job, jobs.start_pending_jobs,
                        webhooks.deliver_webhook, drive.list_new_files, drive.prepare_job, drive.upload_output,
                        creator.save_page_token, creator.record_drive_file, creator.suspend_sync,
                        emails.send_sync_summary, emails.send_reconnect_notice, emails.send_quota_notice,
                        billing.apply_stripe_event, billing.report_job_usage, billing.check_photo_quota,
                        accounts.close_account_access, accounts.end_account_subscriptions,
                        accounts.cancel_account_jobs, accounts.delete_account_jobs, accounts.delete_account_uploads,
                        accounts.delete_account_photos, accounts.delete_account_row]))
    if role in ("all", "comfy"):
        pool = BackendPool(settings.comfyui_urls, slots=settings.COMFY_SLOTS_PER_BACKEND)
        # What each backend can run, in the database for the API and every worker: read once now, then kept true
        # by the monitor's checks (activities/backend_registry.py).
        registry = BackendRegistry(sessionmaker, pool, settings.COMFY_TASK_QUEUE,
                                   refresh_s=settings.COMFY_REGISTRY_REFRESH_S)
        await registry.refresh_all()
        monitor = BackendMonitor(pool, every_s=settings.BACKEND_POLL_S, on_sample=registry.sampled)
        monitor.start()
        closers += [monitor.close, pool.close]
        # Slots are leased in the database, so any number of workers serving the same backends together keep at
        # most COMFY_SLOTS_PER_BACKEND prompts on each, each prompt on a backend that can run it
        # (activities/comfy_slots.py).
        slots = SlotLeases(sessionmaker, pool, worker=client.identity, ttl_s=settings.COMFY_SLOT_LEASE_S,
                           affinity=settings.COMFY_AFFINITY, affinity_wait_s=settings.COMFY_AFFINITY_WAIT_S)
        # The second prompt on a backend waits in ComfyUI's own queue, so its GPU starts it the moment the first
        # one ends.
        workers.append(Worker(client, task_queue=settings.COMFY_TASK_QUEUE,
                              activities=[ComfyActivities(
                                  pool, storage, max_requeues=settings.COMFY_MAX_REQUEUES,
                                  backend_lost_after_s=settings.COMFY_BACKEND_LOST_AFTER_S, slots=slots,
                                  registry=registry).run_graph],
                              # Twice the slots: jobs only some backends can run may wait for those while others
                              # take the free slots elsewhere.
                              max_concurrent_activities=2 * pool.capacity,
                              # A cancel reaches an activity only with a heartbeat reply; without this cap the
                              # SDK sends them every 0.8 x heartbeat_timeout and a cancel could wait 16 s.
                              max_heartbeat_throttle_interval=timedelta(seconds=1),
                              graceful_shutdown_timeout=timedelta(seconds=5)))
        log.info("serving ComfyUI backends %s with %d slots each", ", ".join(
            f"{url} ({public_backend_name(url)})" for url in pool.urls), pool.slots)
    return workers, closers


async def run_worker(settings: Settings, role: str = "all") -> None:
    await migrate(settings.database_url)  # comfy workers lease slots in the database too
    setup_tracing(settings, f"worker-{role}")
    runtime, sdk_metrics = temporal_runtime(role)
    client = await connect(settings, runtime=runtime)
    workers, closers = await build_workers(client, settings, role)
    if settings.WORKER_METRICS_PORT:
        figures = []
        if role in ("all", "io"):  # the business figures, from this worker's own small pool
            figures_engine = create_engine(settings.database_url, pool_size=2, max_overflow=0)
            closers.append(figures_engine.dispose)
            figures.append(BusinessFigures(create_sessionmaker(figures_engine)))
        server = WorkerMetrics(settings.WORKER_METRICS_HOST, settings.WORKER_METRICS_PORT, sdk_url=sdk_metrics,
                               collectors=figures)
        await server.start()
        closers.insert(0, server.close)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker started (role=%s, temporal=%s)", role, settings.temporal_address)
    tasks = [asyncio.create_task(w.run()) for w in workers]
    await asyncio.wait([asyncio.create_task(stop.wait()), *tasks], return_when=asyncio.FIRST_COMPLETED)
    log.info("worker stopping")
    await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
    for close in closers:
        await close()
    for task in tasks:
        if task.done() and task.exception():
            raise task.exception()

