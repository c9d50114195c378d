"""What the plan and quota check costs `POST /api/v1/jobs`: p50 and p95 of the 202 with the check and without it,
measured in the same run, interleaved in blocks, so the difference is the check's and not the machine's drift.

With: the account pays for a plan that refuses API use past its included images (bench/plans.json's
`bench_paid`), so every job reads the account's plan (the API's Entitlements cache, 5 s, as in production) and
the period's API images (db.billing.api_images_used): BENCH_USAGE_ROWS usage records of this account in this
period (10,000 by default), beside a previous period's and other accounts' records, and their images per day in
api_images_by_day, so the check runs on tables of realistic shape, analysed as autovacuum keeps them.
Without: the same app with FastAPI's `dependency_overrides` putting back what the API had before billing: one
fixed plan, read from nowhere, billed by use (no sum). The per-key rate limit and the count of unfinished jobs,
which predate billing, stay in both (the rate limit reads the plan from the same cache in both arms: a dict
lookup, a database read at most every 5 s).

The app runs in this process (`api.main.create_app`, driven through httpx's ASGITransport with its lifespan
entered) on the LocalStack's Temporal and database; no worker runs, so jobs only queue and the intake is what is
measured. One client, one request at a time: the check's latency, not the API's throughput. A difference of two
p50s of ~20-30 ms on a busy machine is noisy, so it comes with its 95 % bootstrap interval (`met` compares the
p50 difference itself with the target); the quota's query alone (`admit_api_job` in an open session, straight
on the database) is timed too, the sharper figure of what the check adds. The jobs are taken back at
the end, so no worker started later on the same database runs them.
"""

from __future__ import annotations

import os
import random
import statistics
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import insert, select, text

from api.deps import _entitlements
from api.main import create_app
from bench.stack import LocalStack, graph, percentile
from comfy_platform.secrets import Encryptor
from db.api_keys import create_key
from db.billing import save_subscription
from db.jobs import delete_unstarted_job
from db.models import ApiImagesByDay, Job, UsageRecord, new_id
from db.session import create_engine, create_sessionmaker
from db.users import account_for_email
from services.billing.entitlements import Entitlement
from services.billing.usage import admit_api_job, catalog_of, entitlement_of

PLAN = "bench_paid"  # bench/plans.json: paid, api_overage "refuse", no limit reached
SAMPLES = int(os.environ.get("BENCH_SAMPLES", 1000))  # per arm
BLOCK = 20  # requests of one arm before switching to the other
WARMUP = 20  # per arm, not counted
USAGE_ROWS = int(os.environ.get("BENCH_USAGE_ROWS", 10_000))  # the account's rows this period
OTHER_ACCOUNTS = 20  # each with USAGE_ROWS / 5 rows this period
TARGET_MS = 2.0


class FixedPlan:
    """What the API had before billing: one plan for every account, read from nowhere, never summed."""

    def __init__(self, entitlement: Entitlement) -> None:
        self.entitlement = entitlement

    async def of(self, account_id: str) -> Entitlement:
        return self.entitlement


