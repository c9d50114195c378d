"""What goes wrong in a creator's Drive: files that are not photos, files and folders deleted under the sync, and
Drive refusing or failing requests for a while. Each is handled where the creator can see it, and the sync goes on."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.fixtures.creator import photo
from workflows.shared import drive_sync_schedule_id

CORRUPT_PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64  # a PNG signature and nothing usable after it


async def request_times(drive_server, sub: str, kind: str, count: int, timeout_s: float = 20) -> list[float]:
    """When Drive saw each of the first `count` requests of this kind from `sub` (to within 50 ms)."""
    seen: list[float] = []
    deadline = time.monotonic() + timeout_s
    while len(seen) < count:
        assert time.monotonic() < deadline, f"Drive saw {len(seen)} {kind} requests, not {count}"
        made = (await drive_server.stats())["users"].get(sub, {}).get(kind, 0)
        seen += [time.monotonic()] * (min(made, count) - len(seen))
        await asyncio.sleep(0.05)
    return seen


async def test_a_corrupt_photo_fails_with_its_reason_and_the_rest_of_the_folder_is_edited(creator, smtp):
    folder = await creator.folder("Mixed")
    watch = await creator.watch(folder)
    await creator.drop(folder, "good.png", photo(1))
    await creator.drop(folder, "broken.png", CORRUPT_PNG)
    await creator.drop(folder, "contract.pdf", b"%PDF-1.7", mime_type="application/pdf")
    await creator.sync_and_wait()

    assert [f["name"] for f in await creator.outputs(watch["output_folder_id"])] == ["good_portrait_pro.png"]
    files = {f["name"]: f for f in await creator.files()}
    assert files["good.png"]["status"] == "succeeded"
    assert files["broken.png"]["status"] == "failed" and "not a readable image" in files["broken.png"]["reason"]
    # In the creator's terms: no worker temp path, not the preset's input file name.
    assert "/" not in files["broken.png"]["reason"] and "image.png" not in files["broken.png"]["reason"]
    assert files["contract.pdf"]["status"] == "skipped"
    assert "not an image (application/pdf)" in files["contract.pdf"]["reason"]
    (summary,) = await smtp.wait_for(1, to=creator.email)
    assert summary["Subject"] == "1 photo edited, 1 failed"
    text = summary.get_body(("plain",)).get_content()
    assert "- broken.png: it is not a readable image" in text and "image.png" not in text and "/tmp" not in text


async def test_a_photo_deleted_between_listing_and_download_is_skipped_and_the_others_are_edited(creator):
    """Drive holds the first download of `gone.png` back with a 503; while the activity waits to retry, the
    creator deletes the file, so the retry meets Drive's real 404."""
    folder = await creator.folder("Deletions")
    watch = await creator.watch(folder)
    await creator.drop(folder, "kept.png", photo(2))
    gone = await creator.drop(folder, "gone.png", photo(3))
    await creator.drive_server.inject_fault(503, kind="revisions.download", path_prefix=f"/drive/v3/files/{gone['id']}",
                                            user=creator.sub)
    sync = asyncio.create_task(creator.sync_and_wait())
    await creator.faults_answered()
    await creator.remove(gone["id"])
    await sync

    assert [f["name"] for f in await creator.outputs(watch["output_folder_id"])] == ["kept_portrait_pro.png"]
    files = {f["name"]: f for f in await creator.files()}
    assert files["kept.png"]["status"] == "succeeded"
    assert files["gone.png"]["status"] == "skipped" and "could not be read from Drive" in files["gone.png"]["reason"]


async def test_drive_rate_limits_wait_for_retry_after_and_server_errors_are_retried(creator):
    """Retry-After (3 s) is longer than the activities' own first backoff (2 s), so a retry that came any sooner
    would show that the header was ignored."""
    folder = await creator.folder("Busy")
    watch = await creator.watch(folder)
    for i in range(2):
        await creator.drop(folder, f"busy{i}.png", photo(10 + i))
    await creator.drive_server.inject_fault(429, kind="changes.getStartPageToken", retry_after=3, user=creator.sub)
    await creator.drive_server.inject_fault(503, kind="revisions.download", user=creator.sub)
    await creator.drive_server.inject_fault(500, kind="files.create", user=creator.sub)
    await creator.drive_server.reset_stats()
    sync = asyncio.create_task(creator.sync_and_wait())
    refused, retried = await request_times(creator.drive_server, creator.sub, "changes.getStartPageToken", 2)
    await sync

    assert retried - refused >= 2.9
    assert await creator.drive_server.faults() == []
    outputs = await creator.outputs(watch["output_folder_id"])
    assert sorted(f["name"] for f in outputs) == ["busy0_portrait_pro.png", "busy1_portrait_pro.png"]
    assert {f["status"] for f in await creator.files()} == {"succeeded"}


@pytest.mark.parametrize("removal", ["trashed after a sync", "deleted before the first sync"])
async def test_a_watched_folder_deleted_in_drive_pauses_syncing_with_the_reason(creator, removal):
    folder = await creator.folder("Wedding")
    await creator.watch(folder)
    if removal == "trashed after a sync":
        await creator.sync_and_wait()
        await creator.remove(folder, trash=True)
    else:
        await creator.remove(folder)
    await creator.sync_and_wait()

    schedule = creator.platform.client.get_schedule_handle(drive_sync_schedule_id(creator.user_id))
    state = (await schedule.describe()).schedule.state
    assert state.paused and state.note.startswith("folder_gone")
    watch = (await creator.http.get("/creator/drive/watch")).json()
    assert "'Wedding' was deleted in Drive" in watch["paused_reason"]
    refused = await creator.http.post("/creator/sync-now")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "sync_paused"

    # Watching another folder starts syncing again.
    replacement = await creator.folder("Wedding (restored)")
    await creator.drop(replacement, "vows.png", photo(20))
    assert (await creator.watch(replacement))["paused_reason"] is None
    assert not (await schedule.describe()).schedule.state.paused
    await creator.sync_and_wait()
    assert [f["status"] for f in await creator.files() if f["name"] == "vows.png"] == ["succeeded"]
