"""`comfy-platform submit` as a user runs it: a subprocess against the running stack."""

from __future__ import annotations

import asyncio
import json
import random
import stat
from pathlib import Path

from PIL import Image

from tests.helpers.images import empty_image_graph, invert_graph, write_png
from tests.helpers.ports import free_port


async def submit(platform, *args: str, **env: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *platform.cli, "submit", "--no-progress", *args, env=platform.env(**env),
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


async def test_outputs_are_named_after_the_job_never_overwritten_and_readable_like_any_file(platform, tmp_path):
    photo = write_png(tmp_path / "photo.png", width=20, height=10)
    out = tmp_path / "out"
    written = []
    for _ in range(2):  # the same command twice into the same folder
        code, stdout, err = await submit(platform, "--preset", "quick_enhance", "--image", str(photo),
                                         "--out", str(out))
        assert code == 0, err
        written += stdout.split()
    assert len(set(written)) == 2 and sorted(p.name for p in out.iterdir()) == sorted(Path(p).name for p in written)
    for path in map(Path, written):
        job_id = err_job_id(path)
        assert path.name == f"{job_id}_1.png"
        assert stat.S_IMODE(path.stat().st_mode) == 0o644  # the test process's umask is 022


def err_job_id(path: Path) -> str:
    return path.name.rsplit("_", 1)[0]


async def test_through_the_api_outputs_follow_the_same_rule(platform, api_server, make_key, tmp_path):
    created = await make_key()
    photo = write_png(tmp_path / "photo.png", width=20, height=10)
    process = await asyncio.create_subprocess_exec(
        *platform.cli, "submit", "--no-progress", "--preset", "quick_enhance", "--image", str(photo),
        "--out", str(tmp_path / "out"), "--api", api_server.url, env=platform.env(COMFY_API_KEY=created.secret),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()
    [written] = map(Path, out.decode().split())
    job_id = err.decode().split("job ", 1)[1].split()[0]
    assert written.name == f"{job_id}_1.png" and stat.S_IMODE(written.stat().st_mode) == 0o644


async def test_an_image_without_a_name_takes_the_files_own_name_for_a_graph(platform, tmp_path):
    photo = write_png(tmp_path / "photo.png", width=20, height=10, color=(0, 0, 0))
    graph = tmp_path / "graph.json"
    graph.write_text(json.dumps(invert_graph("photo.png")))
    code, out, err = await submit(platform, "--graph", str(graph), "--image", str(photo),
                                  "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert Image.open(out.split()[0]).convert("RGB").getpixel((19, 0)) == (255, 255, 255)


async def test_a_file_that_is_not_an_image_is_refused_before_a_job_exists(platform, tmp_path):
    text = tmp_path / "README.md"
    text.write_text("# not a picture\n")
    code, out, err = await submit(platform, "--preset", "quick_enhance", "--image", str(text),
                                  "--out", str(tmp_path / "out"))
    assert code == 2 and out == "" and "submitted" not in err, err
    assert "not a readable image" in err and "/tmp" not in err.replace(str(tmp_path), "") and "comfy-in" not in err


async def test_presets_and_templates_are_listed_with_their_parameters(platform):
    for command, name in (("presets", "quick_enhance"), ("templates", "t2i_basic")):
        process = await asyncio.create_subprocess_exec(*platform.cli, command, env=platform.env(),
                                                       stdout=asyncio.subprocess.PIPE)
        text = (await process.communicate())[0].decode()
        assert process.returncode == 0 and f"{name}:" in text, text
        process = await asyncio.create_subprocess_exec(*platform.cli, command, "--json", env=platform.env(),
                                                       stdout=asyncio.subprocess.PIPE)
        listed = json.loads((await process.communicate())[0])
        entry = next(e for e in listed["data"] if e["name"] == name)
        assert all({"type", "default"} <= set(schema) for schema in entry["params"].values())
    assert "  --param steps=<int>  1 to 150; default 20" in text


async def test_a_stack_that_is_not_running_is_said_in_one_line(platform, tmp_path):
    """Temporal unreachable: where it was looked for and what to start, not a traceback."""
    address = f"127.0.0.1:{free_port()}"
    code, _, err = await submit(platform, "--workflow", "t2i_basic", "--out", str(tmp_path), TEMPORAL_ADDRESS=address)
    assert code == 1 and f"cannot reach Temporal at {address}" in " ".join(err.split()), err
    assert "Traceback" not in err
