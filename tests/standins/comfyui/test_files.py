"""Uploads, /view, and the files SaveImage / PreviewImage / LoadImage use (protocol §2, §3)."""

import io
import json

from PIL import Image

from tests.standins.comfyui.comfy import empty_save, png_bytes


async def test_same_bytes_reuse_the_name_and_different_bytes_get_a_suffix(comfy):
    first, second = png_bytes(color=(1, 2, 3)), png_bytes(color=(4, 5, 6))
    assert await comfy.upload("naming.png", first) == (200, {"name": "naming.png", "subfolder": "", "type": "input"})
    assert (await comfy.upload("naming.png", first))[1]["name"] == "naming.png"
    assert (await comfy.upload("naming.png", second))[1]["name"] == "naming (1).png"
    assert (await comfy.upload("naming.png", png_bytes(color=(7, 8, 9))))[1]["name"] == "naming (2).png"
    status, reply = await comfy.upload("naming.png", second, overwrite="true")
    assert reply["name"] == "naming.png"
    _, raw = await comfy.get("/view", params={"filename": "naming.png", "type": "input"})
    assert raw == second


async def test_upload_into_a_subfolder_and_other_folder_types(comfy):
    status, reply = await comfy.upload("sub_in.png", png_bytes(), subfolder="sample_sub", type="temp")
    assert (status, reply) == (200, {"name": "sub_in.png", "subfolder": "sample_sub", "type": "temp"})
    status, _ = await comfy.get("/view", params={"filename": "sub_in.png", "subfolder": "sample_sub", "type": "temp"})
    assert status == 200


async def raw_upload(comfy, filename: str) -> int:
    # Built by hand: aiohttp's FormData would percent-encode the "/" in the filename.
    boundary = "emulatorboundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{filename}"\r\n'
            f"Content-Type: image/png\r\n\r\n").encode() + png_bytes() + f"\r\n--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    async with comfy.session.post(comfy.url + "/upload/image", data=body, headers=headers) as resp:
        return resp.status


async def test_upload_rejects_path_escapes_and_missing_image_field(comfy):
    assert await raw_upload(comfy, "../escape.png") == 400
    assert await raw_upload(comfy, "plain_raw.png") == 200
    assert (await comfy.upload("x.png", png_bytes(), subfolder="../.."))[0] == 400
    async with comfy.session.post(comfy.url + "/upload/image", data={"type": "input"}) as resp:
        assert resp.status == 400


async def test_uploads_are_not_checked_for_being_images(comfy):
    status, reply = await comfy.upload("bad.png", b"this is not a png")
    assert status == 200 and reply["name"] == "bad.png"
    _, info = await comfy.get("/object_info/LoadImage")
    assert "bad.png" in info["LoadImage"]["input"]["required"]["image"][0]


async def test_view_errors(comfy):
    assert (await comfy.get("/view", params={"filename": "nope_404.png"}))[0] == 404
    assert (await comfy.get("/view", params={"filename": "../secret.png"}))[0] == 400
    assert (await comfy.get("/view", params={"filename": "a..b.png", "type": "input"}))[0] == 400
    assert (await comfy.get("/view", params={"filename": "x.png", "type": "bogus"}))[0] == 404
    assert (await comfy.get("/view"))[0] == 404


async def test_save_image_numbers_files_per_prefix_and_embeds_the_prompt(comfy):
    graph = empty_save(color=0x00FF00, prefix="files/counter", width=8, height=8)
    first = await comfy.run(graph)
    graph["1"]["inputs"]["color"] = 0x00FF01  # vary an input, or the cache replays the old file
    second = await comfy.run(graph)
    refs = [first["outputs"]["2"]["images"][0], second["outputs"]["2"]["images"][0]]
    assert [r["filename"] for r in refs] == ["counter_00001_.png", "counter_00002_.png"]
    assert all(r["subfolder"] == "files" and r["type"] == "output" for r in refs)
    async with comfy.session.get(comfy.url + "/view", params={**refs[1]}) as resp:
        assert resp.headers["Content-Type"] == "image/png"
        assert resp.headers["Content-Disposition"] == 'filename="counter_00002_.png"'
        image = Image.open(io.BytesIO(await resp.read()))
    assert json.loads(image.text["prompt"])["1"]["inputs"]["color"] == 0x00FF01
    assert image.convert("RGB").getpixel((0, 0)) == (0, 255, 1)


