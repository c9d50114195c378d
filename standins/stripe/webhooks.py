"""Webhook delivery: each event goes to every enabled endpoint that listens to its type, signed as Stripe
signs (`Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body" under the endpoint's secret>`, the
time being the moment of sending, so the SDK's five-minute tolerance holds whatever the stand-in's clock
says), retried after `retry_delays` while the receiver answers non-2xx or cannot be reached, then given up.

One sender sends one delivery at a time, the earliest due first, so the order receivers see is the order
events happened in, unless a test asks otherwise: hold (queue without sending), release in order or in
reverse, deliver an event again (a duplicate), or late. Every attempt is logged for tests to read.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import aiohttp

if TYPE_CHECKING:
    from .state import StripeState

log = logging.getLogger("standins.stripe.webhooks")
MAX_LOG = 2000


def sign(payload: str, secret: str, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def listens(endpoint: dict, event_type: str) -> bool:
    return endpoint["status"] == "enabled" and ("*" in endpoint["enabled_events"]
                                                or event_type in endpoint["enabled_events"])


@dataclass
class Delivery:
    id: int
    event: str
    endpoint: str
    due: float  # wall-clock time of the next attempt
    order: float  # ties between deliveries due together: lower first
    attempts: int = 0
    held: bool = False
    duplicate: bool = False  # a test's extra copy: does not count in the event's pending_webhooks


class Webhooks:
    def __init__(self, state: StripeState) -> None:
        self.state = state
        self.pending: list[Delivery] = []
        self.attempts: list[dict] = []
        self.holding = False
        self.delay_s = 0.0  # every new delivery waits this long first ("late" deliveries)
        self._counter = 0
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._session: aiohttp.ClientSession | None = None

    # --- queueing (called from handlers; never awaits)
    def enqueue(self, event: dict, *, endpoints: list[str] | None = None, duplicate: bool = False,
                delay_s: float | None = None) -> int:
        """Queue `event` for its endpoints (or these); the number of deliveries queued."""
        targets = [e for e in self.state.store.webhook_endpoints.values()
                   if (endpoints is None or e["id"] in endpoints) and listens(e, event["type"])]
        due = time.time() + (self.delay_s if delay_s is None else delay_s)
        for endpoint in targets:
            self._counter += 1
            self.pending.append(Delivery(self._counter, event["id"], endpoint["id"], due, float(self._counter),
                                         held=self.holding, duplicate=duplicate))
        self._poke()
        return len(targets)

    def hold(self) -> None:
        self.holding = True

    def release(self, order: str = "sent") -> int:
        """Stop holding and send what was held now: in the order it was queued ("sent") or reversed."""
        self.holding = False
        held = sorted((d for d in self.pending if d.held), key=lambda d: d.order)
        if order == "reverse":
            held.reverse()
        now = time.time()
        for rank, delivery in enumerate(held):
            delivery.held, delivery.due, delivery.order = False, now, float(-len(held) + rank)
        self._poke()
        return len(held)

    def drop_endpoint(self, endpoint_id: str) -> None:
        self.pending = [d for d in self.pending if d.endpoint != endpoint_id]

    def reset(self) -> None:
        self.pending.clear()
        self.attempts.clear()
        self.holding, self.delay_s = False, 0.0

    def dump(self) -> dict:
        return {"pending": [asdict(d) for d in self.pending], "holding": self.holding, "delay_s": self.delay_s,
                "counter": self._counter}

    def load(self, data: dict) -> None:
        self.pending = [Delivery(**d) for d in data.get("pending", [])]
        self.holding, self.delay_s = bool(data.get("holding")), float(data.get("delay_s", 0.0))
        self._counter = int(data.get("counter", 0))

    # --- sending
    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._session = aiohttp.ClientSession()
        self._task = asyncio.create_task(self._run(), name="stripe-webhooks")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _next(self) -> Delivery | None:
        ready = [d for d in self.pending if not d.held]
        return min(ready, key=lambda d: (d.due, d.order)) if ready else None

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            delivery = self._next()
            wait = None if delivery is None else delivery.due - time.time()
            if wait is None or wait > 0:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=wait)
                except TimeoutError:
                    pass
                continue
            try:
                await self._attempt(delivery)
            except Exception:  # a bug here must not stop every later delivery
                log.exception("webhook delivery %s failed unexpectedly", delivery)
                self._finish(delivery, delivered=False)

    async def _attempt(self, delivery: Delivery) -> None:
        store = self.state.store
        event, endpoint = store.events.get(delivery.event), store.webhook_endpoints.get(delivery.endpoint)
        if event is None or endpoint is None or endpoint["status"] != "enabled":
            self._finish(delivery, delivered=False)
            return
        payload = json.dumps({k: v for k, v in event.items() if not k.startswith("_")}, indent=2)
        timestamp = int(time.time())
        headers = {"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-cache",
                   "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                   "Accept": "*/*; q=0.5, application/xml",
                   "Stripe-Signature": sign(payload, endpoint["secret"], timestamp)}
        status: int | None = None
        error: str | None = None
        assert self._session is not None
        try:
            timeout = aiohttp.ClientTimeout(total=self.state.config.delivery_timeout_s)
            async with self._session.post(endpoint["url"], data=payload.encode(), headers=headers,
                                          timeout=timeout) as resp:
                status = resp.status
                await resp.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as failure:
            error = f"{type(failure).__name__}: {failure}"
        delivery.attempts += 1
        delivered = status is not None and 200 <= status < 300
        self._record(delivery, event, endpoint, status, error, delivered)
        if delivered:
            self._finish(delivery, delivered=True)
            return
        delays = self.state.config.retry_delays
        if delivery.attempts <= len(delays):
            delivery.due = time.time() + delays[delivery.attempts - 1]
            log.info("webhook %s %s to %s failed (%s); retry in %gs", event["type"], event["id"], endpoint["url"],
                     status or error, delays[delivery.attempts - 1])
        else:
            log.warning("webhook %s %s to %s given up after %d attempts", event["type"], event["id"],
                        endpoint["url"], delivery.attempts)
            self._finish(delivery, delivered=False)
        self.state.save()

    def _finish(self, delivery: Delivery, *, delivered: bool) -> None:
        if delivery in self.pending:
            self.pending.remove(delivery)
        event = self.state.store.events.get(delivery.event)
        if event is not None and not delivery.duplicate:
            event["pending_webhooks"] = max(0, event["pending_webhooks"] - 1)
        self.state.save()

    def _record(self, delivery: Delivery, event: dict, endpoint: dict, status: int | None, error: str | None,
                delivered: bool) -> None:
        entry: dict[str, Any] = {"event": event["id"], "type": event["type"], "endpoint": endpoint["id"],
                                 "url": endpoint["url"], "attempt": delivery.attempts, "status": status,
                                 "error": error, "delivered": delivered, "duplicate": delivery.duplicate,
                                 "at": time.time()}
        self.attempts.append(entry)
        del self.attempts[:-MAX_LOG]
