"""The platform's own Prometheus series, defined once per process (prometheus-client's default registry).

The API serves them at `/metrics` beside its HTTP series; each worker serves them, and the Temporal SDK's own, on
WORKER_METRICS_PORT. Labels name things operators own and that stay few (routes, products, backends, templates,
outcomes), never a key, a user or a job: one series per customer would grow without bound. Figures that need the
database (active users, jobs per day, meter events pending ...) are computed at scrape time by the collector in
db/metrics.py rather than counted here, so every replica reports the same truth.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from prometheus_client import Counter, Gauge, Histogram

# --- API (api/metrics.py records the HTTP series from its middleware)
HTTP_REQUESTS = Counter("comfy_http_requests", "HTTP requests answered, by route template, method and status",
                        ["handler", "method", "status"])
HTTP_LATENCY = Histogram("comfy_http_request_duration_seconds", "Time to answer an HTTP request, by route template",
                         ["handler", "method"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
API_REFUSALS = Counter("comfy_api_refusals", "Requests refused for limits, quota or overload (402, 429, 503), "
                       "by status and error code", ["status", "code"])
JOBS_CREATED = Counter("comfy_jobs_created", "Jobs recorded, by product (api, cli, creator)", ["product"])

# --- ComfyUI activity (comfy workers)
GENERATION_SECONDS = Histogram(
    "comfy_generation_seconds", "ComfyUI execution time of a job's prompt (as its history reports it)",
    ["backend", "template"], buckets=(0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600))
QUEUE_WAIT_SECONDS = Histogram(
    "comfy_queue_wait_seconds", "From the ComfyUI activity being scheduled to its prompt starting on the GPU: "
    "Temporal's queue, the wait for a slot and ComfyUI's own queue", ["backend", "template"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 1800))
PROMPTS_REQUEUED = Counter("comfy_prompts_requeued", "Prompts queued again after ComfyUI lost or someone else "
                           "interrupted them", ["backend"])
SLOT_WAIT_SECONDS = Histogram("comfy_slot_wait_seconds", "Time a ComfyUI activity waited for a free backend slot",
                              buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900))

# --- ComfyUI backends, sampled by each comfy worker (comfy_platform/comfyui/monitor.py). Several workers serving
# one backend each report it: read them with max by (backend).
BACKEND_UP = Gauge("comfy_backend_up", "1 when the backend answered its last queue check", ["backend"])
BACKEND_QUEUE_DEPTH = Gauge("comfy_backend_queue_depth", "Prompts running or pending in the backend's own queue",
                            ["backend"])
BACKEND_BUSY_RATIO = Gauge("comfy_backend_busy_ratio", "Share of the last minute's checks that found a prompt "
                           "running on the backend", ["backend"])
BACKEND_BUSY_SECONDS = Counter("comfy_backend_busy_seconds", "Seconds the backend was seen running a prompt "
                               "(rate() of it is the busy ratio)", ["backend"])
BACKEND_MODELS_LOADED = Counter("comfy_backend_models_loaded", "Prompts that had the backend load their "
                                "checkpoint (it had run another one last)", ["backend"])
BACKEND_MODEL_LOAD_SECONDS = Histogram("comfy_backend_model_load_seconds", "How long a backend took to load a "
                                       "checkpoint (its loader node's run, as the WebSocket reported it)",
                                       ["backend"], buckets=(0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300))
BACKEND_SLOTS_LEASED = Gauge("comfy_backend_slots_leased", "Prompts this worker holds a slot for, per backend",
                             ["backend"])

# --- io worker
WEBHOOK_DELIVERIES = Counter("comfy_webhook_deliveries", "Webhook delivery attempts, by outcome "
                             "(delivered, refused: a non-2xx answer, unreachable)", ["outcome"])
DRIVE_SYNC_TICKS = Counter("comfy_drive_sync_ticks", "Drive sync listings, by outcome (ok, reconnect_needed, "
                           "folder_gone, failed)", ["outcome"])
DRIVE_FILES = Counter("comfy_drive_files", "Drive files settled, by outcome (edited, failed, skipped)", ["outcome"])
EMAILS = Counter("comfy_emails", "Creator emails, by kind and outcome (sent, not_sent, skipped)",
                 ["kind", "outcome"])


def backend_label(url: str) -> str:
    """A backend as a label: its URL without credentials a deployment may have put in it."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}".rstrip("/")
