"""Nodes that create, load and write images: EmptyImage, LoadImage, SaveImage, PreviewImage,
SaveImageWebsocket. File naming follows ComfyUI exactly because clients build /view URLs from it."""

from __future__ import annotations

import io
import json
import random
import string

from PIL import Image, ImageOps, ImageSequence
from PIL.PngImagePlugin import PngInfo

from ..files import file_sha256, save_image_path
from .base import INT, MAX_RESOLUTION, ExecContext, Node, NodeOutput

SAVE_DESCRIPTION = "Saves the input images to your ComfyUI output directory."
PREFIX_TOOLTIP = (
    "The prefix for the file to save. This may include formatting information such as "
    "%date:yyyy-MM-dd% or %Empty Latent Image.width% to include values from nodes."
)


class EmptyImage(Node):
    DISPLAY_NAME = "EmptyImage"
    RETURN_TYPES = ("IMAGE",)

    @classmethod
    def input_types(cls, env):
        return {"required": {
            "width": INT(512, 1, MAX_RESOLUTION),
            "height": INT(512, 1, MAX_RESOLUTION),
            "batch_size": ("INT", {"default": 1, "min": 1, "max": 4096}),
            "color": INT(0, 0, 0xFFFFFF, display="color"),
        }}

    def run(self, ctx, width, height, batch_size, color):
        rgb = ((color >> 16) & 0xFF, (color >> 8) & 0xFF, color & 0xFF)
        image = Image.new("RGB", (width, height), rgb)
        return ([image] + [image.copy() for _ in range(batch_size - 1)],)


class LoadImage(Node):
    DISPLAY_NAME = "Load Image"
    RETURN_TYPES = ("IMAGE", "MASK")
    CUSTOM_VALIDATED = ("image",)

    @classmethod
    def input_types(cls, env):
        return {"required": {"image": (env.dirs.input_images(), {"image_upload": True})}}

    @classmethod
    def validate(cls, env, image=None, **_):
        path = env.dirs.resolve_image(str(image))
        if path is None or not path.exists():
            return {"image": f"Invalid image file: {image}"}
        return {"image": True}

    @classmethod
    def is_changed(cls, env, inputs):
        # ComfyUI's IS_CHANGED hashes the file, so re-uploading different bytes re-runs the node.
        path = env.dirs.resolve_image(str(inputs.get("image")))
        try:
            return file_sha256(path) if path else None
        except OSError:
            return None

    def run(self, ctx, image):
        path = ctx.env.dirs.resolve_image(image)
        # Image.open raises PIL.UnidentifiedImageError "cannot identify image file '<path>'" for
        # non-images, exactly the execution_error a real ComfyUI reports.
        img = Image.open(str(path))
        images, masks = [], []
        for frame in ImageSequence.Iterator(img):
            frame = ImageOps.exif_transpose(frame)
            if frame.mode == "I":
                frame = frame.point(lambda v: v * (1 / 255))
            rgb = frame.convert("RGB")
            if images and rgb.size != images[0].size:
                continue
            images.append(rgb)
            if "A" in frame.getbands():
                masks.append(ImageOps.invert(frame.getchannel("A")))  # mask = 1 - alpha
            elif frame.mode == "P" and "transparency" in frame.info:
                masks.append(ImageOps.invert(frame.convert("RGBA").getchannel("A")))
            else:
                masks.append(Image.new("L", (64, 64), 0))
        return (images, masks)


def _save_batch(ctx: ExecContext, images, prefix: str, folder, folder_type: str, level: int) -> list[dict]:
    width, height = images[0].size
    full, filename, counter, subfolder = save_image_path(prefix, folder, width, height)
    results = []
    for batch_number, image in enumerate(images):
        meta = PngInfo()
        if ctx.prompt is not None:
            meta.add_text("prompt", json.dumps(ctx.prompt))
        for key, value in (ctx.extra_data.get("extra_pnginfo") or {}).items():
            meta.add_text(key, json.dumps(value))
        name = f"{filename.replace('%batch_num%', str(batch_number))}_{counter:05}_.png"
        image.save(full / name, pnginfo=meta, compress_level=level)
        results.append({"filename": name, "subfolder": subfolder, "type": folder_type})
        counter += 1
    return results


class SaveImage(Node):
    DISPLAY_NAME = "Save Image"
    DESCRIPTION = SAVE_DESCRIPTION
    RETURN_TYPES = ("IMAGE",)  # recent ComfyUI lists an IMAGE output even on this output node
    OUTPUT_NODE = True

    @classmethod
    def input_types(cls, env):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The images to save."}),
                "filename_prefix": ("STRING", {"default": "ComfyUI", "tooltip": PREFIX_TOOLTIP}),
            },
            "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
        }

    def run(self, ctx, images, filename_prefix="ComfyUI"):
        results = _save_batch(ctx, images, filename_prefix, ctx.env.dirs.output, "output", 4)
        return NodeOutput((images,), {"images": results})


class PreviewImage(Node):
    DISPLAY_NAME = "Preview Image"
    DESCRIPTION = "Saves the input images to your ComfyUI temp directory."
    RETURN_TYPES = ()
    OUTPUT_NODE = True

    @classmethod
    def input_types(cls, env):
        return {"required": {"images": ("IMAGE",)}, "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}

    def run(self, ctx, images):
        suffix = "_temp_" + "".join(random.choice(string.ascii_lowercase) for _ in range(5))
        results = _save_batch(ctx, images, "ComfyUI" + suffix, ctx.env.dirs.temp, "temp", 1)
        return NodeOutput((), {"images": results})


class SaveImageWebsocket(Node):
    DISPLAY_NAME = "SaveImageWebsocket"
    CATEGORY = "api node/image"
    RETURN_TYPES = ()
    OUTPUT_NODE = True

    @classmethod
    def input_types(cls, env):
        return {"required": {"images": ("IMAGE",)}}

    async def run(self, ctx, images):
        # One binary preview frame per batch item; progress value stops at max-1 like upstream.
        for step, image in enumerate(images):
            buf = io.BytesIO()
            image.save(buf, format="PNG", compress_level=1)
            await ctx.progress(step, len(images))
            await ctx.preview(buf.getvalue())
        return NodeOutput((), None)


NODES: dict[str, type[Node]] = {
    "EmptyImage": EmptyImage,
    "LoadImage": LoadImage,
    "SaveImage": SaveImage,
    "PreviewImage": PreviewImage,
    "SaveImageWebsocket": SaveImageWebsocket,
}

__all__ = ["NODES"]
