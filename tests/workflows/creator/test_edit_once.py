"""A photo whose edit finished but whose upload lost the Drive grant is uploaded after the creator reconnects,
without the GPU editing it again."""

from __future__ import annotations

from tests.fixtures.creator import photo
from tests.fixtures.oidc import sign_in


async def test_an_edit_made_before_google_revoked_access_is_uploaded_after_reconnecting_not_made_again(
        creator, oidc_provider, smtp):
    folder = await creator.folder("Late upload")
    watch = await creator.watch(folder)
    await creator.drop(folder, "done.png", photo(77))
    # The edit goes through; its upload meets a Drive fault, and while it waits to retry, access is revoked.
    await creator.sync_revoked_midway(oidc_provider, "upload.chunk")
    assert (await creator.http.get("/creator/me")).json()["drive_status"] == "reconnect_needed"
    assert await creator.outputs(watch["output_folder_id"]) == []
    assert len(await creator.edits(at_least=1)) == 1

    await sign_in(creator.http, str(creator.http.base_url), oidc_provider, creator.sub, creator.email)
    await creator.sync_and_wait()

    assert [f["name"] for f in await creator.outputs(watch["output_folder_id"])] == ["done_portrait_pro.png"]
    assert [(f["name"], f["status"]) for f in await creator.files()] == [("done.png", "succeeded")]
    assert len(await creator.edits(at_least=2, timeout_s=1)) == 1, "the GPU edited the photo once"
