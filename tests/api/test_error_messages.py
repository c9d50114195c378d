"""Every refusal a developer meets in their first hour reads as plain words: it names the field as they sent it,
says what is wrong, and leaks nothing of Python (reprs, temp paths, tracebacks, pydantic's type words)."""

from __future__ import annotations

import base64
import json
import re
import tempfile

import pytest

from tests.helpers.errors import assert_plain_error
from tests.helpers.images import invert_graph, png_bytes

PNG = png_bytes(16, 16)
# Words of Python or pydantic a developer cannot act on.
PYTHON_WORDS = re.compile(r"<[^>]*object at 0x|Traceback|valid dictionary|\ba int\b|JSON decode error|Field required"
                          r"|Input should be|model_attributes_type|instance of|BytesIO|comfy-in-")


def assert_words(reply) -> dict:
    assert 400 <= reply.status_code < 500, reply.text
    error = assert_plain_error(reply.json(), reply.status_code)
    text = json.dumps(error)
    assert not PYTHON_WORDS.search(text), text
    assert tempfile.gettempdir() + "/" not in text, text
    return error


def b64(data: bytes) -> dict:
    return {"base64": base64.b64encode(data).decode()}


RAW_BODIES = {  # (body, content type or None, words the message says)
    "empty body": (b"", "application/json", "the body is empty"),
    "empty body without a type": (b"", None, "the body is empty"),
    "not JSON": (b"hello", "application/json", "the body is not valid JSON at line 1 column 1"),
    "not JSON, second line": (b'{"preset": "quick_enhance",\n  oops}', "application/json",
                              "the body is not valid JSON at line 2 column 3"),
    "a JSON array": (b"[1, 2]", "application/json", "the body must be a JSON object"),
    "a JSON string": (b'"hello"', "application/json", "the body must be a JSON object"),
    "a form": (b"preset=quick_enhance", "application/x-www-form-urlencoded", "the body must be JSON"),
    "plain text": (b"hello", "text/plain", "the body must be JSON"),
}


@pytest.mark.parametrize("case", list(RAW_BODIES))
async def test_a_body_that_cannot_be_read_is_refused_in_words(case, api_server, make_key):
    content, content_type, words = RAW_BODIES[case]
    created = await make_key()
    headers = {"Content-Type": content_type} if content_type else {}
    async with api_server.client(created.secret) as http:
        for path in ("/api/v1/jobs", "/api/v1/generate"):
            reply = await http.post(path, content=content, headers=headers)
            assert reply.status_code == 422, reply.text
            error = assert_words(reply)
            assert error["code"] == "invalid_request" and words in error["message"], error


async def test_json_sent_as_a_form_is_read_as_json(api_server, make_key, clean_emulator):
    """`curl -d '{...}'` sends application/x-www-form-urlencoded: the JSON in it is what the developer meant."""
    created = await make_key()
    body = json.dumps({"graph": invert_graph("p.png"), "images": {"p.png": b64(PNG)}})
    async with api_server.client(created.secret) as http:
        for content_type in ("application/x-www-form-urlencoded", None):
            headers = {"Content-Type": content_type} if content_type else {}
            reply = await http.post("/api/v1/jobs", content=body.encode(), headers=headers)
            assert reply.status_code == 202, reply.text


