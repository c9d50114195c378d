"""WebhookActivities: POST a finished job to its webhook URL, signed with its key's secret, one row per attempt."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from comfy_platform import metrics, netguard
from comfy_platform.secrets import Encryptor
from comfy_platform.storage import Storage
from comfy_platform.webhooks import signature_headers
from db import api_keys as key_queries
from db import jobs as job_queries
from db import webhooks as webhook_queries
from services.job_presenter import job_public
from workflows.shared import DeliverWebhookInput

# A receiver's Retry-After is honoured up to this; longer asks fall back to the workflow's backoff.
MAX_RETRY_AFTER = timedelta(hours=1)


class WebhookActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], storage: Storage, encryptor: Encryptor, *,
                 url_ttl_s: int, timeout_s: float, allowlist: str = "") -> None:
        self.sessionmaker = sessionmaker
        self.storage = storage
        self.encryptor = encryptor
        self.url_ttl_s = url_ttl_s
        self.timeout_s = timeout_s
        self.allowlist = allowlist

    @activity.defn
    async def deliver_webhook(self, request: DeliverWebhookInput) -> None:
        """One attempt. A 2xx returns; other answers and network errors raise to be retried; an unsafe URL or a
        job that cannot be signed fails for good. Every attempt is recorded on the job."""
        attempt = activity.info().attempt
        async with self.sessionmaker() as session:
            job = await job_queries.get_job(session, request.job_id)
            if job is None or not job.webhook_url:
                raise ApplicationError(f"job {request.job_id} has no webhook to deliver", type="NoWebhook",
                                       non_retryable=True)
            outputs = await job_queries.list_job_outputs(session, job.id)
            deliveries = await webhook_queries.list_deliveries(session, job.id)
            key = await key_queries.get_key(session, job.api_key_id) if job.api_key_id else None
        url = job.webhook_url

        async def record(**outcome) -> None:
            async with self.sessionmaker() as session, session.begin():
                await webhook_queries.record_delivery(session, job_id=job.id, webhook_id=request.webhook_id,
                                                      attempt=attempt, url=url, **outcome)

        if key is None:
            await record(error="the job has no API key whose webhook secret could sign the delivery")
            raise ApplicationError(f"job {job.id} has no API key to sign its webhook", type="NoWebhookSecret",
                                   non_retryable=True)
        try:
            target = await netguard.resolve_url(url, self.allowlist)
        except netguard.UnsafeUrl as exc:
            await record(error=str(exc))
            raise _expected(f"job {job.id}: webhook {url} refused: {exc}", "UnsafeUrl", non_retryable=True) from None
        except netguard.FetchFailed as exc:  # the host does not resolve, for now
            await record(error=str(exc))
            raise _expected(f"job {job.id}: webhook {url} not reached: {exc}", "WebhookUnreachable") from None

        public = await job_public(job, outputs, self.storage, self.url_ttl_s, deliveries=deliveries)
        body = json.dumps(public.model_dump(mode="json"), separators=(",", ":")).encode()
        secret = self.encryptor.decrypt(key.webhook_secret_encrypted)
        headers = {**target.headers, "content-type": "application/json", "user-agent": "comfy-platform-webhooks",
                   **signature_headers(secret, request.webhook_id, body)}

        started = time.monotonic()
        try:
            # No redirects: a webhook URL is where the receiver is, and a redirect would skip the address check.
            async with httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False, trust_env=False) as client:
                response = await client.post(target.connect_url, content=body, headers=headers,
                                             extensions=target.extensions)
        except httpx.HTTPError as exc:
            why = "timed out" if isinstance(exc, httpx.TimeoutException) else f"failed ({type(exc).__name__}: {exc})"
            await record(error=f"POST {url} {why}", duration_ms=_ms_since(started))
            metrics.WEBHOOK_DELIVERIES.labels("unreachable").inc()
            raise _expected(f"webhook POST to {url} {why}", "WebhookUnreachable") from None
        duration_ms = _ms_since(started)

        if response.is_success:
            await record(status_code=response.status_code, duration_ms=duration_ms, delivered=True)
            metrics.WEBHOOK_DELIVERIES.labels("delivered").inc()
            return
        await record(status_code=response.status_code, error=f"HTTP {response.status_code}", duration_ms=duration_ms)
        metrics.WEBHOOK_DELIVERIES.labels("refused").inc()
        delay = _retry_after(response) if response.status_code in (429, 503) else None
        raise _expected(f"webhook receiver {url} answered HTTP {response.status_code}", "WebhookRejected",
                        next_retry_delay=delay)


def _ms_since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def _retry_after(response: httpx.Response) -> timedelta | None:
    """The delay a Retry-After header asks for (seconds or an HTTP date), if it is sensible."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        delay = timedelta(seconds=int(value))
    else:
        try:
            delay = parsedate_to_datetime(value) - datetime.now(UTC)
        except (TypeError, ValueError):
            return None
    return delay if timedelta(0) <= delay <= MAX_RETRY_AFTER else None


def _expected(message: str, kind: str, **options) -> ApplicationError:
    """A delivery that did not succeed for a reason of the receiver's (unreachable, refusing, at an address we
    refuse): one warning line, and an error Temporal logs without a traceback (BENIGN); tracebacks are for bugs."""
    activity.logger.warning("%s (attempt %d)", message, activity.info().attempt)
    return ApplicationError(message, type=kind, category=ApplicationErrorCategory.BENIGN, **options)
