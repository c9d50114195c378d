"""Billing benchmark (issue 13): what billing costs the platform's hot paths, measured against a baseline in the
same run.

(a) `quota_check`: the plan and quota check's cost on `POST /api/v1/jobs`, p50 with it minus p50 without it
    (bench/quota_check.py); target under 2 ms added;
(b) `stripe_webhooks`: Stripe webhook events accepted and handled per second on this machine's cores, through
    the API, Temporal, the worker and Stripe (bench/stripe_events.py).

Each part runs on a stack of its own (the first leaves a queue of unstarted jobs a worker would pick up), on the
embedded SQLite by default or on BENCH_DATABASE_URL. Knobs: BENCH_SAMPLES (requests per arm in (a), 1000),
BENCH_USAGE_ROWS (the account's usage records this period in (a), 10,000), BENCH_STRIPE_EVENTS (500) and
BENCH_STRIPE_CONCURRENCY (20) in (b).

    make bench            # or: .venv/bin/python -m bench.billing   (writes bench/results/billing.json)
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench import quota_check, stripe_events
from bench.stack import save_results

RESULTS = Path(__file__).parent / "results" / "billing.json"


async def main() -> dict:
    return {"quota_check": await quota_check.measure(), "stripe_webhooks": await stripe_events.measure()}


def run() -> None:
    figures = asyncio.run(main())
    save_results(RESULTS, figures)
    quota, hooks = figures["quota_check"], figures["stripe_webhooks"]
    rows = [
        ("POST /api/v1/jobs p50 with / without check (ms)", quota["with_check_p50_ms"], quota["without_check_p50_ms"]),
        ("check added, p50 (ms) / target", quota["added_p50_ms"],
         f"< {quota['target_ms']} {'met' if quota['met'] else 'MISSED'}"),
        ("Stripe events accepted / handled per s", hooks["accepted_per_s"], hooks["handled_per_s"]),
        ("on cores (usable / in machine)", hooks["usable_cores"], hooks["cpu_count"]),
    ]
    for label, first, second in rows:
        print(f"{label:50} {first:>8} / {second}")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    run()
