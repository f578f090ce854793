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


@pytest.mark.asyncio
async def test_a_close_waits_for_the_votes_in_flight_and_later_votes_see_it_closed(database: Database) -> None:
    clock = ManualClock()
    repository = PollsRepository(database)
    service = PollService(repository, clock)
    pid = await new_poll(service)
    vote = "SELECT removed, chosen FROM poll_cast_vote($1, $2, '{0}'::smallint[], $3, 'toggle-single')"
    async with database.pool.acquire() as voter:
        transaction = voter.transaction()
        await transaction.start()
        assert await voter.fetchrow(vote, pid, 10, clock.now()) is not None  # in flight: not committed yet
        closing = asyncio.ensure_future(repository.close(pid, clock.now()))
        await asyncio.sleep(0.3)
        assert not closing.done()  # the close waits for the vote's lock on the poll
        # Votes never wait for one another, not even behind a waiting close: this one commits first.
        assert await asyncio.wait_for(database.pool.fetchrow(vote, pid, 11, clock.now()), 2) is not None
        assert not closing.done()
        await transaction.commit()
        closed = await asyncio.wait_for(closing, 5)
    assert closed is not None
    assert await database.pool.fetchrow(vote, pid, 12, clock.now()) is None  # after the close: refused
    poll = await service.get(pid)
    assert poll.voters == 2  # every vote that was taken counts, and none came after the close
