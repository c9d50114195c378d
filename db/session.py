"""Engines, sessions and migrations, for SQLite (aiosqlite) and PostgreSQL (asyncpg) alike."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Any constant works; it only has to be the same in every process that migrates.
MIGRATION_LOCK_ID = 0x636F6D6679


# A pooled connection that sat idle longer than this is pinged before use, so one a restarted database closed
# is replaced instead of failing a request. SQLAlchemy's pool_pre_ping pings on every checkout, which with
# asyncpg is three round trips (BEGIN, ";", ROLLBACK) and measured 12 % of the API's CPU under load
# (bench/api.py). A connection in steady use that dies all the same fails its one statement: SQLAlchemy then
# replaces every connection of the pool, the API answers that request 503 (api/errors.py) and activities retry.
PING_IDLE_AFTER_S = 5.0


def create_engine(url: str, **kwargs) -> AsyncEngine:
    if make_url(url).get_backend_name() == "sqlite":
        return _create_sqlite_engine(url, **kwargs)
    # 20 kept open: fifty requests in flight each hold one at a time (bench/api.py); overflow ones are closed
    # on return, and reconnecting costs far more than keeping them.
    options = {"pool_size": 20, "max_overflow": 10, "pool_recycle": 1800, **kwargs}
    engine = create_async_engine(url, **options)
    _ping_idle_connections(engine)
    _typed_connect_failures(engine)
    return engine


class DatabaseUnavailable(Exception):
    """No connection to the database could be made (down, starting up, refusing clients): worth a retry later.
    The API answers it 503 (api/errors.py); activities retry it like any error."""


def _typed_connect_failures(engine: AsyncEngine) -> None:
    """A failed connect surfaces as whatever the driver raised (a refused socket is a bare OSError, a server
    starting up a generic DBAPIError); callers get one type for all of them."""

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect, _record, cargs, cparams):
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception as exc:
            raise DatabaseUnavailable(f"cannot connect to the database: {exc}") from exc


def listen_connect_args(engine: AsyncEngine) -> dict:
    """asyncpg.connect() keywords for a connection of one's own to the engine's PostgreSQL (host, port, user,
    password, database, ssl and the URL's other options), without SQLAlchemy's own keys."""
    _, params = engine.dialect.create_connect_args(engine.url)
    for own in ("prepared_statement_cache_size", "prepared_statement_name_func", "async_creator_fn"):
        params.pop(own, None)
    return params


def _ping_idle_connections(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(_dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_connection, record, _proxy) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is not None and time.monotonic() - idle_since > PING_IDLE_AFTER_S:
            try:
                engine.dialect.do_ping(dbapi_connection)
            except Exception as exc:  # the pool discards this connection and checks out another
                raise DisconnectionError(f"a pooled connection is gone: {exc}") from exc


def _create_sqlite_engine(url: str, **kwargs) -> AsyncEngine:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, **kwargs.pop("connect_args", {})}
    engine = create_async_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # WAL lets the API read while a worker writes; foreign keys are off in SQLite unless asked for per
        # connection; the busy timeout makes a writer wait for the lock instead of failing at once.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False keeps rows readable after commit without a hidden reload (I/O) on attribute access.
    return async_sessionmaker(engine, expire_on_commit=False)


def dialect_insert(session: AsyncSession, model: type):
    """INSERT for the session's database; both dialects spell insert-if-absent and upsert as ON CONFLICT, each
    with its own construct (.on_conflict_do_nothing / .on_conflict_do_update)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


SQLITE_MIGRATE_ATTEMPTS = 5


def alembic_config() -> Config:
    """Alembic's config built in code, so no alembic.ini has to sit in the working directory."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    return config


async def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the database to `revision`; safe to call on every start, from a running event loop.

    On a brand-new SQLite file, processes starting together can be refused at once ("database is locked")
    where SQLite does not wait on its busy timeout (switching to WAL, upgrading a read lock): try again."""
    for attempt in range(1, SQLITE_MIGRATE_ATTEMPTS + 1):
        try:
            return await _migrate_once(url, revision)
        except OperationalError as exc:
            if "database is locked" not in str(exc) or attempt == SQLITE_MIGRATE_ATTEMPTS:
                raise
            await asyncio.sleep(0.2 * attempt)


async def _migrate_once(url: str, revision: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            # The API and workers may start together: one migrates, the others wait, then find nothing to do.
            if connection.dialect.name == "postgresql":
                await connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            elif connection.dialect.name == "sqlite":
                # Take the write lock before reading alembic_version; the driver would only begin at the first DML.
                await connection.exec_driver_sql("BEGIN IMMEDIATE")
            await connection.run_sync(_upgrade, revision)
    finally:
        await engine.dispose()


def _upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    # env.py migrates over this connection instead of opening its own (and its own event loop).
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def release_before_calling_out(session: AsyncSession) -> None:
    """End the session's transaction before calling another system (Temporal, ComfyUI, Drive, a webhook...):
    the rule, written once. A call out can take seconds; a transaction held meanwhile keeps a pooled connection
    (fifty requests each holding one while asking for a second exhaust the pool) and, on SQLite, maybe its
    single write lock. What the request wrote so far is committed; its next query begins a new transaction."""
    await session.commit()


async def ping(session: AsyncSession) -> None:
    """One round trip: the database answers."""
    await session.execute(text("SELECT 1"))
