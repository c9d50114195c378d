"""Traces with OpenTelemetry: set up once per process, exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is
set. The API's requests (api/main.py), Temporal calls, workflows and activities (comfy_platform/temporal.py's
interceptor) and every httpx request (the ComfyUI client's, among others) make spans of one trace per job, and
each JSON log line written inside a span carries its `trace_id` (comfy_platform/logs.py)."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from comfy_platform.settings import Settings


def setup_tracing(settings: Settings, role: str, processor: SpanProcessor | None = None) -> bool:
    """Install a tracer provider for this process (`role`: api, worker-io ...), exporting to the OTLP endpoint or to
    `processor` (tests collect spans in memory). False, and nothing installed, when there is nowhere to send them."""
    if processor is None:
        if not settings.OTEL_EXPORTER_OTLP_ENDPOINT:
            return False
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = settings.OTEL_EXPORTER_OTLP_ENDPOINT.rstrip("/") + "/v1/traces"
        processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint))
    provider = TracerProvider(resource=Resource.create({"service.name": f"{settings.OTEL_SERVICE_NAME}-{role}"}))
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    HTTPXClientInstrumentor().instrument()
    return True


def tracing_on() -> bool:
    """Whether spans are recorded in this process: instrumenting the API costs per request only then."""
    return isinstance(trace.get_tracer_provider(), TracerProvider)
