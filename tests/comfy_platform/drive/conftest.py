"""A DriveClient per test user, and the test's own Drive calls outside it. Token refreshes are tested
against the real OpenID Connect provider (`oidc_provider`, with `oidc_drive` accepting its tokens)."""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio

from comfy_platform.drive import build_drive_service


@pytest_asyncio.fixture
async def client(drive_user):
    drive = drive_user.client()
    yield drive
    drive.close()


@pytest.fixture
def drive_api(drive_user):
    """The test's own Drive calls (trash, delete...), outside DriveClient: `await drive_api(lambda s: s.files()...)`."""
    service = build_drive_service(drive_user.credentials(), drive_user.api_root)

    async def call(build):
        return await asyncio.to_thread(lambda: build(service).execute(num_retries=0))

    return call
