import aiohttp
import pytest
import pytest_asyncio

from tests.emulator.comfy import Comfy
from tests.fixtures.emulator import make_clean, start_session_emulator

VERSIONS = ("0.3.33", "0.3.64", "0.33.0")


@pytest_asyncio.fixture
async def comfy(clean_emulator):
    async with aiohttp.ClientSession() as session:
        yield Comfy(session, clean_emulator.url)


@pytest_asyncio.fixture(scope="session")
async def emulator_0_3_64(tmp_path_factory):
    running = await start_session_emulator(tmp_path_factory, "0.3.64")
    yield running
    await running.stop()


@pytest.fixture(scope="session")
def emulators(legacy_emulator, emulator_0_3_64, emulator) -> dict:
    return {"0.3.33": legacy_emulator, "0.3.64": emulator_0_3_64, "0.33.0": emulator}


@pytest_asyncio.fixture(params=VERSIONS)
async def versioned_emulator(request, emulators):
    """The session emulator of each version in turn, clean (narrow it with indirect parametrize)."""
    emulator = emulators[request.param]
    await make_clean(emulator, request.param)
    yield emulator
    await make_clean(emulator, request.param)


@pytest_asyncio.fixture
async def versioned_comfy(versioned_emulator):
    async with aiohttp.ClientSession() as session:
        yield Comfy(session, versioned_emulator.url)
