"""The database drops every connection and then refuses new ones for a moment (a restart, a failover): requests
get a 503 that says to retry, never a 500, and the API serves again at once when the database is back."""

from __future__ import annotations

import aiohttp
import httpx

from api.main import create_app
from tests.fixtures.database import _admin_connection
from tests.helpers.ports import free_port
from tests.helpers.processes import serving


async def test_a_database_outage_costs_503s_not_500s_and_the_api_recovers(platform, make_key):
    port = free_port()
    settings = platform.settings.model_copy(update={"API_PORT": port})
    key = await make_key()
    database = platform.settings.DATABASE_URL.rsplit("/", 1)[1]
    admin = await _admin_connection()
    started = await admin.fetchval("SELECT now()")  # only this app's connections are dropped, not the platform's
    try:
        async with serving(create_app(settings), port):
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30,
                                         headers={"Authorization": f"Bearer {key.secret}"}) as http:
                assert (await http.get("/api/v1/jobs")).status_code == 200  # the pool holds live connections now
                await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
                killed = await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = $1 AND backend_start > $2 AND pid <> pg_backend_pid()", database, started)
                during = [await http.get("/api/v1/jobs") for _ in range(2)]
                async with aiohttp.ClientSession() as session, session.ws_connect(
                        f"ws://127.0.0.1:{port}/api/v1/jobs/some-job/events",
                        headers={"Authorization": f"Bearer {key.secret}"}) as ws:
                    await ws.receive()
                    ws_close_code = ws.close_code
                await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
                after = [await http.get("/api/v1/jobs") for _ in range(2)]
    finally:
        await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        await admin.close()
    assert killed >= 1
    for reply in during:  # a lost connection, then no connection at all
        assert reply.status_code == 503, reply.text
        assert reply.json()["error"]["code"] == "database_unavailable" and reply.headers["Retry-After"]
    assert ws_close_code == 4503  # the WebSocket says the same in its close code
    assert after[-1].status_code == 200
