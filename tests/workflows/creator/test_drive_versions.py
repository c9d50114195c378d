"""A photo replaced in Drive while its edit is under way: every version is edited once, from its own bytes, into an
output of its own name; a version whose bytes Drive no longer has is recorded as replaced, never edited from the
newer bytes under its name."""

from __future__ import annotations

import asyncio

from comfy_platform.drive import build_drive_service
from tests.fixtures.creator import photo

OLD, NEW = photo(90, size=(48, 32)), photo(91, size=(64, 40))


async def replaced_while_its_download_waits(creator, name: str) -> tuple[dict, dict, dict, asyncio.Task]:
    """A sync lists `name`; Drive answers its first download with a 503; while the job waits to retry, the creator
    uploads new content to the same file. The watch, the file as dropped and as replaced, and the sync."""
    folder = await creator.folder(f"Replaced {name}")
    watch = await creator.watch(folder)
    dropped = await creator.drop(folder, name, OLD)
    await creator.drive_server.inject_fault(503, kind="revisions.download",
                                            path_prefix=f"/drive/v3/files/{dropped['id']}", user=creator.sub)
    sync = asyncio.create_task(creator.sync_and_wait())
    await creator.faults_answered()
    replaced = await creator.replace(dropped["id"], NEW)
    return watch, dropped, replaced, sync


async def job_input(creator, job_id: str) -> bytes:
    return await creator.platform.storage.read_bytes(f"jobs/{job_id}/inputs/image.png")


async def test_a_photo_replaced_while_its_download_waits_has_each_version_edited_once_from_its_own_bytes(creator):
    watch, dropped, replaced, sync = await replaced_while_its_download_waits(creator, "portrait.png")
    await sync
    await creator.sync_and_wait()  # lists the new version

    versions = {f["version"]: f for f in await creator.files()}
    assert set(versions) == {dropped["version"], replaced["version"]}
    assert {f["status"] for f in versions.values()} == {"succeeded"}
    assert await job_input(creator, versions[dropped["version"]]["job_id"]) == OLD
    assert await job_input(creator, versions[replaced["version"]]["job_id"]) == NEW
    outputs = {f["name"]: f for f in await creator.outputs(watch["output_folder_id"])}
    assert set(outputs) == {"portrait_portrait_pro.png", "portrait_portrait_pro_v2.png"}
    assert versions[dropped["version"]]["output_name"] == "portrait_portrait_pro.png"
    assert versions[replaced["version"]]["output_name"] == "portrait_portrait_pro_v2.png"
    assert len(await creator.edits(at_least=2)) == 2


async def test_a_version_whose_bytes_drive_no_longer_has_is_recorded_as_replaced_and_the_new_one_is_edited(creator):
    watch, dropped, replaced, sync = await replaced_while_its_download_waits(creator, "gone.png")
    # Drive drops the old revision (as it does with old revisions after 30 days) before the job's retry.
    service = build_drive_service((await creator.drive()).credentials, creator.platform.settings.GOOGLE_DRIVE_URL)
    await asyncio.to_thread(lambda: service.revisions().delete(
        fileId=dropped["id"], revisionId=dropped["headRevisionId"]).execute())
    await sync

    (old,) = [f for f in await creator.files() if f["version"] == dropped["version"]]
    assert old["status"] == "skipped" and "replaced by a newer version before it could be edited" in old["reason"]
    assert await creator.outputs(watch["output_folder_id"]) == []
    await creator.sync_and_wait()
    (new,) = [f for f in await creator.files() if f["version"] == replaced["version"]]
    assert new["status"] == "succeeded" and await job_input(creator, new["job_id"]) == NEW
    assert [f["name"] for f in await creator.outputs(watch["output_folder_id"])] == ["gone_portrait_pro.png"]
    assert len(await creator.edits(at_least=1)) == 1
