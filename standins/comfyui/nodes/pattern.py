"""The stand-in "generated" picture: deterministic from seed, prompt text, model and size.

Colours and shapes come from a SHA-256 of the inputs, so the same request gives the same
pixels on any machine and any run, and a different seed gives a visibly different picture.
Everything is whole-image Pillow work (gradients, merges, drawing), never per-pixel Python.
"""

from __future__ import annotations

import hashlib
import random

from PIL import Image, ImageDraw

_SIDE = 181  # the centre of a rotated 256x256 gradient that never shows the black corners


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(digest, "big"))


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return rng.randrange(256), rng.randrange(256), rng.randrange(256)


def _ramp(grad: Image.Image, start: tuple[int, int, int], end: tuple[int, int, int]) -> Image.Image:
    channels = [grad.point([a + (b - a) * v // 255 for v in range(256)]) for a, b in zip(start, end)]
    return Image.merge("RGB", channels)


def render(seed: int, text: str, model: str, width: int, height: int) -> Image.Image:
    rng = _rng(seed, model, text)
    grad = Image.linear_gradient("L").rotate(rng.uniform(0, 360), resample=Image.Resampling.BICUBIC)
    off = (256 - _SIDE) // 2
    grad = grad.crop((off, off, off + _SIDE, off + _SIDE)).resize((width, height), Image.Resampling.BILINEAR)
    image = _ramp(grad, _colour(rng), _colour(rng))

    # A soft glow of a third colour somewhere in the frame.
    glow = Image.radial_gradient("L").resize((max(1, width), max(1, height)))
    glow = glow.point(lambda v: 255 - v).transform(
        glow.size, Image.Transform.AFFINE,
        (1, 0, rng.uniform(-0.3, 0.3) * width, 0, 1, rng.uniform(-0.3, 0.3) * height),
    )
    image = Image.composite(Image.new("RGB", image.size, _colour(rng)), image, glow.point(lambda v: v // 2))

    # Translucent shapes whose count, places and colours derive from the same hash.
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for _ in range(rng.randint(3, 7)):
        x0, x1 = sorted(rng.uniform(-0.1, 1.1) * width for _ in range(2))
        y0, y1 = sorted(rng.uniform(-0.1, 1.1) * height for _ in range(2))
        fill = _colour(rng) + (rng.randint(90, 200),)
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x1 + 1, y1 + 1), fill=fill)
        else:
            draw.rectangle((x0, y0, x1 + 1, y1 + 1), fill=fill)
    return Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")


def img2img(source: Image.Image, pattern: Image.Image, denoise: float) -> Image.Image:
    """Blend the input picture with the pattern by denoise, so a low denoise keeps the photo."""
    if source.size != pattern.size:
        source = source.resize(pattern.size, Image.Resampling.BICUBIC)
    return Image.blend(source.convert("RGB"), pattern, max(0.0, min(1.0, denoise)))
