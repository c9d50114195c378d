"""The files.list `q` grammar: each operator over real HTTP, and refusals in Google's shape."""

import pytest

from standins.drive import query
from standins.drive.errors import ApiError
from standins.drive.store import FOLDER, UserDrive


@pytest.fixture
def drive() -> UserDrive:
    drive = UserDrive("https://drive.google.com")
    photos = drive.create("Photos", FOLDER, [])
    drive.create("IMG_001.jpg", "image/jpeg", [photos.id], b"1", {"state": "done"})
    drive.create("it's here.png", "image/png", [photos.id], b"2")
    drive.create("notes.txt", "text/plain", [], b"3")
    drive.create("Hello World.jpg", "image/jpeg", [], b"4")
    return drive


def names(drive: UserDrive, q: str) -> set[str]:
    predicate = query.parse(q.replace("PHOTOS", next(f.id for f in drive.files.values() if f.name == "Photos")))
    return {f.name for f in drive.files.values() if predicate(f, drive)}


@pytest.mark.parametrize("q, expected", [
    ("'PHOTOS' in parents", {"IMG_001.jpg", "it's here.png"}),
    ("'root' in parents and mimeType != 'application/vnd.google-apps.folder'", {"notes.txt", "Hello World.jpg"}),
    ("mimeType = 'image/png'", {"it's here.png"}),
    ("mimeType contains 'image/'", {"IMG_001.jpg", "it's here.png", "Hello World.jpg"}),
    ("name = 'it\\'s here.png'", {"it's here.png"}),
    ("name contains 'world'", {"Hello World.jpg"}),
    ("name contains 'orld'", set()),  # word prefixes only, as on Drive
    ("appProperties has { key='state' and value='done' }", {"IMG_001.jpg"}),
    ("not mimeType contains 'image/' and trashed = false", {"Photos", "notes.txt"}),
    ("(name = 'notes.txt' or name = 'Photos') and not 'root' in parents", set()),
    ("name = 'notes.txt' or name = 'Photos' and trashed = true", {"notes.txt"}),  # and binds tighter
    ("trashed = true", set()),
    ("createdTime > '2000-01-01T00:00:00' and modifiedTime <= '2999-01-01T00:00:00Z'",
     {"Photos", "IMG_001.jpg", "it's here.png", "notes.txt", "Hello World.jpg"}),
])
def test_query_operators(drive, q, expected):
    assert names(drive, q) == expected


@pytest.mark.parametrize("q", [
    "name = unquoted", "name == 'x'", "size > '3'", "'x' in owners", "(name = 'x'", "name = 'x')",
    "trashed = maybe", "appProperties has { key='k' }", "name = 'x' and", "name contains 'x' extra",
])
def test_unknown_syntax_is_refused(q):
    with pytest.raises(ApiError) as info:
        query.parse(q)
    assert (info.value.code, info.value.reason, info.value.location) == (400, "invalid", "q")


async def test_list_filters_over_http_with_the_real_client(api, drive_server):
    folder = await drive_server.create_folder(api.user, "In")
    await drive_server.create_file(api.user, "a.jpg", parent=folder["id"], mime_type="image/jpeg",
                                   app_properties={"source": "s1"})
    await drive_server.create_file(api.user, "b.txt", parent=folder["id"], mime_type="text/plain")
    q = (f"'{folder['id']}' in parents and trashed = false and mimeType contains 'image/' "
         "and appProperties has { key='source' and value='s1' }")
    body = await api(lambda s: s.files().list(q=q, fields="files(name)", supportsAllDrives=True,
                                              includeItemsFromAllDrives=True, corpora="allDrives"))
    assert body == {"files": [{"name": "a.jpg"}]}
    status, error = await api.error(lambda s: s.files().list(q="name ~ 'a'"))
    assert status == 400
    assert error["error"]["errors"][0] == {"domain": "global", "reason": "invalid", "message": "Invalid Value",
                                           "locationType": "parameter", "location": "q"}
