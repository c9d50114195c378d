"""The creator API's edges: who may call it, what it refuses (and how clearly), and whose data it shows."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures.creator import photo
from workflows.shared import drive_sync_schedule_id

CREATOR_ROUTES = [
    ("GET", "/creator/me"),
    ("GET", "/creator/drive/folders"),
    ("GET", "/creator/drive/watch"),
    ("POST", "/creator/drive/watch"),
    ("POST", "/creator/drive/disconnect"),
    ("POST", "/creator/sync-now"),
    ("GET", "/creator/jobs"),
    ("DELETE", "/creator/account"),
]


@pytest.mark.parametrize(("method", "path"), CREATOR_ROUTES)
async def test_creator_routes_without_a_session_are_401(api_server, method, path):
    async with httpx.AsyncClient(base_url=api_server.url) as anonymous:
        body = {"folder_id": "1AbC", "preset": "portrait_pro"} if method == "POST" else None
        response = await anonymous.request(method, path, json=body)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "unauthorized" and "/creator/auth/login" in error["message"]


async def test_watching_refuses_what_it_cannot_use_and_names_the_field(creator):
    folder = await creator.folder("Portraits")
    file = await creator.drop(folder, "face.png", photo(50))

    async def refused(body: dict) -> tuple[int, dict]:
        response = await creator.http.post("/creator/drive/watch", json=body)
        return response.status_code, response.json()["error"]

    status, error = await refused({"folder_id": folder, "preset": "no_such_preset"})
    assert status == 422 and error["details"] == {"field": "preset"}
    assert "that preset does not exist" in error["message"]
    status, error = await refused({"folder_id": file["id"], "preset": "portrait_pro"})
    assert status == 422 and error["details"] == {"field": "folder_id"} and "is not a folder" in error["message"]
    status, error = await refused({"folder_id": "no-such-folder", "preset": "portrait_pro"})
    assert status == 404 and error["details"] == {"field": "folder_id"}
    for missing in ("folder_id", "preset"):
        body = {"folder_id": folder, "preset": "portrait_pro"}
        del body[missing]
        status, error = await refused(body)
        assert status == 422 and error["message"] == f"{missing} is required"
    status, error = await refused({})
    assert status == 422 and {e["field"] for e in error["details"]} == {"folder_id", "preset"}
    # Nothing was watched along the way.
    assert (await creator.http.get("/creator/drive/watch")).status_code == 404


async def test_a_watchs_output_folder_and_folders_inside_it_are_neither_offered_nor_watched(creator):
    shoot = await creator.folder("Shoot")
    watched = await creator.watch(shoot)
    output = watched["output_folder_id"]
    inside = (await creator.drive_server.create_folder(creator.sub, "Best of", parent=output))["id"]
    offered = {f["id"]: f["path"] for f in (await creator.http.get("/creator/drive/folders")).json()}
    assert offered == {shoot: "Shoot"}
    for folder in (output, inside):
        refused = await creator.http.post("/creator/drive/watch", json={"folder_id": folder, "preset": "cinematic"})
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["code"] == "output_folder" and error["details"] == {"field": "folder_id"}
        assert "holds edited photos" in error["message"] and folder not in error["message"]
    # The watch is as it was: the same folder, with the same preset.
    shown = (await creator.http.get("/creator/drive/watch")).json()
    assert (shown["folder_id"], shown["preset"], shown["preset_title"]) == (shoot, "portrait_pro", "Portrait Pro")


async def test_drive_rate_limiting_the_folder_picker_is_a_503_that_passes_on_retry_after(creator):
    await creator.drive_server.inject_fault(429, kind="files.list", retry_after=7, user=creator.sub)
    response = await creator.http.get("/creator/drive/folders")
    assert response.status_code == 503 and response.headers["retry-after"] == "7"
    assert response.json()["error"]["code"] == "drive_busy"
    assert (await creator.http.get("/creator/drive/folders")).status_code == 200


async def test_sync_now_before_watching_a_folder_is_409(creator):
    response = await creator.http.post("/creator/sync-now")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_watching"


async def test_sync_now_remakes_a_schedule_that_went_missing(creator):
    """A watch whose schedule is gone (Temporal failed just as the folder was watched) still syncs on demand."""
    await creator.watch(await creator.folder("Lost schedule"))
    handle = creator.platform.client.get_schedule_handle(drive_sync_schedule_id(creator.user_id))
    await handle.delete()
    response = await creator.http.post("/creator/sync-now")
    assert response.status_code == 202, response.text
    assert not (await handle.describe()).schedule.state.paused


async def test_a_creator_sees_only_their_own_folders_and_files(creator, other_creator):
    folder = await creator.folder("Mine")
    await creator.watch(folder)
    await creator.drop(folder, "readme.txt", b"hello", mime_type="text/plain")
    await creator.sync_and_wait()
    assert [f["name"] for f in await creator.files()] == ["readme.txt"]

    # The other creator can neither watch that folder nor see it or the file found in it.
    taken = await other_creator.http.post("/creator/drive/watch", json={"folder_id": folder, "preset": "portrait_pro"})
    assert taken.status_code == 404
    assert taken.json()["error"]["code"] == "folder_not_found"
    listed = await other_creator.http.get("/creator/drive/folders")
    assert folder not in {f["id"] for f in listed.json()}
    assert await other_creator.files() == []
    assert (await other_creator.http.get("/creator/drive/watch")).status_code == 404
