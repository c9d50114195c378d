"""A creator's monthly photos: past the plan's, a new photo waits (it does not fail) with a plain reason, the
creator is told once at 80 % and once at 100 %, and an upgrade or the plan's renewal edits it, every photo exactly
once. Real SDK against the Stripe test
server, real Temporal, Drive test server and SMTP server."""

from __future__ import annotations

import asyncio
import time

from tests.fixtures.creator import photo
from tests.helpers.billing import billing_view, buy, until_subscription

QUOTA_USED = "Your photos for this month are used"
ALMOST_USED = "You have used 80 % of this month's photos"


async def until_files(creator, check, timeout_s: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while True:
        files = await creator.files()
        if check(files):
            return files
        assert time.monotonic() < deadline, f"the creator's photos never matched: {files}"
        await asyncio.sleep(0.2)


def subjects(smtp, creator) -> list[str]:
    return [m["Subject"] for m in smtp.messages_to(creator.email)]


async def until_told(smtp, creator, subject: str, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while subject not in subjects(smtp, creator):
        assert time.monotonic() < deadline, f"no email {subject!r} came: {subjects(smtp, creator)}"
        await asyncio.sleep(0.1)


def statuses(files: list[dict]) -> list[str]:
    return sorted(f["status"] for f in files)


async def test_a_photo_past_the_month_s_quota_waits_and_an_upgrade_edits_it_once(creator, stripe_server, platform,
                                                                               smtp):
    await buy(creator, stripe_server, "creator")  # 2 photos a month
    await until_subscription(platform, creator.user_id, lambda s: s.plan == "creator" and s.status == "active")
    folder = await creator.folder("Quota")
    watch = await creator.watch(folder)
    for seed in range(3):
        await creator.drop(folder, f"photo-{seed}.png", photo(300 + seed))
    # Checked together, the three photos cannot all slip under the quota: two are edited, the third waits.
    assert (await creator.http.post("/creator/sync-now")).status_code == 202
    files = await until_files(creator, lambda fs: statuses(fs) == ["succeeded", "succeeded", "waiting_for_quota"])
    waiting = next(f for f in files if f["status"] == "waiting_for_quota")
    assert "this month's 2 photos of the Creator plan" in waiting["reason"], waiting
    assert "upgrade" in waiting["reason"]
    assert len(await creator.outputs(watch["output_folder_id"])) == 2
    view = await billing_view(creator)
    assert view["creator_photos"] == {"used": 2, "included": 2}

    # One email says the month's photos are used, however many photos meet the full quota.
    await until_told(smtp, creator, QUOTA_USED)
    await creator.drop(folder, "photo-3.png", photo(303))
    assert (await creator.http.post("/creator/sync-now")).status_code == 202
    await until_files(creator, lambda fs: statuses(fs) == ["succeeded"] * 2 + ["waiting_for_quota"] * 2)

    # Upgrading switches the subscription with the card on file; the waiting photos are edited at once.
    response = await creator.http.post("/creator/billing/checkout", json={"plan": "pro"})
    assert response.status_code == 200, response.text
    await until_subscription(platform, creator.user_id, lambda s: s.plan == "pro")
    await until_files(creator, lambda fs: statuses(fs) == ["succeeded"] * 4)
    outputs = await creator.outputs(watch["output_folder_id"])
    assert sorted(o["name"] for o in outputs) == [f"photo-{n}_portrait_pro.png" for n in range(4)]
    assert len(await creator.edits(at_least=5, timeout_s=1)) == 4, "each photo was edited once"
    assert (await billing_view(creator))["creator_photos"] == {"used": 4, "included": 5}
    # 4 of the Pro plan's 5: the creator hears of 80 % once, and of the full quota no more than before.
    await until_told(smtp, creator, ALMOST_USED)
    assert subjects(smtp, creator).count(ALMOST_USED) == 1
    assert subjects(smtp, creator).count(QUOTA_USED) == 1


async def test_a_photo_waiting_for_quota_is_edited_when_the_plan_renews(creator, stripe_clock, platform):
    await buy(creator, stripe_clock, "creator")
    first = await until_subscription(platform, creator.user_id, lambda s: s.status == "active")
    folder = await creator.folder("Renewal")
    watch = await creator.watch(folder)
    for seed in range(3):
        await creator.drop(folder, f"photo-{seed}.png", photo(400 + seed))
    assert (await creator.http.post("/creator/sync-now")).status_code == 202
    await until_files(creator, lambda fs: statuses(fs) == ["succeeded", "succeeded", "waiting_for_quota"])

    # A month on, Stripe renews the plan: the waiting photo is edited by itself.
    await stripe_clock.advance(to="period_end", subscription=first.stripe_subscription_id)
    await until_files(creator, lambda fs: statuses(fs) == ["succeeded"] * 3)
    assert len(await creator.outputs(watch["output_folder_id"])) == 3
    assert len(await creator.edits(at_least=4, timeout_s=1)) == 3, "each photo was edited once"
