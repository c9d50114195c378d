"""The jobs resource over real HTTP on the real stack: each body form end to end, sync generate, cancel,
idempotency, ownership and listing."""

from __future__ import annotations

import asyncio
import base64
import uuid

import httpx

from tests.helpers.images import (
    empty_image_graph,
    invert_graph,
    open_png,
    png_bytes,
    slow_graph,
)

TERMINAL = ("succeeded", "failed", "cancelled")


def b64(data: bytes) -> dict:
    return {"base64": base64.b64encode(data).decode()}


async def wait_until(http: httpx.AsyncClient, job_id: str, statuses=TERMINAL, timeout: float = 30) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        job = (await http.get(f"/api/v1/jobs/{job_id}")).json()
        if job["status"] in statuses or asyncio.get_running_loop().time() > deadline:
            return job
        await asyncio.sleep(0.1)


async def download_png(url: str):
    async with httpx.AsyncClient() as plain:
        reply = await plain.get(url)
    assert reply.status_code == 200
    return open_png(reply.content)


async def test_preset_job_with_base64_image_succeeds_and_its_output_downloads(api_server, make_key, clean_emulator):
    created = await make_key()
    async with api_server.client(created.secret) as http:
        reply = await http.post("/api/v1/jobs", json={"preset": "quick_enhance", "image": b64(png_bytes(64, 48)),
                                                      "params": {"scale": 2.0}, "metadata": {"order": "A-1"}})
        assert reply.status_code == 202, reply.text
        job = reply.json()
        assert reply.headers["location"] == f"/api/v1/jobs/{job['id']}"
        assert job["status"] in ("queued", "running") and job["preset"] == "quick_enhance"
        job = await wait_until(http, job["id"])
    assert job["status"] == "succeeded", job
    assert job["progress"] == 1 and job["metadata"] == {"order": "A-1"} and job["finished_at"]
    [output] = job["outputs"]
    assert (output["width"], output["height"], output["content_type"]) == (128, 96, "image/png")
    assert (await download_png(output["url"])).size == (128, 96)


async def test_workflow_job_with_params_succeeds(api_server, make_key, clean_emulator):
    created = await make_key()
    async with api_server.client(created.secret) as http:
        reply = await http.post("/api/v1/jobs", json={"workflow": "t2i_basic", "params": {
            "prompt": "a red fox", "seed": uuid.uuid4().int % 10**9, "steps": 2, "width": 64, "height": 96}})
        assert reply.status_code == 202, reply.text
        job = await wait_until(http, reply.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["workflow"] == "t2i_basic"
    assert (await download_png(job["outputs"][0]["url"])).size == (64, 96)


async def test_graph_job_reads_an_uploaded_image_by_file_name(api_server, make_key, clean_emulator):
    created = await make_key()
    async with api_server.client(created.secret) as http:
        upload = await http.post("/api/v1/uploads", files={"file": ("in.png", png_bytes(40, 30), "image/png")})
        assert upload.status_code == 201, upload.text
        assert {k: upload.json()[k] for k in ("filename", "content_type", "width", "height")} == {
            "filename": "in.png", "content_type": "image/png", "width": 40, "height": 30}
        reply = await http.post("/api/v1/jobs", json={"graph": invert_graph("photo.png"),
                                                      "images": {"photo.png": {"upload_id": upload.json()["id"]}}})
        assert reply.status_code == 202, reply.text
        job = await wait_until(http, reply.json()["id"])
    assert job["status"] == "succeeded", job
    image = await download_png(job["outputs"][0]["url"])
    assert image.size == (40, 30)
    assert image.getpixel((39, 0)) == (255 - 200, 255 - 30, 255 - 60)  # inverted


async def test_generate_answers_200_with_the_finished_job_when_it_is_quick(api_server, make_key, clean_emulator):
    created = await make_key()
    async with api_server.client(created.secret) as http:
        reply = await http.post("/api/v1/generate", json={"graph": empty_image_graph(width=20, height=10),
                                                          "timeout": 30})
    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] == "succeeded"
    assert (await download_png(reply.json()["outputs"][0]["url"])).size == (20, 10)


