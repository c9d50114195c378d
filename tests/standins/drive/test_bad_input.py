"""Hostile input answers a 400 (Google's shape on the API, the usual refusal on the controls), never a
500, and the server keeps serving afterwards."""

import sys

import aiohttp
import pytest


async def _still_serves(api, drive_server) -> None:
    made = await drive_server.create_file(api.user, "still-here.jpg")
    assert await api(lambda s: s.files().get(fileId=made["id"], fields="id,name")) == {
        "id": made["id"], "name": "still-here.jpg"}


def _google_400(body: dict, reason: str, location: str | None = None) -> None:
    error = body["error"]
    assert error["code"] == 400 and error["message"]
    assert error["errors"][0]["reason"] == reason
    if location is not None:
        assert error["errors"][0]["location"] == location


@pytest.mark.parametrize("raw", [
    '{"status": 429, "method": 1}', '{"status": 429, "path_prefix": ["/"]}', '{"status": 429, "kind": {}}',
    '{"status": 429, "user": 7}', '{"status": 429, "reason": true}', '{"status": 429, "message": 1.5}',
    '{"status": true}', '{"status": 429, "times": true}', '{"status": 429, "retry_after": NaN}',
    '{"status": 429, "retry_after": Infinity}', '{"status": 429, "retry_after": -Infinity}',
    '{"status": 429, "retry_after": true}',
])
async def test_fault_bodies_with_wrongly_typed_fields_are_refused(raw, api, drive_server):
    async with aiohttp.ClientSession() as session:
        async with session.post(drive_server.url + "_drive/faults", data=raw,
                                headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 400 and "error" in await resp.json()
    assert await drive_server.faults() == []
    await _still_serves(api, drive_server)


async def test_a_non_ascii_digit_page_token_is_an_invalid_value(api, drive_server):
    for token in ("²", "١"):  # str.isdigit() holds for both; int() takes only the second
        status, body = await api.error(lambda s: s.changes().list(pageToken=token))
        assert status == 400
        _google_400(body, "invalid", "pageToken")
    await _still_serves(api, drive_server)


async def test_a_non_ascii_digit_upload_length_is_an_invalid_value(api, http, drive_server):
    for length in ("²", "١٠"):
        start = await http.post(drive_server.url + "upload/drive/v3/files?uploadType=resumable",
                                json={"name": "raw.bin"}, headers={"X-Upload-Content-Length": length})
        assert start.status == 400
        _google_400(await start.json(), "invalid", "X-Upload-Content-Length")
    await _still_serves(api, drive_server)


async def _list(http, drive_server, **params) -> tuple[int, dict]:
    """Raw GET: the real client would turn a URL this long into a POST with X-HTTP-Method-Override."""
    async with http.get(drive_server.url + "drive/v3/files", params=params) as resp:
        return resp.status, await resp.json()


async def test_a_too_deeply_nested_q_is_an_invalid_value(api, http, drive_server):
    depth = sys.getrecursionlimit()
    for q in ("(" * depth + "trashed = false" + ")" * depth, "not " * depth + "trashed = false"):
        status, body = await _list(http, drive_server, q=q)
        assert status == 400
        _google_400(body, "invalid", "q")
    await _still_serves(api, drive_server)


async def test_a_too_deeply_nested_fields_selection_is_an_invalid_selection(api, http, drive_server):
    depth = sys.getrecursionlimit()
    for fields in ("files(" * depth + "id" + ")" * depth, "(" * depth):
        status, body = await _list(http, drive_server, fields=fields)
        assert status == 400
        _google_400(body, "invalidParameter", "fields")
    await _still_serves(api, drive_server)


async def test_a_lone_surrogate_in_app_properties_is_a_bad_request(api, http, drive_server):
    for raw in ('{"name": "x.jpg", "appProperties": {"k": "\\ud800"}}',
                '{"name": "x.jpg", "appProperties": {"\\udfff": "v"}}'):
        async with http.post(drive_server.url + "drive/v3/files", data=raw,
                             headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 400
            _google_400(await resp.json(), "badRequest")
    assert await drive_server.files(api.user) == []
    await _still_serves(api, drive_server)
