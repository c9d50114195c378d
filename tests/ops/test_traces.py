"""One job is one trace: the HTTP request, the workflow's start, the workflow, every activity and the calls to
ComfyUI share a trace id, collected here with OpenTelemetry's in-memory exporter; and each log line of the job
written inside it carries that trace id."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import random

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from api.main import create_app
from comfy_platform.logs import log_formatter
from comfy_platform.settings import Settings
from comfy_platform.tracing import setup_tracing
from tests.helpers.images import empty_image_graph
from tests.helpers.ports import free_port
from tests.helpers.processes import serving


@pytest.fixture(scope="module")
def spans():
    """Spans of this process, in memory (the tracer provider is the process's: set once, kept after)."""
    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(exporter)
    setup_tracing(Settings(_env_file=None), "test", processor)
    yield exporter
    processor.shutdown()  # later tests' spans go nowhere


@pytest.fixture
def json_lines():
    """The JSON lines the process writes meanwhile, from INFO up."""
    out, root = io.StringIO(), logging.getLogger()
    handler, level = logging.StreamHandler(out), root.level
    handler.setFormatter(log_formatter("json"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in out.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(level)


async def test_a_job_is_one_trace_from_the_request_to_the_comfyui_call(spans, json_lines, api_server, make_key,
                                                                       emulator):
    port = free_port()
    key = await make_key()
    async with serving(create_app(api_server.settings.model_copy(update={"API_PORT": port})), port), \
            api_server.client(key.secret) as http:
        http.base_url = f"http://127.0.0.1:{port}"
        created = await http.post("/api/v1/jobs", json={"graph": empty_image_graph(color=random.randrange(1 << 24))})
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]
        for _ in range(300):
            if (await http.get(f"/api/v1/jobs/{job_id}")).json()["status"] == "succeeded":
                break
            await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # the last activity's span ends just after the job's row

    finished = spans.get_finished_spans()
    (request,) = [s for s in finished if s.name == "POST /api/v1/jobs" and s.kind.name == "SERVER"
                  and s.attributes.get("http.route") == "/api/v1/jobs"][-1:]
    trace_id = request.context.trace_id
    in_trace = [s for s in finished if s.context.trace_id == trace_id]
    names = {s.name for s in in_trace}
    assert {"StartWorkflow:GenerationWorkflow", "RunWorkflow:GenerationWorkflow", "StartActivity:run_graph",
            "RunActivity:run_graph"} <= names, names
    comfy_calls = [s for s in in_trace if s.kind.name == "CLIENT" and emulator.url.rstrip("/") in
                   str(s.attributes.get("url.full") or s.attributes.get("http.url"))]
    assert any("/prompt" in str(s.attributes.get("url.full") or s.attributes.get("http.url")) for s in comfy_calls)
    # One tree, not several traces: every span of the job has its parent in it, but for the one root (the test's
    # own HTTP client, instrumented like any httpx client, which put the trace context on the request).
    by_id = {s.context.span_id: s for s in in_trace}
    roots = [s for s in in_trace if s.parent is None or s.parent.span_id not in by_id]
    assert len(roots) == 1 and roots[0].kind.name == "CLIENT", [r.name for r in roots]

    lines = [line for line in json_lines() if line.get("job_id") == job_id]
    assert lines and all(line.get("trace_id") == format(trace_id, "032x") for line in lines), lines
