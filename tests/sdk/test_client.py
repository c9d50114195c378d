"""The client library and `comfy-platform submit --api` against the real API server on the test stack."""

from __future__ import annotations

import asyncio
import json
import random
import uuid

import pytest

from comfy_platform.webhooks import signature_headers
from sdk.client import ApiError, ComfyPlatformClient, verify_webhook
from tests.helpers.images import (
    invert_graph,
    open_png,
    png_bytes,
    slow_graph,
    write_png,
)


async def test_upload_create_wait_and_download_round_trip(api_server, make_key, clean_emulator, tmp_path):
    created = await make_key()
    async with ComfyPlatformClient(api_server.url, created.secret) as api:
        upload = await api.upload(write_png(tmp_path / "photo.png", width=40, height=30))
        job = await api.create_job(preset="quick_enhance", image=upload["id"], params={"scale": 2.0},
                                   metadata={"order": "A-1"})
        assert job["status"] in ("queued", "running")
        seen: list[str] = []
        job = await api.wait(job["id"], timeout=60, on_progress=lambda j: seen.append(j["status"]))
        assert job["status"] == "succeeded" and job["metadata"] == {"order": "A-1"} and seen[-1] == "succeeded"
        [path] = await api.download_outputs(job, tmp_path / "out")
    assert open_png(path).size == (80, 60)


async def test_graph_job_with_inline_bytes_and_an_idempotency_key(api_server, make_key, clean_emulator, tmp_path):
    created = await make_key()
    photo = png_bytes(20, 10, color=(0, 0, 0))
    async with ComfyPlatformClient(api_server.url, created.secret) as api:
        first = await api.create_job(graph=invert_graph("p.png"), images={"p.png": photo}, idempotency_key="once")
        again = await api.create_job(graph=invert_graph("p.png"), images={"p.png": photo}, idempotency_key="once")
        assert again["id"] == first["id"]
        job = await api.wait(first["id"], timeout=60)
        [path] = await api.download_outputs(job, tmp_path)
    assert open_png(path).getpixel((19, 0)) == (255, 255, 255)


async def test_generate_waits_for_the_result(api_server, make_key, clean_emulator):
    created = await make_key()
    async with ComfyPlatformClient(api_server.url, created.secret) as api:
        job = await api.generate(workflow="t2i_basic", params={"seed": random.randrange(1 << 30), "steps": 2,
                                                               "width": 96, "height": 64}, timeout=60)
    assert job["status"] == "succeeded" and (job["outputs"][0]["width"], job["outputs"][0]["height"]) == (96, 64)


async def test_list_jobs_follows_cursors_and_cancel_stops_a_job(api_server, make_key, clean_emulator):
    await clean_emulator.set_faults(node_latency={"ImageBlur": 5})
    created = await make_key()
    async with ComfyPlatformClient(api_server.url, created.secret) as api:
        ids = [(await api.create_job(graph=slow_graph(random.randrange(1 << 24))))["id"] for _ in range(3)]
        listed = [job["id"] async for job in api.list_jobs(page_size=2)]
        assert listed == ids[::-1]
        assert [job["id"] async for job in api.list_jobs(page_size=1, limit=2)] == ids[:0:-1]
        for job_id in ids:
            await api.cancel_job(job_id)
        for job_id in ids:
            assert (await api.wait(job_id, timeout=30))["status"] == "cancelled"


async def test_catalogue_and_usage(api_server, make_key):
    created = await make_key()
    async with ComfyPlatformClient(api_server.url, created.secret) as api:
        presets, workflows, usage = await api.presets(), await api.workflows(), await api.usage()
    assert "quick_enhance" in {p["name"] for p in presets["data"]}
    assert "t2i_basic" in {w["name"] for w in workflows["data"]}
    assert usage["jobs"] == 0


async def test_error_answers_raise_api_error_with_the_body(api_server, make_key):
    created = await make_key(scopes=["generate"])
    async with ComfyPlatformClient(api_server.url, "sk_unknown") as anonymous:
        with pytest.raises(ApiError) as raised:
            await anonymous.get_job("x")
    assert (raised.value.status, raised.value.code) == (401, "unauthorized")
    async with ComfyPlatformClient(api_server.url, created.secret) as api:
        with pytest.raises(ApiError) as raised:
            await api.create_job(preset="no_such_preset", image=b"not used")
        assert raised.value.status == 422 and raised.value.code == "unknown_preset"
        with pytest.raises(ApiError) as raised:
            await api.get_job("nope")
        assert (raised.value.status, raised.value.details) == (403, {"scope": "jobs"})
    with pytest.raises(ValueError):
        await ComfyPlatformClient(api_server.url, "k").create_job(preset="a", workflow="b")


def test_a_delivery_signed_by_the_platform_verifies_with_the_key_s_secret_only():
    body = json.dumps({"id": "j1"}).encode()
    headers = signature_headers("whsec_" + "A" * 32, "msg_1", body)
    assert verify_webhook("whsec_" + "A" * 32, headers, body)
    assert not verify_webhook("whsec_" + "B" * 32, headers, body)


async def submit_api(platform, api_server, secret: str, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *platform.cli, "submit", "--no-progress", "--api", api_server.url, *args,
        env=platform.env(COMFY_API_KEY=secret, DATABASE_URL="postgresql://unused.invalid/none"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode, out.decode(), err.decode()


async def test_submit_through_the_api_writes_the_outputs(platform, api_server, make_key, clean_emulator, tmp_path):
    """The CLI needs only the API: its database setting points nowhere."""
    created = await make_key()
    photo = write_png(tmp_path / "photo.png", width=50, height=40)
    code, out, err = await submit_api(platform, api_server, created.secret, "--preset", "quick_enhance",
                                      "--image", str(photo), "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert open_png(out.split()[0]).size == (50, 40)


async def test_submit_through_the_api_keeps_the_exit_codes(platform, api_server, make_key, tmp_path):
    created = await make_key()
    code, _, err = await submit_api(platform, api_server, created.secret, "--preset", "no_such_preset",
                                    "--out", str(tmp_path))
    assert code == 2 and "no_such_preset" in err
    graph = {"1": {"class_type": "EmptyImage", "inputs": {"width": 0, "height": 8, "batch_size": 1,
                                                          "color": random.randrange(1 << 24)}},
             "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "bad"}}}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(graph))
    code, out, err = await submit_api(platform, api_server, created.secret, "--graph", str(path),
                                      "--out", str(tmp_path / "out"))
    # The API checks a graph against ComfyUI before starting a job: refused (2), where direct submission fails (1).
    assert code == 2 and "invalid_graph" in err and "width" in err and out == ""
    code, _, err = await submit_api(platform, api_server, f"sk_{uuid.uuid4().hex}", "--workflow", "t2i_basic",
                                    "--out", str(tmp_path))
    assert code == 1 and "unauthorized" in err
