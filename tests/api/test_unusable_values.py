"""Values no database keeps, and graphs that could never run, are refused at the door on PostgreSQL and SQLite alike:
a 4xx in the documented shape naming the field in plain words, and no job recorded.

PostgreSQL's JSON and text columns refuse NaN, Infinity, NUL and lone surrogates (these requests were 500s); SQLite
took them and something went wrong later (a NaN in metadata became null, `cfg: NaN` ran on the GPU). Bodies are
written as raw JSON text where Python's json module would not write them (1e400, NaN, a lone surrogate)."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import httpx
import pytest
import pytest_asyncio
from sqlalchemy import func, select

from api.main import create_app
from db.models import Job
from db.session import create_engine, create_sessionmaker, migrate
from tests.helpers.accounts import key_of_new_account
from tests.helpers.errors import assert_plain_error
from tests.helpers.images import empty_image_graph, invert_graph, png_bytes

HUGE = "1" + "0" * 400  # a FLOAT written as a 401-digit integer


@dataclass
class Door:
    """The API on one database, with a key of its own."""

    database: str
    http: httpx.AsyncClient
    sessionmaker: object
    key_id: str

    async def jobs(self) -> int:
        async with self.sessionmaker() as session:
            return await session.scalar(select(func.count(Job.id)).where(Job.api_key_id == self.key_id))


@asynccontextmanager
async def api_on_sqlite(platform, directory, **settings) -> AsyncIterator[Door]:
    """The API in this process on a SQLite database of its own (as `make dev` runs it), the rest of the test stack
    behind it."""
    url = f"sqlite+aiosqlite:///{directory}/api.db"
    changed = platform.settings.model_copy(update={"DATABASE_URL": url, **settings})
    await migrate(url)
    engine = create_engine(url)
    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker() as session, session.begin():
        key = await key_of_new_account(session, changed, "door")
    app = create_app(changed)
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app), base_url="http://testserver", timeout=60,
                headers={"Authorization": f"Bearer {key.secret}"}) as http:
            yield Door("sqlite", http, sessionmaker, key.key.id)
    finally:
        await engine.dispose()


@pytest_asyncio.fixture(scope="module", params=["postgresql", "sqlite"])
async def door(request, platform, api_server, tmp_path_factory) -> AsyncIterator[Door]:
    if request.param == "sqlite":
        async with api_on_sqlite(platform, tmp_path_factory.mktemp("door")) as sqlite:
            yield sqlite
        return
    async with platform.sessionmaker() as session, session.begin():
        key = await key_of_new_account(session, platform.settings, "door")
    async with api_server.client(key.secret) as http:
        yield Door("postgresql", http, platform.sessionmaker, key.key.id)


def graph_with(node_id: str, class_type: str, inputs: str) -> str:
    """A graph whose node `node_id` has the given inputs (raw JSON), feeding a PreviewImage."""
    return (f'{{"graph": {{"{node_id}": {{"class_type": "{class_type}", "inputs": {inputs}}}, '
            f'"9": {{"class_type": "PreviewImage", "inputs": {{"images": ["{node_id}", 0]}}}}}}}}')


PNG = base64.b64encode(png_bytes(8, 8)).decode()

# raw body -> (status, code, field)
REFUSED = {
    "a graph input of 1e400": (graph_with("5", "EmptyLatentImage", '{"width": 1e400, "height": 64, "batch_size": 1}'),
                               422, "invalid_value", "graph.5.inputs.width"),
    "a graph FLOAT written as a 401-digit integer": (
        graph_with("3", "ImageBlur", f'{{"blur_radius": 1, "sigma": {HUGE}}}'), 422, "invalid_value",
        "graph.3.inputs.sigma"),
    "a parameter FLOAT written as a 401-digit integer": (f'{{"workflow": "t2i_basic", "params": {{"cfg": {HUGE}}}}}',
                                                         422, "invalid_value", "params.cfg"),
    "NaN as a float parameter (it passed min and max)": ('{"workflow": "t2i_basic", "params": {"cfg": NaN}}',
                                                         422, "invalid_value", "params.cfg"),
    "Infinity in params": ('{"workflow": "t2i_basic", "params": {"cfg": -Infinity}}', 422, "invalid_value",
                           "params.cfg"),
    "NaN in metadata (SQLite made it null)": ('{"graph": ' + json.dumps(empty_image_graph()) +
                                              ', "metadata": {"score": NaN}}', 422, "invalid_value", "metadata.score"),
    "a NUL in a prompt": ('{"workflow": "t2i_basic", "params": {"prompt": "a\\u0000b"}}', 422, "invalid_value",
                          "params.prompt"),
    "a NUL in a metadata key": ('{"graph": ' + json.dumps(empty_image_graph()) + ', "metadata": {"a\\u0000": 1}}',
                                422, "invalid_value", "metadata"),
    "a NUL in a graph string": (graph_with("1", "SaveImage", '{"filename_prefix": "x\\u0000"}'), 422,
                                "invalid_value", "graph.1.inputs.filename_prefix"),
    "a lone surrogate in a prompt": ('{"workflow": "t2i_basic", "params": {"prompt": "a\\ud800b"}}', 422,
                                     "invalid_value", "params.prompt"),
    "an image name that climbs out of its folder": (
        json.dumps({"graph": invert_graph("../x.png"), "images": {"../x.png": {"base64": PNG}}}), 422,
        "invalid_image_name", "images.../x.png"),
    "a node id that is a path": (json.dumps({"graph": {"../../x": {"class_type": "SaveImage", "inputs": {}}}}), 422,
                                 "invalid_graph", "graph"),
    "a node linked to itself": (graph_with("1", "ImageInvert", '{"image": ["1", 0]}'), 400, "invalid_graph", "graph"),
    "a cycle": (json.dumps({"graph": {
        "1": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "x"}}}}), 400,
        "invalid_graph", "graph"),
}


@pytest.mark.parametrize("case", list(REFUSED))
async def test_unusable_value_is_refused_naming_the_field_on_every_database(case, door):
    body, status, code, field = REFUSED[case]
    for path in ("/api/v1/jobs", "/api/v1/generate"):
        reply = await door.http.post(path, content=body.encode(), headers={"Content-Type": "application/json"})
        assert reply.status_code == status, (door.database, reply.text)
        error = assert_plain_error(reply.json(), reply.status_code)
        assert (error["code"], error["details"]["field"]) == (code, field), (door.database, error)
        assert field in error["message"], error
    assert await door.jobs() == 0


async def test_nul_in_a_path_or_query_parameter_is_refused_naming_it_on_every_database(door):
    for url, field in (("/api/v1/jobs/a%00b", "job_id"), ("/api/v1/jobs/a%00b/cancel", "job_id"),
                       ("/api/v1/jobs?cursor=a%00b", "cursor")):
        method = "POST" if url.endswith("cancel") else "GET"
        reply = await door.http.request(method, url)
        assert reply.status_code == 422, (door.database, url, reply.text)
        error = assert_plain_error(reply.json(), 422)
        assert (error["code"], error["details"]["field"]) == ("invalid_value", field)


async def test_an_empty_idempotency_key_is_refused_not_read_as_no_key(door):
    body = {"graph": empty_image_graph()}
    for _ in range(2):  # it once made the second identical request a 409
        reply = await door.http.post("/api/v1/jobs", json=body, headers={"Idempotency-Key": ""})
        assert reply.status_code == 422, reply.text
        error = assert_plain_error(reply.json(), 422)
        assert error["details"][0]["field"] == "Idempotency-Key"
    assert await door.jobs() == 0


async def test_a_cursor_the_api_did_not_hand_out_is_a_plain_400(door):
    reply = await door.http.get("/api/v1/jobs", params={"cursor": "}\x1e not a cursor"})
    assert reply.status_code == 400
    error = assert_plain_error(reply.json(), 400)
    assert error["code"] == "invalid_cursor" and "\\x1e" not in error["message"]


async def test_a_405_names_every_method_the_path_serves(door):
    reply = await door.http.request("OPTIONS", "/api/v1/jobs")
    assert reply.status_code == 405 and reply.headers["Allow"] == "GET, POST"
    assert_plain_error(reply.json(), 405)


async def test_a_websocket_for_a_job_id_with_a_nul_is_closed_with_4422(api_server, make_key):
    created = await make_key()
    ws_url = api_server.url.replace("http", "ws") + "/api/v1/jobs/a%00b/events"
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url, headers={"Authorization": f"Bearer {created.secret}"}) as ws:
            message = await ws.receive()
    assert message.type == aiohttp.WSMsgType.CLOSE and ws.close_code == 4422, message
    assert "job_id" in message.extra


async def test_an_unexpected_fault_is_a_500_in_the_documented_shape_with_an_id_in_the_log(platform, tmp_path,
                                                                                         monkeypatch, caplog):
    def broken() -> list:
        raise RuntimeError("<Secret object at 0x7f00> in /tmp/secret/path.py")

    monkeypatch.setattr("api.routes.catalog.list_presets", broken)
    async with api_on_sqlite(platform, tmp_path) as api:
        with caplog.at_level(logging.ERROR, logger="api.errors"):
            reply = await api.http.get("/api/v1/presets")
    assert reply.status_code == 500
    error = assert_plain_error(reply.json(), 500)
    error_id = error["details"]["error_id"]
    assert error["code"] == "internal_error" and error_id in error["message"]
    logged = [record for record in caplog.records if error_id in record.getMessage()]
    assert logged and logged[0].exc_info, "the traceback is logged under the id"


async def test_an_image_whose_decoded_size_passes_the_memory_budget_is_refused_from_its_header(platform, tmp_path):
    big = png_bytes(600, 600)  # ~1.4 MB decoded (4 bytes a pixel), a few KB on the wire
    async with api_on_sqlite(platform, tmp_path, IMAGE_DECODE_BUDGET_BYTES=1_000_000) as api:
        upload = await api.http.post("/api/v1/uploads", files={"file": ("big.png", big, "image/png")})
        inline = await api.http.post("/api/v1/jobs", json={
            "graph": invert_graph("big.png"), "images": {"big.png": {"base64": base64.b64encode(big).decode()}}})
        small = await api.http.post("/api/v1/uploads", files={"file": ("small.png", png_bytes(100, 100), "image/png")})
    for reply, field in ((upload, "file"), (inline, "images.big.png")):
        assert reply.status_code == 400, reply.text
        error = assert_plain_error(reply.json(), 400)
        assert error["code"] == "invalid_image" and error["details"]["field"] == field
        assert "600x600" in error["message"] and "IMAGE_DECODE_BUDGET_BYTES" in error["message"]
    assert small.status_code == 201, small.text
