"""Small real images for tests, made with Pillow."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image


def png_bytes(width: int = 64, height: int = 48, color: tuple[int, int, int] = (200, 30, 60)) -> bytes:
    """A PNG with a known colour, plus a darker left half so orientation changes are visible."""
    img = Image.new("RGB", (width, height), color)
    img.paste((color[0] // 4, color[1] // 4, color[2] // 4), (0, 0, width // 2, height))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def write_png(path: Path, **kwargs) -> Path:
    path.write_bytes(png_bytes(**kwargs))
    return path


def open_png(data: bytes | Path) -> Image.Image:
    img = Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)
    img.load()
    return img.convert("RGB")


def empty_image_graph(color: int = 0x336699, width: int = 32, height: int = 24, prefix: str = "test") -> dict:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": width, "height": height, "batch_size": 1, "color": color}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}},
    }


def invert_graph(image_name: str, prefix: str = "invert") -> dict:
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": image_name}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": prefix}},
    }


def slow_graph(seconds_key: int, prefix: str = "slow") -> dict:
    """EmptyImage -> ImageBlur -> SaveImage; give ImageBlur a latency to make it slow. `seconds_key` varies the
    colour so ComfyUI's cache never serves it."""
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": seconds_key}},
        "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 1, "sigma": 1.0}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": prefix}},
    }
