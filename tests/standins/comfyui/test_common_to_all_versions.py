"""Facts protocol §11 found common to 0.3.33, 0.3.64 and 0.33.0, checked on each version."""

import uuid

from tests.standins.comfyui.comfy import empty_save, png_bytes, slow_graph, unique_color

TROUBLE = "500 Internal Server Error\n\nServer got itself in trouble"


async def test_requeuing_an_identical_graph_runs_nothing_writes_nothing_and_points_at_the_old_file(versioned_comfy):
    graph = empty_save(color=unique_color(), prefix="common/same")
    first = await versioned_comfy.run(graph)
    again = await versioned_comfy.run(graph)
    messages = dict(again["status"]["messages"])
    assert messages["execution_cached"]["nodes"] == ["1", "2"]
    assert again["outputs"] == first["outputs"]
    assert again["outputs"]["2"]["images"][0]["filename"] == "same_00001_.png"
    missing = {"filename": "same_00002_.png", "subfolder": "common", "type": "output"}
    assert (await versioned_comfy.get("/view", params=missing))[0] == 404


async def test_prompt_number_advances_for_prompts_refused_with_400(versioned_comfy):
    before = await versioned_comfy.queue_prompt(empty_save(color=unique_color(), prefix="common/num"))
    refused = empty_save()
    refused["1"]["inputs"]["width"] = 0
    assert (await versioned_comfy.post("/prompt", {"prompt": refused}))[0] == 400
    assert (await versioned_comfy.post("/prompt", {"client_id": "no prompt"}))[0] == 400
    after = await versioned_comfy.queue_prompt(empty_save(color=unique_color(), prefix="common/num"))
    assert after["number"] == before["number"] + 3


async def test_a_non_json_prompt_body_is_a_500_text_plain(versioned_comfy):
    async with versioned_comfy.session.post(versioned_comfy.url + "/prompt", data=b"{not json") as resp:
        assert (resp.status, resp.content_type, await resp.text()) == (500, "text/plain", TROUBLE)


async def test_view_of_a_missing_file_is_a_404_with_an_empty_body(versioned_comfy):
    async with versioned_comfy.session.get(versioned_comfy.url + "/view", params={"filename": "gone_404.png"}) as resp:
        assert (resp.status, await resp.read()) == (404, b"")


async def test_an_upload_under_a_used_name_is_renamed_unless_the_content_is_the_same(versioned_comfy):
    name = f"common_{uuid.uuid4().hex[:6]}.png"
    stem = name[:-4]
    assert (await versioned_comfy.upload(name, png_bytes(color=(1, 1, 1))))[1]["name"] == name
    assert (await versioned_comfy.upload(name, png_bytes(color=(1, 1, 1))))[1]["name"] == name
    assert (await versioned_comfy.upload(name, png_bytes(color=(2, 2, 2))))[1]["name"] == f"{stem} (1).png"


async def test_the_clients_extra_data_is_in_queue_items_and_history(versioned_comfy, versioned_emulator):
    await versioned_emulator.set_latency(node_latency={"ImageBlur": 0.3})
    tag = {"job": uuid.uuid4().hex}
    blocker = await versioned_comfy.queue_prompt(slow_graph(unique_color(), prefix="common/block"))
    await versioned_comfy.wait_running(blocker["prompt_id"])
    reply = await versioned_comfy.queue_prompt(empty_save(color=unique_color(), prefix="common/tag"),
                                               client_id="tagger", extra_data=dict(tag))
    _, queue = await versioned_comfy.get("/queue")
    pending = [item for item in queue["queue_pending"] if item[3].get("job") == tag["job"]]
    assert [item[1] for item in pending] == [reply["prompt_id"]] and len(pending[0]) == 5
    entry = await versioned_comfy.wait_history(reply["prompt_id"])
    assert entry["prompt"][3]["job"] == tag["job"] and entry["prompt"][3]["client_id"] == "tagger"


async def test_a_restart_keeps_outputs_and_their_numbering_but_wipes_temp(versioned_comfy, versioned_emulator):
    before = await versioned_comfy.run(empty_save(color=unique_color(), prefix="common/restart"))
    await versioned_comfy.upload("scratch.png", png_bytes(), type="temp")
    await versioned_emulator.restart()
    old = before["outputs"]["2"]["images"][0]
    assert (await versioned_comfy.image(old)).size == (64, 64)
    assert (await versioned_comfy.get("/view", params={"filename": "scratch.png", "type": "temp"}))[0] == 404
    after = await versioned_comfy.run(empty_save(color=unique_color(), prefix="common/restart"))
    counter = int(old["filename"].split("_")[1])
    assert after["outputs"]["2"]["images"][0]["filename"] == f"restart_{counter + 1:05}_.png"
