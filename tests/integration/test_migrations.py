from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio

from hanabi.infra.db.migrations import load_migrations
from tests import services

SCRIPT = """
import asyncio, sys, json
import asyncpg
from hanabi.infra.db.migrations import apply_migrations

async def main():
    conn = await asyncpg.connect(sys.argv[1])
    try:
        print(json.dumps(await apply_migrations(conn)))
    finally:
        await conn.close()

asyncio.run(main())
"""


@pytest_asyncio.fixture
async def empty_database(template_database: str) -> AsyncIterator[str]:
    name = await services.create_test_database("template0")
    try:
        yield services.dsn_for(name)
    finally:
        await services.drop_test_database(name)


@pytest.mark.asyncio
async def test_three_processes_apply_each_migration_exactly_once(empty_database: str) -> None:
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", SCRIPT, empty_database, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        for _ in range(3)
    ]
    outputs = [await proc.communicate() for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], [err.decode() for _, err in outputs]

    import json

    applied = [json.loads(out) for out, _ in outputs]
    every_version = sorted(v for batch in applied for v in batch)
    assert every_version == [m.version for m in load_migrations()]  # each applied by exactly one process

    conn = await asyncpg.connect(empty_database)
    try:
        rows = await conn.fetch("SELECT version, count(*) AS n FROM schema_migrations GROUP BY version")
    finally:
        await conn.close()
    assert {r["version"]: r["n"] for r in rows} == {m.version: 1 for m in load_migrations()}


@pytest.mark.asyncio
async def test_migrations_are_idempotent_on_a_migrated_database(database_url: str) -> None:
    from hanabi.infra.db.migrations import apply_migrations

    conn = await asyncpg.connect(database_url)
    try:
        assert await apply_migrations(conn) == []
    finally:
        await conn.close()
