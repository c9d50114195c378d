"""Templates and presets turn a user's request into a concrete graph, refusing bad input by field name."""

import pytest

from presets import (
    InvalidJobRequest,
    list_presets,
    list_templates,
    resolve_graph,
    resolve_preset,
    resolve_template,
)
from presets.errors import UnusableContent


def test_every_preset_renders_with_its_defaults_and_one_image():
    for preset in list_presets():
        job = resolve_preset(preset.name, {}, {"image"})
        assert job.image_files == {"image": "image.png"}
        loaders = [n for n in job.graph.values() if n["class_type"] == "LoadImage"]
        assert [n["inputs"]["image"] for n in loaders] == ["image.png"]


def test_product_presets_name_the_models_they_need_and_quick_enhance_needs_none():
    by_name = {p.name: p for p in list_presets()}
    assert {"portrait_pro", "product_glow", "cinematic", "quick_enhance"} <= set(by_name)
    assert by_name["quick_enhance"].models == []
    for name in ("portrait_pro", "product_glow", "cinematic"):
        checkpoint = resolve_preset(name, {}, {"image"}).graph["4"]["inputs"]["ckpt_name"]
        assert by_name[name].models == [checkpoint]


def test_template_params_are_bound_into_the_graph():
    job = resolve_template("t2i_basic", {"prompt": "a red fox", "seed": 42, "width": 256, "cfg": 3}, set())
    assert job.graph["6"]["inputs"]["text"] == "a red fox"
    assert job.graph["3"]["inputs"]["seed"] == 42
    assert job.graph["5"]["inputs"]["width"] == 256
    assert job.graph["3"]["inputs"]["cfg"] == 3.0
    assert job.graph["5"]["inputs"]["height"] == 512  # the default


@pytest.mark.parametrize(
    ("params", "field", "fragment"),
    [
        ({"nope": 1}, "params.nope", "unknown parameter"),
        ({"steps": 0}, "params.steps", "must be a whole number between 1 and 150, got 0"),
        ({"steps": 1000}, "params.steps", "must be a whole number between 1 and 150, got 1000"),
        ({"steps": "ten"}, "params.steps", "must be a whole number between 1 and 150, got a string"),
        ({"steps": True}, "params.steps", "must be a whole number between 1 and 150, got true or false"),
        ({"steps": 2.5}, "params.steps", "must be a whole number between 1 and 150, got a number"),
        ({"cfg": float("nan")}, "params.cfg", "must be a finite number"),
        ({"cfg": float("inf")}, "params.cfg", "must be a finite number"),
        ({"cfg": 10**401}, "params.cfg", "out of range"),
        ({"prompt": "a\x00b"}, "params.prompt", "NUL"),
        ({"prompt": "a\ud800b"}, "params.prompt", "surrogate"),
        ({"width": 100}, "params.width", "multiple of 8"),
        ({"sampler": "magic"}, "params.sampler", "one of"),
        ({"prompt": "x" * 5000}, "params.prompt", "longer than"),
    ],
)
def test_bad_template_params_are_refused_by_name(params, field, fragment):
    with pytest.raises(InvalidJobRequest) as caught:
        resolve_template("t2i_basic", params, set())
    assert caught.value.field == field
    assert fragment in caught.value.message


def test_an_integral_number_counts_as_a_whole_number_as_json_schema_says():
    job = resolve_template("t2i_basic", {"steps": 30.0}, set())
    assert job.graph["3"]["inputs"]["steps"] == 30 and isinstance(job.graph["3"]["inputs"]["steps"], int)


def test_preset_refuses_params_it_does_not_expose():
    with pytest.raises(InvalidJobRequest) as caught:
        resolve_preset("portrait_pro", {"checkpoint": "other.safetensors"}, {"image"})
    assert caught.value.field == "params.checkpoint"


def test_unknown_preset_and_workflow_list_what_exists():
    with pytest.raises(InvalidJobRequest, match="available") as caught:
        resolve_preset("nope", {}, set())
    assert caught.value.field == "preset"
    with pytest.raises(InvalidJobRequest) as caught:
        resolve_template("nope", {}, set())
    assert caught.value.field == "workflow"


def test_image_templates_require_their_image():
    with pytest.raises(InvalidJobRequest) as caught:
        resolve_template("img2img_basic", {}, set())
    assert caught.value.field == "images.image"
    with pytest.raises(InvalidJobRequest) as caught:
        resolve_template("t2i_basic", {}, {"extra"})
    assert caught.value.field == "images.extra"


@pytest.mark.parametrize(
    ("graph", "fragment"),
    [
        ([1, 2], "JSON object"),
        ({"nodes": [], "links": []}, "UI-format"),
        ({"1": "not a node"}, "node 1"),
        ({"1": {"inputs": {}}}, "class_type"),
        ({}, "no nodes"),
    ],
)
def test_raw_graphs_that_are_not_api_format_are_refused(graph, fragment):
    with pytest.raises(InvalidJobRequest, match=fragment) as caught:
        resolve_graph(graph, set())
    assert caught.value.field == "graph"


def test_raw_graph_images_must_match_its_loaders():
    graph = {"1": {"class_type": "LoadImage", "inputs": {"image": "in.png"}},
             "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}}}
    assert resolve_graph(graph, {"in.png"}).image_files == {"in.png": "in.png"}
    with pytest.raises(InvalidJobRequest) as caught:
        resolve_graph(graph, set())
    assert caught.value.field == "images.in.png"
    with pytest.raises(InvalidJobRequest) as caught:
        resolve_graph(graph, {"in.png", "other.png"})
    assert caught.value.field == "images.other.png"


@pytest.mark.parametrize(
    ("graph", "images", "field", "fragment"),
    [
        ({"../../x": {"class_type": "SaveImage", "inputs": {}}}, set(), "graph", "is not one"),
        ({"1": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}}}, set(), "graph", "linked to itself"),
        ({"1": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
          "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}}}, set(), "graph", "cycle: 1 -> 2 -> 1"),
        ({"1": {"class_type": "LoadImage", "inputs": {"image": "../x.png"}}}, {"../x.png"}, "images.../x.png",
         "not a usable file name"),
        ({"1": {"class_type": "LoadImage", "inputs": {"image": ".env"}}}, {".env"}, "images..env",
         "not a usable file name"),
        ({"1": {"class_type": "EmptyImage", "inputs": {"width": float("nan")}}}, set(), "graph.1.inputs.width",
         "finite number"),
    ],
)
def test_raw_graphs_that_could_never_run_are_refused_before_a_job_exists(graph, images, field, fragment):
    with pytest.raises(InvalidJobRequest, match=fragment) as caught:
        resolve_graph(graph, images)
    assert caught.value.field == field


def test_unusable_graph_content_is_told_apart_from_a_malformed_request():
    """Loops and loader/image mismatches fit the published schema; the API answers them 400, not 422."""
    loop = {"1": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}}}
    with pytest.raises(UnusableContent):
        resolve_graph(loop, set())
    with pytest.raises(InvalidJobRequest) as caught:
        resolve_graph({"a/b": {"class_type": "X"}}, set())
    assert not isinstance(caught.value, UnusableContent)


def test_templates_are_listed_with_their_parameter_schema():
    described = {t.name: t.describe() for t in list_templates()}
    assert {"t2i_basic", "img2img_basic"} <= set(described)
    assert described["t2i_basic"]["params"]["steps"] == {"type": "int", "default": 20, "min": 1, "max": 150}
    assert described["img2img_basic"]["images"] == ["image"]
