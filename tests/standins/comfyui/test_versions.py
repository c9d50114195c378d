"""What older ComfyUI servers do differently (protocol §11), one behaviour per test, on every
version where it differs."""

import asyncio
import logging
import re
import time
import uuid

import pytest

from standins.comfyui import EmulatorConfig
from standins.comfyui.cli import build_parser, config_from_args
from tests.standins.comfyui.comfy import empty_save, slow_graph, unique_color

TROUBLE = "500 Internal Server Error\n\nServer got itself in trouble"
TARGETED = ("0.3.64", "0.33.0")


def version_of(emulator) -> str:
    return emulator.config.comfyui_version


def only(*versions):
    return pytest.mark.parametrize("versioned_emulator", versions, indirect=True)


async def test_system_stats_reports_the_version_first_and_the_emulator_label_after_it(versioned_comfy, versioned_emulator):
    _, stats = await versioned_comfy.get("/system_stats")
    reported = stats["system"]["comfyui_version"]
    assert reported == f"{version_of(versioned_emulator)}-emulator"
    numbers = re.match(r"(\d+)\.(\d+)\.(\d+)", reported).groups()
    assert ".".join(numbers) == version_of(versioned_emulator)


@pytest.mark.parametrize("posted", ["my-job-7", str(uuid.uuid4())])
async def test_a_client_prompt_id_is_ignored_by_0_3_33_taken_as_any_string_by_0_3_64_and_must_be_a_uuid_on_0_33_0(
        versioned_comfy, versioned_emulator, posted):
    version = version_of(versioned_emulator)
    status, reply = await versioned_comfy.post("/prompt", {"prompt": empty_save(color=unique_color(), prefix="ver/pid"),
                                                          "prompt_id": posted})
    if version == "0.33.0" and posted == "my-job-7":
        assert status == 400 and reply["error"]["type"] == "invalid_prompt_id"
        return
    assert status == 200
    if version == "0.3.33":
        assert reply["prompt_id"] != posted and uuid.UUID(reply["prompt_id"]).version == 4
    else:
        assert reply["prompt_id"] == posted
    assert (await versioned_comfy.wait_history(reply["prompt_id"]))["status"]["status_str"] == "success"


@only("0.3.64")
async def test_0_3_64_reusing_a_prompt_id_overwrites_its_history_entry(versioned_comfy, versioned_emulator):
    prompt_id = f"reused-{uuid.uuid4().hex[:8]}"
    first = await versioned_comfy.run(empty_save(color=unique_color(), prefix="ver/reuse_a"), prompt_id=prompt_id)
    assert first["outputs"]["2"]["images"][0]["filename"].startswith("reuse_a_")
    await versioned_comfy.queue_prompt(empty_save(color=unique_color(), prefix="ver/reuse_b"), prompt_id=prompt_id)
    async with asyncio.timeout(10):
        while [p["status"] for p in (await versioned_emulator.stats())["prompts"]
               if p["prompt_id"] == prompt_id] != ["success", "success"]:
            await asyncio.sleep(0.02)
    _, everything = await versioned_comfy.get("/history")
    assert [pid for pid in everything if pid == prompt_id] == [prompt_id]
    assert everything[prompt_id]["outputs"]["2"]["images"][0]["filename"].startswith("reuse_b_")


async def test_an_interrupt_naming_another_prompt_stops_the_running_one_only_on_0_3_33(
        versioned_comfy, versioned_emulator, caplog):
    caplog.set_level(logging.INFO, logger="standins.comfyui.http")
    await versioned_emulator.set_latency(node_latency={"ImageBlur": 0.3})
    reply = await versioned_comfy.queue_prompt(slow_graph(unique_color(), prefix="ver/other"))
    await versioned_comfy.wait_running(reply["prompt_id"])
    other = str(uuid.uuid4())
    assert await versioned_comfy.post("/interrupt", {"prompt_id": other}) == (200, None)
    entry = await versioned_comfy.wait_history(reply["prompt_id"])
    if version_of(versioned_emulator) == "0.3.33":
        assert entry["status"]["messages"][-1][0] == "execution_interrupted"
    else:
        assert entry["status"]["status_str"] == "success"
        assert f"Prompt {other} is not currently running, skipping interrupt" in caplog.messages


