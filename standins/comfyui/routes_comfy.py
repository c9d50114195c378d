"""ComfyUI's JSON endpoints: system_stats, object_info, prompt, queue, interrupt, history, ...

Quirks kept on purpose (protocol §2, §6, §7): malformed /prompt bodies crash into a 500
text/plain page; unknown object_info classes and unknown history ids answer 200 {}; /queue
and /interrupt answer 200 with an empty body whatever happened (but for 0.3.64's crash on a
JSON list /interrupt body). What older servers do differently (client prompt ids, /interrupt,
/features) comes from the state's Behaviour.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
import uuid

from aiohttp import web

from .nodes import object_info
from .state import state_of
from .validation import MalformedPrompt, validate_prompt

log = logging.getLogger("standins.comfyui.http")

SENSITIVE_EXTRA_DATA_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")


def server_trouble() -> web.Response:
    """What aiohttp answers when a ComfyUI handler raises."""
    return web.Response(status=500, text="500 Internal Server Error\n\nServer got itself in trouble",
                        content_type="text/plain")


def _memory() -> tuple[int, int]:
    try:
        page = os.sysconf("SC_PAGE_SIZE")
        return page * os.sysconf("SC_PHYS_PAGES"), page * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0, 0


async def system_stats(request: web.Request) -> web.Response:
    total, free = _memory()
    version = state_of(request).behaviour.reported_version
    return web.json_response({
        "system": {
            "os": os.name, "ram_total": total, "ram_free": free, "comfyui_version": version,
            "required_frontend_version": "emulator", "installed_templates_version": "emulator",
            "required_templates_version": "emulator", "comfy_package_versions": [],
            "python_version": sys.version, "pytorch_version": "none (ComfyUI emulator)",
            "embedded_python": False, "deploy_environment": "comfy-platform-emulator", "argv": sys.argv,
        },
        "devices": [{"name": "cpu", "type": "cpu", "index": None, "vram_total": total, "vram_free": free,
                     "torch_vram_total": 0, "torch_vram_free": 0}],
    })


async def get_object_info(request: web.Request) -> web.Response:
    return web.json_response(object_info(state_of(request).env))


async def get_object_info_node(request: web.Request) -> web.Response:
    return web.json_response(object_info(state_of(request).env, request.match_info["node_class"]))


async def features(request: web.Request) -> web.Response:
    return web.json_response(state_of(request).behaviour.features)


async def get_prompt(request: web.Request) -> web.Response:
    return web.json_response(state_of(request).queue_info())


def _prompt_error(kind: str, message: str, details: str = "") -> web.Response:
    error = {"type": kind, "message": message, "details": details, "extra_info": {}}
    return web.json_response({"error": error, "node_errors": {}}, status=400)


def _canonical_uuid(value: object) -> bool:
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value
    except ValueError:
        return False


async def post_prompt(request: web.Request) -> web.Response:
    state = state_of(request)
    if state.faults.take_http_500():
        log.warning("fault: answering POST /prompt with 500")
        return server_trouble()
    try:
        response = await _post_prompt(request, state)
    except (ValueError, TypeError, AttributeError, KeyError, MalformedPrompt):
        log.warning("POST /prompt crashed on a malformed body (500, as ComfyUI does)", exc_info=True)
        return server_trouble()
    delay = state.faults.take("reply_delay_s")
    if delay > 0:
        log.warning("fault: answering POST /prompt %.1fs late", delay)
        await asyncio.sleep(delay)
    return response


async def _post_prompt(request: web.Request, state) -> web.Response:
    body = json.loads(await request.text())  # not JSON / empty -> ValueError -> 500
    if not isinstance(body, (dict, list, str)):
        raise TypeError("body is not a JSON object")
    if "number" in body:
        number = float(body["number"])
    else:
        number = state.number
        if "front" in body and body["front"]:
            number = -number
        state.number += 1
    if "prompt" not in body:
        return _prompt_error("no_prompt", "No prompt provided", "No prompt provided")
    prompt = body["prompt"]
    client_ids = state.behaviour.client_prompt_id
    if "prompt_id" not in body or client_ids == "ignored":
        prompt_id = str(uuid.uuid4())
    elif client_ids == "any":
        prompt_id = str(body["prompt_id"])
    elif _canonical_uuid(body["prompt_id"]):
        prompt_id = body["prompt_id"]
    else:
        return _prompt_error("invalid_prompt_id", "Invalid prompt_id",
                             "prompt_id must be a UUID in canonical lowercase hyphenated form")
    targets = body.get("partial_execution_targets")
    ok, error, outputs, node_errors = validate_prompt(state.env, prompt, targets)
    extra_data = body.get("extra_data", {})
    if "client_id" in body:
        extra_data["client_id"] = body["client_id"]
    extra_data["create_time"] = int(time.time() * 1000)
    if not ok:
        log.warning("invalid prompt: %s", error.get("type"))
        return web.json_response({"error": error, "node_errors": node_errors}, status=400)
    for key in SENSITIVE_EXTRA_DATA_KEYS:
        extra_data.pop(key, None)
    item = [number, prompt_id, prompt, extra_data, outputs]
    state.stats.queued(item)
    state.queue.put(item)
    return web.json_response({"prompt_id": prompt_id, "number": number, "node_errors": node_errors})


async def _json_body(request: web.Request) -> dict:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def get_queue(request: web.Request) -> web.Response:
    running, pending = state_of(request).queue.current()
    return web.json_response({"queue_running": running, "queue_pending": pending})


async def post_queue(request: web.Request) -> web.Response:
    state = state_of(request)
    body = await _json_body(request)
    if body.get("clear"):
        for item in state.queue.wipe():
            state.stats.finished(item, "deleted")
    for prompt_id in body.get("delete", []) or []:
        item = state.queue.delete(prompt_id)
        if item is not None:
            state.stats.finished(item, "deleted")
    return web.Response(status=200)


async def post_interrupt(request: web.Request) -> web.Response:
    state = state_of(request)
    if state.faults.interrupt_delay_s > 0:  # the request "arrives" late: decide only then
        await asyncio.sleep(state.faults.interrupt_delay_s)
    if not state.behaviour.targeted_interrupt:
        state.executor.interrupt()
        return web.Response(status=200)
    try:
        body = await request.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        if state.behaviour.interrupt_body_must_be_object:
            return server_trouble()  # json_data.get(...) on a list
        body = {}
    prompt_id = body.get("prompt_id")
    if not prompt_id:
        state.executor.interrupt()
    elif not state.executor.interrupt(prompt_id):
        log.info("Prompt %s is not currently running, skipping interrupt", prompt_id)
    return web.Response(status=200)


async def get_history(request: web.Request) -> web.Response:
    query = request.rel_url.query
    try:
        max_items = int(query["max_items"]) if "max_items" in query else None
        offset = int(query["offset"]) if "offset" in query else -1
    except ValueError:
        return server_trouble()
    return web.json_response(state_of(request).queue.get_history(max_items=max_items, offset=offset))


async def get_history_item(request: web.Request) -> web.Response:
    return web.json_response(state_of(request).queue.get_history(prompt_id=request.match_info["prompt_id"]))


async def post_history(request: web.Request) -> web.Response:
    queue = state_of(request).queue
    body = await _json_body(request)
    if body.get("clear"):
        queue.wipe_history()
    for prompt_id in body.get("delete", []) or []:
        queue.delete_history(prompt_id)
    return web.Response(status=200)


async def post_free(request: web.Request) -> web.Response:
    """{"unload_models": true} unloads the loaded checkpoint and drops the cached outputs that hold it (the next
    prompt loads its own again)."""
    body = await _json_body(request)
    if body.get("unload_models"):
        state = state_of(request)
        state.env.loaded_checkpoint = None
        state.executor.cache.clear()
    return web.Response(status=200)


async def get_embeddings(request: web.Request) -> web.Response:
    return web.json_response([])


async def get_extensions(request: web.Request) -> web.Response:
    return web.json_response([])


async def get_models(request: web.Request) -> web.Response:
    return web.json_response(["checkpoints"])


async def get_models_folder(request: web.Request) -> web.Response:
    if request.match_info["folder"] != "checkpoints":
        return web.Response(status=404)
    return web.json_response(list(state_of(request).config.checkpoints))


ROUTES = [
    ("GET", "/system_stats", system_stats),
    ("GET", "/object_info", get_object_info),
    ("GET", "/object_info/{node_class}", get_object_info_node),
    ("GET", "/prompt", get_prompt),
    ("POST", "/prompt", post_prompt),
    ("GET", "/queue", get_queue),
    ("POST", "/queue", post_queue),
    ("POST", "/interrupt", post_interrupt),
    ("GET", "/history", get_history),
    ("GET", "/history/{prompt_id}", get_history_item),
    ("POST", "/history", post_history),
    ("POST", "/free", post_free),
    ("GET", "/embeddings", get_embeddings),
    ("GET", "/extensions", get_extensions),
    ("GET", "/models", get_models),
    ("GET", "/models/{folder}", get_models_folder),
]
FEATURES_ROUTES = [("GET", "/features", features)]
