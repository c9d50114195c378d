"""Bad requests get a clear 4xx naming the field, and leave nothing behind: no job row, no workflow."""

from __future__ import annotations

import base64
import io
import json

import pytest
import pytest_asyncio
from aiohttp import web
from PIL import Image
from sqlalchemy import func, select

from db.models import Job
from tests.helpers.errors import assert_plain_error
from tests.helpers.images import empty_image_graph, invert_graph, png_bytes
from tests.helpers.ports import free_port

PNG = png_bytes(32, 24)


def b64(data: bytes) -> dict:
    return {"base64": base64.b64encode(data).decode()}


async def huge_stream(request: web.Request) -> web.StreamResponse:
    """21 MiB in chunks, with no Content-Length to warn the reader."""
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    try:
        for _ in range(21):
            await response.write(b"\0" * (1024 * 1024))
    except ConnectionError:  # the reader stopped at its limit
        pass
    return response


@pytest_asyncio.fixture(scope="module")
async def image_server():
    """Serves /ok.png, /huge.png and /huge-stream.png (over MAX_INPUT_BYTES, announced or not) and /missing.png
    (404) on loopback."""
    app = web.Application()
    app.router.add_get("/ok.png", lambda _: web.Response(body=PNG, content_type="image/png"))
    app.router.add_get("/huge.png", lambda _: web.Response(body=b"\0" * (21 * 1024 * 1024)))
    app.router.add_get("/huge-stream.png", huge_stream)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def job_rows(platform, key_id: str) -> int:
    async with platform.sessionmaker() as session:
        return await session.scalar(select(func.count(Job.id)).where(Job.api_key_id == key_id))


