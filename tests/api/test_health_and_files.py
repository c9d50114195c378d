"""The API's health check and the route that serves local-disk files through signed URLs."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import httpx
import pytest

from api.main import create_app
from comfy_platform.storage import LocalStorage


@pytest.fixture
async def api_for(platform):
    """An HTTP client for an app built from the platform's settings, with `changes` applied."""
    opened = []

    async def make(**changes):
        app = create_app(platform.settings.model_copy(update=changes))
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver")
        opened.append((lifespan, http))
        return app, http

    yield make
    for lifespan, http in opened:
        await http.aclose()
        await lifespan.__aexit__(None, None, None)


async def test_health_is_ok_when_every_part_of_the_stack_answers(api_for):
    _, http = await api_for()
    reply = await http.get("/api/health")
    assert reply.status_code == 200
    body = reply.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"temporal", "database", "storage", "comfyui"}
    assert all(check["ok"] for check in body["checks"].values())


async def test_health_is_503_naming_comfyui_when_no_backend_answers(api_for, clean_emulator):
    _, http = await api_for()
    await clean_emulator.stop()
    reply = await http.get("/api/health")
    assert reply.status_code == 503
    checks = reply.json()["checks"]
    assert checks["comfyui"]["ok"] is False and checks["database"]["ok"] is True


async def test_health_is_503_when_no_worker_polls_the_comfy_queue(api_for):
    queue = f"nobody-{uuid.uuid4().hex[:8]}"
    _, http = await api_for(COMFY_TASK_QUEUE=queue)
    reply = await http.get("/api/health")
    assert reply.status_code == 503
    assert queue in reply.json()["checks"]["temporal"]["detail"]


async def test_signed_file_url_serves_the_file_until_it_expires(api_for, tmp_path):
    app, http = await api_for(STORAGE_URL="", DATA_DIR=tmp_path)
    storage: LocalStorage = app.state.storage
    await storage.put_bytes("jobs/x/outputs/9_0.png", b"\x89PNG fake", "image/png")
    url = urlsplit(await storage.url("jobs/x/outputs/9_0.png", expires_s=60))
    reply = await http.get(f"{url.path}?{url.query}")
    assert reply.status_code == 200
    assert reply.content == b"\x89PNG fake" and reply.headers["content-type"] == "image/png"

    tampered = await http.get(f"{url.path}?{url.query.replace('sig=', 'sig=0')}")
    assert tampered.status_code == 403
    assert tampered.json()["error"]["code"] == "invalid_signature"

    expired = urlsplit(await storage.url("jobs/x/outputs/9_0.png", expires_s=-1))
    assert (await http.get(f"{expired.path}?{expired.query}")).status_code == 403

    await storage.delete("jobs/x/outputs/9_0.png")
    gone = await http.get(f"{url.path}?{url.query}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"


async def test_unknown_route_answers_in_the_one_error_shape(api_for):
    _, http = await api_for()
    reply = await http.get("/api/nope")
    assert reply.status_code == 404
    assert set(reply.json()["error"]) == {"code", "message", "details"}
