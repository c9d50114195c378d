"""`comfy-platform submit` as a user runs it: a subprocess against the running stack."""

from __future__ import annotations

import asyncio
import json
import random

from PIL import Image

from tests.helpers.images import empty_image_graph, invert_graph, write_png


async def submit(platform, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *platform.cli, "submit", "--no-progress", *args, env=platform.env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode, out.decode(), err.decode()


async def test_submit_workflow_with_params_writes_the_output(platform, tmp_path):
    code, out, err = await submit(platform, "--workflow", "t2i_basic", "--param", "width=96", "--param", "height=64",
                                  "--param", f"seed={random.randrange(1 << 30)}", "--param", "steps=2",
                                  "--out", str(tmp_path / "out"))
    assert code == 0, err
    [written] = out.split()
    assert Image.open(written).size == (96, 64)


async def test_submit_preset_with_an_image(platform, tmp_path):
    photo = write_png(tmp_path / "photo.png", width=50, height=40)
    code, out, err = await submit(platform, "--preset", "quick_enhance", "--image", str(photo),
                                  "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert Image.open(out.split()[0]).size == (50, 40)


async def test_submit_raw_graph_with_named_image(platform, tmp_path):
    photo = write_png(tmp_path / "p.png", width=20, height=10, color=(0, 0, 0))
    graph = tmp_path / "graph.json"
    graph.write_text(json.dumps(invert_graph("photo.png")))
    code, out, err = await submit(platform, "--graph", str(graph), "--image", f"photo.png={photo}",
                                  "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert Image.open(out.split()[0]).convert("RGB").getpixel((19, 0)) == (255, 255, 255)


async def test_a_graph_comfyui_would_refuse_is_refused_before_a_job_exists(platform, tmp_path):
    graph = empty_image_graph(color=random.randrange(1 << 24))
    graph["1"]["inputs"]["width"] = 0
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(graph))
    code, out, err = await submit(platform, "--graph", str(path), "--out", str(tmp_path / "out"))
    assert code == 2  # checked against the ComfyUI's /object_info, as the API checks it
    assert "width" in err and "smaller than min of 1" in err
    assert out == "" and "submitted" not in err


async def test_submit_refuses_bad_arguments_before_starting_a_job(platform, tmp_path):
    code, _, err = await submit(platform, "--preset", "no_such_preset", "--out", str(tmp_path))
    assert code == 2 and "unknown preset 'no_such_preset'" in err
    code, _, err = await submit(platform, "--workflow", "t2i_basic", "--param", "steps=many", "--out", str(tmp_path))
    assert code == 2 and "steps" in err
