"""The Drive test server under a data dir keeps the users' files across a restart (make dev's restarts)."""

from __future__ import annotations

import httpx

from standins.drive import DriveConfig, start_drive_server
from tests.helpers.ports import free_port


async def test_files_survive_a_restart_with_a_data_dir(tmp_path):
    port = free_port()
    server = await start_drive_server("127.0.0.1", port, DriveConfig(data_dir=tmp_path))
    try:
        folder = await server.create_folder("ana", "Shoot")
        dropped = await server.create_file("ana", "me.png", b"\x89PNG bytes", parent=folder["id"],
                                           mime_type="image/png")
    finally:
        await server.stop()

    again = await start_drive_server("127.0.0.1", port, DriveConfig(data_dir=tmp_path))
    try:
        files = {f["id"]: f for f in await again.files("ana")}
        assert files[folder["id"]]["name"] == "Shoot" and files[dropped["id"]]["parents"] == [folder["id"]]
        async with httpx.AsyncClient() as http:  # the dashboard's local link to a file opens it
            shown = await http.get(f"http://127.0.0.1:{port}/_drive/view/{dropped['id']}")
        assert shown.status_code == 200 and shown.content == b"\x89PNG bytes"
        assert shown.headers["content-type"] == "image/png"
    finally:
        await again.stop()
