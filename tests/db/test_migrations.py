"""Migrations build the schema the models describe, on SQLite and PostgreSQL, and are safe to re-run."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from db.models import Base
from db.session import alembic_config, create_engine, migrate

TABLES = set(Base.metadata.tables) | {"alembic_version"}
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


async def schema_of(url: str) -> tuple[set[str], str | None]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
            version = None
            if "alembic_version" in tables:
                version = await connection.scalar(text("SELECT version_num FROM alembic_version"))
        return tables, version
    finally:
        await engine.dispose()


async def test_migrating_an_empty_database_creates_every_table(empty_database_url: str):
    assert await schema_of(empty_database_url) == (set(), None)
    await migrate(empty_database_url)
    assert await schema_of(empty_database_url) == (TABLES, HEAD)


async def test_migrating_an_up_to_date_database_again_changes_nothing(empty_database_url: str):
    await migrate(empty_database_url)
    await migrate(empty_database_url)
    assert await schema_of(empty_database_url) == (TABLES, HEAD)


async def test_processes_migrating_at_once_all_succeed(empty_database_url: str):
    await asyncio.gather(*(migrate(empty_database_url) for _ in range(3)))
    assert await schema_of(empty_database_url) == (TABLES, HEAD)


async def test_the_migrated_schema_matches_the_models(database_url: str):
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            diff = await connection.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata))
    finally:
        await engine.dispose()
    assert diff == []
