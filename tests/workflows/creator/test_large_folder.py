"""A folder with more photos than one sync run takes: the run continues as new, and the batch still ends in one
email covering every photo."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType

from tests.fixtures.creator import photo
from workflows.shared import IO_TASK_QUEUE, DriveSyncInput


async def test_a_large_folder_is_synced_in_runs_that_continue_as_new(creator, smtp):
    folder = await creator.folder("Archive")
    watch = await creator.watch(folder, preset="cinematic")
    for i in range(5):
        await creator.drop(folder, f"old{i}.png", photo(40 + i))

    handle = await creator.platform.client.start_workflow(
        "DriveSyncWorkflow", DriveSyncInput(user_id=creator.user_id, parallel_files=2, files_per_run=2),
        id=f"drive-sync-run-{creator.user_id}-large", task_queue=IO_TASK_QUEUE)
    counts = await handle.result()

    assert counts == {"succeeded": 5, "failed": 0, "skipped": 0}
    outputs = await creator.outputs(watch["output_folder_id"])
    assert sorted(f["name"] for f in outputs) == [f"old{i}_cinematic.png" for i in range(5)]
    first_run = creator.platform.client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
    continued = [e async for e in first_run.fetch_history_events()
                 if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW]
    assert len(continued) == 1, "the first run handed over to a new one after its 2 files"
    (summary,) = await smtp.wait_for(1, to=creator.email)
    assert summary["Subject"] == "5 photos edited"
