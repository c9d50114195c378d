import aiohttp
import pytest_asyncio

from tests.standins.comfyui.comfy import Comfy


@pytest_asyncio.fixture
async def comfy(clean_emulator):
    async with aiohttp.ClientSession() as session:
        yield Comfy(session, clean_emulator.url)


@pytest_asyncio.fixture
async def versioned_comfy(versioned_emulator):
    async with aiohttp.ClientSession() as session:
        yield Comfy(session, versioned_emulator.url)
