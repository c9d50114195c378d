"""Stripe webhook events handled per second on this machine's cores, end to end: from the first POST to
/webhooks/stripe to the last event's `handled_at` in the `stripe_events` inbox.

Real processes on loopback: the Temporal dev server, one emulator, the Stripe stand-in (`comfy-platform
stripe-emulator`), `comfy-platform api` and `comfy-platform worker` aimed at it (STRIPE_SECRET_KEY,
STRIPE_WEBHOOK_SECRET, STRIPE_API_BASE), after `comfy-platform billing setup` made the plans' prices there. An
account buys bench/plans.json's paid plan through the product's checkout (StripeBilling.checkout, paid at the
stand-in as a customer would), so it has a Stripe customer and an active subscription, and the stand-in's own
events have been handled before the window opens.

Then BENCH_STRIPE_EVENTS distinct `customer.subscription.updated` events naming that customer (500 by default),
signed as Stripe signs them, are posted by BENCH_STRIPE_CONCURRENCY clients (20). Each is verified, stored once
and handed to a StripeEventWorkflow by the API; the worker's activity re-reads the customer's subscriptions from
Stripe (the stand-in, on the same cores: real Stripe answers in 100-300 ms, which concurrency hides, but costs
this machine nothing) and stores them. Figures: events accepted per second (HTTP answered) and handled per second
(end to end), each event's time from stored to handled, the CPU each process spent per event (PostgreSQL's
backends of the database included, when BENCH_DATABASE_URL is one), and how busy the cores were, and the share
that went to processes outside the benchmark.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid

import httpx
from sqlalchemy import func, select, text

from bench.stack import (
    CLI,
    CpuShare,
    LocalStack,
    cpu_seconds,
    free_port,
    percentile,
    wait_for_port,
)
from comfy_platform.stripe_client import stripe_client
from db import billing as billing_queries
from db.models import StripeEvent, User, utcnow
from db.session import create_engine, create_sessionmaker
from db.users import account_for_email
from services.billing.stripe_billing import StripeBilling
from services.billing.usage import catalog_of
from standins.stripe import RunningStripe, StripeConfig
from standins.stripe.webhooks import sign

PLAN = "bench_paid"
EVENTS = int(os.environ.get("BENCH_STRIPE_EVENTS", 500))
CONCURRENCY = int(os.environ.get("BENCH_STRIPE_CONCURRENCY", 20))
WARMUP = 20
STRIPE_KEY = "sk_test_comfy_platform_bench"
WEBHOOK_SECRET = "whsec_Y29tZnktcGxhdGZvcm0tYmVuY2gtd2ViaG9vaw"
HANDLED_TIMEOUT_S = 600


def cores() -> dict:
    return {"cpu_count": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0))}


async def start_billing_stack(stack: LocalStack) -> tuple[int, int, dict[str, int]]:
    """The stand-in, `billing setup`, then the worker and the API; (API port, stand-in port, pids by name)."""
    api_port, stripe_port = free_port(), free_port()
    stack.start([*CLI, "stripe-emulator", "--host", "127.0.0.1", "--port", str(stripe_port), "--api-key", STRIPE_KEY,
                 "--webhook-url", f"http://127.0.0.1:{api_port}/webhooks/stripe", "--webhook-secret", WEBHOOK_SECRET,
                 "--log-level", "WARNING"])
    await wait_for_port(stripe_port)
    stripe_env = {"STRIPE_SECRET_KEY": STRIPE_KEY, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
                  "STRIPE_API_BASE": f"http://127.0.0.1:{stripe_port}"}
    stack.env.update(stripe_env)  # every process started from here on, and `billing setup`
    await asyncio.to_thread(subprocess.run, [*CLI, "billing", "setup"], env={**os.environ, **stack.env},
                            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stripe_pid = stack.pids[-1]
    stack.start([*CLI, "worker"])
    stack.start([*CLI, "api"], {"API_PORT": str(api_port)})
    await wait_for_port(api_port)
    temporal_pid, *_, worker_pid, api_pid = stack.pids
    return api_port, stripe_port, {"temporal": temporal_pid, "stripe_standin": stripe_pid, "worker": worker_pid,
                                   "api": api_pid}


async def subscribe(stack: LocalStack, stripe_port: int, sessionmaker) -> tuple[str, dict]:
    """An account on the paid plan, bought as a customer buys it; (its Stripe customer, its subscription)."""
    settings = stack.settings.model_copy(update={"STRIPE_SECRET_KEY": STRIPE_KEY,
                                                 "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
                                                 "STRIPE_API_BASE": f"http://127.0.0.1:{stripe_port}"})
    billing = StripeBilling(stripe_client(settings), sessionmaker, settings)
    since = utcnow()
    async with sessionmaker() as session, session.begin():
        account = await account_for_email(session, f"bench-stripe-{uuid.uuid4().hex[:8]}@example.com")
    url = await billing.checkout(account, catalog_of(settings).plan(PLAN), "http://127.0.0.1/ok",
                                 "http://127.0.0.1/cancel")
    await RunningStripe("127.0.0.1", stripe_port, StripeConfig()).pay_checkout(url.rstrip("/").rsplit("/", 1)[-1])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the stand-in's own events, through the API and the worker
        stack.check_alive()
        async with sessionmaker() as session:
            subscription = await billing_queries.get_subscription(session, account.id)
            unhandled = await session.scalar(select(func.count()).where(StripeEvent.received_at >= since,
                                                                        StripeEvent.handled_at.is_(None)))
        if subscription is not None and subscription.status == "active" and not unhandled:
            break
        await asyncio.sleep(0.2)
    else:
        raise RuntimeError("the checkout's events were not handled within 60 s")
    async with sessionmaker() as session:
        customer = (await session.get(User, account.id)).stripe_customer_id
    listed = await billing.client.v1.subscriptions.list_async({"customer": customer, "limit": 1})
    return customer, listed.data[0].to_dict()


def signed_events(prefix: str, count: int, subscription: dict) -> list[tuple[str, str]]:
    """(event id, body) of `count` distinct events: the subscription as Stripe would send it after a change."""
    events = []
    for index in range(count):
        event_id = f"evt_{prefix}{index:06d}"
        events.append((event_id, json.dumps({
            "id": event_id, "object": "event", "api_version": StripeConfig().api_version, "created": int(time.time()),
            "type": "customer.subscription.updated", "livemode": False, "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": {"object": subscription, "previous_attributes": {"cancel_at_period_end": True}},
        }, default=str)))  # Decimal: Stripe sends decimals (unit_amount_decimal) as strings
    return events


async def post_all(http: httpx.AsyncClient, events: list[tuple[str, str]]) -> list[float]:
    """Each event posted once, CONCURRENCY at a time, signed when it is sent; the POST latencies."""
    gate = asyncio.Semaphore(CONCURRENCY)
    latencies: list[float] = []

    async def post(body: str) -> None:
        async with gate:
            headers = {"Stripe-Signature": sign(body, WEBHOOK_SECRET, int(time.time())),
                       "Content-Type": "application/json"}
            started = time.perf_counter()
            reply = await http.post("/webhooks/stripe", content=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            assert reply.status_code == 200 and reply.json()["first_time"], reply.text

    await asyncio.gather(*(post(body) for _, body in events))
    return latencies


async def until_handled(stack: LocalStack, sessionmaker, prefix: str, count: int) -> list[StripeEvent]:
    """The events of `prefix`, once all `count` are handled."""
    deadline = time.monotonic() + HANDLED_TIMEOUT_S
    mine = StripeEvent.id.like(f"evt_{prefix}%")
    while time.monotonic() < deadline:
        stack.check_alive()
        async with sessionmaker() as session:
            handled = await session.scalar(select(func.count()).where(mine, StripeEvent.handled_at.is_not(None)))
            if handled == count:
                return list(await session.scalars(select(StripeEvent).where(mine)))
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{count - handled} of {count} events still unhandled after {HANDLED_TIMEOUT_S} s")


async def database_backends(sessionmaker) -> list[int]:
    """PostgreSQL's processes serving this database (the API's, the worker's and this pool's connections): their
    CPU is the benchmark's too. None on SQLite, which runs inside each process."""
    async with sessionmaker() as session:
        if session.get_bind().dialect.name != "postgresql":
            return []
        return list(await session.scalars(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")))


async def measure() -> dict:
    async with LocalStack(emulators=1) as stack:
        api_port, stripe_port, pids = await start_billing_stack(stack)
        engine = create_engine(stack.settings.database_url)
        sessionmaker = create_sessionmaker(engine)
        try:
            _, subscription = await subscribe(stack, stripe_port, sessionmaker)
            run = uuid.uuid4().hex[:8]
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=60,
                                         limits=httpx.Limits(max_connections=CONCURRENCY)) as http:
                await post_all(http, signed_events(f"warm{run}_", WARMUP, subscription))
                await until_handled(stack, sessionmaker, f"warm{run}_", WARMUP)
                events = signed_events(f"bench{run}_", EVENTS, subscription)
                groups = {**{name: [pid] for name, pid in pids.items()},
                          "postgres": await database_backends(sessionmaker), "bench_client": [os.getpid()]}
                before = {pid: cpu_seconds(pid) for group in groups.values() for pid in group}
                share = CpuShare(list(before))
                wall_start, started = time.time(), time.perf_counter()
                latencies = await post_all(http, events)
                accepted_s = time.perf_counter() - started
                rows = await until_handled(stack, sessionmaker, f"bench{run}_", EVENTS)
                groups["postgres"] = sorted({*groups["postgres"], *await database_backends(sessionmaker)})
                share.pids = [pid for group in groups.values() for pid in group]
                busy = share.result()
            # A backend that ended in the window takes its CPU with it (max 0); one that began counts from 0.
            cpu_ms = {name: round(sum(max(0.0, cpu_seconds(pid) - before.get(pid, 0.0)) for pid in group)
                                  * 1000 / EVENTS, 2) for name, group in groups.items() if group}
        finally:
            await engine.dispose()
        database = "sqlite" if stack.settings.database_url.startswith("sqlite") else "postgresql"
    handled_s = max(row.handled_at.timestamp() for row in rows) - wall_start
    handling = [(row.handled_at - row.received_at).total_seconds() for row in rows]
    outcomes = sorted({row.outcome for row in rows})
    return {
        "events": EVENTS, "concurrency": CONCURRENCY,
        "accepted_per_s": round(EVENTS / accepted_s, 1),
        "handled_per_s": round(EVENTS / handled_s, 1),
        "post_p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
        "post_p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "stored_to_handled_p50_s": round(percentile(handling, 0.5), 2),
        "stored_to_handled_p95_s": round(percentile(handling, 0.95), 2),
        "all_handled_after_s": round(handled_s, 2),
        "cpu_ms_per_event": cpu_ms,
        **busy, **cores(),
        "outcomes": outcomes,
        "database": database,
    }
