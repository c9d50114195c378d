"""revisions.list/get/update/delete as google-api-python-client sends them: every content a file had stays
readable by its revision id (`headRevisionId` names the current one), so a reader can pin the bytes it listed."""

import asyncio
import hashlib
import io

from googleapiclient.http import MediaIoBaseDownload, MediaIoBaseUpload


async def new_content(api, file_id: str, data: bytes) -> dict:
    upload = MediaIoBaseUpload(io.BytesIO(data), mimetype="image/png")
    return await api(lambda s: s.files().update(fileId=file_id, media_body=upload,
                                                fields="version, headRevisionId, md5Checksum"))


async def read_media(request) -> bytes:
    """A chunked download as the platform makes them (Range requests, 206 answers)."""
    out = io.BytesIO()
    downloader = MediaIoBaseDownload(out, request, chunksize=4)
    done = False
    while not done:
        _, done = await asyncio.to_thread(downloader.next_chunk, num_retries=0)
    return out.getvalue()


async def test_each_content_of_a_file_stays_readable_by_its_revision_id(api, drive_server):
    made = await drive_server.create_file(api.user, "p.png", b"first bytes", mime_type="image/png")
    first_revision = made["headRevisionId"]
    renamed = await api(lambda s: s.files().update(fileId=made["id"], body={"name": "q.png"},
                                                   fields="version, headRevisionId"))
    assert renamed["headRevisionId"] == first_revision, "a metadata change makes no revision"
    assert int(renamed["version"]) > int(made["version"])
    changed = await new_content(api, made["id"], b"second bytes")
    assert changed["headRevisionId"] != first_revision

    old = api.service.revisions().get_media(fileId=made["id"], revisionId=first_revision)
    assert await read_media(old) == b"first bytes"
    head = api.service.files().get_media(fileId=made["id"])
    assert await read_media(head) == b"second bytes"
    listed = await api(lambda s: s.revisions().list(fileId=made["id"]))
    assert listed["kind"] == "drive#revisionList"
    assert [r["id"] for r in listed["revisions"]] == [first_revision, changed["headRevisionId"]]
    assert set(listed["revisions"][0]) == {"kind", "id", "mimeType", "modifiedTime"}  # Google's default fields
    metadata = await api(lambda s: s.revisions().get(fileId=made["id"], revisionId=first_revision,
                                                     fields="id, size, md5Checksum, keepForever, originalFilename"))
    assert metadata == {"id": first_revision, "size": "11", "md5Checksum": hashlib.md5(b"first bytes").hexdigest(),
                        "keepForever": False, "originalFilename": "p.png"}


async def test_an_unknown_revision_is_googles_404_and_a_folder_has_none(api, drive_server):
    made = await drive_server.create_file(api.user, "p.png", b"x", mime_type="image/png")
    status, body = await api.error(lambda s: s.revisions().get(fileId=made["id"], revisionId="0Bnope"))
    assert status == 404 and body["error"]["message"] == "Revision not found: 0Bnope."
    assert body["error"]["errors"][0]["reason"] == "notFound" and body["error"]["errors"][0]["location"] == "revisionId"
    status, body = await api.error(lambda s: s.revisions().get(fileId="missing", revisionId="0Bnope"))
    assert status == 404 and body["error"]["message"] == "File not found: missing."
    folder = await drive_server.create_folder(api.user, "F")
    status, body = await api.error(lambda s: s.revisions().list(fileId=folder["id"]))
    assert status == 403 and body["error"]["errors"][0]["reason"] == "revisionsNotSupported"
    status, _ = await api.error(lambda s: s.revisions().get(fileId=made["id"], revisionId=made["headRevisionId"],
                                                            fields="id, sizee"))
    assert status == 400


async def test_deleting_revisions_and_keeping_one_forever(api, drive_server):
    made = await drive_server.create_file(api.user, "p.png", b"one", mime_type="image/png")
    second = (await new_content(api, made["id"], b"two"))["headRevisionId"]
    third = (await new_content(api, made["id"], b"three"))["headRevisionId"]
    kept = await api(lambda s: s.revisions().update(fileId=made["id"], revisionId=second,
                                                    body={"keepForever": True}, fields="id, keepForever"))
    assert kept == {"id": second, "keepForever": True}

    assert await api(lambda s: s.revisions().delete(fileId=made["id"], revisionId=made["headRevisionId"])) == ""
    status, _ = await api.error(lambda s: s.revisions().get(fileId=made["id"], revisionId=made["headRevisionId"]))
    assert status == 404
    before = await api(lambda s: s.files().get(fileId=made["id"], fields="version"))
    # Deleting the head makes the revision before it the file's content again, a change like any other.
    await api(lambda s: s.revisions().delete(fileId=made["id"], revisionId=third))
    after = await api(lambda s: s.files().get(fileId=made["id"], fields="version, headRevisionId, size"))
    assert after["headRevisionId"] == second and after["size"] == "3" and int(after["version"]) > int(before["version"])
    assert await drive_server.content(api.user, made["id"]) == b"two"
    status, body = await api.error(lambda s: s.revisions().delete(fileId=made["id"], revisionId=second))
    assert status == 400 and "last remaining revision" in body["error"]["message"]


async def test_revision_downloads_are_their_own_kind_for_faults_and_stats(api, drive_server):
    made = await drive_server.create_file(api.user, "p.png", b"bytes", mime_type="image/png")
    await drive_server.inject_fault(503, kind="revisions.download", user=api.user)
    request = api.service.revisions().get_media(fileId=made["id"], revisionId=made["headRevisionId"])
    status, _ = await api.error(lambda s: request)
    assert status == 503
    assert await read_media(request) == b"bytes"
    await api(lambda s: s.revisions().get(fileId=made["id"], revisionId=made["headRevisionId"]))
    counts = (await drive_server.stats())["users"][api.user]
    assert counts["revisions.download"] == 3 and counts["revisions.get"] == 1  # the failed one, then two chunks
