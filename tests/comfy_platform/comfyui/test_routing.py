"""What a graph needs against what a backend lists, and which free backend a job takes."""

from comfy_platform.comfyui.routing import Inventory, inventory_of, missing, needs_of, pick

GRAPH = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sdxl.safetensors"}},
    "10": {"class_type": "LoraLoader", "inputs": {"model": ["4", 0], "clip": ["4", 1], "lora_name": "ink.safetensors",
                                                  "strength_model": 1.0, "strength_clip": 1.0}},
    "3": {"class_type": "KSampler", "inputs": {"model": ["10", 0], "sampler_name": "euler", "seed": 1}},
}


def test_a_graph_needs_its_node_classes_and_the_files_its_loaders_name():
    needs = needs_of(GRAPH)
    assert needs.node_classes == {"CheckpointLoaderSimple", "LoraLoader", "KSampler"}
    # sampler_name is a list input too, but not a model file
    assert needs.models == {"ckpt_name": {"sdxl.safetensors"}, "lora_name": {"ink.safetensors"}}
    assert needs.checkpoint == "sdxl.safetensors" and needs.loader_nodes == ("4",)


def test_a_backend_lacks_what_its_object_info_does_not_list_nodes_first():
    object_info = {
        "CheckpointLoaderSimple": {"input": {"required": {"ckpt_name": [["sdxl.safetensors", "flux.safetensors"]]}}},
        "KSampler": {"input": {"required": {"sampler_name": [["euler"]], "seed": ["INT", {}]}}},
    }
    inventory = inventory_of(object_info)
    assert inventory.models == {"ckpt_name": {"sdxl.safetensors", "flux.safetensors"}}
    assert missing(needs_of(GRAPH), inventory) == ["node LoraLoader", "lora_name ink.safetensors"]
    assert Inventory.from_json(**inventory.as_json()) == inventory  # as the registry stores it


def test_a_free_backend_with_the_checkpoint_loaded_goes_first_then_one_nobody_waits_for():
    held = {"a": 1, "b": 0, "c": 0}
    loaded = {"a": "sdxl", "b": "flux", "c": None}
    assert pick(["a", "b", "c"], held, loaded, "sdxl") == "a"  # no load, although busier
    assert pick(["b", "c"], held, loaded, "sdxl", wanted=frozenset({"flux"})) == "c"  # keeps flux for its jobs
    assert pick(["a", "b", "c"], held, loaded, None) == "b"  # model-blind: the least busy
