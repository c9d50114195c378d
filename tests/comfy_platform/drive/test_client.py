"""DriveClient against the Drive test server: folders, listing, changes, download and upload."""

import asyncio
import os

import pytest
from googleapiclient.http import MediaInMemoryUpload

from comfy_platform.drive import (
    DriveBadRequest,
    DriveClient,
    DriveFileTooLarge,
    DriveNotFound,
)

FOLDER = "application/vnd.google-apps.folder"
KIB = 1024


async def test_list_folders_everywhere_or_in_one_parent_across_pages(client, drive_user, drive_server, drive_api):
    a = await drive_server.create_folder(drive_user.sub, "A")
    await drive_server.create_folder(drive_user.sub, "B")
    c = await drive_server.create_folder(drive_user.sub, "C", parent=a["id"])
    old = await drive_server.create_folder(drive_user.sub, "Old")
    await drive_server.create_file(drive_user.sub, "not-a-folder.jpg", parent=a["id"])
    await drive_api(lambda s: s.files().update(fileId=old["id"], body={"trashed": True}))

    everywhere = await client.list_folders(page_size=1)
    assert [f["name"] for f in everywhere] == ["A", "B", "C"]
    assert set(everywhere[0]) == {"id", "name", "parents"}
    assert await client.list_folders(a["id"]) == [{"id": c["id"], "name": "C", "parents": [a["id"]]}]


async def test_get_file_returns_the_fields_the_platform_uses(client, drive_user, drive_server):
    made = await drive_server.create_file(drive_user.sub, "p.jpg", b"abc", mime_type="image/jpeg",
                                          app_properties={"k": "v"})
    got = await client.get_file(made["id"])
    assert {k: got[k] for k in ("id", "name", "mimeType", "trashed", "size", "appProperties")} == {
        "id": made["id"], "name": "p.jpg", "mimeType": "image/jpeg", "trashed": False, "size": "3",
        "appProperties": {"k": "v"}}
    assert got["version"] == made["version"] and got["webViewLink"] and got["parents"]


async def test_find_or_create_folder_reuses_the_folder_and_never_duplicates(drive_user, drive_server, drive_api):
    clients = [DriveClient(drive_user.credentials(), drive_user.api_root) for _ in range(4)]
    try:
        first = await clients[0].find_or_create_folder("Edited Photos", "root")
        assert await clients[1].find_or_create_folder("Edited Photos", "root") == first
        # Four workers at once on a name nobody has yet: one folder remains, and all agree on it.
        before = (await drive_server.stats())["users"][drive_user.sub]
        raced = await asyncio.gather(*(c.find_or_create_folder("Raced", "root") for c in clients))
        assert len({f["id"] for f in raced}) == 1
        after = (await drive_server.stats())["users"][drive_user.sub]
        created = after["files.create"] - before.get("files.create", 0)
        assert after.get("files.delete", 0) - before.get("files.delete", 0) == created - 1  # losers removed theirs
        # A trashed folder of that name is not reused.
        await drive_api(lambda s: s.files().update(fileId=first["id"], body={"trashed": True}))
        fresh = await clients[0].find_or_create_folder("Edited Photos", "root")
        assert fresh["id"] != first["id"] and fresh["mimeType"] == FOLDER
    finally:
        for c in clients:
            c.close()
    live = [f for f in await drive_server.files(drive_user.sub) if not f["trashed"]]
    assert sorted(f["name"] for f in live) == ["Edited Photos", "Raced"]


async def test_list_folder_files_pages_through_live_files_only(client, drive_user, drive_server, drive_api):
    folder = await drive_server.create_folder(drive_user.sub, "In")
    for i in range(5):
        await drive_server.create_file(drive_user.sub, f"{i}.jpg", b"x", parent=folder["id"], mime_type="image/jpeg")
    await drive_server.create_folder(drive_user.sub, "sub", parent=folder["id"])
    gone = await drive_server.create_file(drive_user.sub, "gone.jpg", parent=folder["id"])
    await drive_api(lambda s: s.files().update(fileId=gone["id"], body={"trashed": True}))

    names, token, pages = [], None, 0
    while True:
        page = await client.list_folder_files(folder["id"], token, page_size=2)
        names += [f["name"] for f in page.files]
        pages += 1
        token = page.next_page_token
        if token is None:
            break
    assert names == [f"{i}.jpg" for i in range(5)] and pages == 3
    with_folders = await client.list_folder_files(folder["id"], include_folders=True)
    assert "sub" in [f["name"] for f in with_folders.files]


