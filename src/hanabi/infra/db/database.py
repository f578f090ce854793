"""The database resource: embedded or external PostgreSQL, an asyncpg pool, migrations applied."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from hanabi.infra.db.embedded import EmbeddedPostgres
from hanabi.infra.db.migrations import apply_migrations

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Database:
    pool: asyncpg.Pool
    kind: str  # "embedded" or "external"
    description: str  # safe to log and show: no password
    applied_migrations: list[int] = field(default_factory=list)

    async def ping(self) -> bool:
        try:
            async with self.pool.acquire(timeout=2) as conn:
                return bool(await conn.fetchval("SELECT 1", timeout=2))
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False


def describe_dsn(dsn: str) -> str:
    """host:port/db of a DSN, without credentials."""
    parts = urlsplit(dsn)
    host = parts.hostname or "local socket"
    port = f":{parts.port}" if parts.port else ""
    return f"{host}{port}{parts.path or ''}"


async def _keep_session(_: asyncpg.Connection) -> None:
    """Pool release without asyncpg's default `RESET ALL; UNLISTEN *; CLOSE ALL; pg_advisory_unlock_all()`.

    asyncpg still rolls back an unfinished transaction before this runs; Hanabi sets no session state, listens on
    no pooled connection and releases its one session advisory lock (migrations) itself, so the extra round trip
    on every release bought nothing (docs/benchmarks.md).
    """


async def open_database(
    database_url: str | None, data_dir: Path, *, min_size: int = 2, max_size: int = 10
) -> AsyncIterator[Database]:
    """dependency-injector Resource: yields a ready Database and tears everything down afterwards."""
    embedded: EmbeddedPostgres | None = None
    if database_url:
        dsn, kind, description = database_url, "external", describe_dsn(database_url)
    else:
        embedded = EmbeddedPostgres(data_dir)
        dsn = await embedded.start()
        kind, description = "embedded", f"embedded at {embedded.pgdata}"
    try:
        pool = await asyncpg.create_pool(
            dsn, min_size=min_size, max_size=max_size, command_timeout=30, reset=_keep_session
        )
        try:
            async with pool.acquire() as conn:
                applied = await apply_migrations(conn)
            yield Database(pool=pool, kind=kind, description=description, applied_migrations=applied)
        finally:
            await pool.close()
    finally:
        if embedded is not None:
            await embedded.stop()
