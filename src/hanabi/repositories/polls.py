"""Polls, their options and votes (migration 0003)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from hanabi.infra.db import Database

_POLL_COLUMNS = (
    "id, guild_id, channel_id, message_id, creator_id, question, multiple, anonymous, role_id, "
    "created_at, closes_at, closed_at"
)
# The open polls a close picks, locked FOR UPDATE: that waits for the votes in flight, which hold FOR KEY SHARE
# (poll_cast_vote, migration 0013), and makes votes arriving meanwhile wait and then see the poll closed.
_OPEN_LOCKED = "SELECT id FROM polls WHERE {} AND closed_at IS NULL FOR UPDATE"


@dataclass(frozen=True, slots=True)
class PollRow:
    id: int
    guild_id: int
    channel_id: int
    message_id: int | None
    creator_id: int
    question: str
    multiple: bool
    anonymous: bool
    role_id: int | None
    created_at: datetime
    closes_at: datetime | None
    closed_at: datetime | None

    @classmethod
    def from_record(cls, record: asyncpg.Record) -> PollRow:
        return cls(**dict(record))


@dataclass(frozen=True, slots=True)
class OptionCount:
    position: int
    label: str
    votes: int


@dataclass(frozen=True, slots=True)
class VoteRow:
    user_id: int
    position: int
    voted_at: datetime


@dataclass(frozen=True, slots=True)
class NewPoll:
    guild_id: int
    channel_id: int
    creator_id: int
    question: str
    options: Sequence[str]
    multiple: bool
    anonymous: bool
    role_id: int | None
    created_at: datetime
    closes_at: datetime | None


class PollsRepository:
    def __init__(self, database: Database) -> None:
        self._pool = database.pool

    # polls -------------------------------------------------------------------------------------------------------

    async def create(self, poll: NewPoll) -> PollRow:
        async with self._pool.acquire() as conn, conn.transaction():
            record = await conn.fetchrow(
                f"""
                INSERT INTO polls (guild_id, channel_id, creator_id, question, multiple, anonymous, role_id,
                                   created_at, closes_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                RETURNING {_POLL_COLUMNS}
                """,
                poll.guild_id,
                poll.channel_id,
                poll.creator_id,
                poll.question,
                poll.multiple,
                poll.anonymous,
                poll.role_id,
                poll.created_at,
                poll.closes_at,
            )
            if record is None:
                raise RuntimeError("insert returned no row")
            row = PollRow.from_record(record)
            await conn.executemany(
                "INSERT INTO poll_options (poll_id, position, label) VALUES ($1, $2, $3)",
                [(row.id, position, label) for position, label in enumerate(poll.options)],
            )
        return row

    async def get(self, poll_id: int) -> PollRow | None:
        record = await self._pool.fetchrow(f"SELECT {_POLL_COLUMNS} FROM polls WHERE id = $1", poll_id)
        return PollRow.from_record(record) if record else None

    async def set_message(self, poll_id: int, message_id: int) -> None:
        await self._pool.execute("UPDATE polls SET message_id = $2 WHERE id = $1", poll_id, message_id)

    async def counts(self, poll_id: int) -> tuple[list[OptionCount], int]:
        """Votes per option (in order) and the number of distinct voters."""
        async with self._pool.acquire() as conn:
            records = await conn.fetch(
                """
                SELECT o.position, o.label, count(v.user_id) AS votes
                FROM poll_options o
                LEFT JOIN poll_votes v ON v.poll_id = o.poll_id AND v.option = o.position
                WHERE o.poll_id = $1
                GROUP BY o.position, o.label
                ORDER BY o.position
                """,
                poll_id,
            )
            voters = await conn.fetchval("SELECT count(DISTINCT user_id) FROM poll_votes WHERE poll_id = $1", poll_id)
        return [OptionCount(r["position"], r["label"], r["votes"]) for r in records], int(voters or 0)

    async def votes(self, poll_id: int) -> list[VoteRow]:
        records = await self._pool.fetch(
            "SELECT user_id, option, voted_at FROM poll_votes WHERE poll_id = $1 ORDER BY option, voted_at, user_id",
            poll_id,
        )
        return [VoteRow(r["user_id"], r["option"], r["voted_at"]) for r in records]

    async def close(self, poll_id: int, now: datetime) -> PollRow | None:
        """Close an open poll; None when it was already closed (or does not exist)."""
        record = await self._pool.fetchrow(
            f"UPDATE polls SET closed_at = $2 WHERE id IN ({_OPEN_LOCKED.format('id = $1')}) RETURNING {_POLL_COLUMNS}",
            poll_id,
            now,
        )
        return PollRow.from_record(record) if record else None

    async def close_due(self, now: datetime, limit: int = 100) -> list[PollRow]:
        records = await self._pool.fetch(
            f"""
            UPDATE polls SET closed_at = closes_at
            WHERE id IN (
                SELECT id FROM polls WHERE closed_at IS NULL AND closes_at <= $1
                ORDER BY closes_at LIMIT $2 FOR UPDATE SKIP LOCKED
            )
            RETURNING {_POLL_COLUMNS}
            """,
            now,
            limit,
        )
        return [PollRow.from_record(r) for r in records]

    async def close_for_messages(self, message_ids: Sequence[int], now: datetime) -> list[int]:
        records = await self._pool.fetch(
            f"UPDATE polls SET closed_at = $2 WHERE id IN ({_OPEN_LOCKED.format('message_id = ANY($1::bigint[])')}) "
            "RETURNING id",
            list(message_ids),
            now,
        )
        return [r["id"] for r in records]

    async def close_for_channel(self, channel_id: int, now: datetime) -> list[int]:
        records = await self._pool.fetch(
            f"UPDATE polls SET closed_at = $2 WHERE id IN ({_OPEN_LOCKED.format('channel_id = $1')}) RETURNING id",
            channel_id,
            now,
        )
        return [r["id"] for r in records]

    async def list_open(self, guild_id: int, limit: int = 100) -> list[PollRow]:
        records = await self._pool.fetch(
            f"""
            SELECT {_POLL_COLUMNS} FROM polls
            WHERE guild_id = $1 AND closed_at IS NULL
            ORDER BY id DESC LIMIT $2
            """,
            guild_id,
            limit,
        )
        return [PollRow.from_record(r) for r in records]

    async def search(self, guild_id: int, text: str, limit: int = 25) -> list[PollRow]:
        """Most recent polls in the guild whose question contains `text` (or whose id is `text`)."""
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        records = await self._pool.fetch(
            f"""
            SELECT {_POLL_COLUMNS} FROM polls
            WHERE guild_id = $1 AND (question ILIKE $2 OR id::text = $3)
            ORDER BY (closed_at IS NULL) DESC, id DESC LIMIT $4
            """,
            guild_id,
            pattern,
            text.strip(),
            limit,
        )
        return [PollRow.from_record(r) for r in records]

    # votes -------------------------------------------------------------------------------------------------------

    async def cast(
        self, poll_id: int, user_id: int, positions: Sequence[int], now: datetime, *, mode: str
    ) -> tuple[bool, list[int]] | None:
        """Apply a vote atomically (one round trip, see `poll_cast_vote` in migration 0003).

        mode "toggle-single", "toggle" or "set"; returns None when the poll is closed (or past its deadline),
        else (whether the click removed a vote, the voter's positions after the change).
        """
        if mode not in {"toggle-single", "toggle", "set"}:
            raise ValueError(f"unknown vote mode {mode!r}")
        record = await self._pool.fetchrow(
            "SELECT removed, chosen FROM poll_cast_vote($1, $2, $3::smallint[], $4, $5)",
            poll_id,
            user_id,
            list(positions),
            now,
            mode,
        )
        if record is None:
            return None
        return bool(record["removed"]), list(record["chosen"])
