"""Poll rules backed by PostgreSQL: the unique vote constraint, atomic single-choice votes, deadlines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from hanabi.infra.db import Database, open_database
from hanabi.repositories.polls import PollsRepository
from hanabi.services.polls import PollClosed, PollService
from tests.harness.clock import ManualClock


@pytest_asyncio.fixture
async def database(database_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    async for db in open_database(database_url, tmp_path):
        yield db


async def new_poll(service: PollService, *, options: str = "A | B | C", **extra: object) -> int:
    poll = await service.create(
        guild_id=1,
        channel_id=2,
        creator_id=3,
        question="Q?",
        options=options,
        **extra,  # type: ignore[arg-type]
    )
    return poll.id


@pytest.mark.asyncio
async def test_a_double_click_storm_leaves_one_vote_per_single_choice_voter(database: Database) -> None:
    service = PollService(PollsRepository(database), ManualClock())
    pid = await new_poll(service)
    await asyncio.gather(*(service.vote(pid, 10, [i % 3]) for i in range(30)))
    poll = await service.get(pid)
    # The clicks are serialised in whatever order they reach PostgreSQL; pressing one's current choice again
    # removes it, so the storm may end with no vote. It can never end with two.
    assert poll.voters in (0, 1)
    assert sum(o.votes for o in poll.options) == poll.voters


@pytest.mark.asyncio
async def test_the_schema_refuses_a_second_vote_for_the_same_option(database: Database) -> None:
    service = PollService(PollsRepository(database), ManualClock())
    pid = await new_poll(service)
    await service.vote(pid, 10, [0])
    with pytest.raises(asyncpg.UniqueViolationError):
        await database.pool.execute(
            "INSERT INTO poll_votes (poll_id, user_id, option, voted_at) VALUES ($1, 10, 0, now())", pid
        )


@pytest.mark.asyncio
async def test_deadlines_close_once_and_votes_after_them_are_refused(database: Database) -> None:
    clock = ManualClock()
    service = PollService(PollsRepository(database), clock)
    pid = await new_poll(service, duration="10m")
    forever = await new_poll(service)
    assert await service.close_due() == []
    clock.advance(minutes=10)
    with pytest.raises(PollClosed):
        await service.vote(pid, 10, [0])
    closed = await service.close_due()
    assert [p.id for p in closed] == [pid]
    assert closed[0].closed_at == closed[0].created_at + timedelta(minutes=10)
    assert await service.close_due() == []
    assert (await service.get(forever)).is_open
