"""What counts as a usable input image, for the API (uploads and job inputs) and the workflow (before any GPU
time): ImageChecker.check, the one check every door uses. It decodes the whole image (a truncated file fails
here, not in ComfyUI), in a thread, within a memory budget.

Why a budget: decoding takes width x height x 4 bytes whatever the file's size. An 8000x8000 PNG of 243 KB took
the API ~250 MB while it was checked, and four at once 1.06 GB. The header tells the cost before any pixel is
decoded: an image that alone would pass the budget is refused unread, and the others wait until the images
being decoded leave room, so a burst of them holds at most the budget.
"""

from __future__ import annotations

import asyncio
import io
import warnings
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PIL import Image, ImageOps

# Larger inputs are refused before decoding: a small file can claim billions of pixels.
MAX_INPUT_PIXELS = 64_000_000
# Bytes per pixel Pillow holds once decoded: RGB is stored as RGBX, so most modes take 4.
_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
# Formats whose decoder holds more than the image while it works, measured as peak memory over the decoded
# size (bench/images.py prints the figures): WebP goes through an RGBA buffer, a copy and a conversion.
_DECODER_FACTOR = {"WEBP": 4}
MB = 1_000_000
# Pillow warns from 89 Mpx on; ImageChecker refuses from MAX_INPUT_PIXELS, so the warning says nothing new.
# (Turning it into an error for each call, as before, changed process-wide warning filters from several threads.)
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


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


@dataclass(frozen=True)
class _Header:
    info: ImageInfo
    decode_bytes: int


@cache
def image_checker(memory_budget: int) -> ImageChecker:
    """This process's checker for a budget: the budget bounds the memory of a process, so every door of it (API
    uploads, job inputs, the workflow's input check) shares one."""
    return ImageChecker(memory_budget)


class ImageChecker:
    """Checks images in a bounded pool: at most `memory_budget` bytes of them are being decoded at a time."""

    def __init__(self, memory_budget: int, max_pixels: int = MAX_INPUT_PIXELS) -> None:
        self.memory_budget = memory_budget
        self.max_pixels = max_pixels
        self._budget = _MemoryBudget(memory_budget)
        # Pillow keeps up to a budget of freed pixel blocks for the next image (what PILLOW_BLOCKS_MAX sets) rather
        # than handing them back to malloc, whose per-thread arenas each kept their last image resident: decoded in
        # turn on different threads, a burst of 8 still took 2.2 times one image (bench/images.py).
        blocks = memory_budget // Image.core.get_block_size() + 1
        Image.core.set_blocks_max(max(blocks, Image.core.get_blocks_max()))

    async def check(self, source: bytes | Path) -> ImageInfo:
        """The image's size and format once it decoded whole, or NotAnImage saying why not."""
        header = await asyncio.to_thread(self._read_header, source)
        async with self._budget.hold(header.decode_bytes):
            decoding = asyncio.ensure_future(asyncio.to_thread(_decode, source))
            try:
                return await asyncio.shield(decoding)
            except asyncio.CancelledError:
                # A thread cannot be stopped: its memory stays taken until it is done, and so does the budget.
                await asyncio.wait([decoding])
                raise

    def _read_header(self, source: bytes | Path) -> _Header:
        with _opened(source) as img:
            if img.width * img.height > self.max_pixels:
                raise NotAnImage(f"is {img.width}x{img.height}, more than {self.max_pixels} pixels")
            per_pixel = _BYTES_PER_PIXEL.get(img.mode, 4) * _DECODER_FACTOR.get(img.format or "", 1)
            cost = img.width * img.height * per_pixel
            if cost > self.memory_budget:
                raise NotAnImage(f"is {img.width}x{img.height} {img.format or ''} ({_size(cost)} to decode), more "
                                 f"than the {_size(self.memory_budget)} an input image may take "
                                 "(IMAGE_DECODE_BUDGET_BYTES)")
            return _Header(ImageInfo(img.width, img.height, img.format), cost)


def _size(count: int) -> str:
    return f"{count // MB} MB" if count >= 10 * MB else f"{count:,} bytes"


def _decode(source: bytes | Path) -> ImageInfo:
    with _opened(source) as img:
        img.load()
        return ImageInfo(img.width, img.height, img.format)


@contextmanager
def _opened(source: bytes | Path) -> Iterator[Image.Image]:
    """Image.open with every failure as NotAnImage in plain words (Pillow's own messages carry reprs such as
    "<_io.BytesIO object at 0x...>", or temp file paths)."""
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as img:
            yield img
    except NotAnImage:
        raise
    except Image.UnidentifiedImageError:
        raise NotAnImage("is not a readable image (not a format the platform reads)") from None
    except Image.DecompressionBombError:
        raise NotAnImage("is not a readable image (it claims far more pixels than an input may have)") from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise NotAnImage("is not a readable image (truncated or corrupt)") from None


class _MemoryBudget:
    """A weighted semaphore: amounts of bytes are held and given back; takers wait in order, so a large image is
    not overtaken forever by small ones. (asyncio and anyio only count slots.)"""

    def __init__(self, total: int) -> None:
        self._free = total
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()

    @asynccontextmanager
    async def hold(self, amount: int) -> AsyncIterator[None]:
        if self._waiting or amount > self._free:
            turn = asyncio.get_running_loop().create_future()
            self._waiting.append((amount, turn))
            try:
                await turn
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():
                    self._give_back(amount)  # granted just as the caller went away
                else:
                    self._waiting.remove((amount, turn))
                    self._wake()
                raise
        else:
            self._free -= amount
        try:
            yield
        finally:
            self._give_back(amount)

    def _give_back(self, amount: int) -> None:
        self._free += amount
        self._wake()

    def _wake(self) -> None:
        while self._waiting and self._waiting[0][0] <= self._free:
            amount, turn = self._waiting.popleft()
            self._free -= amount
            turn.set_result(None)


THUMBNAIL_SIDE = 320  # pixels, the longer side: sharp at 88 CSS px on a 3x phone screen


def thumbnail(source: bytes | Path, side: int = THUMBNAIL_SIDE) -> bytes:
    """A small JPEG of the image (turned upright as its EXIF says), for previews; NotAnImage if it is none."""
    with _opened(source) as img:
        img.draft("RGB", (side, side))  # JPEG decodes at a reduced scale: no full decode of a large photo
        small = ImageOps.exif_transpose(img)
        small.thumbnail((side, side))
        out = io.BytesIO()
        small.convert("RGB").save(out, "JPEG", quality=80, optimize=True)
        return out.getvalue()