async def test_generate_answers_202_with_location_when_the_job_outlives_the_timeout(api_server, make_key,
                                                                                  clean_emulator):
    await clean_emulator.set_faults(node_latency={"KSampler": 3})
    created = await make_key()
    async with api_server.client(created.secret) as http:
        reply = await http.post("/api/v1/generate", json={"workflow": "t2i_basic", "timeout": 1,
                                                          "params": {"steps": 1, "width": 64, "height": 64,
                                                                     "seed": uuid.uuid4().int % 10**9}})
        assert reply.status_code == 202, reply.text
        job = reply.json()
        assert job["status"] in ("queued", "running")
        assert reply.headers["location"] == f"/api/v1/jobs/{job['id']}"
        assert (await wait_until(http, job["id"]))["status"] == "succeeded"


async def test_generate_timeout_out_of_range_is_refused_naming_timeout(api_server, make_key):
    created = await make_key()
    async with api_server.client(created.secret) as http:
        reply = await http.post("/api/v1/generate", json={"graph": empty_image_graph(), "timeout": 301})
    assert reply.status_code == 422
    assert reply.json()["error"]["details"][0]["field"] == "timeout"


async def test_a_job_is_listed_as_running_while_comfyui_runs_it_then_as_succeeded(api_server, make_key,
                                                                                 clean_emulator):
    await clean_emulator.set_faults(node_latency={"ImageBlur": 2})
    created = await make_key()
    async with api_server.client(created.secret) as http:
        job_id = (await http.post("/api/v1/jobs", json={"graph": slow_graph(uuid.uuid4().int % 10**6)})).json()["id"]
        deadline = asyncio.get_running_loop().time() + 15
        while not (running := (await http.get("/api/v1/jobs", params={"status": "running"})).json()["data"]):
            assert asyncio.get_running_loop().time() < deadline, "the job was never listed as running"
            await asyncio.sleep(0.1)
        assert [(j["id"], j["status"]) for j in running] == [(job_id, "running")] and running[0]["started_at"]
        assert (await wait_until(http, job_id))["status"] == "succeeded"
        assert (await http.get("/api/v1/jobs", params={"status": "running"})).json()["data"] == []
        [done] = (await http.get("/api/v1/jobs", params={"status": "succeeded"})).json()["data"]
    assert (done["id"], done["started_at"]) == (job_id, running[0]["started_at"])


async def test_cancelling_a_running_job_ends_it_cancelled(api_server, make_key, clean_emulator):
    await clean_emulator.set_faults(node_latency={"ImageBlur": 5})
    created = await make_key()
    async with api_server.client(created.secret) as http:
        job = (await http.post("/api/v1/jobs", json={"graph": slow_graph(uuid.uuid4().int % 10**6)})).json()
        assert (await wait_until(http, job["id"], ("running",) + TERMINAL))["status"] == "running"
        reply = await http.post(f"/api/v1/jobs/{job['id']}/cancel")
        assert reply.status_code == 202
        assert reply.json()["id"] == job["id"]
        assert (await wait_until(http, job["id"]))["status"] == "cancelled"


async def test_cancelling_a_queued_job_ends_it_cancelled_and_cancelling_again_returns_it_unchanged(
        api_server, make_key, clean_emulator):
    await clean_emulator.set_faults(node_latency={"ImageBlur": 5})
    created = await make_key()
    async with api_server.client(created.secret) as http:
        # The emulator runs one prompt at a time: the last of these waits in its queue.
        jobs = [(await http.post("/api/v1/jobs", json={"graph": slow_graph(uuid.uuid4().int % 10**6)})).json()
                for _ in range(3)]
        queued = jobs[-1]
        assert (await http.get(f"/api/v1/jobs/{queued['id']}")).json()["status"] == "queued"
        assert (await http.post(f"/api/v1/jobs/{queued['id']}/cancel")).status_code == 202
        done = await wait_until(http, queued["id"])
        assert done["status"] == "cancelled" and done["outputs"] == []
        again = await http.post(f"/api/v1/jobs/{queued['id']}/cancel")
        assert again.status_code == 200 and again.json()["status"] == "cancelled"
        for job in jobs[:-1]:
            await http.post(f"/api/v1/jobs/{job['id']}/cancel")


async def test_a_retry_with_the_same_idempotency_key_returns_the_same_job(api_server, make_key, platform):
    created = await make_key()
    body = {"graph": empty_image_graph(width=8, height=8), "metadata": {"n": 1}}
    headers = {"Idempotency-Key": f"order-{uuid.uuid4()}"}
    async with api_server.client(created.secret) as http:
        first = await http.post("/api/v1/jobs", json=body, headers=headers)
        again = await http.post("/api/v1/jobs", json=body, headers=headers)
        other = await http.post("/api/v1/jobs", json={**body, "metadata": {"n": 2}}, headers=headers)
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert first.json()["metadata"] == {"n": 1}  # the stored request hash stays private
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"
    async with platform.sessionmaker() as session:
        from db.jobs import list_jobs
        jobs, _ = await list_jobs(session, api_key_id=created.key.id)
    assert [j.id for j in jobs] == [first.json()["id"]]


