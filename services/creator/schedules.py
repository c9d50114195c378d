"""Each creator's Drive sync runs on a Temporal Schedule `drive-sync-<user id>`: no poller process anywhere.

The API creates or updates it when a folder is watched, triggers it for sync-now, pauses it (with a note saying
why) on disconnect and when Google refuses the creator's token, and deletes it with the account.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable
from datetime import timedelta
from typing import TypeVar

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from comfy_platform.settings import Settings
from workflows.shared import (
    DRIVE_SYNC_WORKFLOW,
    IO_TASK_QUEUE,
    DriveSyncInput,
    drive_sync_schedule_id,
    drive_sync_workflow_id,
    typed_search_attributes,
)

T = TypeVar("T")

def sync_schedule(settings: Settings, user_id: str, note: str = "watching a Drive folder") -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            # By name: the workflow's module imports the activities, which pause schedules through this one.
            DRIVE_SYNC_WORKFLOW,
            DriveSyncInput(user_id=user_id, parallel_files=settings.DRIVE_SYNC_PARALLEL_FILES,
                           files_per_run=settings.DRIVE_SYNC_FILES_PER_RUN),
            id=drive_sync_workflow_id(user_id),
            task_queue=IO_TASK_QUEUE,
            typed_search_attributes=typed_search_attributes({"UserId": user_id, "Product": "creator"}),
        ),
        # Each creator's ticks sit at their own offset within the interval, so thousands of creators spread
        # evenly instead of all ticking on the same boundary; jitter then only blurs them a little.
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=settings.DRIVE_SYNC_INTERVAL_S),
                                                          offset=sync_offset(user_id, settings.DRIVE_SYNC_INTERVAL_S))],
                          jitter=timedelta(seconds=settings.DRIVE_SYNC_JITTER_S)),
        # SKIP: a tick that finds the last sync still going is dropped, not queued behind it. The catch-up
        # window is short, so an outage costs one late sync rather than a burst of them.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP,
                              catchup_window=timedelta(seconds=settings.DRIVE_SYNC_CATCHUP_S)),
        state=ScheduleState(note=note),
    )


def sync_offset(user_id: str, interval_s: int) -> timedelta:
    """A stable place for this creator within the interval (the same on every update of their schedule)."""
    digest = int.from_bytes(hashlib.sha256(user_id.encode()).digest()[:8], "big")
    return timedelta(seconds=digest % max(1, interval_s))


async def ensure_sync_schedule(client: Client, settings: Settings, user_id: str) -> ScheduleHandle:
    """Create the creator's schedule, or bring an existing one up to date and unpause it."""
    schedule = sync_schedule(settings, user_id)
    try:
        return await client.create_schedule(drive_sync_schedule_id(user_id), schedule)
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(drive_sync_schedule_id(user_id))

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await handle.update(replace)
        await handle.unpause(note=schedule.state.note)
        return handle


async def pause_sync_schedule(client: Client, user_id: str, note: str) -> bool:
    """Pause with a note an operator (and the dashboard) can read. False when there is no schedule."""
    return await _if_exists(client.get_schedule_handle(drive_sync_schedule_id(user_id)).pause(note=note))


async def unpause_sync_schedule(client: Client, user_id: str, note: str) -> bool:
    return await _if_exists(client.get_schedule_handle(drive_sync_schedule_id(user_id)).unpause(note=note))


async def trigger_sync(client: Client, settings: Settings, user_id: str) -> None:
    """Sync now. BUFFER_ONE: if a sync is going, this one runs right after it instead of being dropped. A watch
    whose schedule is missing (Temporal failed as the folder was watched) gets it made here."""
    handle = client.get_schedule_handle(drive_sync_schedule_id(user_id))
    if await _if_exists(handle.trigger(overlap=ScheduleOverlapPolicy.BUFFER_ONE)) is False:
        handle = await ensure_sync_schedule(client, settings, user_id)
        await handle.trigger(overlap=ScheduleOverlapPolicy.BUFFER_ONE)


async def delete_sync_schedule(client: Client, user_id: str) -> bool:
    return await _if_exists(client.get_schedule_handle(drive_sync_schedule_id(user_id)).delete())


async def describe_sync_schedule(client: Client, user_id: str) -> dict | None:
    """What the dashboard shows: paused or not, the note, and when the next sync is due."""
    described = await _if_exists(client.get_schedule_handle(drive_sync_schedule_id(user_id)).describe())
    if described is False:
        return None
    state, info = described.schedule.state, described.info
    return {"paused": state.paused, "note": state.note, "running": bool(info.running_actions),
            "next_run_at": info.next_action_times[0].isoformat() if info.next_action_times else None,
            "last_run_at": info.recent_actions[-1].started_at.isoformat() if info.recent_actions else None}


async def _if_exists(call: Awaitable[T]) -> T | bool:
    """The call's result (True for none), or False when the creator has no schedule (never watched, deleted)."""
    try:
        result = await call
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True if result is None else result
