"""Real PostgreSQL and Redis for tests: per-test databases cloned from a migrated template.

Outside CI a missing service skips the tests that need it, with a one-line reason; under CI=true it fails
the run, so a broken CI machine can never look green.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from hanabi.infra.db.migrations import apply_migrations, schema_fingerprint

ADMIN_DSN = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
_TEMPLATE_LOCK = 0x7465737473  # "tests"


def missing(message: str) -> NoReturn:
    """The one rule for absent services and tools: a skip with a one-line reason, a failure under CI=true
    (where `.ci/run` provides everything)."""
    if IN_CI:
        pytest.fail(f"{message}; CI=true requires it", pytrace=False)
    pytest.skip(message)


def unavailable(what: str, error: BaseException) -> NoReturn:
    missing(f"{what} is not reachable ({type(error).__name__}: {error})")


def dsn_for(database: str) -> str:
    parts = urlsplit(ADMIN_DSN)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


async def _ensure_template() -> str:
    name = f"hanabi_tpl_{schema_fingerprint()}"
    admin = await asyncpg.connect(ADMIN_DSN, timeout=5)
    try:
        # Several pytest processes (or sessions) may build the template at once: one does, the others wait.
        await admin.execute("SELECT pg_advisory_lock($1)", _TEMPLATE_LOCK)
        try:
            if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                building = f"{name}_build_{uuid.uuid4().hex[:6]}"
                await admin.execute(f'CREATE DATABASE "{building}"')
                conn = await asyncpg.connect(dsn_for(building))
                try:
                    await apply_migrations(conn)
                finally:
                    await conn.close()
                await admin.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
        finally:
            await admin.execute("SELECT pg_advisory_unlock($1)", _TEMPLATE_LOCK)
    finally:
        await admin.close()
    return name


async def create_test_database(template: str) -> str:
    name = f"hanabi_t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(ADMIN_DSN, timeout=5)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await admin.close()
    return name


async def drop_test_database(name: str) -> None:
    admin = await asyncpg.connect(ADMIN_DSN, timeout=5)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def template_database() -> str:
    try:
        return asyncio.run(_ensure_template())
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        unavailable(f"PostgreSQL at {ADMIN_DSN}", exc)
        raise


def check_redis() -> str:
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.ping()
        client.close()
    except (OSError, redis.RedisError) as exc:
        unavailable(f"Redis at {REDIS_URL}", exc)
    return REDIS_URL
