"""A creator stopping the automation, deleting the account, and reconnecting Drive after Google revoked access."""

from __future__ import annotations

import pytest
from temporalio.service import RPCError, RPCStatusCode

from db import jobs as job_queries
from db import users as user_queries
from services.creator.thumbnails import thumbnail_key
from tests.fixtures.creator import photo
from tests.fixtures.oidc import sign_in
from workflows.shared import (
    AccountDeletionReport,
    account_deletion_workflow_id,
    drive_sync_schedule_id,
)


def schedule_of(creator):
    return creator.platform.client.get_schedule_handle(drive_sync_schedule_id(creator.user_id))


async def test_disconnecting_pauses_the_schedule_and_a_sync_run_afterwards_edits_nothing(creator):
    folder = await creator.folder("Archive")
    watch = await creator.watch(folder)
    assert (await creator.http.post("/creator/drive/disconnect")).status_code == 204
    await creator.drop(folder, "late.png", photo(60))

    state = (await schedule_of(creator).describe()).schedule.state
    assert state.paused and state.note == "disconnected by the creator"
    assert (await creator.http.get("/creator/drive/watch")).status_code == 404
    assert (await creator.http.get("/creator/me")).json()["drive_status"] == "disconnected"
    assert (await creator.http.post("/creator/sync-now")).status_code == 409
    # A run the schedule had already started goes through and finds nothing to do.
    counts = await (await creator.start_sync("after-disconnect")).result()
    assert counts == {"succeeded": 0, "failed": 0, "skipped": 0}
    assert await creator.outputs(watch["output_folder_id"]) == [] and await creator.files() == []


async def test_deleting_the_account_deletes_the_schedule_the_user_the_photos_and_their_files(creator):
    folder = await creator.folder("Goodbye")
    await creator.watch(folder)
    dropped = await creator.drop(folder, "last.png", photo(33))
    await creator.sync_and_wait()
    (edited,) = await creator.files()
    previews = [thumbnail_key(creator.user_id, dropped["id"], str(dropped["version"]), which)
                for which in ("before", "after")]
    async with creator.platform.sessionmaker() as session:
        files = [o.storage_key for o in await job_queries.list_job_outputs(session, edited["job_id"])]
        files += [i.storage_key for i in await job_queries.list_job_inputs(session, edited["job_id"])]
    storage = creator.platform.storage
    assert len(files) == 2 and all([await storage.exists(key) for key in previews + files])

    deleting = await creator.http.delete("/creator/account")
    assert deleting.status_code == 202 and deleting.json() == {"status": "deleting"}
    assert (await creator.http.get("/creator/me")).status_code == 401  # signed out at once
    report = await creator.platform.client.get_workflow_handle(
        account_deletion_workflow_id(creator.user_id), result_type=AccountDeletionReport).result()
    assert (report.jobs, report.photos) == (1, 1)
    assert [await storage.exists(key) for key in previews + files] == [False] * 4  # the files went too

    with pytest.raises(RPCError) as missing:
        await schedule_of(creator).describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND
    async with creator.platform.sessionmaker() as session:
        assert await user_queries.get_user(session, creator.user_id) is None
        assert await job_queries.get_job(session, edited["job_id"]) is None
    assert (await creator.http.get("/creator/jobs")).status_code == 401
    counts = await (await creator.start_sync("after-deletion")).result()
    assert counts == {"succeeded": 0, "failed": 0, "skipped": 0}


async def test_signing_in_again_after_google_revoked_access_resumes_and_edits_the_waiting_photo(
        creator, oidc_provider, smtp):
    """Access is revoked at the worst moment: after the sync listed the photo, while Drive holds its download back
    (a 503). The photo is not edited then; it must be once the creator has reconnected."""
    folder = await creator.folder("Revoked")
    watch = await creator.watch(folder)
    await creator.drop(folder, "waiting.png", photo(61))
    await creator.sync_revoked_midway(oidc_provider, "revisions.download")

    assert (await schedule_of(creator).describe()).schedule.state.paused
    assert (await creator.http.get("/creator/me")).json()["drive_status"] == "reconnect_needed"
    (notice,) = await smtp.wait_for(1, to=creator.email)
    assert notice["Subject"] == "Reconnect Google Drive to keep your photos edited"
    assert await creator.outputs(watch["output_folder_id"]) == []
    # The dashboard says the photo waits for the creator, not that it is being edited.
    assert [(f["name"], f["status"], f["reason"]) for f in await creator.files()] == [
        ("waiting.png", "waiting", "waiting for you to reconnect Google Drive")]

    await sign_in(creator.http, str(creator.http.base_url), oidc_provider, creator.sub, creator.email)
    assert (await creator.http.get("/creator/me")).json()["drive_status"] == "connected"
    state = (await schedule_of(creator).describe()).schedule.state
    assert not state.paused and state.note == "Drive reconnected"
    assert (await creator.http.get("/creator/drive/watch")).json()["paused_reason"] is None
    await creator.sync_and_wait()
    assert [f["name"] for f in await creator.outputs(watch["output_folder_id"])] == ["waiting_portrait_pro.png"]
    assert [(f["name"], f["status"], f["reason"]) for f in await creator.files()] == [
        ("waiting.png", "succeeded", None)]
