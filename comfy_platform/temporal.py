"""How every process of the platform reaches Temporal: one data converter (encrypted payloads) and one tracing
interceptor, so a job's trace runs from the HTTP request through its workflow, activities and ComfyUI calls."""

from __future__ import annotations

from temporalio.client import Client, Interceptor
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.runtime import Runtime
from temporalio.service import ServiceClient

from comfy_platform.payload_codec import data_converter
from comfy_platform.settings import Settings


def interceptors() -> list[Interceptor]:
    """Spans for starting, signalling and querying workflows and for running workflows and activities. Without
    a tracer provider set up (comfy_platform/tracing.py) they are non-recording and cost next to nothing."""
    return [TracingInterceptor()]


async def connect(settings: Settings, *, runtime: Runtime | None = None, namespace: str | None = None) -> Client:
    return await Client.connect(settings.temporal_address, namespace=namespace or settings.TEMPORAL_NAMESPACE,
                                data_converter=data_converter(settings), interceptors=interceptors(),
                                runtime=runtime)


def client_on(service_client: ServiceClient, settings: Settings, namespace: str = "default") -> Client:
    """A client of the platform's kind over a connection made elsewhere (a test's dev server)."""
    return Client(service_client, namespace=namespace, data_converter=data_converter(settings),
                  interceptors=interceptors())
