"""The API on the embedded default database (SQLite, as `make dev` runs it), where one writer at a time holds
the lock: a request must never wait on a write of its own."""

from __future__ import annotations

import asyncio

import httpx

from api.main import create_app
from db.session import create_engine, create_sessionmaker, migrate
from tests.helpers.accounts import key_of_new_account
from tests.helpers.images import empty_image_graph


async def test_jobs_are_accepted_promptly_on_sqlite(platform, tmp_path):
    settings = platform.settings.model_copy(update={"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/api.db"})
    await migrate(settings.DATABASE_URL)
    engine = create_engine(settings.DATABASE_URL)
    async with create_sessionmaker(engine)() as session, session.begin():
        key = await key_of_new_account(session, settings, "sqlite")
    await engine.dispose()
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://testserver",
            headers={"Authorization": f"Bearer {key.secret}"}) as http:
        for _ in range(2):  # the second request finds last_used_at fresh and writes nothing before the job
            reply = await asyncio.wait_for(http.post("/api/v1/jobs", json={"graph": empty_image_graph()}), 10)
            assert reply.status_code == 202, reply.text
        listed = await http.get("/api/v1/jobs")
    assert len(listed.json()["data"]) == 2
