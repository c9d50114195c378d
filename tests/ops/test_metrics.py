"""A real Prometheus scrapes the API and a worker process while a few jobs run: the series operators watch are
there with sane values, and every query of the Grafana dashboard evaluates."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest_asyncio

from api.main import create_app
from tests.fixtures.prometheus import start_prometheus
from tests.helpers.images import empty_image_graph
from tests.helpers.ports import free_port
from tests.helpers.processes import serving, stop_process

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "comfy-platform.json"
JOBS = 3


@pytest_asyncio.fixture
async def worker_process(platform, emulator):
    """`comfy-platform worker` (io and comfy) as its own process, on a ComfyUI task queue of its own."""
    queue, port = f"comfy-metrics-{uuid.uuid4().hex[:8]}", free_port()
    env = platform.env(COMFY_TASK_QUEUE=queue, WORKER_METRICS_PORT=str(port), LOG_LEVEL="WARNING")
    process = subprocess.Popen([*platform.cli, "worker"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            assert process.poll() is None, "the worker exited"
            try:
                if (await http.get(f"http://127.0.0.1:{port}/metrics")).status_code == 200:
                    break
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    yield queue, f"127.0.0.1:{port}"
    stop_process(process)


async def test_prometheus_scrapes_the_series_operators_watch(platform, emulator, api_server, make_key,
                                                             worker_process, tmp_path):
    queue, worker = worker_process
    port = free_port()
    settings = api_server.settings.model_copy(update={"COMFY_TASK_QUEUE": queue, "API_PORT": port})
    key = await make_key(rate_limit_per_minute=10_000)
    prometheus = await start_prometheus({"api": f"127.0.0.1:{port}", "worker": worker}, tmp_path)
    try:
        async with serving(create_app(settings), port), httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key.secret}"}) as http:
            ids = []
            for _ in range(JOBS):
                reply = await http.post("/api/v1/generate", json={
                    "graph": empty_image_graph(color=random.randrange(1 << 24)), "timeout": 60})
                assert reply.status_code == 200 and reply.json()["status"] == "succeeded", reply.text
                ids.append(reply.json()["id"])
            assert (await http.get("/api/v1/jobs/no-such-job")).status_code == 404

            backend = emulator.url.rstrip("/")
            await prometheus.until('up{job="worker"} == 1')
            # The API: requests by route template and status, latency, jobs by product.
            assert await prometheus.until(
                'sum(comfy_http_requests_total{job="api", handler="/api/v1/generate", status="200"})') >= JOBS
            assert await prometheus.until('sum(comfy_http_requests_total{handler="/api/v1/jobs/{job_id}", '
                                          'status="404"})') >= 1
            p95 = await prometheus.until('histogram_quantile(0.95, sum by (le) '
                                         '(comfy_http_request_duration_seconds_bucket{handler="/api/v1/generate"}))')
            assert 0 < p95 < 60
            assert await prometheus.until('sum(comfy_jobs_created_total{job="api", product="api"})') >= JOBS
            # The worker: generation time and queue wait by backend, the backend's own state, the SDK's series.
            assert await prometheus.until(f'sum(comfy_generation_seconds_count{{job="worker", backend="{backend}"}})',
                                          timeout_s=60) >= JOBS
            generation = await prometheus.value(f'histogram_quantile(0.5, sum by (le) '
                                                f'(comfy_generation_seconds_bucket{{backend="{backend}"}}))')
            assert 0 < generation < 30
            assert await prometheus.value(f'comfy_queue_wait_seconds_count{{backend="{backend}", template="graph"}}')
            assert await prometheus.until(f'comfy_backend_up{{job="worker", backend="{backend}"}}') == 1
            assert await prometheus.value(f'comfy_backend_busy_ratio{{backend="{backend}"}}') is not None
            assert await prometheus.until('sum(temporal_activity_execution_latency_count{job="worker", '
                                          'activity_type="run_graph"})') >= JOBS
            # The business figures, from the database: no key or user in any label.
            assert await prometheus.until('sum(comfy_jobs_finished_last_day{job="worker", product="api", '
                                          'status="succeeded"})') >= JOBS
            assert await prometheus.value('comfy_meter_reports_pending{job="worker"}') is not None
            labels = {name for series in await prometheus.query('{job="worker", __name__=~"comfy_.*"}')
                      for name in series["metric"]}
            assert not labels & {"key", "api_key_id", "user_id", "account_id", "job_id"}
    finally:
        try:
            # Every query of the dashboard is one Prometheus accepts against these series.
            for panel in json.loads(DASHBOARD.read_text())["panels"]:
                for target in panel.get("targets", []):
                    await prometheus.query(target["expr"])
        finally:
            stop_process(prometheus.process)