@only(*TARGETED)
@pytest.mark.parametrize("body", [None, b"not json", b'{"prompt_id": ""}', b'{"prompt_id": null}', b"{}"])
async def test_an_interrupt_without_a_usable_prompt_id_stops_whatever_runs(versioned_comfy, versioned_emulator, body):
    await versioned_emulator.set_latency(node_latency={"ImageBlur": 0.3})
    reply = await versioned_comfy.queue_prompt(slow_graph(unique_color(), prefix="ver/anyint"))
    await versioned_comfy.wait_running(reply["prompt_id"])
    async with versioned_comfy.session.post(versioned_comfy.url + "/interrupt", data=body) as resp:
        assert (resp.status, await resp.read()) == (200, b"")
    entry = await versioned_comfy.wait_history(reply["prompt_id"])
    assert entry["status"]["messages"][-1][0] == "execution_interrupted"


@only("0.3.33", "0.3.64")
async def test_a_json_list_interrupt_body_crashes_0_3_64_but_0_3_33_never_reads_it(versioned_comfy, versioned_emulator):
    await versioned_emulator.set_latency(node_latency={"ImageBlur": 0.3})
    reply = await versioned_comfy.queue_prompt(slow_graph(unique_color(), prefix="ver/listint"))
    await versioned_comfy.wait_running(reply["prompt_id"])
    async with versioned_comfy.session.post(versioned_comfy.url + "/interrupt", json=[reply["prompt_id"]]) as resp:
        answer = (resp.status, resp.content_type, await resp.text())
    entry = await versioned_comfy.wait_history(reply["prompt_id"])
    if version_of(versioned_emulator) == "0.3.64":
        assert answer == (500, "text/plain", TROUBLE)
        assert entry["status"]["status_str"] == "success"
    else:
        assert answer[0] == 200
        assert entry["status"]["messages"][-1][0] == "execution_interrupted"


async def test_the_jobs_api_exists_only_on_0_33_0_and_older_servers_answer_an_empty_404(
        versioned_comfy, versioned_emulator):
    done = await versioned_comfy.run(empty_save(color=unique_color(), prefix="ver/jobs"))
    prompt_id = done["prompt"][1]
    requests = [("GET", "/api/jobs"), ("GET", f"/api/jobs/{prompt_id}"),
                ("POST", f"/api/jobs/{prompt_id}/cancel"), ("POST", "/api/jobs/cancel")]
    for method, path in requests:
        async with versioned_comfy.session.request(method, versioned_comfy.url + path, json={"job_ids": []}) as resp:
            answer = (resp.status, resp.content_type, await resp.read())
        if version_of(versioned_emulator) == "0.33.0":
            assert answer[:2] == (200, "application/json"), path
        else:
            assert answer == (404, "application/octet-stream", b""), path


FEATURES = {
    "0.3.33": None,
    "0.3.64": {"supports_preview_metadata": True, "max_upload_size": 104857600},
    "0.33.0": {"supports_preview_metadata": True, "supports_model_type_tags": True, "max_upload_size": 104857600,
               "extension": {"manager": {"supports_v4": True}}, "node_replacements": True, "assets": False},
}


async def test_features_are_absent_on_0_3_33_and_smaller_on_0_3_64(versioned_comfy, versioned_emulator):
    expected = FEATURES[version_of(versioned_emulator)]
    for path in ("/features", "/api/features"):
        status, body = await versioned_comfy.get(path)
        assert (status, body) == ((404, b"") if expected is None else (200, expected)), path


async def test_the_feature_flags_handshake_is_answered_only_by_servers_with_features(versioned_comfy, versioned_emulator):
    expected = FEATURES[version_of(versioned_emulator)]
    sock, cid = await versioned_comfy.socket()
    await sock.ws.send_json({"type": "feature_flags", "data": {"supports_preview_metadata": True}})
    answers = [f["data"] for f in await sock.quiet_for(0.2)]
    assert answers == ([] if expected is None else [expected])
    graph = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": unique_color()}},
             "2": {"class_type": "SaveImageWebsocket", "inputs": {"images": ["1", 0]}}}
    reply = await versioned_comfy.queue_prompt(graph, client_id=cid)
    frames = await sock.until_done(reply["prompt_id"])
    preview_kind = [f["data"][:4] for f in frames if f["type"] == "binary"]
    # Where the flag is ignored, previews keep the legacy format.
    assert preview_kind == [b"\x00\x00\x00\x01" if expected is None else b"\x00\x00\x00\x04"]
    await sock.close()


