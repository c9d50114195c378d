"""Preflight catches what ComfyUI would refuse, before any GPU time, naming node and input."""

from __future__ import annotations

import pytest

from comfy_platform.comfyui import ComfyClient, ComfyValidationError
from comfy_platform.comfyui.preflight import preflight
from presets import resolve_preset, resolve_template
from tests.helpers.images import empty_image_graph, invert_graph


@pytest.fixture
async def object_info(emulator):
    async with ComfyClient(emulator.url) as comfy:
        return await comfy.object_info()


def test_shipped_templates_and_presets_pass_preflight_on_the_emulator(object_info):
    preflight(resolve_template("t2i_basic", {}, set()).graph, object_info)
    for name in ("portrait_pro", "product_glow", "cinematic", "quick_enhance"):
        job = resolve_preset(name, {}, {"image"})
        preflight(job.graph, object_info, provided_images=set(job.image_files.values()))


def test_missing_model_is_named(object_info):
    graph = resolve_template("t2i_basic", {"checkpoint": "not_installed.safetensors"}, set()).graph
    with pytest.raises(ComfyValidationError) as caught:
        preflight(graph, object_info)
    error = caught.value.details["node_errors"]["4"]["errors"][0]
    assert error["type"] == "value_not_in_list"
    assert "ckpt_name" in caught.value.message and "not_installed.safetensors" in caught.value.message


@pytest.mark.parametrize(
    ("mutate", "kind", "node"),
    [
        (lambda g: g["1"]["inputs"].update(width=0), "value_smaller_than_min", "1"),
        (lambda g: g["1"]["inputs"].update(width="wide"), "invalid_input_type", "1"),
        (lambda g: g["1"]["inputs"].pop("height"), "required_input_missing", "1"),
        (lambda g: g["2"]["inputs"].update(images=["7", 0]), "exception_during_validation", "2"),
        (lambda g: g["2"]["inputs"].update(images=["1", 5]), "exception_during_validation", "2"),
    ],
)
def test_bad_inputs_are_reported_in_comfyui_node_errors_shape(object_info, mutate, kind, node):
    graph = empty_image_graph()
    mutate(graph)
    with pytest.raises(ComfyValidationError) as caught:
        preflight(graph, object_info)
    assert caught.value.details["node_errors"][node]["errors"][0]["type"] == kind
    assert f"node {node}" in caught.value.message


def test_unknown_node_and_graph_without_outputs_are_refused(object_info):
    with pytest.raises(ComfyValidationError, match="NoSuchNode"):
        preflight({"1": {"class_type": "NoSuchNode", "inputs": {}}}, object_info)
    with pytest.raises(ComfyValidationError, match="no output node"):
        preflight({"1": empty_image_graph()["1"]}, object_info)


def test_loader_of_an_image_that_will_be_uploaded_passes(object_info):
    graph = invert_graph("cp-job/photo.png")
    with pytest.raises(ComfyValidationError):
        preflight(graph, object_info)
    preflight(graph, object_info, provided_images={"cp-job/photo.png"})
