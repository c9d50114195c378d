"""changes.getStartPageToken and changes.list: what changed since a token, removed files included."""

FIELDS = "nextPageToken, newStartPageToken, changes(changeType, fileId, removed, time, file(name, trashed))"


async def _all_changes(api, token: str, page_size: int = 100) -> tuple[list[dict], str, int]:
    """Every change since `token`, the new start token, and how many pages it took."""
    changes, pages = [], 0
    while True:
        body = await api(lambda s: s.changes().list(pageToken=token, pageSize=page_size, includeRemoved=True,
                                                    spaces="drive", fields=FIELDS))
        pages += 1
        changes += body["changes"]
        if "newStartPageToken" in body:
            assert "nextPageToken" not in body
            return changes, body["newStartPageToken"], pages
        token = body["nextPageToken"]


async def test_changes_since_a_token_include_creates_updates_trash_and_removals(api, drive_server):
    start = (await api(lambda s: s.changes().getStartPageToken()))["startPageToken"]
    kept = await drive_server.create_file(api.user, "kept.jpg")
    trashed = await drive_server.create_file(api.user, "trashed.jpg")
    deleted = await drive_server.create_file(api.user, "deleted.jpg")
    await api(lambda s: s.files().update(fileId=kept["id"], body={"name": "renamed.jpg"}))
    await api(lambda s: s.files().update(fileId=trashed["id"], body={"trashed": True}))
    await api(lambda s: s.files().delete(fileId=deleted["id"]))

    changes, new_start, _ = await _all_changes(api, start)
    # One entry per file, in the order of their latest change, showing the file as it is now.
    assert [c["fileId"] for c in changes] == [kept["id"], trashed["id"], deleted["id"]]
    assert all(c["changeType"] == "file" and c["time"].endswith("Z") for c in changes)
    assert changes[0]["file"] == {"name": "renamed.jpg", "trashed": False} and changes[0]["removed"] is False
    assert changes[1]["file"] == {"name": "trashed.jpg", "trashed": True}
    assert changes[2]["removed"] is True and "file" not in changes[2]
    assert int(new_start) > int(start)
    again, same_start, _ = await _all_changes(api, new_start)
    assert again == [] and same_start == new_start


async def test_changes_page_with_next_page_token_then_new_start_page_token(api, drive_server):
    start = (await api(lambda s: s.changes().getStartPageToken()))["startPageToken"]
    for i in range(5):
        await drive_server.create_file(api.user, f"{i}.jpg")
    changes, _, pages = await _all_changes(api, start, page_size=2)
    assert [c["file"]["name"] for c in changes] == [f"{i}.jpg" for i in range(5)] and pages == 3


async def test_include_removed_false_leaves_deletions_out(api, drive_server):
    start = (await api(lambda s: s.changes().getStartPageToken()))["startPageToken"]
    gone = await drive_server.create_file(api.user, "gone.jpg")
    await api(lambda s: s.files().delete(fileId=gone["id"]))
    body = await api(lambda s: s.changes().list(pageToken=start, includeRemoved=False, fields="changes(fileId)"))
    assert body["changes"] == []


async def test_an_unknown_page_token_is_a_400_invalid_value(api):
    start = int((await api(lambda s: s.changes().getStartPageToken()))["startPageToken"])
    for token in ("abc", "0", str(start + 1)):
        status, body = await api.error(lambda s: s.changes().list(pageToken=token))
        assert status == 400
        assert body["error"]["errors"][0]["reason"] == "invalid"
        assert body["error"]["errors"][0]["location"] == "pageToken"