async def test_a_batch_gives_one_file_per_image(comfy):
    entry = await comfy.run(empty_save(color=0x111111, prefix="files/batch", width=4, height=4, batch=3))
    assert [i["filename"] for i in entry["outputs"]["2"]["images"]] == [
        "batch_00001_.png", "batch_00002_.png", "batch_00003_.png"]


async def test_workflow_from_extra_pnginfo_is_embedded(comfy):
    entry = await comfy.run(empty_save(color=0x222222, prefix="files/wf", width=4, height=4),
                            extra_data={"extra_pnginfo": {"workflow": {"id": "wf-1", "nodes": []}}})
    image = await comfy.image(entry["outputs"]["2"]["images"][0])
    assert json.loads(image.text["workflow"]) == {"id": "wf-1", "nodes": []}


async def test_preview_image_writes_to_temp(comfy):
    graph = {"1": {"class_type": "EmptyImage", "inputs": {"width": 4, "height": 4, "batch_size": 1, "color": 3}},
             "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}
    entry = await comfy.run(graph)
    ref = entry["outputs"]["2"]["images"][0]
    assert ref["type"] == "temp" and ref["subfolder"] == ""
    assert ref["filename"].startswith("ComfyUI_temp_") and ref["filename"].endswith("_00001_.png")
    assert len(ref["filename"]) == len("ComfyUI_temp_abcde_00001_.png")
    assert (await comfy.image(ref)).size == (4, 4)


async def test_prefix_escaping_the_output_folder_fails_at_execution_time(comfy):
    status, reply = await comfy.post("/prompt", {"prompt": empty_save(color=5, prefix="../../escape")})
    assert status == 200 and reply["node_errors"] == {}
    entry = await comfy.wait_history(reply["prompt_id"])
    assert entry["status"]["status_str"] == "error" and entry["outputs"] == {}
    error = entry["status"]["messages"][-1]
    assert error[0] == "execution_error" and error[1]["node_type"] == "SaveImage"
    assert "Saving image outside the output folder is not allowed" in error[1]["exception_message"]


async def test_load_image_reads_a_previous_output_by_annotated_name(comfy):
    first = await comfy.run(empty_save(color=0x336699, prefix="files/annot", width=6, height=5))
    ref = first["outputs"]["2"]["images"][0]
    graph = {"1": {"class_type": "LoadImage", "inputs": {"image": f"files/{ref['filename']} [output]"}},
             "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
             "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "files/annot_inv"}}}
    entry = await comfy.run(graph)
    image = await comfy.image(entry["outputs"]["3"]["images"][0])
    assert image.size == (6, 5) and image.convert("RGB").getpixel((0, 0)) == (0xCC, 0x99, 0x66)


async def test_load_image_of_a_non_image_fails_at_run_time_like_comfyui(comfy):
    await comfy.upload("bad_run.png", b"this is not a png")
    sock, cid = await comfy.socket()
    graph = {"1": {"class_type": "LoadImage", "inputs": {"image": "bad_run.png"}},
             "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
             "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "files/never"}}}
    reply = await comfy.queue_prompt(graph, client_id=cid)
    frames = await sock.until_done(reply["prompt_id"])
    kinds = [f["type"] for f in frames]
    assert kinds[-3:] == ["execution_error", "status", "executing"] and "execution_success" not in kinds
    error = frames[-3]["data"]
    assert error["node_type"] == "LoadImage" and error["node_id"] == "1"
    assert error["exception_type"] == "PIL.UnidentifiedImageError"
    assert error["exception_message"].startswith("cannot identify image file '")
    assert error["exception_message"].endswith("bad_run.png'\n")
    assert error["executed"] == [] and error["current_inputs"] == {"image": ["bad_run.png"]}
    assert sorted(error["current_outputs"]) == ["1", "2", "3"]
    assert isinstance(error["traceback"], list)
    await sock.close()
    # and a later good prompt runs normally
    assert (await comfy.run(empty_save(color=0x0A0A0A, prefix="files/after")))["status"]["status_str"] == "success"