async def test_progress_state_messages_are_not_sent_by_0_3_33(versioned_comfy, versioned_emulator):
    sock, cid = await versioned_comfy.socket()
    reply = await versioned_comfy.queue_prompt(empty_save(color=unique_color(), prefix="ver/seq"), client_id=cid)
    kinds = [f["type"] for f in await sock.until_done(reply["prompt_id"])]
    if version_of(versioned_emulator) == "0.3.33":
        assert kinds == ["status", "status", "execution_start", "execution_cached", "executing", "executing",
                         "executed", "execution_success", "status", "executing"]
    else:
        assert kinds.count("progress_state") == 4
    await sock.close()


async def test_execution_error_message_ends_with_a_newline_except_on_0_3_33(versioned_comfy, versioned_emulator):
    await versioned_emulator.set_faults(fail_node="ImageBlur", fail_message="GPU on fire", fail_times=1)
    entry = await versioned_comfy.run(slow_graph(unique_color(), prefix="ver/fail"))
    event, error = entry["status"]["messages"][-1]
    assert event == "execution_error"
    assert error["exception_message"] == ("GPU on fire" if version_of(versioned_emulator) == "0.3.33" else "GPU on fire\n")


async def test_a_delayed_interrupt_lands_on_the_prompt_that_started_meanwhile_only_on_0_3_33(
        versioned_comfy, versioned_emulator):
    """A cancel racing a prompt change: the interrupt for A arrives once B runs."""
    await versioned_emulator.set_latency(node_latency={"ImageBlur": 0.1, "ImageSharpen": 1.2})
    await versioned_emulator.set_faults(interrupt_delay_s=0.5)
    a = await versioned_comfy.queue_prompt(slow_graph(unique_color(), "ImageBlur", prefix="ver/race_a"))
    b = await versioned_comfy.queue_prompt(slow_graph(unique_color(), "ImageSharpen", prefix="ver/race_b"))
    await versioned_comfy.wait_running(a["prompt_id"])
    sent = time.monotonic()
    assert await versioned_comfy.post("/interrupt", {"prompt_id": a["prompt_id"]}) == (200, None)
    assert time.monotonic() - sent >= 0.5
    assert (await versioned_comfy.wait_history(a["prompt_id"]))["status"]["status_str"] == "success"
    last_event, data = (await versioned_comfy.wait_history(b["prompt_id"]))["status"]["messages"][-1]
    if version_of(versioned_emulator) == "0.3.33":
        assert (last_event, data["node_id"]) == ("execution_interrupted", "4")
    else:
        assert last_event == "execution_success"


async def test_restart_can_come_back_as_another_version_keeping_stats_and_outputs(versioned_comfy, versioned_emulator):
    before = await versioned_comfy.run(empty_save(color=unique_color(), prefix="ver/upgrade"))
    other = "0.3.33" if version_of(versioned_emulator) != "0.3.33" else "0.33.0"
    await versioned_emulator.restart(comfyui_version=other)
    _, stats = await versioned_comfy.get("/system_stats")
    assert stats["system"]["comfyui_version"] == f"{other}-emulator"
    assert (await versioned_comfy.get("/api/jobs"))[0] == (404 if other == "0.3.33" else 200)
    assert (await versioned_emulator.stats())["executions"][before["prompt"][1]] == 1
    after = await versioned_comfy.run(empty_save(color=unique_color(), prefix="ver/upgrade"))
    old, new = before["outputs"]["2"]["images"][0], after["outputs"]["2"]["images"][0]
    assert int(new["filename"].split("_")[1]) == int(old["filename"].split("_")[1]) + 1
    assert (await versioned_comfy.image(old)).size == (64, 64)
    # the fixture brings it back to its own version afterwards


async def test_restart_refuses_an_unknown_version_and_stays_up(clean_emulator):
    with pytest.raises(ValueError, match="unsupported ComfyUI version '0.2.0'"):
        await clean_emulator.restart(comfyui_version="0.2.0")
    assert clean_emulator.running and clean_emulator.config.comfyui_version == "0.33.0"


def test_the_cli_takes_the_three_versions_and_refuses_others(capsys):
    for version in ("0.3.33", "0.3.64", "0.33.0"):
        assert config_from_args(build_parser().parse_args(["--comfyui-version", version])).comfyui_version == version
    assert config_from_args(build_parser().parse_args([])).comfyui_version == "0.33.0"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--comfyui-version", "0.3.40"])
    assert "invalid choice: '0.3.40'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unsupported ComfyUI version"):
        EmulatorConfig(comfyui_version="0.3.40")

