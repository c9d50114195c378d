"""/_emulator/*: control endpoints for tests and benchmarks. Not part of ComfyUI.

POST   /_emulator/faults  {"fail_node": "ImageBlur", "fail_message": "...", "fail_times": N,
                           "drop_sockets": true, "drop_socket_after_start": true,
                           "silent_socket": true, "stall_s": 5, "http_500": N,
                           "interrupt_delay_s": 0.5, "reply_delay_s": 5,
                           "node_latency": {"KSampler": 0.5}, "prompt_latency_s": 0.2,
                           "model_load_s": 2.0}
GET    /_emulator/faults  current faults and latency
DELETE /_emulator/faults  clear all faults, latency back to the start-up config
GET    /_emulator/stats   see below
POST   /_emulator/reset   clear faults, queue, history and cache (stats are kept)

GET /_emulator/stats answers
    {"executions": {prompt_id: times it started running},
     "prompts": [{"prompt_id": str, "number": number, "extra_data": {...}, "status": str,
                  "queued_at": epoch_s, "started_at": epoch_s | null, "finished_at": epoch_s | null,
                  "model_loads": times it loaded a checkpoint (0: the one it needed was loaded)},
                 ...],
     "busy_seconds": float, "model_loads": int, "load_seconds": float, "uptime_s": float}
"prompts" holds one record per accepted POST /prompt, oldest first (the newest 10 000), so a
prompt id queued twice has two records. "extra_data" is what the client posted under
"extra_data", without client_id, create_time and the sensitive keys: count a client's own tag
with [p for p in prompts if p["extra_data"].get("job") == tag] even where the server chose the
prompt ids. "status" is pending, running, success, error, interrupted, deleted (taken off the
queue unrun) or lost (the server stopped or died while it was queued or running); a record whose
started_at is set has run. With EmulatorConfig.stats_path (--stats-file) the stats also survive
the emulator process (stats.py).
"""

from __future__ import annotations

import logging

from aiohttp import web

from .faults import Faults
from .state import state_of

log = logging.getLogger("standins.comfyui.control")


async def get_faults(request: web.Request) -> web.Response:
    return web.json_response(state_of(request).faults.as_dict())


async def set_faults(request: web.Request) -> web.Response:
    state = state_of(request)
    try:
        body = await request.json()
    except ValueError:
        return web.json_response({"error": "body must be a JSON object"}, status=400)
    if not isinstance(body, dict):
        return web.json_response({"error": "body must be a JSON object"}, status=400)
    try:
        unknown = state.faults.update(body)
    except (TypeError, ValueError) as error:
        return web.json_response({"error": str(error)}, status=400)
    if unknown:
        return web.json_response({"error": f"unknown fault(s): {', '.join(unknown)}"}, status=400)
    log.warning("EMULATOR FAULTS set: %s", body)
    if body.get("drop_sockets"):
        await state.hub.drop_all()
    return web.json_response(state.faults.as_dict())


def _clear(state) -> None:
    fresh = Faults.from_config(state.config)
    for name in fresh.__dataclass_fields__:
        setattr(state.faults, name, getattr(fresh, name))


async def clear_faults(request: web.Request) -> web.Response:
    state = state_of(request)
    _clear(state)
    return web.json_response(state.faults.as_dict())


async def get_stats(request: web.Request) -> web.Response:
    return web.json_response(state_of(request).stats.as_dict())


async def reset(request: web.Request) -> web.Response:
    state = state_of(request)
    _clear(state)
    for item in state.queue.wipe():
        state.stats.finished(item, "deleted")
    state.executor.interrupt()
    state.queue.wipe_history()
    state.executor.cache.clear()
    return web.Response(status=200)


ROUTES = [
    ("GET", "/_emulator/faults", get_faults),
    ("POST", "/_emulator/faults", set_faults),
    ("DELETE", "/_emulator/faults", clear_faults),
    ("GET", "/_emulator/stats", get_stats),
    ("POST", "/_emulator/reset", reset),
]
