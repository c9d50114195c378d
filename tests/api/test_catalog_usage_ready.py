"""The catalog (presets, workflows), a key's usage this month, readiness and the published OpenAPI document."""

from __future__ import annotations

from tests.helpers.images import empty_image_graph


async def test_presets_and_workflows_are_listed_with_their_parameter_schemas(api_server, make_key):
    created = await make_key(scopes=["generate"])
    async with api_server.client(created.secret) as http:
        presets = (await http.get("/api/v1/presets")).json()
        workflows = (await http.get("/api/v1/workflows")).json()
    quick = next(p for p in presets["data"] if p["name"] == "quick_enhance")
    assert quick["params"]["scale"] == {"type": "float", "default": 1.0, "min": 0.25, "max": 4.0}
    t2i = next(w for w in workflows["data"] if w["name"] == "t2i_basic")
    assert t2i["params"]["steps"]["max"] == 150 and t2i["images"] == []
    assert presets["count"] == len(presets["data"]) >= 4


async def test_usage_counts_this_keys_finished_jobs_and_images_this_month(api_server, make_key, clean_emulator):
    created, other = await make_key(), await make_key()
    async with api_server.client(created.secret) as http:
        assert (await http.get("/api/v1/usage")).json()["jobs"] == 0
        for _ in range(2):
            done = await http.post("/api/v1/generate", json={"graph": empty_image_graph()})
            assert done.status_code == 200
        usage = (await http.get("/api/v1/usage")).json()
    assert (usage["jobs"], usage["images"]) == (2, 2)
    assert usage["period_start"] < usage["period_end"] and usage["period_start"][8:10] == "01"
    async with api_server.client(other.secret) as http:
        assert (await http.get("/api/v1/usage")).json()["jobs"] == 0


async def test_usage_needs_the_jobs_scope(api_server, make_key):
    created = await make_key(scopes=["generate"])
    async with api_server.client(created.secret) as http:
        assert (await http.get("/api/v1/usage")).status_code == 403


async def test_ready_is_200_with_the_stack_up_and_503_naming_comfyui_when_it_is_down(api_server, clean_emulator):
    async with api_server.client() as http:
        up = await http.get("/api/ready")
        assert up.status_code == 200, up.text
        assert all(check["ok"] for check in up.json()["checks"].values())
        await clean_emulator.stop()
        down = await http.get("/api/ready")
    assert down.status_code == 503
    checks = down.json()["checks"]
    assert not checks["comfyui"]["ok"] and checks["database"]["ok"] and checks["temporal"]["ok"]


async def test_openapi_documents_the_job_body_with_examples_and_every_route(api_server):
    async with api_server.client() as http:
        spec = (await http.get("/openapi.json")).json()
    for path in ("/api/v1/jobs", "/api/v1/jobs/{job_id}", "/api/v1/jobs/{job_id}/cancel", "/api/v1/generate",
                 "/api/v1/uploads", "/api/v1/presets", "/api/v1/workflows", "/api/v1/usage", "/api/ready"):
        assert path in spec["paths"], path
    assert len(spec["components"]["schemas"]["JobCreate"]["examples"]) == 3
