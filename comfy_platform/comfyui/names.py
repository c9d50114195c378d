"""The name a ComfyUI backend goes by where customers can see it (a job's `backend`, `GET /api/ready`, a 422
`no_backend_can_run`): `gpu-` and 8 hex digits of a hash of its URL, stable across restarts and processes. Its
address (host, port, credentials) stays inside: operators see URLs in metrics, logs and the Temporal UI, and the
comfy worker logs which name is which URL when it starts."""

from __future__ import annotations

import hashlib

from comfy_platform.metrics import backend_label


def public_backend_name(url: str) -> str:
    return "gpu-" + hashlib.sha256(backend_label(url).encode()).hexdigest()[:8]
