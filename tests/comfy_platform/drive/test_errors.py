"""DriveClient failures as typed errors, and the one automatic token refresh."""

import uuid

import httplib2
import pytest
from google.oauth2.credentials import Credentials
from googleapiclient.errors import HttpError

from comfy_platform.drive import (
    DriveAuthRevoked,
    DriveBadRequest,
    DriveClient,
    DriveInvalidPageToken,
    DriveNotFound,
    DriveRateLimited,
    DriveUnavailable,
)
from comfy_platform.drive.errors import REVOKED_MESSAGE, translate
from tests.fixtures.drive import provider_grant
from tests.fixtures.oidc import CLIENT_ID, CLIENT_SECRET
from tests.helpers.ports import free_port


class CountingCredentials(Credentials):
    """Credentials that note each access token a refresh brings."""

    def refresh(self, request) -> None:
        super().refresh(request)
        self.issued.append(self.token)


def refreshable(oidc_provider, access_token: str, refresh_token: str) -> CountingCredentials:
    credentials = CountingCredentials(token=access_token, refresh_token=refresh_token,
                                      token_uri=oidc_provider.token_url, client_id=CLIENT_ID,
                                      client_secret=CLIENT_SECRET)
    credentials.issued = []
    return credentials


async def test_another_users_file_is_not_found(client, drive_server):
    other = await drive_server.create_file(f"other-{uuid.uuid4().hex}", "theirs.jpg")
    with pytest.raises(DriveNotFound) as info:
        await client.get_file(other["id"])
    assert info.value.status == 404 and not info.value.retryable
    assert info.value.message == f"File not found: {other['id']}."


async def test_a_401_refreshes_the_token_once_and_retries(oidc_provider, oidc_drive):
    sub = f"creator-{uuid.uuid4().hex[:8]}"
    grant = await provider_grant(oidc_provider, sub)
    made = await oidc_drive.create_file(sub, "p.jpg")
    credentials = refreshable(oidc_provider, "ya29.expired", grant["refresh_token"])
    client = DriveClient(credentials, oidc_drive.url)
    try:
        assert (await client.get_file(made["id"]))["name"] == "p.jpg"
        assert len(credentials.issued) == 1 and client.credentials.token == credentials.issued[0]
        assert credentials.issued[0] not in ("ya29.expired", grant["access_token"])
        await client.get_file(made["id"])  # the new token is kept
        assert len(credentials.issued) == 1
    finally:
        client.close()


async def test_a_refused_refresh_means_the_grant_is_revoked(oidc_provider, oidc_drive):
    sub = f"creator-{uuid.uuid4().hex[:8]}"
    grant = await provider_grant(oidc_provider, sub)
    await oidc_provider.revoke_tokens(sub)
    client = DriveClient(refreshable(oidc_provider, grant["access_token"], grant["refresh_token"]), oidc_drive.url)
    try:
        with pytest.raises(DriveAuthRevoked) as info:
            await client.start_page_token()
        assert "invalid_grant" in info.value.detail and not info.value.retryable
        # The creator reads the message (dashboard, reconnect email): plain words, not google-auth's tuple.
        assert info.value.message == REVOKED_MESSAGE
    finally:
        client.close()


async def test_a_bad_token_without_refresh_token_is_auth_revoked(drive_server):
    client = DriveClient(Credentials(token="ya29.unknown"), drive_server.url)
    try:
        with pytest.raises(DriveAuthRevoked):
            await client.start_page_token()
    finally:
        client.close()


async def test_rate_limits_carry_retry_after(client, drive_user, drive_server):
    await drive_server.inject_fault(429, user=drive_user.sub, retry_after=7)
    with pytest.raises(DriveRateLimited) as info:
        await client.start_page_token()
    assert info.value.retryable and info.value.retry_after_s == 7.0 and info.value.status == 429
    await drive_server.inject_fault(403, user=drive_user.sub)  # userRateLimitExceeded, no Retry-After
    with pytest.raises(DriveRateLimited) as info:
        await client.list_folders()
    assert info.value.retry_after_s == 5.0 and info.value.reason == "userRateLimitExceeded"


async def test_server_errors_and_unreachable_drive_are_unavailable(client, drive_user, drive_server, tmp_path):
    await drive_server.inject_fault(503, user=drive_user.sub, kind="files.list")
    with pytest.raises(DriveUnavailable) as info:
        await client.list_folders()
    assert info.value.retryable and info.value.status == 503
    await drive_server.inject_fault(503, user=drive_user.sub, kind="upload.chunk")
    source = tmp_path / "out.png"
    source.write_bytes(b"png")
    with pytest.raises(DriveUnavailable):  # a chunk that fails fails the upload: the activity retries it
        await client.upload("root", "out.png", source, "image/png", {})
    nowhere = DriveClient(drive_user.credentials(), f"http://127.0.0.1:{free_port()}/")
    try:
        with pytest.raises(DriveUnavailable) as info:
            await nowhere.get_file("x")
        assert info.value.retryable and info.value.status is None
    finally:
        nowhere.close()


async def test_an_invalid_page_token_is_its_own_error(client):
    with pytest.raises(DriveInvalidPageToken):
        await client.list_changes("999999999")
    with pytest.raises(DriveInvalidPageToken):
        await client.list_folder_files("root", page_token="stale")


async def test_other_refusals_are_bad_requests(client, drive_user, drive_server, tmp_path):
    not_a_folder = await drive_server.create_file(drive_user.sub, "file.jpg")
    source = tmp_path / "out.png"
    source.write_bytes(b"png")
    with pytest.raises(DriveBadRequest) as info:
        await client.upload(not_a_folder["id"], "out.png", source, "image/png", {})
    assert info.value.status == 400 and not info.value.retryable


@pytest.mark.parametrize("content", [
    b'{"error": "invalid_grant"}', b'{"error": {"errors": {}}}', b'{"error": {"errors": {"0": {}}}}',
    b'{"error": {"errors": 5}}', b'{"error": {"errors": [{"reason": ["x"], "location": 1}]}}', b'{"error": null}',
    b'[1]',
])
def test_a_body_not_in_googles_shape_still_translates(content):
    for status, kind in ((400, DriveBadRequest), (401, DriveAuthRevoked), (403, DriveBadRequest),
                         (503, DriveUnavailable)):
        error = translate(HttpError(httplib2.Response({"status": status}), content, uri="http://drive/x"))
        assert type(error) is kind and error.status == status and error.reason is None and error.message