async def test_download_streams_in_chunks_and_leaves_nothing_when_it_fails(client, drive_user, drive_server, tmp_path):
    data = os.urandom(600 * KIB)
    made = await drive_server.create_file(drive_user.sub, "big.jpg", data, mime_type="image/jpeg")
    dest = tmp_path / "big.jpg"
    assert await client.download(made["id"], dest, chunk_size=256 * KIB) == len(data)
    assert dest.read_bytes() == data
    assert (await drive_server.stats())["users"][drive_user.sub]["files.download"] == 3

    empty = await drive_server.create_file(drive_user.sub, "empty.jpg", b"")
    assert await client.download(empty["id"], tmp_path / "empty.jpg") == 0

    folder = await drive_server.create_folder(drive_user.sub, "F")
    with pytest.raises(DriveBadRequest) as info:
        await client.download(folder["id"], tmp_path / "folder")
    assert info.value.status == 403 and info.value.reason == "fileNotDownloadable"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.jpg", "empty.jpg"]


async def test_a_pinned_download_reads_the_revision_listed_whatever_the_file_holds_now(
        client, drive_user, drive_server, drive_api, tmp_path):
    first, second = os.urandom(300 * KIB), os.urandom(200 * KIB)
    made = await drive_server.create_file(drive_user.sub, "p.jpg", first, mime_type="image/jpeg")
    listed = await client.get_file(made["id"])
    assert listed["headRevisionId"] == made["headRevisionId"]
    await drive_api(lambda s: s.files().update(fileId=made["id"], media_body=MediaInMemoryUpload(second, "image/jpeg")))

    pinned = tmp_path / "pinned.jpg"
    assert await client.download(made["id"], pinned, chunk_size=256 * KIB,
                                 revision_id=listed["headRevisionId"]) == len(first)
    assert pinned.read_bytes() == first
    assert (await drive_server.stats())["users"][drive_user.sub]["revisions.download"] == 2
    with pytest.raises(DriveNotFound):
        await client.download(made["id"], tmp_path / "gone.jpg", revision_id="0Bno-such-revision")
    assert not (tmp_path / "gone.jpg").exists()


async def test_a_download_past_its_size_limit_stops_and_leaves_nothing(client, drive_user, drive_server, tmp_path):
    made = await drive_server.create_file(drive_user.sub, "huge.jpg", os.urandom(900 * KIB), mime_type="image/jpeg")
    with pytest.raises(DriveFileTooLarge) as info:
        await client.download(made["id"], tmp_path / "huge.jpg", chunk_size=256 * KIB, max_bytes=300 * KIB)
    assert info.value.max_bytes == 300 * KIB
    assert (await drive_server.stats())["users"][drive_user.sub]["files.download"] == 2  # stopped after 512 KiB
    assert list(tmp_path.iterdir()) == []
    assert await client.download(made["id"], tmp_path / "ok.jpg", max_bytes=900 * KIB) == 900 * KIB  # at the limit


async def test_upload_is_resumable_in_chunks_and_findable_by_app_property(client, drive_user, drive_server, tmp_path):
    folder = await client.find_or_create_folder("Edited Photos", "root")
    source = tmp_path / "out.png"
    source.write_bytes(os.urandom(700 * KIB))
    made = await client.upload(folder["id"], "out.png", source, "image/png", {"source_file_id": "abc"},
                               chunk_size=256 * KIB)
    assert made["size"] == str(700 * KIB) and made["parents"] == [folder["id"]]
    assert made["appProperties"] == {"source_file_id": "abc"} and made["mimeType"] == "image/png"
    assert await drive_server.content(drive_user.sub, made["id"]) == source.read_bytes()
    assert (await drive_server.stats())["users"][drive_user.sub]["upload.chunk"] == 3

    assert (await client.find_by_app_property(folder["id"], "source_file_id", "abc"))["id"] == made["id"]
    assert await client.find_by_app_property(folder["id"], "source_file_id", "other") is None


async def test_changes_since_a_start_token_page_by_page(client, drive_user, drive_server, drive_api):
    start = await client.start_page_token()
    kept = await drive_server.create_file(drive_user.sub, "kept.jpg")
    gone = await drive_server.create_file(drive_user.sub, "gone.jpg")
    await drive_api(lambda s: s.files().delete(fileId=gone["id"]))

    first = await client.list_changes(start, page_size=1)
    assert first.next_page_token and first.new_start_page_token is None
    assert first.changes[0]["fileId"] == kept["id"] and first.changes[0]["file"]["name"] == "kept.jpg"
    last = await client.list_changes(first.next_page_token, page_size=1)
    assert last.next_page_token is None and last.new_start_page_token == await client.start_page_token()
    assert last.changes == [{"changeType": "file", "fileId": gone["id"], "removed": True,
                             "time": last.changes[0]["time"]}]
