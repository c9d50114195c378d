"""POST /prompt error shapes, one test per row of protocol §6."""

import uuid

import pytest

from tests.standins.comfyui.comfy import empty_save, png_bytes

TROUBLE = "500 Internal Server Error\n\nServer got itself in trouble"


async def invalid(comfy, graph):
    status, body = await comfy.post("/prompt", {"prompt": graph})
    assert status == 400, body
    return body


def only_error(body, node_id):
    errors = body["node_errors"][node_id]["errors"]
    assert len(errors) == 1, errors
    return errors[0]


async def test_unknown_class_type_is_missing_node_type_with_empty_node_errors(comfy):
    body = await invalid(comfy, {"1": {"class_type": "NoSuchNode", "inputs": {}}, **{"2": empty_save()["2"]}})
    assert body["error"]["type"] == "missing_node_type"
    assert body["error"]["message"].startswith("Node 'NoSuchNode' not found")
    assert body["error"]["extra_info"] == {"node_id": "1", "class_type": "NoSuchNode", "node_title": "NoSuchNode"}
    assert body["node_errors"] == {}


async def test_node_without_class_type_is_missing_node_type(comfy):
    body = await invalid(comfy, {"1": {"inputs": {}}})
    assert body["error"]["type"] == "missing_node_type" and "has no class_type" in body["error"]["message"]
    assert body["node_errors"] == {}


async def test_each_missing_required_widget_is_reported(comfy):
    graph = empty_save()
    graph["1"]["inputs"] = {"width": 64}
    body = await invalid(comfy, graph)
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    errors = body["node_errors"]["1"]["errors"]
    assert {e["details"] for e in errors} == {"height", "batch_size", "color"}
    assert {e["type"] for e in errors} == {"required_input_missing"}
    assert body["node_errors"]["1"]["dependent_outputs"] == ["2"]
    assert body["node_errors"]["1"]["class_type"] == "EmptyImage"


async def test_missing_required_link_input_is_reported(comfy):
    graph = empty_save()
    del graph["2"]["inputs"]["images"]
    err = only_error(await invalid(comfy, graph), "2")
    assert (err["type"], err["details"]) == ("required_input_missing", "images")


async def test_link_to_a_missing_node_is_an_exception_during_validation(comfy):
    graph = empty_save()
    graph["2"]["inputs"]["images"] = ["99", 0]
    err = only_error(await invalid(comfy, graph), "2")
    assert err["type"] == "exception_during_validation"
    assert err["details"] == "'99'" and err["extra_info"]["exception_type"] == "KeyError"
    assert isinstance(err["extra_info"]["traceback"], list)


async def test_link_output_index_out_of_range_is_an_index_error(comfy):
    graph = empty_save()
    graph["2"]["inputs"]["images"] = ["1", 5]
    err = only_error(await invalid(comfy, graph), "2")
    assert err["type"] == "exception_during_validation" and err["extra_info"]["exception_type"] == "IndexError"


