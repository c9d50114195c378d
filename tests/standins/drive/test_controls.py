"""/_drive/ controls: injected faults, request stats, seeding and reset."""

import aiohttp
import pytest

from standins.drive import start_drive_server


async def test_injected_429_answers_with_retry_after_then_clears(api, drive_server):
    await drive_server.inject_fault(429, times=2, kind="files.list", user=api.user, retry_after=7)
    for _ in range(2):
        status, body = await api.error(lambda s: s.files().list())
        assert status == 429 and body["error"]["errors"][0]["reason"] == "rateLimitExceeded"
    assert (await api(lambda s: s.files().list(fields="files(id)"))) == {"files": []}
    async with aiohttp.ClientSession() as session:
        await drive_server.inject_fault(429, user=api.user, retry_after=7)
        async with session.get(drive_server.url + "drive/v3/files",
                               headers={"Authorization": f"Bearer {api.token}"}) as resp:
            assert resp.status == 429 and resp.headers["Retry-After"] == "7"


async def test_faults_match_method_and_path_prefix_and_default_to_googles_reasons(api, drive_server):
    made = await drive_server.create_file(api.user, "f.jpg")
    await drive_server.inject_fault(403, method="GET", path_prefix=f"/drive/v3/files/{made['id']}", user=api.user)
    await drive_server.inject_fault(503, kind="changes.getStartPageToken", user=api.user)
    assert (await api(lambda s: s.files().list(fields="files(id)")))["files"]  # not matched
    status, body = await api.error(lambda s: s.files().get(fileId=made["id"]))
    assert status == 403 and body["error"]["errors"][0] == {
        "domain": "usageLimits", "reason": "userRateLimitExceeded", "message": "User rate limit exceeded."}
    status, body = await api.error(lambda s: s.changes().getStartPageToken())
    assert status == 503 and body["error"]["errors"][0]["reason"] == "backendError"
    assert await api(lambda s: s.files().get(fileId=made["id"], fields="id")) == {"id": made["id"]}


async def test_a_fault_with_times_null_stays_until_cleared(api, drive_server):
    await drive_server.inject_fault(500, times=None, user=api.user)
    for _ in range(3):
        assert (await api.error(lambda s: s.files().list()))[0] == 500
    await drive_server.clear_faults()
    assert await api(lambda s: s.files().list(fields="files(id)")) == {"files": []}


async def test_bad_fault_bodies_are_refused(drive_server):
    async with aiohttp.ClientSession() as session:
        for body in ({"status": 200}, {"status": 429, "bogus": 1}, {"status": 429, "times": 0}, [1]):
            async with session.post(drive_server.url + "_drive/faults", json=body) as resp:
                assert resp.status == 400 and "error" in await resp.json()


async def test_stats_count_requests_per_user_and_kind(api, drive_server):
    made = await drive_server.create_file(api.user, "s.jpg", b"abc")
    await api(lambda s: s.files().list())
    await api(lambda s: s.files().get(fileId=made["id"]))
    await api(lambda s: s.files().get_media(fileId=made["id"]))
    await api(lambda s: s.changes().getStartPageToken())
    stats = await drive_server.stats()
    assert stats["users"][api.user] == {"files.list": 1, "files.get": 1, "files.download": 1,
                                        "changes.getStartPageToken": 1}
    assert stats["requests"] >= 4 and stats["by_kind"]["files.list"] >= 1
    await drive_server.reset_stats()
    assert (await drive_server.stats())["users"] == {}


async def test_seeding_creates_files_in_folders_and_reset_empties_everything():
    server = await start_drive_server("127.0.0.1", 0)
    try:
        folder = await server.create_folder("u1", "Inbox")
        made = await server.create_file("u1", "p.jpg", b"\x00\xff", parent=folder["id"], mime_type="image/jpeg",
                                        app_properties={"k": "v"})
        assert made["parents"] == [folder["id"]] and made["size"] == "2" and made["appProperties"] == {"k": "v"}
        assert await server.content("u1", made["id"]) == b"\x00\xff"
        with pytest.raises(RuntimeError, match="404"):
            await server.create_file("u1", "x", parent="missing")
        await server.register_token("t1", "u1")
        await server.inject_fault(500, times=None)
        await server.reset()
        assert await server.files("u1") == [] and await server.faults() == []
        async with aiohttp.ClientSession() as session:
            async with session.get(server.url + "drive/v3/files", headers={"Authorization": "Bearer t1"}) as resp:
                assert resp.status == 401
    finally:
        await server.stop()
