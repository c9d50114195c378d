"""Per-key limits over real HTTP: the request rate and the cap on unfinished jobs answer 429 with Retry-After."""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest_asyncio

from api.limits import RateLimiter

TERMINAL = ("succeeded", "failed", "cancelled")


@pytest_asyncio.fixture
async def probe_url(api_server) -> str:
    """Any authenticated route is rate limited; the preset catalogue is the cheapest one."""
    return api_server.url


def client(url: str, secret: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {secret}"})


async def test_fourth_request_in_a_minute_gets_429_with_retry_after(probe_url, make_key):
    created = await make_key(rate_limit_per_minute=3)
    async with client(probe_url, created.secret) as http:
        for _ in range(3):
            assert (await http.get("/api/v1/presets")).status_code == 200
        reply = await http.get("/api/v1/presets")
    assert reply.status_code == 429
    error = reply.json()["error"]
    assert error["code"] == "rate_limited" and "3 requests per minute" in error["message"]
    assert 1 <= int(reply.headers["retry-after"]) <= 20


async def test_rate_limits_are_per_key_and_unauthenticated_requests_get_401(probe_url, make_key):
    busy, other = await make_key(rate_limit_per_minute=1), await make_key(rate_limit_per_minute=1)
    async with client(probe_url, busy.secret) as first, client(probe_url, other.secret) as second:
        assert (await first.get("/api/v1/presets")).status_code == 200
        assert (await first.get("/api/v1/presets")).status_code == 429
        assert (await second.get("/api/v1/presets")).status_code == 200
    async with client(probe_url, "sk_unknown") as unknown:
        assert (await unknown.get("/api/v1/presets")).status_code == 401


async def test_job_creation_counts_against_the_rate_once(probe_url, api_server, make_key):
    """The create route also checks the rate; a request already counted by the dependency is not counted twice."""
    created = await make_key(rate_limit_per_minute=2)
    body = {"preset": "no_such_preset", "image": {"upload_id": "none"}}  # refused after the limits: no job
    async with api_server.client(created.secret) as http:
        replies = [await http.post("/api/v1/jobs", json=body) for _ in range(3)]
    assert [r.status_code for r in replies[:2]] == [422, 422], replies[0].text
    assert replies[2].status_code == 429, replies[2].text


async def test_second_job_while_the_first_runs_gets_429_too_many_jobs(api_server, make_key, clean_emulator):
    await clean_emulator.set_faults(node_latency={"KSampler": 3})
    created = await make_key(max_concurrent_jobs=1)

    def body() -> dict:
        return {"workflow": "t2i_basic", "params": {"seed": random.randrange(1 << 30), "steps": 2, "width": 64,
                                                    "height": 64}}

    async with api_server.client(created.secret) as http:
        first = await http.post("/api/v1/jobs", json=body())
        assert first.status_code == 202, first.text
        refused = await http.post("/api/v1/jobs", json=body())
        assert refused.status_code == 429, refused.text
        error = refused.json()["error"]
        assert error["code"] == "too_many_jobs" and error["details"]["limit"] == 1
        assert int(refused.headers["retry-after"]) > 0
        for _ in range(300):
            job = (await http.get(f"/api/v1/jobs/{first.json()['id']}")).json()
            if job["status"] in TERMINAL:
                break
            await asyncio.sleep(0.1)
        assert job["status"] == "succeeded", job
        assert (await http.post("/api/v1/jobs", json=body())).status_code == 202


def test_bucket_refills_evenly_over_the_minute():
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert [limiter.take("k", 6) for _ in range(6)] == [0.0] * 6
    assert limiter.take("k", 6) == 10.0  # 6 a minute: one every 10 s
    now[0] = 10.0
    assert limiter.take("k", 6) == 0.0
    assert limiter.take("k", 6) > 0
    now[0] = 1000.0  # a long pause refills to the limit, not beyond
    assert [limiter.take("k", 6) for _ in range(7)].count(0.0) == 6


def test_lowering_a_keys_limit_takes_effect_at_once():
    limiter = RateLimiter(clock=lambda: 0.0)
    limiter.take("k", 100)
    assert [limiter.take("k", 2) for _ in range(3)] == [0.0, 0.0, 30.0]
