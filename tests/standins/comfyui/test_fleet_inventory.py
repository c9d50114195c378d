"""What makes a fleet of emulators mixed: each lists its own model files and node classes, keeps one checkpoint
loaded and takes the configured load time for any other, and comes back from a restart with a new inventory."""

import aiohttp
import pytest_asyncio

from standins.comfyui import EmulatorConfig, start_emulator
from tests.helpers.ports import free_port
from tests.standins.comfyui.comfy import Comfy, empty_save, txt2img


@pytest_asyncio.fixture
async def gpu(tmp_path):
    running = await start_emulator("127.0.0.1", free_port(), EmulatorConfig(
        data_dir=tmp_path / "gpu", checkpoints=["a.safetensors", "b.safetensors"], loras=["style.safetensors"],
        node_classes=["CheckpointLoaderSimple", "LoraLoader", "CLIPTextEncode", "EmptyLatentImage", "KSampler",
                      "VAEDecode", "SaveImage", "EmptyImage"]))
    async with aiohttp.ClientSession() as session:
        yield running, Comfy(session, running.url)
    await running.stop()


async def test_object_info_lists_only_the_configured_models_and_nodes(gpu):
    running, comfy = gpu
    _, info = await comfy.get("/object_info")
    assert "ImageBlur" not in info and "KSampler" in info
    assert info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] == ["a.safetensors", "b.safetensors"]
    assert info["LoraLoader"]["input"]["required"]["lora_name"][0] == ["style.safetensors"]


async def test_a_node_not_installed_is_refused_like_a_missing_custom_node(gpu):
    _, comfy = gpu
    graph = empty_save(color=1)
    graph["3"] = {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 1, "sigma": 1.0}}
    status, body = await comfy.post("/prompt", {"prompt": graph})
    assert status == 400 and body["error"]["type"] == "missing_node_type"


async def test_one_checkpoint_stays_loaded_and_another_costs_the_load_time(gpu):
    running, comfy = gpu
    await running.set_faults(model_load_s=0.3)
    for seed, ckpt in enumerate(["a.safetensors", "a.safetensors", "b.safetensors", "a.safetensors"]):
        entry = await comfy.run(txt2img(seed=seed, ckpt=ckpt), extra_data={"run": seed})
        assert entry["status"]["status_str"] == "success"
    stats = await running.stats()
    loads = [p["model_loads"] for p in sorted(stats["prompts"], key=lambda p: p["extra_data"]["run"])]
    assert loads == [1, 0, 1, 1]  # the second run of "a" found it loaded; "b" evicted it
    assert stats["model_loads"] == 3 and stats["load_seconds"] > 0.8


async def test_a_restart_with_a_new_list_is_a_new_inventory(gpu):
    running, comfy = gpu
    await running.restart(checkpoints=["a.safetensors", "c.safetensors"], node_classes=None)
    _, info = await comfy.get("/object_info")
    assert info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] == ["a.safetensors", "c.safetensors"]
    assert "ImageBlur" in info


async def test_free_with_unload_models_makes_the_next_prompt_load_again(gpu):
    running, comfy = gpu
    await comfy.run(txt2img(seed=1, ckpt="a.safetensors"), extra_data={"run": 1})
    assert (await comfy.post("/free", {"unload_models": True}))[0] == 200
    await comfy.run(txt2img(seed=2, ckpt="a.safetensors"), extra_data={"run": 2})
    assert (await running.stats())["model_loads"] == 2
