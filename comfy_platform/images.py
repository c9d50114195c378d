"""What counts as a usable input image, for the API (at submit) and the workflow (before any GPU time)."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

# Larger inputs are refused before decoding: a small file can claim billions of pixels.
MAX_INPUT_PIXELS = 64_000_000


class NotAnImage(ValueError):
    """The reason, phrased to follow the input's name: "is not a readable image (...)"."""


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    format: str | None

    @property
    def content_type(self) -> str:
        return Image.MIME.get(self.format or "", "application/octet-stream")


def inspect_image(source: bytes | Path) -> ImageInfo:
    """Open and fully decode `source` (a truncated file fails here, not in ComfyUI), or raise NotAnImage."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as img:
                if img.width * img.height > MAX_INPUT_PIXELS:
                    raise NotAnImage(f"is {img.width}x{img.height}, more than {MAX_INPUT_PIXELS} pixels")
                img.load()
                return ImageInfo(img.width, img.height, img.format)
    except NotAnImage:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise NotAnImage(f"is not a readable image ({exc})") from None
