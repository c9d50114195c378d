"""Media: multipart and resumable uploads, media updates, and ranged downloads."""

import hashlib
import io
import os

import aiohttp
from googleapiclient.http import MediaIoBaseDownload, MediaIoBaseUpload

CHUNK = 256 * 1024


def media(data: bytes, mime_type: str = "image/png", *, resumable: bool = False, chunk: int = CHUNK):
    return MediaIoBaseUpload(io.BytesIO(data), mimetype=mime_type, chunksize=chunk, resumable=resumable)


async def test_multipart_create_keeps_every_byte(api, drive_server):
    data = os.urandom(50_000) + b"\r\n--boundary-like\r\n\n\r"
    made = await api(lambda s: s.files().create(
        body={"name": "m.png", "parents": ["root"], "appProperties": {"source": "abc"}}, media_body=media(data),
        fields="id, name, mimeType, size, md5Checksum, appProperties"))
    assert made["mimeType"] == "image/png" and made["size"] == str(len(data))
    assert made["md5Checksum"] == hashlib.md5(data).hexdigest() and made["appProperties"] == {"source": "abc"}
    assert await drive_server.content(api.user, made["id"]) == data


async def test_resumable_create_in_several_chunks(api, drive_server):
    data = os.urandom(3 * CHUNK + 1234)
    request = api.service.files().create(body={"name": "big.jpg"}, media_body=media(data, "image/jpeg", resumable=True),
                                         fields="id, size, mimeType")
    before = (await drive_server.stats())["users"].get(api.user, {}).get("upload.chunk", 0)
    made = await api(lambda s: request)
    assert made["size"] == str(len(data)) and made["mimeType"] == "image/jpeg"
    assert await drive_server.content(api.user, made["id"]) == data
    assert (await drive_server.stats())["users"][api.user]["upload.chunk"] - before == 4


async def test_resumable_protocol_answers_308_with_the_range_held(http, drive_server):
    start = await http.post(drive_server.url + "upload/drive/v3/files?uploadType=resumable&fields=id,size",
                            json={"name": "raw.bin"}, headers={"X-Upload-Content-Type": "application/octet-stream",
                                                               "X-Upload-Content-Length": "10"})
    assert start.status == 200
    location = start.headers["Location"]
    assert "upload_id=" in location and "fields=id" in location
    first = await http.put(location, data=b"01234", headers={"Content-Range": "bytes 0-4/10"})
    assert (first.status, first.headers["Range"]) == (308, "bytes=0-4")
    probe = await http.put(location, data=b"", headers={"Content-Range": "bytes */10"})
    assert (probe.status, probe.headers["Range"]) == (308, "bytes=0-4")
    last = await http.put(location, data=b"56789", headers={"Content-Range": "bytes 5-9/10"})
    assert last.status == 200
    body = await last.json()
    assert set(body) == {"id", "size"} and body["size"] == "10"
    gone = await http.put(location, data=b"x", headers={"Content-Range": "bytes 10-10/11"})
    assert gone.status == 404


async def test_media_update_replaces_content_and_bumps_version(api, drive_server):
    made = await drive_server.create_file(api.user, "v.txt", b"first")
    updated = await api(lambda s: s.files().update(fileId=made["id"], body={"name": "v2.txt"},
                                                   media_body=media(b"second", "text/plain"),
                                                   fields="name, size, version, md5Checksum"))
    assert updated["name"] == "v2.txt" and updated["size"] == "6"
    assert int(updated["version"]) > int(made["version"])
    assert updated["md5Checksum"] == hashlib.md5(b"second").hexdigest()
    resumed = await api(lambda s: s.files().update(fileId=made["id"], media_body=media(b"third!", resumable=True),
                                                   fields="version"))
    assert int(resumed["version"]) > int(updated["version"])
    assert await drive_server.content(api.user, made["id"]) == b"third!"


async def test_download_in_range_requests_answers_206_with_content_range(api, http, drive_server):
    data = os.urandom(250_000)
    made = await drive_server.create_file(api.user, "d.jpg", data, mime_type="image/jpeg")
    url = f"{drive_server.url}drive/v3/files/{made['id']}?alt=media"
    part = await http.get(url, headers={"Range": "bytes=100-199"})
    assert part.status == 206 and part.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    assert await part.read() == data[100:200]
    tail = await http.get(url, headers={"Range": "bytes=-10"})
    assert await tail.read() == data[-10:]
    beyond = await http.get(url, headers={"Range": f"bytes={len(data)}-"})
    assert beyond.status == 416 and beyond.headers["Content-Range"] == f"bytes */{len(data)}"
    whole = await http.get(url)
    assert whole.status == 200 and await whole.read() == data and whole.headers["Content-Type"] == "image/jpeg"

    sink = io.BytesIO()
    downloader = MediaIoBaseDownload(sink, api.service.files().get_media(fileId=made["id"]), chunksize=100_000)
    done, chunks = False, 0
    while not done:
        _, done = await api(lambda s: _Step(downloader))
        chunks += 1
    assert sink.getvalue() == data and chunks == 3


async def test_empty_files_download_and_folders_do_not(api, http, drive_server):
    empty = await drive_server.create_file(api.user, "empty.txt", b"")
    sink = io.BytesIO()
    downloader = MediaIoBaseDownload(sink, api.service.files().get_media(fileId=empty["id"]))
    assert (await api(lambda s: _Step(downloader)))[1] is True and sink.getvalue() == b""
    folder = await drive_server.create_folder(api.user, "F")
    status, body = await api.error(lambda s: s.files().get_media(fileId=folder["id"]))
    assert status == 403 and body["error"]["errors"][0]["reason"] == "fileNotDownloadable"


class _Step:
    """Lets Api run one downloader chunk like a request (`.execute(num_retries=0)`)."""

    def __init__(self, downloader: MediaIoBaseDownload) -> None:
        self.downloader = downloader

    def execute(self, num_retries: int = 0):
        return self.downloader.next_chunk(num_retries=num_retries)


async def test_simple_media_upload_and_a_crlf_multipart_body(api, http, drive_server):
    plain = await api(lambda s: s.files().create(media_body=media(b"bytes only", "text/plain"),
                                                 fields="id, name, mimeType, size"))
    assert plain["name"] == "Untitled" and plain["mimeType"] == "text/plain" and plain["size"] == "10"

    data = b"\r\nline\r\n" + os.urandom(1000)
    with aiohttp.MultipartWriter("related") as writer:  # CRLF line ends, unlike googleapiclient's body
        writer.append_json({"name": "crlf.bin"})
        writer.append(data, {"Content-Type": "application/octet-stream"})
    resp = await http.post(drive_server.url + "upload/drive/v3/files?uploadType=multipart&fields=id,name", data=writer)
    made = await resp.json()
    assert resp.status == 200 and made["name"] == "crlf.bin"
    assert await drive_server.content(api.user, made["id"]) == data
