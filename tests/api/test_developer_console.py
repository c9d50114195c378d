"""The developer console's routes over real HTTP on the real stack: a key made there works with the API and shows
its use, revoking it shuts the API's door, the webhook secret is revealed and rotated (and signs the next
delivery), and one account never sees another's keys or jobs."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
import pytest
from sqlalchemy import select

from db.models import ApiKey
from sdk import verify_webhook
from tests.api.test_jobs import wait_until
from tests.helpers.images import png_bytes
from tests.helpers.webhook_receiver import running_receiver

CONSOLE = "/creator/developers"


async def create_key(creator, name: str = "my app", scopes=("generate", "jobs"), expires_in_days=None) -> dict:
    reply = await creator.http.post(f"{CONSOLE}/keys", json={"name": name, "scopes": list(scopes),
                                                             "expires_in_days": expires_in_days})
    assert reply.status_code == 201, reply.text
    assert reply.headers["cache-control"] == "no-store"
    return reply.json()


async def listed(creator) -> dict[str, dict]:
    reply = await creator.http.get(f"{CONSOLE}/keys")
    assert reply.status_code == 200, reply.text
    return {key["id"]: key for key in reply.json()["data"]}


async def run_preset_job(api_server, secret: str, **extra) -> dict:
    async with api_server.client(secret) as http:
        reply = await http.post("/api/v1/jobs", json={
            "preset": "quick_enhance", "image": {"base64": base64.b64encode(png_bytes(40, 30)).decode()}, **extra})
        assert reply.status_code == 202, reply.text
        return await wait_until(http, reply.json()["id"])


@pytest.mark.parametrize(("method", "path"), [
    ("GET", f"{CONSOLE}/keys"), ("POST", f"{CONSOLE}/keys"), ("POST", f"{CONSOLE}/keys/k1/revoke"),
    ("GET", f"{CONSOLE}/keys/k1/webhook-secret"), ("POST", f"{CONSOLE}/keys/k1/webhook-secret/rotate"),
    ("GET", f"{CONSOLE}/usage"), ("GET", f"{CONSOLE}/jobs")])
async def test_console_routes_without_a_session_are_401(api_server, method, path):
    async with httpx.AsyncClient(base_url=api_server.url) as anonymous:
        body = {"name": "x", "scopes": ["jobs"]} if path.endswith("/keys") and method == "POST" else None
        response = await anonymous.request(method, path, json=body)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_a_key_made_in_the_console_works_with_the_api_and_its_secret_is_shown_only_once(
        creator, api_server, clean_emulator):
    created = await create_key(creator, "shop backend", scopes=["jobs", "generate"], expires_in_days=30)
    secret, key = created["secret"], created["key"]
    assert secret.startswith("sk_") and secret.startswith(key["prefix"])
    assert key["scopes"] == ["generate", "jobs"] and key["state"] == "active"
    assert key["expires_at"] and key["last_used_at"] is None
    keys = await listed(creator)
    assert keys[key["id"]]["name"] == "shop backend"
    assert secret not in json.dumps(keys)  # the list never holds a secret
    async with creator.platform.sessionmaker() as session:
        stored = await session.scalar(select(ApiKey).where(ApiKey.id == key["id"]))
    assert secret not in json.dumps([stored.secret_hash, stored.prefix])

    job = await run_preset_job(api_server, secret)
    assert job["status"] == "succeeded", job
    assert (await listed(creator))[key["id"]]["last_used_at"] is not None

    usage = (await creator.http.get(f"{CONSOLE}/usage", params={"days": 7})).json()
    assert len(usage["days"]) == 7
    [mine] = [u for u in usage["keys"] if u["key_id"] == key["id"]]
    assert mine["images"] == 1 and mine["days"][-1]["day"] == usage["days"][-1]
    assert (mine["days"][-1]["jobs"], mine["days"][-1]["images"]) == (1, 1)
    assert all(day["images"] == 0 for day in mine["days"][:-1])

    jobs = (await creator.http.get(f"{CONSOLE}/jobs")).json()
    [shown] = [j for j in jobs["data"] if j["id"] == job["id"]]
    assert shown["status"] == "succeeded" and shown["key_name"] == "shop backend"
    assert [e["kind"] for e in shown["events"]][0] == "queued" and shown["events"][-1]["kind"] == "succeeded"
    async with httpx.AsyncClient() as plain:
        assert (await plain.get(shown["outputs"][0]["url"])).status_code == 200


async def test_a_revoked_key_is_refused_by_the_api_at_once(creator, api_server):
    created = await create_key(creator, "leaked")
    async with api_server.client(created["secret"]) as http:
        assert (await http.get("/api/v1/usage")).status_code == 200
        revoked = await creator.http.post(f"{CONSOLE}/keys/{created['key']['id']}/revoke")
        assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
        refused = await http.get("/api/v1/usage")
    assert refused.status_code == 401
    again = await creator.http.post(f"{CONSOLE}/keys/{created['key']['id']}/revoke")
    assert again.status_code == 200 and again.json()["revoked_at"] == revoked.json()["revoked_at"]
    assert (await listed(creator))[created["key"]["id"]]["state"] == "revoked"
    rotate = await creator.http.post(f"{CONSOLE}/keys/{created['key']['id']}/webhook-secret/rotate")
    assert rotate.status_code == 409 and rotate.json()["error"]["code"] == "key_revoked"


async def test_the_webhook_secret_is_kept_encrypted_revealed_to_its_owner_and_rotation_signs_the_next_delivery(
        creator, api_server, clean_emulator):
    created = await create_key(creator, "hooks")
    key_id = created["key"]["id"]
    revealed = await creator.http.get(f"{CONSOLE}/keys/{key_id}/webhook-secret")
    assert revealed.status_code == 200 and revealed.headers["cache-control"] == "no-store"
    old = revealed.json()["webhook_secret"]
    assert old.startswith("whsec_")
    async with creator.platform.sessionmaker() as session:
        stored = await session.scalar(select(ApiKey.webhook_secret_encrypted).where(ApiKey.id == key_id))
    assert old not in stored and old.removeprefix("whsec_") not in stored

    rotated = await creator.http.post(f"{CONSOLE}/keys/{key_id}/webhook-secret/rotate")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["webhook_secret"]
    assert new != old and (await creator.http.get(f"{CONSOLE}/keys/{key_id}/webhook-secret")).json() == {
        "key_id": key_id, "webhook_secret": new}

    async with running_receiver() as receiver:
        job = await run_preset_job(api_server, created["secret"], webhook_url=receiver.url)
        [delivery] = await receiver.wait_for(1)
    assert job["status"] == "succeeded"
    assert verify_webhook(new, delivery.headers, delivery.body)
    assert not verify_webhook(old, delivery.headers, delivery.body)


async def test_an_account_sees_and_touches_only_its_own_keys_and_jobs(creator, other_creator, api_server,
                                                                       clean_emulator):
    mine = await create_key(creator, "mine")
    key_id = mine["key"]["id"]
    job = await run_preset_job(api_server, mine["secret"])
    assert key_id not in await listed(other_creator)
    for method, path in (("POST", f"/keys/{key_id}/revoke"), ("GET", f"/keys/{key_id}/webhook-secret"),
                         ("POST", f"/keys/{key_id}/webhook-secret/rotate")):
        reply = await other_creator.http.request(method, CONSOLE + path)
        assert reply.status_code == 404, reply.text
        assert reply.json()["error"] == {"code": "key_not_found", "message": f"no API key '{key_id}' in this account",
                                         "details": {"field": "key_id"}}
    theirs = (await other_creator.http.get(f"{CONSOLE}/jobs")).json()
    assert job["id"] not in [j["id"] for j in theirs["data"]]
    assert (await other_creator.http.get(f"{CONSOLE}/jobs", params={"key_id": key_id})).status_code == 404
    assert all(u["key_id"] != key_id for u in (await other_creator.http.get(f"{CONSOLE}/usage")).json()["keys"])
    # The owner's key still works: nothing the other account tried changed it.
    async with api_server.client(mine["secret"]) as http:
        assert (await http.get("/api/v1/usage")).status_code == 200


async def test_creating_a_key_refuses_what_it_cannot_make_and_names_the_field(creator):
    async def refused(body: dict) -> tuple[int, dict]:
        reply = await creator.http.post(f"{CONSOLE}/keys", json=body)
        return reply.status_code, reply.json()["error"]

    status, error = await refused({"name": "  ", "scopes": ["jobs"]})
    assert status == 422 and error["details"][0]["field"] == "name"
    status, error = await refused({"name": "x", "scopes": []})
    assert status == 422 and error["details"][0]["field"] == "scopes"
    status, error = await refused({"name": "x", "scopes": ["admin"]})
    assert status == 422 and error["details"][0]["field"] == "scopes.0"
    status, error = await refused({"name": "x", "scopes": ["jobs"], "expires_in_days": 0})
    assert status == 422 and error["details"][0]["field"] == "expires_in_days"
    assert await listed(creator) == {}


async def test_an_account_holds_at_most_a_bounded_number_of_live_keys(creator):
    from services.api_keys import MAX_LIVE_KEYS

    ids = [(await create_key(creator, f"key {n}", scopes=["jobs"]))["key"]["id"] for n in range(MAX_LIVE_KEYS)]
    reply = await creator.http.post(f"{CONSOLE}/keys", json={"name": "one too many", "scopes": ["jobs"]})
    assert reply.status_code == 409 and reply.json()["error"]["code"] == "too_many_keys"
    assert "revoke one" in reply.json()["error"]["message"]
    assert (await creator.http.post(f"{CONSOLE}/keys/{ids[0]}/revoke")).status_code == 200
    await create_key(creator, "fits again", scopes=["jobs"])


async def test_changing_keys_without_the_pages_csrf_token_is_refused(creator, api_server):
    created = await create_key(creator, "kept")
    async with httpx.AsyncClient(base_url=api_server.url, cookies=dict(creator.http.cookies)) as forged:
        for path, body in ((f"{CONSOLE}/keys", {"name": "forged", "scopes": ["jobs"]}),
                           (f"{CONSOLE}/keys/{created['key']['id']}/revoke", None),
                           (f"{CONSOLE}/keys/{created['key']['id']}/webhook-secret/rotate", None)):
            reply = await forged.post(path, json=body)
            assert reply.status_code == 403 and reply.json()["error"]["code"] == "csrf_failed", path
    keys = await listed(creator)
    assert [k["name"] for k in keys.values()] == ["kept"] and keys[created["key"]["id"]]["state"] == "active"


async def test_a_job_s_events_tell_each_webhook_attempt_in_plain_words(creator, api_server, clean_emulator):
    created = await create_key(creator, "hooked")
    async with running_receiver(500) as receiver:
        job = await run_preset_job(api_server, created["secret"], webhook_url=receiver.url)
        await receiver.wait_for(2)  # refused once, then taken (the retry comes after 5 s)
        for _ in range(100):
            [shown] = (await creator.http.get(f"{CONSOLE}/jobs")).json()["data"]
            if sum(e["kind"] == "webhook" for e in shown["events"]) == 2:
                break
            await asyncio.sleep(0.1)
    assert shown["id"] == job["id"]
    texts = [e["text"] for e in shown["events"]]
    assert texts == ["accepted and queued", "started on a GPU", "succeeded with 1 output(s)",
                     "webhook attempt 1: refused with HTTP 500", "webhook attempt 2: delivered (HTTP 200)"]
    times = [e["at"] for e in shown["events"]]
    assert times == sorted(times)


async def test_a_webhook_that_cannot_connect_is_told_without_the_http_library_s_error(creator, api_server,
                                                                                      clean_emulator):
    from tests.helpers.ports import free_port

    created = await create_key(creator, "nobody listens")
    job = await run_preset_job(api_server, created["secret"], webhook_url=f"http://127.0.0.1:{free_port()}/hook")
    for _ in range(100):
        [shown] = (await creator.http.get(f"{CONSOLE}/jobs")).json()["data"]
        if any(e["kind"] == "webhook" for e in shown["events"]):
            break
        await asyncio.sleep(0.1)
    assert shown["id"] == job["id"]
    [first] = [e["text"] for e in shown["events"] if e["kind"] == "webhook"][:1]
    assert first == "webhook attempt 1: could not connect to the webhook URL"
    # The API's own job object keeps the full error for the developer's client.
    async with api_server.client(created["secret"]) as http:
        deliveries = (await http.get(f"/api/v1/jobs/{job['id']}")).json()["webhook_deliveries"]
    assert "failed" in deliveries[0]["error"]
    await creator.platform.client.get_workflow_handle(f"webhook-{job['id']}").terminate("test over")