FIELD_ERRORS = {  # body -> (field, words the message says)
    "params of the wrong type": ({"workflow": "t2i_basic", "params": {"steps": "many"}},
                                 "params.steps", "must be a whole number between 1 and 150"),
    "param out of range": ({"workflow": "t2i_basic", "params": {"steps": 0}},
                           "params.steps", "must be a whole number between 1 and 150"),
    "params not an object": ({"workflow": "t2i_basic", "params": [1]}, "params", "must be an object"),
    "image not an object": ({"preset": "quick_enhance", "image": "photo.png"}, "image", "must be an object"),
    "unknown field": ({"preset": "quick_enhance", "colour": 1}, "colour", "is not a field of this request"),
    "unknown image field": ({"preset": "quick_enhance", "image": {"path": "/x.png"}}, "image.path",
                            "is not a field of this request"),
    "metadata not an object": ({"preset": "quick_enhance", "image": b64(PNG), "metadata": "x"}, "metadata",
                               "must be an object"),
    "webhook too long": ({"preset": "quick_enhance", "image": b64(PNG), "webhook_url": "https://a.example/" + "a" * 3000},
                         "webhook_url", "must be at most 2048 characters"),
    "not an image": ({"preset": "quick_enhance", "image": b64(b"not an image at all")}, "image", "image"),
    "graph image not an image": ({"graph": invert_graph("photo.png"), "images": {"photo.png": b64(b"text")}},
                                 "images.photo.png", "photo.png"),
    "unknown preset": ({"preset": "nope", "image": b64(PNG)}, "preset", "unknown preset 'nope'"),
}


@pytest.mark.parametrize("case", list(FIELD_ERRORS))
async def test_a_bad_field_is_named_as_sent_with_what_is_accepted(case, api_server, make_key):
    body, field, words = FIELD_ERRORS[case]
    created = await make_key()
    async with api_server.client(created.secret) as http:
        for path in ("/api/v1/jobs", "/api/v1/generate"):
            error = assert_words(await http.post(path, json=body))
            fields = [error["details"]["field"]] if isinstance(error["details"], dict) else \
                [d["field"] for d in error["details"]]
            assert field in fields and words in error["message"], error


async def test_other_routes_refuse_bad_input_in_words(api_server, make_key):
    created = await make_key()
    async with api_server.client(created.secret) as http:
        replies = [
            await http.get("/api/v1/jobs", params={"limit": "lots"}),
            await http.get("/api/v1/jobs", params={"limit": 0}),
            await http.get("/api/v1/jobs", params={"status": "sleeping"}),
            await http.get("/api/v1/jobs", params={"cursor": "not-a-cursor"}),
            await http.get("/api/v1/jobs/no-such-job"),
            await http.post("/api/v1/jobs/no-such-job/cancel"),
            await http.post("/api/v1/uploads", files={"file": ("a.png", b"text, not a picture", "image/png")}),
            await http.post("/api/v1/uploads", files={"other": ("a.png", PNG, "image/png")}),
            await http.post("/api/v1/uploads", content=b"{}", headers={"Content-Type": "application/json"}),
            await http.post("/api/v1/jobs", json={"preset": "quick_enhance", "image": b64(PNG)},
                            headers={"Idempotency-Key": ""}),
        ]
    errors = [assert_words(reply) for reply in replies]
    assert errors[0]["details"][0] == {"field": "limit", "message": "must be a whole number"}
    assert errors[1]["details"][0] == {"field": "limit", "message": "must be at least 1"}
    assert errors[2]["details"][0]["field"] == "status" and "queued" in errors[2]["message"]
    assert errors[7]["details"][0] == {"field": "file", "message": "is required"}
    assert errors[9]["details"][0]["field"] == "Idempotency-Key"


async def test_the_bare_address_points_to_the_dashboard_and_the_docs(api_server):
    async with api_server.client() as http:
        reply = await http.get("/")
    assert reply.status_code == 200
    assert reply.json()["dashboard"] == "/creator/" and reply.json()["docs"] == "/docs"


async def test_the_creator_pages_json_routes_refuse_bad_input_in_words(creator):
    bodies = {"/creator/drive/watch": [{}, [1], {"folder_id": 7, "preset": None}],
              "/creator/developers/keys": [{"name": 5}, {"name": "x", "scopes": "all", "expires_in_days": "soon"}]}
    for path, cases in bodies.items():
        for body in cases:
            assert_words(await creator.http.post(path, json=body))
        assert_words(await creator.http.post(path, content=b"{oops", headers={"Content-Type": "application/json"}))