async def test_mask_linked_into_image_is_a_return_type_mismatch(comfy):
    await comfy.upload("mismatch.png", png_bytes())
    graph = {"1": {"class_type": "LoadImage", "inputs": {"image": "mismatch.png"}},
             "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 1], "filename_prefix": "x"}}}
    err = only_error(await invalid(comfy, graph), "2")
    assert err["type"] == "return_type_mismatch"
    assert err["extra_info"]["received_type"] == "MASK" and err["extra_info"]["linked_node"] == ["1", 1]
    assert err["extra_info"]["input_name"] == "images"


@pytest.mark.parametrize("value, kind, message", [
    (0, "value_smaller_than_min", "Value 0 smaller than min of 1"),
    (99999, "value_bigger_than_max", "Value 99999 bigger than max of 16384"),
])
async def test_out_of_range_numbers_are_rejected(comfy, value, kind, message):
    graph = empty_save()
    graph["1"]["inputs"]["width"] = value
    err = only_error(await invalid(comfy, graph), "1")
    assert (err["type"], err["message"], err["details"]) == (kind, message, "width")


async def test_unconvertible_value_is_invalid_input_type_but_numeric_strings_are_converted(comfy):
    graph = empty_save()
    graph["1"]["inputs"]["width"] = "wide"
    err = only_error(await invalid(comfy, graph), "1")
    assert err["type"] == "invalid_input_type" and "to a INT value" in err["message"]

    graph["1"]["inputs"]["width"] = "48"
    reply = await comfy.queue_prompt(graph)
    entry = await comfy.wait_history(reply["prompt_id"])
    assert entry["prompt"][2]["1"]["inputs"]["width"] == 48  # stored converted, as ComfyUI does
    assert entry["status"]["status_str"] == "success"


async def test_bad_combo_value_lists_the_allowed_values(comfy):
    graph = empty_save()
    graph["3"] = {"class_type": "ImageFlip", "inputs": {"image": ["1", 0], "flip_method": "diagonally"}}
    graph["2"]["inputs"]["images"] = ["3", 0]
    err = only_error(await invalid(comfy, graph), "3")
    assert err["type"] == "value_not_in_list"
    assert "x-axis: vertically" in err["details"] and "'diagonally'" in err["details"]


async def test_load_image_of_a_missing_file_fails_validation(comfy):
    graph = {"1": {"class_type": "LoadImage", "inputs": {"image": "does_not_exist_12345.png"}},
             "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}
    err = only_error(await invalid(comfy, graph), "1")
    assert err["type"] == "custom_validation_failed"
    assert err["details"] == "image - Invalid image file: does_not_exist_12345.png"


@pytest.mark.parametrize("graph", [{}, {"1": empty_save()["1"]}])
async def test_graph_without_output_nodes_is_prompt_no_outputs(comfy, graph):
    body = await invalid(comfy, graph)
    assert body["error"]["type"] == "prompt_no_outputs" and body["node_errors"] == {}


async def test_body_without_prompt_is_no_prompt(comfy):
    status, body = await comfy.post("/prompt", {"client_id": "x"})
    assert status == 400 and body["error"]["type"] == "no_prompt" and body["node_errors"] == {}


@pytest.mark.parametrize("prompt_id", ["not-a-uuid", str(uuid.uuid4()).upper(), uuid.uuid4().hex, 12])
async def test_non_canonical_client_prompt_id_is_rejected(comfy, prompt_id):
    status, body = await comfy.post("/prompt", {"prompt": empty_save(), "prompt_id": prompt_id})
    assert status == 400 and body["error"]["type"] == "invalid_prompt_id" and body["node_errors"] == {}


async def test_canonical_client_prompt_id_is_used(comfy):
    prompt_id = str(uuid.uuid4())
    reply = await comfy.queue_prompt(empty_save(color=0x0F0F0F, prefix="val/pid"), prompt_id=prompt_id)
    assert reply["prompt_id"] == prompt_id
    assert (await comfy.wait_history(prompt_id))["status"]["status_str"] == "success"


@pytest.mark.parametrize("raw", [
    b"this is not json", b"", b'{"prompt": [1, 2]}', b'{"prompt": {"1": "EmptyImage"}}',
    b'{"prompt": {"last_node_id": 2, "nodes": [], "links": []}}',
])
async def test_malformed_bodies_crash_into_500_text_plain(comfy, raw):
    async with comfy.session.post(comfy.url + "/prompt", data=raw) as resp:
        assert resp.status == 500
        assert resp.content_type == "text/plain"
        assert await resp.text() == TROUBLE


async def test_one_broken_output_is_dropped_and_the_valid_one_still_runs(comfy):
    graph = empty_save(color=0x123456, prefix="val/good")
    graph["3"] = {"class_type": "EmptyImage", "inputs": {"width": 0, "height": 8, "batch_size": 1, "color": 0}}
    graph["4"] = {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "val/bad"}}
    status, body = await comfy.post("/prompt", {"prompt": graph})
    assert status == 200
    assert body["node_errors"]["3"]["errors"][0]["type"] == "value_smaller_than_min"
    assert body["node_errors"]["3"]["dependent_outputs"] == ["4"]
    entry = await comfy.wait_history(body["prompt_id"])
    assert entry["prompt"][4] == ["2"] and list(entry["outputs"]) == ["2"]


async def test_api_prefix_serves_the_same_endpoints(comfy):
    status, body = await comfy.post("/api/prompt", {"client_id": "x"})
    assert status == 400 and body["error"]["type"] == "no_prompt"
    status, stats = await comfy.get("/api/system_stats")
    assert status == 200 and stats["system"]["comfyui_version"] == "0.33.0-emulator"
    assert stats["system"]["deploy_environment"] == "comfy-platform-emulator"
