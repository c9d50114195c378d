"""Sync runs that overlap or die midway: every photo is still edited exactly once, and none is left out.

"Edited once" is checked where a duplicate would cost something: one GenerationWorkflow run (one GPU job) per
photo, and one output per photo in the creator's Drive.
"""

from __future__ import annotations

import asyncio

from db import drive as drive_queries
from tests.fixtures.creator import photo
from workflows.drive_file import ProcessDriveFileWorkflow
from workflows.shared import drive_file_workflow_id


async def test_a_sync_run_killed_midway_leaves_nothing_edited_twice_and_nothing_left_out(creator):
    """The run is terminated, the harshest way a sync can end: unlike a killed worker, whose runs another worker
    replays to the end, it never resumes. It dies after its first file's child has started (parallel_files=1,
    and Drive holds that file's download back with a 503) and before it stored the page token. The platform's
    workers are shared by the whole test session, so terminating the run is how one dies here; it is also what an
    operator does to a stuck run. The next sync lists the folder again and must edit the other two photos, while
    the abandoned child finishes the first."""
    folder = await creator.folder("Killed")
    watch = await creator.watch(folder)
    dropped = [await creator.drop(folder, f"shot{i}.png", photo(30 + i)) for i in range(3)]
    first = dropped[0]
    await creator.drive_server.inject_fault(503, kind="revisions.download", path_prefix=f"/drive/v3/files/{first['id']}",
                                            user=creator.sub)
    run = await creator.start_sync("killed", parallel_files=1)
    await creator.faults_answered()
    await run.terminate("killed mid-sync")
    async with creator.platform.sessionmaker() as session:
        assert (await drive_queries.get_watch(session, creator.user_id)).page_token is None

    await creator.sync_and_wait()
    abandoned = creator.platform.client.get_workflow_handle_for(
        ProcessDriveFileWorkflow.run, drive_file_workflow_id(creator.user_id, first["id"], first["version"]))
    assert (await abandoned.result()).status == "succeeded"

    outputs = sorted(f["name"] for f in await creator.outputs(watch["output_folder_id"]))
    assert outputs == [f"shot{i}_portrait_pro.png" for i in range(3)]
    assert sorted((f["name"], f["status"]) for f in await creator.files()) == [
        (f"shot{i}.png", "succeeded") for i in range(3)]
    assert len(await creator.edits(at_least=3)) == 3
    # Nothing is left for a later sync either.
    await creator.sync_and_wait()
    assert len(await creator.outputs(watch["output_folder_id"])) == 3


async def test_two_sync_runs_at_once_edit_each_photo_once_between_them(creator):
    folder = await creator.folder("Overlap")
    watch = await creator.watch(folder)
    for i in range(4):
        await creator.drop(folder, f"twin{i}.png", photo(40 + i))
    runs = await asyncio.gather(creator.start_sync("a"), creator.start_sync("b"))
    counts = await asyncio.gather(*(run.result() for run in runs))

    assert sum(c["succeeded"] for c in counts) == 4 and sum(c["failed"] for c in counts) == 0
    outputs = sorted(f["name"] for f in await creator.outputs(watch["output_folder_id"]))
    assert outputs == [f"twin{i}_portrait_pro.png" for i in range(4)]
    assert sorted((f["name"], f["status"]) for f in await creator.files()) == [
        (f"twin{i}.png", "succeeded") for i in range(4)]
    assert len(await creator.edits(at_least=4)) == 4