async def test_racing_retries_with_one_idempotency_key_make_one_job_and_one_202(api_server, make_key):
    created = await make_key()
    body = {"graph": empty_image_graph(width=8, height=8)}
    headers = {"Idempotency-Key": f"race-{uuid.uuid4()}"}
    async with api_server.client(created.secret) as http:
        replies = await asyncio.gather(*(http.post("/api/v1/jobs", json=body, headers=headers) for _ in range(6)))
        listed = (await http.get("/api/v1/jobs")).json()["data"]
    assert sorted(reply.status_code for reply in replies) == [200] * 5 + [202]
    assert {reply.json()["id"] for reply in replies} == {job["id"] for job in listed}
    assert len(listed) == 1


async def test_another_keys_jobs_and_uploads_are_not_found(api_server, make_key):
    owner, stranger = await make_key(name="owner"), await make_key(name="stranger")
    async with api_server.client(owner.secret) as http:
        job = (await http.post("/api/v1/jobs", json={"graph": empty_image_graph()})).json()
        upload = (await http.post("/api/v1/uploads", files={"file": ("a.png", png_bytes(), "image/png")})).json()
    async with api_server.client(stranger.secret) as http:
        for reply in (await http.get(f"/api/v1/jobs/{job['id']}"),
                      await http.post(f"/api/v1/jobs/{job['id']}/cancel"),
                      await http.get(f"/api/v1/jobs/{job['id']}/events")):
            assert reply.status_code == 404 and reply.json()["error"]["code"] == "job_not_found"
        assert (await http.get("/api/v1/jobs")).json()["data"] == []
        used = await http.post("/api/v1/jobs", json={"graph": invert_graph("x.png"),
                                                     "images": {"x.png": {"upload_id": upload["id"]}}})
    assert used.status_code == 404
    assert used.json()["error"]["details"]["field"] == "images.x.png"


async def test_listing_pages_through_a_keys_jobs_newest_first_with_a_cursor(api_server, make_key):
    created = await make_key()
    async with api_server.client(created.secret) as http:
        ids = [(await http.post("/api/v1/jobs", json={"graph": empty_image_graph(color=i)})).json()["id"]
               for i in range(5)]
        first = (await http.get("/api/v1/jobs", params={"limit": 2})).json()
        second = (await http.get("/api/v1/jobs", params={"limit": 2, "cursor": first["next_cursor"]})).json()
        third = (await http.get("/api/v1/jobs", params={"limit": 2, "cursor": second["next_cursor"]})).json()
        bad_cursor = await http.get("/api/v1/jobs", params={"cursor": "not-a-cursor"})
        bad_limit = await http.get("/api/v1/jobs", params={"limit": 0})
        bad_status = await http.get("/api/v1/jobs", params={"status": "sleeping"})
    seen = [j["id"] for page in (first, second, third) for j in page["data"]]
    assert seen == ids[::-1] and third["next_cursor"] is None and first["count"] == 2
    assert bad_cursor.status_code == 400 and bad_cursor.json()["error"]["details"]["field"] == "cursor"
    assert bad_limit.status_code == 422 and bad_limit.json()["error"]["details"][0]["field"] == "limit"
    assert bad_status.status_code == 422


async def test_a_listed_job_carries_the_same_outputs_as_the_job_itself(api_server, make_key):
    created = await make_key()
    async with api_server.client(created.secret) as http:
        jobs = [(await http.post("/api/v1/jobs", json={"graph": empty_image_graph(color=i)})).json() for i in range(3)]
        finished = [await wait_until(http, job["id"]) for job in jobs]
        listed = {job["id"]: job for job in (await http.get("/api/v1/jobs")).json()["data"]}
    for job in finished:
        assert job["status"] == "succeeded" and len(job["outputs"]) == 1
        mine = listed[job["id"]]["outputs"]
        assert [(o["filename"], o["size"], o["width"]) for o in mine] == \
            [(o["filename"], o["size"], o["width"]) for o in job["outputs"]]
