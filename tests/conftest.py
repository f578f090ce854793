"""Fixtures shared by every test layer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests import services


@pytest.fixture(scope="session")
def template_database() -> str:
    return services.template_database()


@pytest_asyncio.fixture
async def database_url(template_database: str) -> AsyncIterator[str]:
    """A fresh, fully migrated database of its own for each test."""
    name = await services.create_test_database(template_database)
    try:
        yield services.dsn_for(name)
    finally:
        await services.drop_test_database(name)


@pytest.fixture
def redis_url() -> str:
    return services.check_redis()
