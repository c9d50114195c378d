"""files.list/get/create/update/delete as google-api-python-client sends them."""

import hashlib
import uuid

FOLDER = "application/vnd.google-apps.folder"


async def test_list_pages_through_a_folder_in_created_order(api, drive_server):
    folder = await drive_server.create_folder(api.user, "Inbox")
    names = [f"photo-{i:02}.jpg" for i in range(7)]
    for name in names:
        await drive_server.create_file(api.user, name, b"x", parent=folder["id"], mime_type="image/jpeg")
    seen, token, pages = [], None, 0
    while True:
        body = await api(lambda s: s.files().list(
            q=f"'{folder['id']}' in parents", fields="nextPageToken, files(id, name)", pageSize=3,
            orderBy="createdTime", pageToken=token))
        pages += 1
        assert all(set(f) == {"id", "name"} for f in body["files"])
        seen += [f["name"] for f in body["files"]]
        token = body.get("nextPageToken")
        if token is None:
            break
    assert seen == names and pages == 3


async def test_a_page_token_can_be_read_again_and_a_bad_one_is_invalid(api, drive_server):
    for name in ("a", "b", "c"):
        await drive_server.create_file(api.user, name)
    first = await api(lambda s: s.files().list(pageSize=1, fields="nextPageToken, files(name)"))
    token = first["nextPageToken"]
    again = [await api(lambda s: s.files().list(pageSize=1, pageToken=token, fields="files(name)")) for _ in range(2)]
    assert again[0] == again[1] == {"files": [{"name": "b"}]}
    status, body = await api.error(lambda s: s.files().list(pageToken="bogus"))
    assert status == 400
    assert body["error"]["errors"][0] == {"domain": "global", "reason": "invalid", "message": "Invalid Value",
                                          "locationType": "parameter", "location": "pageToken"}


async def test_order_by_name_descending_and_modified_time(api, drive_server):
    for name in ("beta", "alpha", "gamma"):
        await drive_server.create_file(api.user, name)
    by_name = await api(lambda s: s.files().list(orderBy="name desc", fields="files(name)"))
    assert [f["name"] for f in by_name["files"]] == ["gamma", "beta", "alpha"]
    alpha = next(f for f in await drive_server.files(api.user) if f["name"] == "alpha")
    await api(lambda s: s.files().update(fileId=alpha["id"], body={"name": "alpha2"}))
    by_modified = await api(lambda s: s.files().list(orderBy="modifiedTime desc", fields="files(name)"))
    assert by_modified["files"][0]["name"] == "alpha2"
    status, _ = await api.error(lambda s: s.files().list(orderBy="size"))
    assert status == 400


async def test_fields_default_subset_star_and_unknown_names(api, drive_server):
    seeded = await drive_server.create_file(api.user, "a.png", b"12345", mime_type="image/png",
                                            app_properties={"k": "v"})
    default = await api(lambda s: s.files().get(fileId=seeded["id"]))
    assert default == {"kind": "drive#file", "id": seeded["id"], "name": "a.png", "mimeType": "image/png"}
    full = await api(lambda s: s.files().get(fileId=seeded["id"], fields="*"))
    assert full["size"] == "5" and full["md5Checksum"] == hashlib.md5(b"12345").hexdigest()
    assert full["appProperties"] == {"k": "v"} and full["trashed"] is False and full["version"].isdigit()
    assert full["createdTime"].endswith("Z") and "webViewLink" in full
    listed = await api(lambda s: s.files().list(fields="files/id,files/size"))
    assert listed == {"files": [{"id": seeded["id"], "size": "5"}]}
    status, body = await api.error(lambda s: s.files().get(fileId=seeded["id"], fields="id,sizee"))
    assert status == 400 and body["error"]["message"] == "Invalid field selection sizee"


async def test_get_unknown_file_is_googles_404(api):
    status, body = await api.error(lambda s: s.files().get(fileId="nope"))
    assert status == 404
    assert body["error"]["code"] == 404 and body["error"]["message"] == "File not found: nope."
    assert body["error"]["errors"][0]["reason"] == "notFound"


