"""Model-free image operations with ComfyUI's names, inputs and bounds (protocol §9), done
with Pillow on whole images (no per-pixel Python)."""

from __future__ import annotations

import itertools

from PIL import Image, ImageChops, ImageFilter

from .base import FLOAT, INT, MAX_RESOLUTION, Node

UPSCALE_METHODS = ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]
CROP_METHODS = ["disabled", "center"]
RESAMPLE = {
    "nearest-exact": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "area": Image.Resampling.BOX,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
POST = "comfy_extras.nodes_post_processing"
IMAGES = "comfy_extras.nodes_images"


def scale(image: Image.Image, method: str, width: int, height: int, crop: str = "disabled") -> Image.Image:
    if crop == "center":
        # Crop to the target aspect ratio first, as comfy.utils.common_upscale does.
        w, h = image.size
        old, new = w / h, width / height
        if old > new:
            cut = round((w - w * (new / old)) / 2)
            image = image.crop((cut, 0, w - cut, h))
        elif old < new:
            cut = round((h - h * (old / new)) / 2)
            image = image.crop((0, cut, w, h - cut))
    return image.resize((width, height), RESAMPLE[method])


class ImageInvert(Node):
    DISPLAY_NAME = "Invert Image Colors"
    CATEGORY = "image/color"
    RETURN_TYPES = ("IMAGE",)
    EXTRA_INFO = {"search_aliases": ["invert", "negative"], "essentials_category": "Image Tools"}

    @classmethod
    def input_types(cls, env):
        return {"required": {"image": ("IMAGE",)}}

    def run(self, ctx, image):
        return ([ImageChops.invert(i) for i in image],)


class ImageScale(Node):
    DISPLAY_NAME = "Upscale Image"
    CATEGORY = "image/upscaling"
    RETURN_TYPES = ("IMAGE",)

    @classmethod
    def input_types(cls, env):
        return {"required": {
            "image": ("IMAGE",), "upscale_method": (UPSCALE_METHODS,),
            "width": INT(512, 0, MAX_RESOLUTION), "height": INT(512, 0, MAX_RESOLUTION),
            "crop": (CROP_METHODS,),
        }}

    def run(self, ctx, image, upscale_method, width, height, crop):
        if width == 0 and height == 0:
            return (image,)
        w, h = image[0].size
        width = width or max(1, round(w * height / h))
        height = height or max(1, round(h * width / w))
        return ([scale(i, upscale_method, width, height, crop) for i in image],)


class ImageScaleBy(Node):
    DISPLAY_NAME = "Upscale Image By"
    CATEGORY = "image/upscaling"
    RETURN_TYPES = ("IMAGE",)

    @classmethod
    def input_types(cls, env):
        return {"required": {"image": ("IMAGE",), "upscale_method": (UPSCALE_METHODS,),
                             "scale_by": FLOAT(1.0, 0.01, 8.0)}}

    def run(self, ctx, image, upscale_method, scale_by):
        w, h = image[0].size
        size = (max(1, round(w * scale_by)), max(1, round(h * scale_by)))
        return ([scale(i, upscale_method, *size) for i in image],)


class ImageBlur(Node):
    DISPLAY_NAME = "Image Blur"
    CATEGORY = "image/postprocessing"
    PYTHON_MODULE = POST
    RETURN_TYPES = ("IMAGE",)

    @classmethod
    def input_types(cls, env):
        return {"required": {"image": ("IMAGE",), "blur_radius": INT(1, 1, 31),
                             "sigma": FLOAT(1.0, 0.1, 10.0, 0.1)}}

    def run(self, ctx, image, blur_radius, sigma):
        # ComfyUI convolves a (2r+1) gaussian kernel of that sigma; the kernel size caps the spread.
        radius = min(sigma, float(blur_radius))
        return ([i.filter(ImageFilter.GaussianBlur(radius)) for i in image],)


class ImageSharpen(Node):
    DISPLAY_NAME = "Image Sharpen"
    CATEGORY = "image/postprocessing"
    PYTHON_MODULE = POST
    RETURN_TYPES = ("IMAGE",)

    @classmethod
    def input_types(cls, env):
        return {"required": {"image": ("IMAGE",), "sharpen_radius": INT(1, 1, 31),
                             "sigma": FLOAT(1.0, 0.1, 10.0), "alpha": FLOAT(1.0, 0.0, 5.0)}}

    def run(self, ctx, image, sharpen_radius, sigma, alpha):
        unsharp = ImageFilter.UnsharpMask(radius=min(sigma, float(sharpen_radius)), percent=int(alpha * 100), threshold=0)
        return ([i.filter(unsharp) for i in image],)


class ImageCrop(Node):
    DISPLAY_NAME = "Image Crop"
    CATEGORY = "image/transform"
    PYTHON_MODULE = IMAGES
    RETURN_TYPES = ("IMAGE",)

    @classmethod
    def input_types(cls, env):
        return {"required": {"image": ("IMAGE",), "width": INT(512, 1, MAX_RESOLUTION),
                             "height": INT(512, 1, MAX_RESOLUTION), "x": INT(0, 0, MAX_RESOLUTION),
                             "y": INT(0, 0, MAX_RESOLUTION)}}

    def run(self, ctx, image, width, height, x, y):
        w, h = image[0].size
        x, y = min(x, w - 1), min(y, h - 1)  # ComfyUI clamps the corner and slices (no padding)
        box = (x, y, min(x + width, w), min(y + height, h))
        return ([i.crop(box) for i in image],)


class ImageFlip(Node):
    DISPLAY_NAME = "Image Flip"
    CATEGORY = "image/transform"
    PYTHON_MODULE = IMAGES
    RETURN_TYPES = ("IMAGE",)

    @classmethod
    def input_types(cls, env):
        return {"required": {"image": ("IMAGE",), "flip_method": (["x-axis: vertically", "y-axis: horizontally"],)}}

    def run(self, ctx, image, flip_method):
        op = Image.Transpose.FLIP_TOP_BOTTOM if flip_method.startswith("x") else Image.Transpose.FLIP_LEFT_RIGHT
        return ([i.transpose(op) for i in image],)


class ImageRotate(Node):
    DISPLAY_NAME = "Image Rotate"
    CATEGORY = "image/transform"
    PYTHON_MODULE = IMAGES
    RETURN_TYPES = ("IMAGE",)
    # ComfyUI rotates clockwise (torch.rot90 over dims [2, 1]).
    OPS = {"90 degrees": Image.Transpose.ROTATE_270, "180 degrees": Image.Transpose.ROTATE_180,
           "270 degrees": Image.Transpose.ROTATE_90}

    @classmethod
    def input_types(cls, env):
        return {"required": {"image": ("IMAGE",), "rotation": (["none", "90 degrees", "180 degrees", "270 degrees"],)}}

    def run(self, ctx, image, rotation):
        op = self.OPS.get(rotation)
        return ([i.transpose(op) for i in image] if op is not None else image,)


class ImageBlend(Node):
    DISPLAY_NAME = "Image Blend"
    CATEGORY = "image/postprocessing"
    PYTHON_MODULE = POST
    RETURN_TYPES = ("IMAGE",)
    MODES = {
        "normal": lambda a, b: b, "multiply": ImageChops.multiply, "screen": ImageChops.screen,
        "overlay": ImageChops.overlay, "soft_light": ImageChops.soft_light,
        "difference": ImageChops.subtract,  # ComfyUI: clamp(image1 - image2)
    }

    @classmethod
    def input_types(cls, env):
        return {"required": {"image1": ("IMAGE",), "image2": ("IMAGE",),
                             "blend_factor": FLOAT(0.5, 0.0, 1.0),
                             "blend_mode": (list(cls.MODES),)}}

    def run(self, ctx, image1, image2, blend_factor, blend_mode):
        out = []
        pairs = zip(image1, itertools.cycle(image2)) if len(image2) < len(image1) else zip(image1, image2)
        for a, b in pairs:
            if b.size != a.size:
                b = scale(b, "bicubic", a.size[0], a.size[1], "center")
            out.append(Image.blend(a, self.MODES[blend_mode](a, b), blend_factor))
        return (out,)


class ImageQuantize(Node):
    DISPLAY_NAME = "Image Quantize"
    CATEGORY = "image/postprocessing"
    PYTHON_MODULE = POST
    RETURN_TYPES = ("IMAGE",)

    @classmethod
    def input_types(cls, env):
        return {"required": {"image": ("IMAGE",), "colors": INT(256, 1, 256),
                             "dither": (["none", "floyd-steinberg", "bayer-2", "bayer-4", "bayer-8", "bayer-16"],)}}

    def run(self, ctx, image, colors, dither):
        mode = Image.Dither.FLOYDSTEINBERG if dither == "floyd-steinberg" else Image.Dither.NONE
        return ([i.quantize(colors=colors, dither=mode).convert("RGB") for i in image],)


class ImagePadForOutpaint(Node):
    DISPLAY_NAME = "Pad Image for Outpainting"
    RETURN_TYPES = ("IMAGE", "MASK")

    @classmethod
    def input_types(cls, env):
        pad = INT(0, 0, MAX_RESOLUTION, 8)
        return {"required": {"image": ("IMAGE",), "left": pad, "top": pad, "right": pad, "bottom": pad,
                             "feathering": INT(40, 0, MAX_RESOLUTION)}}

    def run(self, ctx, image, left, top, right, bottom, feathering):
        w, h = image[0].size
        size = (w + left + right, h + top + bottom)
        out = []
        for i in image:
            canvas = Image.new("RGB", size, (128, 128, 128))
            canvas.paste(i, (left, top))
            out.append(canvas)
        inner = Image.new("L", (w, h), 0)
        if feathering > 0:
            # ((f - d) / f)^2 near each padded edge, built from 1-D ramps instead of pixel loops.
            ramp = [int(255 * ((feathering - d) / feathering) ** 2) if d < feathering else 0 for d in range(max(w, h))]
            for side, padded in (("left", left), ("right", right), ("top", top), ("bottom", bottom)):
                if not padded:
                    continue
                if side in ("left", "right"):
                    line = Image.new("L", (w, 1))
                    line.putdata(ramp[:w] if side == "left" else ramp[:w][::-1])
                    band = line.resize((w, h), Image.Resampling.NEAREST)
                else:
                    line = Image.new("L", (1, h))
                    line.putdata(ramp[:h] if side == "top" else ramp[:h][::-1])
                    band = line.resize((w, h), Image.Resampling.NEAREST)
                inner = ImageChops.lighter(inner, band)
        mask = Image.new("L", size, 255)
        mask.paste(inner, (left, top))
        return (out, [mask])


NODES: dict[str, type[Node]] = {n.__name__: n for n in (
    ImageInvert, ImageScale, ImageScaleBy, ImageBlur, ImageSharpen, ImageCrop, ImageFlip,
    ImageRotate, ImageBlend, ImageQuantize, ImagePadForOutpaint,
)}

__all__ = ["NODES"]
