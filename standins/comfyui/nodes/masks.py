"""The few MASK nodes a client needs to connect LoadImage's second output to something."""

from __future__ import annotations

from PIL import Image, ImageChops

from .base import FLOAT, INT, MAX_RESOLUTION, Node

MASK_MODULE = "comfy_extras.nodes_mask"


class ImageToMask(Node):
    DISPLAY_NAME = "Convert Image to Mask"
    CATEGORY = "mask"
    PYTHON_MODULE = MASK_MODULE
    RETURN_TYPES = ("MASK",)

    @classmethod
    def input_types(cls, env):
        return {"required": {"image": ("IMAGE",), "channel": (["red", "green", "blue", "alpha"],)}}

    def run(self, ctx, image, channel):
        if channel == "alpha":  # our IMAGEs are RGB, so alpha is fully opaque
            return ([Image.new("L", i.size, 255) for i in image],)
        return ([i.getchannel("RGB".index(channel[0].upper())) for i in image],)


class MaskToImage(Node):
    DISPLAY_NAME = "Convert Mask to Image"
    CATEGORY = "mask"
    PYTHON_MODULE = MASK_MODULE
    RETURN_TYPES = ("IMAGE",)

    @classmethod
    def input_types(cls, env):
        return {"required": {"mask": ("MASK",)}}

    def run(self, ctx, mask):
        return ([m.convert("RGB") for m in mask],)


class InvertMask(Node):
    DISPLAY_NAME = "InvertMask"
    CATEGORY = "mask"
    PYTHON_MODULE = MASK_MODULE
    RETURN_TYPES = ("MASK",)

    @classmethod
    def input_types(cls, env):
        return {"required": {"mask": ("MASK",)}}

    def run(self, ctx, mask):
        return ([ImageChops.invert(m) for m in mask],)


class SolidMask(Node):
    DISPLAY_NAME = "SolidMask"
    CATEGORY = "mask"
    PYTHON_MODULE = MASK_MODULE
    RETURN_TYPES = ("MASK",)

    @classmethod
    def input_types(cls, env):
        return {"required": {"value": FLOAT(1.0, 0.0, 1.0), "width": INT(512, 1, MAX_RESOLUTION),
                             "height": INT(512, 1, MAX_RESOLUTION)}}

    def run(self, ctx, value, width, height):
        return ([Image.new("L", (width, height), round(value * 255))],)


NODES: dict[str, type[Node]] = {n.__name__: n for n in (ImageToMask, MaskToImage, InvertMask, SolidMask)}
