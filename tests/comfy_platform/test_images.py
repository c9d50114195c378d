"""The one input image check: whole images pass, anything else is refused in plain words, and decoding stays
within the memory budget however many images arrive at once."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from comfy_platform import images
from comfy_platform.images import ImageChecker, NotAnImage
from tests.helpers.images import png_bytes

PNG = png_bytes(100, 100)  # 40,000 bytes once decoded (RGB is held as 4 bytes a pixel)
COST = 100 * 100 * 4


class SlowDecodes:
    """Stands in for the decoder: counts how many run at once."""

    def __init__(self, seconds: float = 0.05) -> None:
        self.seconds, self.running, self.most, self.started = seconds, 0, 0, []
        self._lock = threading.Lock()

    def __call__(self, source):
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.started.append(time.monotonic())
        time.sleep(self.seconds)
        with self._lock:
            self.running -= 1
        return images.ImageInfo(100, 100, "PNG")


async def test_a_whole_image_passes_with_its_size_and_format(tmp_path):
    path = tmp_path / "in.png"
    path.write_bytes(PNG)
    checker = ImageChecker(memory_budget=10 * COST)
    for source in (PNG, path):
        info = await checker.check(source)
        assert (info.width, info.height, info.content_type) == (100, 100, "image/png")


@pytest.mark.parametrize("data", [b"", b"plain text", PNG[:-40], PNG[:60]])
async def test_what_is_not_a_whole_image_is_refused_in_plain_words(data, tmp_path):
    path = tmp_path / "secret-name.png"
    path.write_bytes(data)
    for source in (data, path):
        with pytest.raises(NotAnImage) as refused:
            await ImageChecker(memory_budget=10 * COST).check(source)
        message = str(refused.value)
        assert message.startswith("is not a readable image")
        assert "object at 0x" not in message and "secret-name" not in message and str(tmp_path) not in message


async def test_a_burst_of_images_decodes_within_the_budget(monkeypatch):
    decoder = SlowDecodes()
    monkeypatch.setattr(images, "_decode", decoder)
    checker = ImageChecker(memory_budget=int(2.5 * COST))  # room for two at a time
    results = await asyncio.gather(*(checker.check(PNG) for _ in range(6)))
    assert len(results) == 6 and decoder.most == 2


async def test_an_image_that_alone_passes_the_budget_is_refused_from_its_header(monkeypatch):
    def never(source):
        raise AssertionError("decoded although its header said it was too large")

    monkeypatch.setattr(images, "_decode", never)
    with pytest.raises(NotAnImage, match=r"100x100 PNG \(40,000 bytes to decode\).*IMAGE_DECODE_BUDGET_BYTES"):
        await ImageChecker(memory_budget=COST - 1).check(PNG)


async def test_an_image_claiming_too_many_pixels_is_refused_before_it_is_decoded(monkeypatch):
    monkeypatch.setattr(images, "_decode", lambda source: pytest.fail("decoded"))
    with pytest.raises(NotAnImage, match="more than 5000 pixels"):
        await ImageChecker(memory_budget=10 * COST, max_pixels=5000).check(PNG)


async def test_a_cancelled_check_keeps_its_share_until_its_decoding_thread_ends(monkeypatch):
    """The thread cannot be stopped, so its memory stays in use: the next image waits for it."""
    decoder = SlowDecodes(seconds=0.3)
    monkeypatch.setattr(images, "_decode", decoder)
    checker = ImageChecker(memory_budget=COST)  # one at a time
    first = asyncio.create_task(checker.check(PNG))
    while not decoder.started:
        await asyncio.sleep(0.01)
    first.cancel()
    await checker.check(PNG)
    assert first.cancelled() and decoder.most == 1
    assert decoder.started[1] - decoder.started[0] >= 0.25


async def test_checks_wait_their_turn_in_order_so_a_large_image_is_not_overtaken_forever(monkeypatch):
    monkeypatch.setattr(images, "_decode", SlowDecodes(seconds=0.05))
    checker = ImageChecker(memory_budget=2 * COST)
    finished = []

    async def check(name: str, data: bytes) -> None:
        await checker.check(data)
        finished.append(name)

    large = png_bytes(100, 200)  # needs the whole budget
    first = asyncio.create_task(check("first", PNG))
    await asyncio.sleep(0.01)
    waiting_large = asyncio.create_task(check("large", large))
    await asyncio.sleep(0.01)
    late_small = asyncio.create_task(check("late small", PNG))  # would fit beside the first, but comes after
    await asyncio.gather(first, waiting_large, late_small)
    assert finished == ["first", "large", "late small"]
