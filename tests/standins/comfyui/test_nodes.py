"""The nodes: object_info entries, real Pillow image work, and the labelled text-to-image stand-in."""

import io
import uuid

import pytest
from PIL import Image, ImageChops

from tests.standins.comfyui.comfy import png_bytes, txt2img

INFO_KEYS = {"input", "input_order", "output", "output_is_list", "output_name", "name", "display_name",
             "description", "python_module", "category", "output_node"}


def load_chain(name: str, *ops: tuple[str, dict], prefix: str = "nodes/out") -> dict:
    graph = {"1": {"class_type": "LoadImage", "inputs": {"image": name}}}
    last = "1"
    for index, (class_type, inputs) in enumerate(ops, start=10):
        key = str(index)
        first_input = "images" if class_type == "SaveImage" else "image"
        graph[key] = {"class_type": class_type, "inputs": {first_input: [last, 0], **inputs}}
        last = key
    graph["2"] = {"class_type": "SaveImage", "inputs": {"images": [last, 0], "filename_prefix": prefix}}
    return graph


async def upload_picture(comfy, size=(40, 30)) -> tuple[str, Image.Image]:
    picture = Image.linear_gradient("L").resize(size).convert("RGB")
    picture.putpixel((0, 0), (10, 200, 30))
    buf = io.BytesIO()
    picture.save(buf, format="PNG")
    status, reply = await comfy.upload(f"pic_{uuid.uuid4().hex[:8]}.png", buf.getvalue())
    assert status == 200
    return reply["name"], picture


async def result_image(comfy, entry: dict, node: str = "2") -> Image.Image:
    assert entry["status"]["status_str"] == "success", entry["status"]
    return (await comfy.image(entry["outputs"][node]["images"][0])).convert("RGB")


async def test_object_info_entries_have_the_comfyui_shape(comfy):
    status, everything = await comfy.get("/object_info")
    assert status == 200
    for name in ("EmptyImage", "LoadImage", "SaveImage", "PreviewImage", "ImageInvert", "ImageScale",
                 "ImageScaleBy", "ImageBlur", "ImageSharpen", "ImageCrop", "ImageFlip", "ImageRotate",
                 "ImageBlend", "CheckpointLoaderSimple", "CLIPTextEncode", "EmptyLatentImage", "VAEEncode",
                 "KSampler", "VAEDecode"):
        assert INFO_KEYS <= set(everything[name]), name
        assert everything[name]["name"] == name
    assert everything["EmptyImage"]["input"]["required"]["width"] == [
        "INT", {"default": 512, "min": 1, "max": 16384, "step": 1}]
    assert everything["SaveImage"]["output_node"] is True and everything["ImageInvert"]["output_node"] is False
    assert everything["LoadImage"]["output"] == ["IMAGE", "MASK"]
    assert everything["ImageScale"]["input"]["required"]["upscale_method"] == [
        ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]]
    assert everything["KSampler"]["input_order"]["required"][:3] == ["model", "seed", "steps"]
    for standin in ("CheckpointLoaderSimple", "KSampler", "VAEDecode"):
        assert everything[standin]["description"].startswith("EMULATOR STAND-IN: no model is loaded")
    assert everything["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] == [
        "sd_xl_base_1.0.safetensors", "realisticVisionV60.safetensors", "juggernautXL_v9.safetensors"]


async def test_object_info_for_one_class_and_for_an_unknown_class(comfy):
    status, one = await comfy.get("/object_info/ImageInvert")
    assert status == 200 and list(one) == ["ImageInvert"] and one["ImageInvert"]["category"] == "image/color"
    assert (await comfy.get("/object_info/NoSuchNode")) == (200, {})


async def test_load_image_then_invert_gives_inverted_pixels(comfy):
    name, picture = await upload_picture(comfy)
    entry = await comfy.run(load_chain(name, ("ImageInvert", {}), prefix="nodes/inv"))
    out = await result_image(comfy, entry)
    assert list(out.getdata()) == list(ImageChops.invert(picture).getdata())


@pytest.mark.parametrize("width, height, crop, expected", [
    (80, 20, "disabled", (80, 20)), (16, 16, "center", (16, 16)), (0, 15, "disabled", (20, 15)),
])
async def test_image_scale_gives_the_requested_size(comfy, width, height, crop, expected):
    name, _ = await upload_picture(comfy)
    graph = load_chain(name, ("ImageScale", {"upscale_method": "bilinear", "width": width, "height": height,
                                             "crop": crop}), prefix="nodes/scale")
    assert (await result_image(comfy, await comfy.run(graph))).size == expected


