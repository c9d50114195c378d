"""A ComfyUI backend that is down does not hold up job creation: the API's preflight asks it once, then skips it
while the pool counts it down, and checks graphs against a backend that answers."""

from __future__ import annotations

import asyncio

import httpx

from api.main import create_app
from tests.helpers.images import empty_image_graph
from tests.helpers.ports import free_port
from tests.helpers.processes import serving


async def test_a_dead_first_backend_is_asked_once_and_the_live_one_checks_graphs(platform, emulator, make_key):
    connections = 0

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()  # a backend that accepts and answers nothing

    dead = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    dead_url = f"http://127.0.0.1:{dead.sockets[0].getsockname()[1]}"
    port = free_port()
    settings = platform.settings.model_copy(update={"API_PORT": port, "COMFYUI_URL": f"{dead_url},{emulator.url}"})
    key = await make_key()
    # Nodes and files every backend has (the fleet registry passes it), with a value ComfyUI refuses.
    zero_width = empty_image_graph(width=0)
    try:
        async with serving(create_app(settings), port):
            async with asyncio.timeout(30):
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30,
                                             headers={"Authorization": f"Bearer {key.secret}"}) as http:
                    replies = [await http.post("/api/v1/jobs", json={"graph": zero_width})]
                    tried = connections
                    replies += [await http.post("/api/v1/jobs", json={"graph": zero_width}) for _ in range(2)]
                    created = await http.post("/api/v1/jobs", json={"graph": empty_image_graph()})
    finally:
        dead.close()
        await dead.wait_closed()
    # The live backend's /object_info refused the width every time, up front.
    assert [reply.status_code for reply in replies] == [400, 400, 400]
    assert all(reply.json()["error"]["code"] == "invalid_graph" for reply in replies)
    assert created.status_code == 202
    assert tried >= 1 and connections == tried  # asked by the first request, then skipped while counted down
