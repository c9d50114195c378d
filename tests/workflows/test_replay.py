"""Determinism: recorded histories (generation, webhook, Drive sync, Drive file, creator email, start-sweeper,
Stripe event and meter runs, account deletions) replay against today's code.

A change that would break runs in flight (reordered activities, a new step without versioning) raises a
NondeterminismError here. Keep the old files; after a deliberate change made with `workflow.patched`, add
histories of the new shape (`(await handle.fetch_history()).to_json()`), named `<status>-<what>.json`.
The `*-recorded_running` ones took the `record-running` branch: a job long enough to signal "running". The
`drivesync-*` ones recorded since the `email-workflow` patch hand their email to a CreatorEmailWorkflow child; the
older ones replay sending it from the sync run itself. `succeeded-legacy_server_prompt_id` and
`succeeded-requeued_after_restart` ran on ComfyUI 0.3.33 and took the `prompt_queued` signal. `succeeded-metered`
handed its usage to a MeterUsageWorkflow (`meter-usage`); `drivesync-photo_quota_*` admitted photos against the
month's quota (`photo-quota`): in `_waiting` one waited, `_taken_up` is the run an upgrade started.
`accountdeletion-paid_plan` deleted an account with a subscription, an API job and an upload.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory

from presets import resolve_graph, resolve_preset
from tests.helpers.images import empty_image_graph, png_bytes
from tests.helpers.replay import replayer
from workflows.account_deletion import AccountDeletionWorkflow
from workflows.billing import MeterUsageWorkflow, StripeEventWorkflow
from workflows.creator_email import CreatorEmailWorkflow
from workflows.drive_file import ProcessDriveFileWorkflow
from workflows.drive_sync import EMAIL_WORKFLOW_PATCH, PHOTO_QUOTA_PATCH, DriveSyncWorkflow
from workflows.generation import METER_USAGE_PATCH, RECORD_RUNNING_PATCH, GenerationWorkflow
from workflows.job_starts import StartPendingJobsWorkflow
from workflows.webhook import WebhookDeliveryWorkflow

WORKFLOWS = [GenerationWorkflow, WebhookDeliveryWorkflow, DriveSyncWorkflow, ProcessDriveFileWorkflow,
             CreatorEmailWorkflow, StartPendingJobsWorkflow, StripeEventWorkflow, MeterUsageWorkflow,
             AccountDeletionWorkflow]

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays(path: Path):
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    await replayer(WORKFLOWS).replay_workflow(history)


def test_histories_are_recorded_for_every_outcome_and_every_workflow():
    assert {p.stem.split("-")[0] for p in HISTORIES} >= {"succeeded", "failed", "cancelled", "webhook", "drivesync",
                                                         "drivefile", "creatoremail", "startpending",
                                                         "stripeevent", "meterusage", "accountdeletion"}


def test_histories_take_the_running_write_of_the_record_running_patch():
    """A patched branch no recorded history reaches is a branch the replays above never check."""
    patched = {p.stem.split("-")[0] for p in HISTORIES if RECORD_RUNNING_PATCH in patch_ids(p)}
    assert patched >= {"succeeded", "cancelled"}


def test_histories_take_both_sides_of_the_email_workflow_patch():
    """Sync runs from before the patch send their email themselves; runs since hand it to a child: both replay."""
    drivesync = [p for p in HISTORIES if p.stem.startswith("drivesync-")]
    assert {EMAIL_WORKFLOW_PATCH in patch_ids(p) for p in drivesync} == {True, False}


def test_histories_take_both_sides_of_the_billing_patches():
    """API jobs recorded since `meter-usage` hand their usage to a MeterUsageWorkflow; sync runs since
    `photo-quota` admit each photo against the month's quota (one waited, a later run took it up)."""
    generation = [p for p in HISTORIES if p.stem.split("-")[0] in {"succeeded", "failed", "cancelled"}]
    assert {METER_USAGE_PATCH in patch_ids(p) for p in generation} == {True, False}
    drivesync = [p for p in HISTORIES if p.stem.startswith("drivesync-")]
    assert {PHOTO_QUOTA_PATCH in patch_ids(p) for p in drivesync} == {True, False}


def patch_ids(path: Path) -> set[str]:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    return {json.loads(e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)["id"]
            for e in history.events if e.marker_recorded_event_attributes.marker_name == "core_patch"}


async def test_fresh_runs_replay(platform):
    ok = await platform.submit(resolve_preset("quick_enhance", {}, {"image"}), {"image": png_bytes()})
    await ok.result()
    bad = await platform.submit(resolve_graph(empty_image_graph(color=random.randrange(1 << 24)) | {
        "3": {"class_type": "NoSuchNode", "inputs": {}}}, set()))
    with pytest.raises(Exception):
        await bad.result()
    replaying = replayer(WORKFLOWS)
    for handle in (ok, bad):
        await replaying.replay_workflow(await handle.fetch_history())


async def test_temporal_keeps_a_jobs_payloads_encrypted_and_the_platform_reads_them(platform, temporal_env):
    marker = f"customer-secret-{random.randrange(1 << 30)}"
    ok = await platform.submit(resolve_graph(empty_image_graph(color=random.randrange(1 << 24)), set()),
                               metadata={"note": marker}, webhook_url=f"https://{marker}.example/hook")
    assert (await ok.result()).status == "succeeded"  # the platform's own client decodes the result
    # What Temporal stores, as a client without the key reads it: no input, result or signal in plain text.
    stored = await temporal_env.client.get_workflow_handle(ok.id).fetch_history()
    assert marker not in stored.to_json()
    started = stored.events[0].workflow_execution_started_event_attributes
    assert started.input.payloads[0].metadata["encoding"] == b"binary/encrypted"
