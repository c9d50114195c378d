"""The creator flow end to end: sign in, watch a folder, drop photos, sync; each comes back edited once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from googleapiclient.http import MediaInMemoryUpload
from temporalio.client import ScheduleOverlapPolicy

from comfy_platform.drive import build_drive_service
from services.creator.schedules import sync_offset
from tests.fixtures.creator import photo
from tests.helpers.replay import replayer
from workflows.creator_email import CreatorEmailWorkflow
from workflows.drive_file import ProcessDriveFileWorkflow
from workflows.drive_sync import DriveSyncWorkflow
from workflows.shared import drive_sync_schedule_id


async def test_photos_dropped_in_the_folder_come_back_edited_exactly_once(creator, smtp):
    folder = await creator.folder("Shoot")
    listed = (await creator.http.get("/creator/drive/folders")).json()
    assert {"id": folder, "name": "Shoot", "path": "Shoot"} in listed
    watch = await creator.watch(folder)
    assert watch["folder_name"] == "Shoot" and watch["preset"] == "portrait_pro"
    # Watching again reuses the output folder instead of making a second one.
    assert (await creator.watch(folder))["output_folder_id"] == watch["output_folder_id"]
    outputs_folder = [f for f in await creator.drive_server.files(creator.sub) if f["name"] == "Edited Photos"]
    assert len(outputs_folder) == 1 and outputs_folder[0]["parents"] == [folder]

    for i in range(5):
        await creator.drop(folder, f"photo{i}.png", photo(i))
    await creator.drop(folder, "notes.txt", b"not a photo", mime_type="text/plain")
    await creator.sync_and_wait()

    outputs = await creator.outputs(watch["output_folder_id"])
    assert sorted(f["name"] for f in outputs) == [f"photo{i}_portrait_pro.png" for i in range(5)]
    files = await creator.files()
    assert sorted(f["status"] for f in files) == ["skipped"] + ["succeeded"] * 5
    skipped = next(f for f in files if f["status"] == "skipped")
    assert skipped["name"] == "notes.txt" and "not an image" in skipped["reason"]
    (summary,) = await smtp.wait_for(1, to=creator.email)
    assert creator.email in summary["To"] and summary["Subject"] == "5 photos edited"
    body = summary.get_body(("plain",)).get_content()
    assert all(f["id"] in body for f in outputs), "each output is linked"

    # Nothing new: the next sync makes no output and sends no email.
    smtp.clear()
    await creator.sync_and_wait()
    assert len(await creator.outputs(watch["output_folder_id"])) == 5
    await asyncio.sleep(0.5)
    assert smtp.messages_to(creator.email) == []

    # A changed photo is a new version: edited again, once.
    first = next(f for f in await creator.drive_server.files(creator.sub) if f["name"] == "photo0.png")
    drive = await creator.drive()
    service = build_drive_service(drive.credentials, creator.platform.settings.GOOGLE_DRIVE_URL, 30)
    await asyncio.to_thread(lambda: service.files().update(
        fileId=first["id"], media_body=MediaInMemoryUpload(photo(99), mimetype="image/png")).execute())
    await creator.sync_and_wait()
    outputs = await creator.outputs(watch["output_folder_id"])
    assert len(outputs) == 6
    versions = [f for f in await creator.files() if f["file_id"] == first["id"]]
    assert len(versions) == 2 and {f["status"] for f in versions} == {"succeeded"}
    (changed,) = await smtp.wait_for(1, to=creator.email)
    assert changed["Subject"] == "1 photo edited"

    # Every run of this flow replays against today's code (determinism of the sync and file workflows).
    replaying = replayer([DriveSyncWorkflow, ProcessDriveFileWorkflow, CreatorEmailWorkflow])
    client = creator.platform.client
    async for run in client.list_workflows(f'UserId = "{creator.user_id}" AND WorkflowType != "GenerationWorkflow"'):
        await replaying.replay_workflow(await client.get_workflow_handle(run.id, run_id=run.run_id).fetch_history())


async def test_the_schedule_has_the_right_spec_and_pauses_when_google_revokes_the_token(
        creator, oidc_provider, smtp):
    folder = await creator.folder("Products")
    await creator.watch(folder, preset="product_glow")
    described = await creator.platform.client.get_schedule_handle(drive_sync_schedule_id(creator.user_id)).describe()
    schedule = described.schedule
    assert [(i.every, i.offset) for i in schedule.spec.intervals] == [
        (timedelta(seconds=3600), sync_offset(creator.user_id, 3600))]
    assert schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
    assert schedule.policy.catchup_window == timedelta(seconds=creator.platform.settings.DRIVE_SYNC_CATCHUP_S)
    assert not schedule.state.paused

    await creator.drop(folder, "bottle.png", photo(7))
    await oidc_provider.revoke_tokens(creator.sub)
    await asyncio.sleep(1.2)  # the Drive server trusts a token it checked for at most a second
    await creator.sync_and_wait()

    described = await creator.platform.client.get_schedule_handle(drive_sync_schedule_id(creator.user_id)).describe()
    assert described.schedule.state.paused
    assert described.schedule.state.note.startswith("reconnect_needed")
    assert (await creator.http.get("/creator/me")).json()["drive_status"] == "reconnect_needed"
    (notice,) = await smtp.wait_for(1, to=creator.email)
    assert creator.email in notice["To"] and "/creator/auth/login" in notice.get_body(("plain",)).get_content()
    assert (await creator.http.post("/creator/sync-now")).status_code == 409
    assert [f for f in await creator.files() if f["status"] == "succeeded"] == []
