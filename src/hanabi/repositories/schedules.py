"""Announcements, their claimed runs, and event reminders (migration 0004_scheduler)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from hanabi.infra.db import Database

_ANNOUNCEMENT_COLUMNS = (
    "id, guild_id, channel_id, creator_id, message, title, schedule, timezone, anchor, allowed_role_ids, "
    "next_run, paused, pause_reason, created_at"
)
_REMINDER_COLUMNS = (
    "id, guild_id, event_id, event_name, event_start, channel_id, creator_id, minutes_before, remind_at, status"
)


@dataclass(frozen=True, slots=True)
class AnnouncementRow:
    id: int
    guild_id: int
    channel_id: int
    creator_id: int
    message: str
    title: str | None
    schedule: str
    timezone: str
    anchor: datetime
    allowed_role_ids: tuple[int, ...]
    next_run: datetime
    paused: bool
    pause_reason: str | None
    created_at: datetime

    @classmethod
    def from_record(cls, record: asyncpg.Record) -> AnnouncementRow:
        values = dict(record)
        values["allowed_role_ids"] = tuple(values["allowed_role_ids"] or ())
        return cls(**values)


@dataclass(frozen=True, slots=True)
class NewAnnouncement:
    guild_id: int
    channel_id: int
    creator_id: int
    message: str
    title: str | None
    schedule: str
    timezone: str
    anchor: datetime
    allowed_role_ids: tuple[int, ...]
    next_run: datetime


@dataclass(frozen=True, slots=True)
class ReminderRow:
    id: int
    guild_id: int
    event_id: int
    event_name: str
    event_start: datetime
    channel_id: int
    creator_id: int
    minutes_before: int
    remind_at: datetime
    status: str

    @classmethod
    def from_record(cls, record: asyncpg.Record) -> ReminderRow:
        return cls(**dict(record))


class ScheduleRepository:
    def __init__(self, database: Database) -> None:
        self._pool = database.pool

    # announcements -------------------------------------------------------------------------------------------------

    async def create(self, new: NewAnnouncement) -> AnnouncementRow:
        record = await self._pool.fetchrow(
            f"""
            INSERT INTO announcements (guild_id, channel_id, creator_id, message, title, schedule, timezone, anchor,
                                       allowed_role_ids, next_run)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            RETURNING {_ANNOUNCEMENT_COLUMNS}
            """,
            new.guild_id,
            new.channel_id,
            new.creator_id,
            new.message,
            new.title,
            new.schedule,
            new.timezone,
            new.anchor,
            list(new.allowed_role_ids),
            new.next_run,
        )
        if record is None:
            raise RuntimeError("insert returned no row")
        return AnnouncementRow.from_record(record)

    async def get(self, guild_id: int, announcement_id: int) -> AnnouncementRow | None:
        record = await self._pool.fetchrow(
            f"SELECT {_ANNOUNCEMENT_COLUMNS} FROM announcements WHERE guild_id = $1 AND id = $2",
            guild_id,
            announcement_id,
        )
        return AnnouncementRow.from_record(record) if record else None

    async def list_for_guild(self, guild_id: int) -> list[AnnouncementRow]:
        records = await self._pool.fetch(
            f"SELECT {_ANNOUNCEMENT_COLUMNS} FROM announcements WHERE guild_id = $1 ORDER BY id", guild_id
        )
        return [AnnouncementRow.from_record(r) for r in records]

    async def count_for_guild(self, guild_id: int) -> int:
        count = await self._pool.fetchval("SELECT count(*) FROM announcements WHERE guild_id = $1", guild_id)
        return int(count or 0)

    async def set_paused(
        self, guild_id: int, announcement_id: int, *, paused: bool, reason: str | None, next_run: datetime | None = None
    ) -> AnnouncementRow | None:
        record = await self._pool.fetchrow(
            f"""
            UPDATE announcements
               SET paused = $3, pause_reason = $4, next_run = COALESCE($5, next_run), updated_at = now()
             WHERE guild_id = $1 AND id = $2
            RETURNING {_ANNOUNCEMENT_COLUMNS}
            """,
            guild_id,
            announcement_id,
            paused,
            reason,
            next_run,
        )
        return AnnouncementRow.from_record(record) if record else None

    async def delete(self, guild_id: int, announcement_id: int) -> bool:
        status = await self._pool.execute(
            "DELETE FROM announcements WHERE guild_id = $1 AND id = $2", guild_id, announcement_id
        )
        return status.endswith(" 1")

    async def due(self, now: datetime, limit: int) -> list[AnnouncementRow]:
        """Candidates only: nothing is locked; `claim` decides who sends."""
        records = await self._pool.fetch(
            f"""
            SELECT {_ANNOUNCEMENT_COLUMNS} FROM announcements
             WHERE NOT paused AND next_run <= $1
             ORDER BY next_run
             LIMIT $2
            """,
            now,
            limit,
        )
        return [AnnouncementRow.from_record(r) for r in records]

    async def claim(
        self, announcement_id: int, scheduled_for: datetime, next_run: datetime, now: datetime, worker: str
    ) -> bool:
        """Claim the run due at `scheduled_for` and move the schedule on to `next_run`, atomically.

        True for exactly one caller per (announcement, scheduled_for): a concurrent claimer blocks on the row
        lock, then finds `next_run` already moved and updates nothing; the run row's primary key backs it up.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            moved = await conn.fetchval(
                """
                UPDATE announcements SET next_run = $3, updated_at = now()
                 WHERE id = $1 AND next_run = $2 AND NOT paused
                RETURNING id
                """,
                announcement_id,
                scheduled_for,
                next_run,
            )
            if moved is None:
                return False
            inserted = await conn.fetchval(
                """
                INSERT INTO announcement_runs (announcement_id, scheduled_for, claimed_at, claimed_by)
                VALUES ($1, $2, $3, $4)
                ON CONFLICT DO NOTHING
                RETURNING announcement_id
                """,
                announcement_id,
                scheduled_for,
                now,
                worker,
            )
            # None: this run was claimed before (the schedule was moved back by hand); the UPDATE still stands.
            return inserted is not None

    async def finish_run(
        self, announcement_id: int, scheduled_for: datetime, *, message_id: int | None, error: str | None
    ) -> None:
        await self._pool.execute(
            """
            UPDATE announcement_runs SET status = $3, message_id = $4, error = $5
             WHERE announcement_id = $1 AND scheduled_for = $2
            """,
            announcement_id,
            scheduled_for,
            "sent" if error is None else "failed",
            message_id,
            error,
        )

    async def runs(self, announcement_id: int) -> list[tuple[datetime, str]]:
        records = await self._pool.fetch(
            "SELECT scheduled_for, status FROM announcement_runs WHERE announcement_id = $1 ORDER BY scheduled_for",
            announcement_id,
        )
        return [(r["scheduled_for"], r["status"]) for r in records]

    # reminders -----------------------------------------------------------------------------------------------------

    async def add_reminder(
        self,
        *,
        guild_id: int,
        event_id: int,
        event_name: str,
        event_start: datetime,
        channel_id: int,
        creator_id: int,
        minutes_before: int,
        remind_at: datetime,
    ) -> ReminderRow | None:
        """None when the same reminder (event, channel, minutes) already exists."""
        record = await self._pool.fetchrow(
            f"""
            INSERT INTO event_reminders (guild_id, event_id, event_name, event_start, channel_id, creator_id,
                                         minutes_before, remind_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (event_id, channel_id, minutes_before) DO NOTHING
            RETURNING {_REMINDER_COLUMNS}
            """,
            guild_id,
            event_id,
            event_name,
            event_start,
            channel_id,
            creator_id,
            minutes_before,
            remind_at,
        )
        return ReminderRow.from_record(record) if record else None

    async def pending_reminders(self, guild_id: int) -> list[ReminderRow]:
        records = await self._pool.fetch(
            f"SELECT {_REMINDER_COLUMNS} FROM event_reminders WHERE guild_id = $1 AND status = 'pending' "
            "ORDER BY remind_at",
            guild_id,
        )
        return [ReminderRow.from_record(r) for r in records]

    async def cancel_reminders(self, guild_id: int, event_id: int) -> int:
        status = await self._pool.execute(
            "UPDATE event_reminders SET status = 'cancelled' WHERE guild_id = $1 AND event_id = $2 "
            "AND status = 'pending'",
            guild_id,
            event_id,
        )
        return int(status.rsplit(" ", 1)[-1])

    async def claim_reminders(self, now: datetime, worker: str, limit: int) -> list[ReminderRow]:
        """Due reminders, each returned to exactly one caller (SKIP LOCKED + status change in one statement)."""
        records = await self._pool.fetch(
            f"""
            UPDATE event_reminders SET status = 'claimed', claimed_by = $2, claimed_at = $1
             WHERE id IN (
                   SELECT id FROM event_reminders
                    WHERE status = 'pending' AND remind_at <= $1
                    ORDER BY remind_at
                    LIMIT $3
                    FOR UPDATE SKIP LOCKED)
               AND status = 'pending'
            RETURNING {_REMINDER_COLUMNS}
            """,
            now,
            worker,
            limit,
        )
        return [ReminderRow.from_record(r) for r in records]

    async def finish_reminder(self, reminder_id: int, status: str, error: str | None = None) -> None:
        await self._pool.execute(
            "UPDATE event_reminders SET status = $2, error = $3 WHERE id = $1", reminder_id, status, error
        )