async def seed(stack: LocalStack) -> tuple[str, str, str]:
    """A paying account with its API key and its period's usage; (account id, key id, key secret). Names are
    new each run, so runs on the same BENCH_DATABASE_URL do not add up."""
    run = uuid.uuid4().hex[:8]
    engine = create_engine(stack.settings.database_url)
    now = datetime.now(UTC)
    start, end = now - timedelta(days=20), now + timedelta(days=10)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            account = await account_for_email(session, f"bench-billing-{run}@example.com")
            # Limits from the plan (no per-key override), as a paying customer's key has them.
            key = await create_key(session, Encryptor.from_settings(stack.settings), account_id=account.id,
                                   name="bench-billing")
            await save_subscription(session, account.id, stripe_subscription_id=f"sub_bench_{run}", plan=PLAN,
                                    status="active", current_period_start=start, current_period_end=end,
                                    cancel_at_period_end=False)
            rows = usage_rows(account.id, key.key.id, start, now, USAGE_ROWS)  # this period
            rows += usage_rows(account.id, key.key.id, start - timedelta(days=30), start, USAGE_ROWS)  # the last
            for index in range(OTHER_ACCOUNTS):
                other = f"bench-other-{run}-{index}"
                rows += usage_rows(other, other, start, now, USAGE_ROWS // 5)
            for first in range(0, len(rows), 5_000):
                await session.execute(insert(UsageRecord), rows[first:first + 5_000])
            # Their images per account and UTC day, as finishing their jobs would have counted them.
            days = Counter()
            for row in rows:
                days[row["user_id"], row["created_at"].date()] += row["images"]
            await session.execute(insert(ApiImagesByDay), [{"user_id": user_id, "day": day, "images": images}
                                                            for (user_id, day), images in days.items()])
        # The planner's statistics and PostgreSQL's visibility map, as autovacuum keeps them on a live table.
        async with engine.connect() as connection:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            postgres = connection.dialect.name == "postgresql"
            await connection.execute(text("VACUUM ANALYZE usage_records, api_images_by_day" if postgres else "ANALYZE"))
    finally:
        await engine.dispose()
    return account.id, key.key.id, key.secret


def usage_rows(user_id: str, api_key_id: str, since: datetime, until: datetime, count: int) -> list[dict]:
    span = (until - since).total_seconds()
    return [{"id": new_id(), "job_id": None, "user_id": user_id, "api_key_id": api_key_id, "product": "api",
             "images": random.randint(1, 4), "gpu_seconds": random.uniform(0.5, 20.0),
             "created_at": since + timedelta(seconds=random.uniform(0, span))} for _ in range(count)]


async def take_back_jobs(stack: LocalStack, key_id: str) -> None:
    """Remove the jobs the benchmark queued, which no worker was meant to run: a worker started later on the same
    database would otherwise find them waiting for a start and run them."""
    engine = create_engine(stack.settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            for job_id in await session.scalars(select(Job.id).where(Job.api_key_id == key_id)):
                await delete_unstarted_job(session, job_id)
    finally:
        await engine.dispose()


async def post_job(http: httpx.AsyncClient) -> float:
    started = time.perf_counter()
    reply = await http.post("/api/v1/jobs", json={"graph": graph()})
    elapsed = time.perf_counter() - started
    assert reply.status_code == 202, reply.text
    return elapsed


async def query_alone(app, account_id: str, runs: int = 200) -> float:
    """p50 ms of the quota's query on its own: `admit_api_job` in an open session of the app's database, as the
    API calls it (after counting the key's unfinished jobs in the same session)."""
    state = app.state
    plan = await state.entitlements.of(account_id)
    times = []
    for _ in range(runs):
        async with state.sessionmaker() as session:
            await session.execute(select(1))
            started = time.perf_counter()
            await admit_api_job(session, account_id, plan, state.settings)
            times.append(time.perf_counter() - started)
    return percentile(times, 0.5) * 1000


def p50_difference_interval(first: list[float], second: list[float], rounds: int = 2000) -> tuple[float, float]:
    """The 95 % bootstrap interval of p50(first) - p50(second): how far this run's noise alone moves the figure."""
    differences = sorted(statistics.median(random.choices(first, k=len(first)))
                         - statistics.median(random.choices(second, k=len(second))) for _ in range(rounds))
    return differences[int(0.025 * rounds)], differences[int(0.975 * rounds) - 1]


async def measure() -> dict:
    async with LocalStack(emulators=1) as stack:
        account_id, key_id, secret = await seed(stack)
        app = create_app(stack.settings)
        transport = httpx.ASGITransport(app=app)
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=transport, base_url="http://bench", timeout=60,
                headers={"Authorization": f"Bearer {secret}"}) as http:
            async with app.state.sessionmaker() as session:
                paid = await entitlement_of(session, account_id, stack.settings)
            assert paid.plan.name == PLAN and paid.plan.api_overage == "refuse", paid
            fixed = FixedPlan(Entitlement(catalog_of(stack.settings).plan(PLAN).model_copy(
                update={"api_overage": "meter"}), "active", paid.period_start, paid.period_end))

            async def without_billing() -> FixedPlan:  # async: a plain function would run in the thread pool
                return fixed

            def arm(check: bool) -> None:
                if check:
                    app.dependency_overrides.pop(_entitlements, None)
                else:
                    app.dependency_overrides[_entitlements] = without_billing

            samples: dict[bool, list[float]] = {True: [], False: []}
            for check in (True, False):  # warm-up: connections, the graph check's cache, the first starts
                arm(check)
                for _ in range(WARMUP):
                    await post_job(http)
            # ABBA order: a drift that is linear over the run weighs on both arms alike.
            order = [check for block in range(max(1, SAMPLES // BLOCK))
                     for check in ((True, False) if block % 2 == 0 else (False, True))]
            for check in order:
                arm(check)
                for _ in range(BLOCK):
                    samples[check].append(await post_job(http))
            arm(True)
            query_ms = await query_alone(app, account_id)
        await take_back_jobs(stack, key_id)
        database = "sqlite" if stack.settings.database_url.startswith("sqlite") else "postgresql"
    with_, without = samples[True], samples[False]
    added = (percentile(with_, 0.5) - percentile(without, 0.5)) * 1000
    low, high = p50_difference_interval(with_, without)
    return {
        "added_p50_ms": round(added, 2),
        "added_p50_ms_95ci": [round(low * 1000, 2), round(high * 1000, 2)],
        "added_p95_ms": round((percentile(with_, 0.95) - percentile(without, 0.95)) * 1000, 2),
        "with_check_p50_ms": round(percentile(with_, 0.5) * 1000, 2),
        "without_check_p50_ms": round(percentile(without, 0.5) * 1000, 2),
        "with_check_p95_ms": round(percentile(with_, 0.95) * 1000, 2),
        "without_check_p95_ms": round(percentile(without, 0.95) * 1000, 2),
        "quota_query_alone_p50_ms": round(query_ms, 2),
        "samples_per_arm": len(with_), "block": BLOCK,
        "usage_rows_of_account_this_period": USAGE_ROWS,
        "usage_rows_seeded": 2 * USAGE_ROWS + OTHER_ACCOUNTS * (USAGE_ROWS // 5),
        "database": database,
        "target_ms": TARGET_MS, "met": added < TARGET_MS,
    }