async def test_geometry_nodes(comfy):
    name, picture = await upload_picture(comfy, size=(40, 30))
    cases = [
        (("ImageScaleBy", {"upscale_method": "nearest-exact", "scale_by": 0.5}), (20, 15)),
        (("ImageCrop", {"width": 10, "height": 50, "x": 35, "y": 5}), (5, 25)),
        (("ImageRotate", {"rotation": "90 degrees"}), (30, 40)),
        (("ImagePadForOutpaint", {"left": 8, "top": 0, "right": 0, "bottom": 8, "feathering": 4}), (48, 38)),
    ]
    for op, size in cases:
        assert (await result_image(comfy, await comfy.run(load_chain(name, op, prefix="nodes/geo")))).size == size
    flipped = await result_image(comfy, await comfy.run(load_chain(
        name, ("ImageFlip", {"flip_method": "y-axis: horizontally"}), prefix="nodes/flip")))
    assert flipped.getpixel((39, 0)) == picture.getpixel((0, 0))
    rotated = await result_image(comfy, await comfy.run(load_chain(
        name, ("ImageRotate", {"rotation": "90 degrees"}), prefix="nodes/rot")))
    assert rotated.getpixel((29, 0)) == picture.getpixel((0, 0))  # clockwise, like ComfyUI


async def test_filters_and_blend_run_and_change_pixels(comfy):
    name, picture = await upload_picture(comfy)
    graph = load_chain(name, ("ImageBlur", {"blur_radius": 3, "sigma": 2.0}),
                       ("ImageSharpen", {"sharpen_radius": 1, "sigma": 1.0, "alpha": 1.0}),
                       ("ImageQuantize", {"colors": 8, "dither": "none"}), prefix="nodes/filters")
    out = await result_image(comfy, await comfy.run(graph))
    assert out.size == picture.size and list(out.getdata()) != list(picture.getdata())
    blend = {"1": {"class_type": "LoadImage", "inputs": {"image": name}},
             "3": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
             "4": {"class_type": "ImageBlend", "inputs": {"image1": ["1", 0], "image2": ["3", 0],
                                                          "blend_factor": 0.5, "blend_mode": "normal"}},
             "2": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "nodes/blend"}}}
    mixed = await result_image(comfy, await comfy.run(blend))
    assert all(abs(v - 127) <= 1 for px in mixed.getdata() for v in px)


async def test_masks_flow_from_load_image(comfy):
    status, reply = await comfy.upload(f"alpha_{uuid.uuid4().hex[:6]}.png", png_bytes((8, 8), (0, 0, 0, 0), "RGBA"))
    graph = {"1": {"class_type": "LoadImage", "inputs": {"image": reply["name"]}},
             "3": {"class_type": "MaskToImage", "inputs": {"mask": ["1", 1]}},
             "2": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "nodes/mask"}}}
    out = await result_image(comfy, await comfy.run(graph))
    assert out.getpixel((0, 0)) == (255, 255, 255)  # transparent pixel -> mask 1 (ComfyUI: 1 - alpha)


async def test_stand_in_sampler_is_deterministic_from_seed_and_prompt(comfy):
    async def pixels(**kw) -> bytes:
        entry = await comfy.run(txt2img(**kw, prefix=f"nodes/gen_{uuid.uuid4().hex[:6]}"))
        cached = dict(entry["status"]["messages"])["execution_cached"]["nodes"]
        assert "3" not in cached  # the sampler really ran: equal pixels are not a cache replay
        return (await result_image(comfy, entry, "9")).tobytes()

    base = await pixels(seed=42, text="a lighthouse at dusk")
    assert await pixels(seed=43, text="a lighthouse at dusk") != base
    assert await pixels(seed=42, text="a lighthouse at dusk") == base
    assert await pixels(seed=42, text="a lighthouse at dawn") != base
    entry = await comfy.run(txt2img(seed=42, size=96, prefix="nodes/gen_size"))
    assert (await result_image(comfy, entry, "9")).size == (96, 96)


async def test_img2img_with_low_denoise_keeps_the_input_recognisable(comfy):
    name, picture = await upload_picture(comfy, size=(64, 64))
    graph = txt2img(seed=7, denoise=0.2, prefix="nodes/i2i")
    graph["10"] = {"class_type": "LoadImage", "inputs": {"image": name}}
    graph["5"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["10", 0], "vae": ["4", 2]}}
    out = await result_image(comfy, await comfy.run(graph), "9")
    full = await result_image(comfy, await comfy.run(txt2img(seed=7, denoise=1.0, prefix="nodes/i2i_full")), "9")

    def distance(a: Image.Image, b: Image.Image) -> float:
        diff = ImageChops.difference(a, b).convert("L")
        return sum(diff.getdata()) / (a.size[0] * a.size[1])

    assert distance(out, picture) < distance(full, picture) / 2


async def test_unknown_checkpoint_is_not_in_list(comfy):
    status, body = await comfy.post("/prompt", {"prompt": txt2img(ckpt="nope.safetensors")})
    assert status == 400
    assert body["node_errors"]["4"]["errors"][0]["type"] == "value_not_in_list"
    assert (await comfy.get("/models/checkpoints"))[1][0] == "sd_xl_base_1.0.safetensors"