async def test_root_alias_and_folders(api):
    root = await api(lambda s: s.files().get(fileId="root", fields="id, name, mimeType"))
    assert root["name"] == "My Drive" and root["mimeType"] == FOLDER
    folder = await api(lambda s: s.files().create(body={"name": "Edited", "mimeType": FOLDER, "parents": ["root"]},
                                                   fields="id, parents, mimeType, size"))
    assert folder["parents"] == [root["id"]] and "size" not in folder
    child = await api(lambda s: s.files().create(body={"name": "Sub", "mimeType": FOLDER, "parents": [folder["id"]]},
                                                  fields="id"))
    listed = await api(lambda s: s.files().list(q=f"'root' in parents and mimeType = '{FOLDER}'", fields="files(id)"))
    assert listed["files"] == [{"id": folder["id"]}]
    status, _ = await api.error(lambda s: s.files().create(body={"name": "x", "parents": ["missing"]}))
    assert status == 404
    assert child["id"] != folder["id"]


async def test_update_bumps_version_renames_and_moves(api, drive_server):
    a = await drive_server.create_folder(api.user, "A")
    b = await drive_server.create_folder(api.user, "B")
    file = await drive_server.create_file(api.user, "f.txt", b"one", parent=a["id"])
    updated = await api(lambda s: s.files().update(
        fileId=file["id"], body={"name": "g.txt", "appProperties": {"k": "v"}}, addParents=b["id"],
        removeParents=a["id"], fields="name, parents, version, appProperties"))
    assert updated["name"] == "g.txt" and updated["parents"] == [b["id"]] and updated["appProperties"] == {"k": "v"}
    assert int(updated["version"]) > int(file["version"])
    cleared = await api(lambda s: s.files().update(fileId=file["id"], body={"appProperties": {"k": None}},
                                                   fields="version, appProperties"))
    assert "appProperties" not in cleared and int(cleared["version"]) > int(updated["version"])
    status, body = await api.error(lambda s: s.files().update(fileId=file["id"], body={}, addParents=a["id"]))
    assert status == 403 and body["error"]["errors"][0]["reason"] == "cannotAddParent"
    status, _ = await api.error(lambda s: s.files().update(fileId=a["id"], body={}, addParents=a["id"],
                                                            removeParents="root"))
    assert status == 400  # a folder cannot go inside itself


async def test_trash_is_inherited_and_filterable(api, drive_server):
    folder = await drive_server.create_folder(api.user, "Old")
    inside = await drive_server.create_file(api.user, "in.jpg", parent=folder["id"])
    await api(lambda s: s.files().update(fileId=folder["id"], body={"trashed": True}))
    got = await api(lambda s: s.files().get(fileId=inside["id"], fields="trashed, explicitlyTrashed"))
    assert got == {"trashed": True, "explicitlyTrashed": False}
    live = await api(lambda s: s.files().list(q="trashed = false", fields="files(id)"))
    assert live["files"] == []
    await api(lambda s: s.files().update(fileId=folder["id"], body={"trashed": False}))
    live = await api(lambda s: s.files().list(q="trashed = false", fields="files(id)"))
    assert {f["id"] for f in live["files"]} == {folder["id"], inside["id"]}


async def test_delete_answers_204_and_takes_the_folders_contents(api, drive_server):
    folder = await drive_server.create_folder(api.user, "Gone")
    await drive_server.create_file(api.user, "in.jpg", parent=folder["id"])
    assert await api(lambda s: s.files().delete(fileId=folder["id"])) == ""
    assert await drive_server.files(api.user) == []
    status, _ = await api.error(lambda s: s.files().delete(fileId=folder["id"]))
    assert status == 404
    status, _ = await api.error(lambda s: s.files().delete(fileId="root"))
    assert status == 403


async def test_each_user_sees_only_their_own_files(api, drive_server):
    someone_else = f"other-{uuid.uuid4().hex}"
    other = await drive_server.create_file(someone_else, "secret.jpg", b"s")
    status, _ = await api.error(lambda s: s.files().get(fileId=other["id"]))
    assert status == 404
    status, _ = await api.error(lambda s: s.files().delete(fileId=other["id"]))
    assert status == 404
    assert (await api(lambda s: s.files().list(fields="files(id)")))["files"] == []
    assert [f["name"] for f in await drive_server.files(someone_else)] == ["secret.jpg"]
