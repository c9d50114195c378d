"""Deleting a paying account that also uses the API: the plan ends at Stripe at once, the API keys stop working
before the person hears back, and the account's jobs, uploads and their files in storage are gone afterwards.
Real SDK against the Stripe test server, real Temporal, PostgreSQL and storage."""

from __future__ import annotations

from comfy_platform.stripe_client import stripe_client
from db import jobs as job_queries
from db import uploads as upload_queries
from db import users as user_queries
from tests.helpers.billing import buy, until_subscription
from tests.helpers.images import png_bytes
from tests.workflows.test_billing import api_key_of, run_api_job
from workflows.shared import AccountDeletionReport, account_deletion_workflow_id


async def test_deleting_a_paying_account_ends_its_plan_revokes_its_keys_and_deletes_its_files(
        creator, stripe_server, platform, api_server):
    await buy(creator, stripe_server, "creator")
    paid = await until_subscription(platform, creator.user_id, lambda s: s.status == "active")
    key = await api_key_of(creator, platform)
    status, job = await run_api_job(api_server, key.secret)
    assert status == 200 and job["status"] == "succeeded", job
    async with api_server.client(key.secret) as http:
        upload = (await http.post("/api/v1/uploads", files={"file": ("in.png", png_bytes(40, 30), "image/png")}))
    assert upload.status_code == 201, upload.text
    async with platform.sessionmaker() as session:
        files = [o.storage_key for o in await job_queries.list_job_outputs(session, job["id"])]
        files.append((await upload_queries.get_upload(session, upload.json()["id"], key.key.id)).storage_key)
    assert len(files) == 2 and all([await platform.storage.exists(name) for name in files])

    settings = (await creator.http.get("/creator/settings")).text
    assert "plan ends now and you are not charged again" in settings
    assert (await creator.http.delete("/creator/account")).status_code == 202
    async with api_server.client(key.secret) as http:  # the key stopped working before the answer came
        assert (await http.get("/api/v1/jobs")).status_code == 401

    report = await platform.client.get_workflow_handle(
        account_deletion_workflow_id(creator.user_id), result_type=AccountDeletionReport).result()
    assert (report.subscriptions_ended, report.jobs, report.uploads) == (1, 1, 1)
    subscription = await stripe_client(platform.settings).v1.subscriptions.retrieve_async(paid.stripe_subscription_id)
    assert subscription.status == "canceled"
    assert [await platform.storage.exists(name) for name in files] == [False, False]
    async with platform.sessionmaker() as session:
        assert await user_queries.get_user(session, creator.user_id) is None
        assert await job_queries.get_job(session, job["id"]) is None