BAD_BODIES = {
    "unknown preset": ({"preset": "nope", "image": b64(PNG)}, 422, "unknown_preset", "preset"),
    "unknown workflow": ({"workflow": "nope"}, 422, "unknown_workflow", "workflow"),
    "unknown parameter": ({"workflow": "t2i_basic", "params": {"colour": 1}}, 422, "unknown_param", "params.colour"),
    "parameter a preset does not expose": ({"preset": "quick_enhance", "image": b64(PNG), "params": {"x": 1}},
                                           422, "unknown_param", "params.x"),
    "parameter out of range": ({"workflow": "t2i_basic", "params": {"steps": 500}}, 422, "invalid_param",
                               "params.steps"),
    "parameter of the wrong type": ({"workflow": "t2i_basic", "params": {"seed": "seven"}}, 422, "invalid_param",
                                    "params.seed"),
    "preset without its image": ({"preset": "quick_enhance"}, 422, "missing_image", "image"),
    "UI-format graph": ({"graph": {"nodes": [], "links": []}}, 422, "invalid_graph", "graph"),
    "graph that is a list": ({"graph": [1, 2]}, 422, "invalid_graph", "graph"),
    "graph given as a JSON string": ({"graph": json.dumps(empty_image_graph())}, 422, "invalid_graph", "graph"),
    # Valid by the schema, refused on a closer look: 400 (the schema cannot tell which images a graph loads, or
    # which nodes a ComfyUI has).
    "graph loading an image nobody gave": ({"graph": invert_graph("a.png")}, 400, "missing_image", "images.a.png"),
    "graph ComfyUI does not know a node of": ({"graph": {"1": {"class_type": "NoSuchNode", "inputs": {}}}},
                                              400, "invalid_graph", "graph"),
    "two forms at once": ({"preset": "quick_enhance", "graph": empty_image_graph()}, 422, "invalid_request_form",
                          "preset,graph"),
    "no form at all": ({"params": {}}, 422, "invalid_request_form", "preset,workflow,graph"),
    "non-image input": ({"preset": "quick_enhance", "image": b64(b"hello, not an image")}, 400, "invalid_image",
                        "image"),
    "truncated image": ({"graph": invert_graph("a.png"), "images": {"a.png": b64(PNG[: len(PNG) // 2])}}, 400,
                        "invalid_image", "images.a.png"),
    "base64 that does not decode": ({"preset": "quick_enhance", "image": {"base64": "%%% not base64 %%%"}}, 400,
                                    "invalid_base64", "image"),
    "image input of two kinds": ({"preset": "quick_enhance", "image": {**b64(PNG), "upload_id": "x"}}, 422,
                                 "invalid_image_input", "image"),
    "unknown upload id": ({"preset": "quick_enhance", "image": {"upload_id": "nope"}}, 404, "upload_not_found",
                          "image"),
    "too many images": ({"graph": empty_image_graph(), "images": {f"{i}.png": b64(PNG) for i in range(9)}}, 422,
                        "too_many_images", "images"),
    "deeply nested params": ({"workflow": "t2i_basic", "params": {"prompt": json.loads("[" * 70 + "]" * 70)}}, 422,
                             "too_deep", "params"),
    "deeply nested graph": ({"graph": {"1": {"class_type": "X", "inputs": {"a": json.loads("[" * 80 + "]" * 80)}}}},
                            422, "too_deep", "graph"),
    "URL at a private address": ({"preset": "quick_enhance", "image": {"url": "http://10.1.2.3/a.png"}}, 400,
                                 "unsafe_url", "image"),
    "webhook at a link-local address": ({"graph": empty_image_graph(),
                                         "webhook_url": "http://169.254.169.254/latest/meta-data/"}, 400,
                                        "unsafe_url", "webhook_url"),
    "webhook that is not http": ({"graph": empty_image_graph(), "webhook_url": "ftp://example.com/hook"}, 422,
                                 "invalid_request", "webhook_url"),
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
async def test_bad_job_request_is_refused_naming_the_field_and_creates_no_job(case, api_server, make_key, platform):
    body, status, code, field = BAD_BODIES[case]
    created = await make_key()
    async with api_server.client(created.secret) as http:
        for path in ("/api/v1/jobs", "/api/v1/generate"):
            reply = await http.post(path, json=body)
            assert reply.status_code == status, reply.text
            error = assert_plain_error(reply.json(), status)  # no repr, temp path or Python type name in it
            assert error["code"] == code and error["details"]["field"] == field, error
    assert await job_rows(platform, created.key.id) == 0


async def test_graph_comfyui_refuses_is_answered_with_its_node_errors(api_server, make_key, platform):
    created = await make_key()
    graph = empty_image_graph(width=999999)
    async with api_server.client(created.secret) as http:
        reply = await http.post("/api/v1/jobs", json={"graph": graph})
    assert reply.status_code == 400
    details = reply.json()["error"]["details"]
    assert details["field"] == "graph" and "1" in details["node_errors"]
    assert await job_rows(platform, created.key.id) == 0


async def test_url_inputs_are_fetched_and_unreachable_urls_are_refused(api_server, make_key, platform, image_server,
                                                                      clean_emulator):
    created = await make_key()
    async with api_server.client(created.secret) as http:
        ok = await http.post("/api/v1/generate", json={"preset": "quick_enhance",
                                                       "image": {"url": f"{image_server}/ok.png"}})
        assert ok.status_code == 200 and ok.json()["status"] == "succeeded", ok.text
        for url in (f"{image_server}/missing.png", f"http://127.0.0.1:{free_port()}/x"):
            reply = await http.post("/api/v1/jobs", json={"preset": "quick_enhance", "image": {"url": url}})
            assert reply.status_code == 400, reply.text
            assert reply.json()["error"]["code"] == "fetch_failed"
            assert reply.json()["error"]["details"]["field"] == "image"
    assert await job_rows(platform, created.key.id) == 1


async def test_body_that_is_not_json_is_refused(api_server, make_key, platform):
    created = await make_key()
    async with api_server.client(created.secret) as http:
        reply = await http.post("/api/v1/jobs", content=b"{not json", headers={"Content-Type": "application/json"})
        deep = await http.post("/api/v1/jobs", content=b'{"graph": ' + b"[" * 5000 + b"]" * 5000 + b"}",
                               headers={"Content-Type": "application/json"})
    assert reply.status_code == 422 and reply.json()["error"]["code"] == "invalid_request"
    assert deep.status_code in (400, 422) and "error" in deep.json()
    assert await job_rows(platform, created.key.id) == 0


async def test_request_body_over_max_request_bytes_gets_413(api_server, make_key, platform):
    created = await make_key()
    huge = b'{"preset": "quick_enhance", "image": {"base64": "' + b"A" * api_server.settings.MAX_REQUEST_BYTES + b'"}}'
    async with api_server.client(created.secret) as http:
        reply = await http.post("/api/v1/jobs", content=huge, headers={"Content-Type": "application/json"})
    assert reply.status_code == 413 and reply.json()["error"]["code"] == "payload_too_large"
    assert await job_rows(platform, created.key.id) == 0


async def test_base64_image_over_max_input_bytes_gets_413_naming_it(api_server, make_key, platform):
    created = await make_key()
    too_big = base64.b64encode(b"\0" * (api_server.settings.MAX_INPUT_BYTES + 10)).decode()
    async with api_server.client(created.secret) as http:
        reply = await http.post("/api/v1/jobs", json={"preset": "quick_enhance", "image": {"base64": too_big}})
    assert reply.status_code == 413 and reply.json()["error"]["details"]["field"] == "image"
    assert await job_rows(platform, created.key.id) == 0


async def test_url_over_max_input_bytes_gets_413_naming_the_field_and_the_limit(api_server, make_key, platform,
                                                                                image_server):
    created = await make_key()
    limit = api_server.settings.MAX_INPUT_BYTES
    async with api_server.client(created.secret) as http:
        for path in ("/huge.png", "/huge-stream.png"):  # announced by Content-Length, then streamed past the limit
            reply = await http.post("/api/v1/jobs", json={"graph": invert_graph("photo.png"),
                                                          "images": {"photo.png": {"url": image_server + path}}})
            assert reply.status_code == 413, reply.text
            error = reply.json()["error"]
            assert error["code"] == "payload_too_large" and error["details"]["field"] == "images.photo.png"
            assert error["message"] == f"images.photo.png.url is larger than {limit} bytes"
    assert await job_rows(platform, created.key.id) == 0


async def test_upload_that_is_not_a_whole_image_is_refused_naming_file(api_server, make_key):
    created = await make_key()
    async with api_server.client(created.secret) as http:
        for data in (b"plain text", PNG[:-40], b""):
            reply = await http.post("/api/v1/uploads", files={"file": ("a.png", data, "image/png")})
            assert reply.status_code == 400, reply.text
            # Pillow's own message named "<_io.BytesIO object at 0x...>"
            assert assert_plain_error(reply.json(), 400)["code"] == "invalid_image"
            assert reply.json()["error"]["details"]["field"] == "file"
        missing = await http.post("/api/v1/uploads", files={"other": ("a.png", PNG, "image/png")})
    assert missing.status_code == 422


async def test_upload_over_max_input_bytes_gets_413(api_server, make_key):
    created = await make_key()
    data = b"\0" * (api_server.settings.MAX_INPUT_BYTES + 1)
    async with api_server.client(created.secret) as http:
        reply = await http.post("/api/v1/uploads", files={"file": ("a.png", data, "image/png")})
    assert reply.status_code == 413 and reply.json()["error"]["details"]["field"] == "file"


async def test_image_claiming_too_many_pixels_is_refused_before_it_is_decoded(api_server, make_key, platform):
    buffer = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(buffer, format="PNG")  # a few KB on the wire, 100 Mpx decoded
    created = await make_key()
    async with api_server.client(created.secret) as http:
        reply = await http.post("/api/v1/jobs", json={"preset": "quick_enhance", "image": b64(buffer.getvalue())})
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["code"] == "invalid_image" and "pixels" in error["message"]
    assert error["details"]["field"] == "image"
    assert await job_rows(platform, created.key.id) == 0
