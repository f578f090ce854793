"""Polls: creation rules, voting, closing, results, and the timing of live updates. No Discord imports.

Discord is known here only as integer snowflakes. Two pieces of run-time machinery live with the rules because
they are part of what a poll promises:

- `LiveUpdates`: per poll, at most one refresh of the public message every `interval` seconds, and always one
  after the last change (so a vote storm costs one edit per interval and the final state is always shown); over
  all polls, at most `rate` refreshes a second, evenly spaced. It measures real time (the event loop's clock): it
  protects Discord's rate limits, which run in real time.
- the deadline runner: every `check_interval` seconds it closes polls whose deadline (by the injected Clock)
  has passed, including those that passed while the bot was down, and hands them to a callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hanabi.errors import DomainError, InvalidInput, NotFound, PermissionDenied
from hanabi.infra.clock import Clock
from hanabi.repositories.polls import NewPoll, OptionCount, PollRow, PollsRepository, VoteRow

log = logging.getLogger(__name__)

MIN_OPTIONS = 2
MAX_OPTIONS = 25
MAX_OPTION_LENGTH = 80
MAX_QUESTION_LENGTH = 200
MIN_DURATION = timedelta(minutes=1)
MAX_DURATION = timedelta(days=30)
LIVE_UPDATE_INTERVAL = 2.0  # seconds between two edits of one poll's public message
# Edits of all polls in flight at once. Polls voted on together come due together; unbounded, 300 of them woke at
# once every interval and held up every click behind them for ~200 ms (docs/benchmarks.md, section 21).
LIVE_UPDATE_CONCURRENCY = 4
# Refreshes a second over all polls. Discord lets a bot make about 50 REST requests a second in all (interaction
# answers aside); live counts are cosmetic, so they take at most this share, spread evenly. Without a rate, 300
# polls coming due together were edited back to back and held up every click for ~100 ms (docs/benchmarks.md,
# section 31); with more active polls than this allows, each poll's refreshes just come further apart.
LIVE_UPDATE_RATE = 20.0
DEADLINE_CHECK_INTERVAL = 0.5  # seconds between two looks for polls past their deadline
META_CACHE_SIZE = 4096  # polls whose fixed facts (options, role, mode) are kept in memory for fast clicks

_DURATION = re.compile(r"(\d+)\s*([dhms])", re.IGNORECASE)
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


class PollClosed(DomainError):
    """The poll no longer takes votes (or was already closed)."""


class PollNotFound(NotFound):
    """No such poll in this server."""


# parsing ---------------------------------------------------------------------------------------------------------


def parse_options(text: str) -> list[str]:
    """`Red | Green | Blue` -> ["Red", "Green", "Blue"], checked against the rules."""
    options = [part.strip() for part in text.split("|")]
    options = [option for option in options if option]
    if len(options) < MIN_OPTIONS:
        raise InvalidInput(
            f"A poll needs at least {MIN_OPTIONS} options, separated by `|`, for example `Pizza | Pasta`."
        )
    if len(options) > MAX_OPTIONS:
        raise InvalidInput(f"A poll can have at most {MAX_OPTIONS} options; you gave {len(options)}.")
    for option in options:
        if len(option) > MAX_OPTION_LENGTH:
            raise InvalidInput(
                f"Each option can be at most {MAX_OPTION_LENGTH} characters; `{option[:20]}…` has {len(option)}."
            )
    seen: set[str] = set()
    for option in options:
        key = option.casefold()
        if key in seen:
            raise InvalidInput(f"The option `{option}` appears twice; each option must be different.")
        seen.add(key)
    return options


def parse_duration(text: str) -> timedelta:
    """`30m`, `2h`, `1d`, `1d12h` (also with spaces) -> timedelta between 1 minute and 30 days."""
    compact = text.strip().lower()
    hint = "Use a duration like `30m`, `2h`, `1d` or `1d12h`, from 1 minute to 30 days."
    if not compact or _DURATION.sub("", compact).strip():
        raise InvalidInput(f"`{text}` is not a duration I understand. {hint}")
    seconds = sum(int(amount) * _UNITS[unit.lower()] for amount, unit in _DURATION.findall(compact))
    duration = timedelta(seconds=seconds)
    if not MIN_DURATION <= duration <= MAX_DURATION:
        raise InvalidInput(f"`{text}` is out of range. {hint}")
    return duration


# results ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PollOption:
    position: int
    label: str
    votes: int


@dataclass(frozen=True, slots=True)
class Poll:
    """A poll with its current counts."""

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
    options: tuple[PollOption, ...]
    voters: int

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    def percentage(self, option: PollOption) -> float:
        """Share of voters who chose the option (for multiple choice the shares add up to more than 100)."""
        return 100.0 * option.votes / self.voters if self.voters else 0.0

    @property
    def winners(self) -> tuple[PollOption, ...]:
        """The option(s) with the most votes; none while nobody has voted."""
        best = max((o.votes for o in self.options), default=0)
        return tuple(o for o in self.options if best and o.votes == best)


@dataclass(frozen=True, slots=True)
class VoteResult:
    poll_id: int
    removed: bool
    chosen: tuple[str, ...]  # the voter's options after the change, in poll order


@dataclass(frozen=True, slots=True)
class PollResults:
    poll: Poll
    voters_by_option: dict[int, list[int]] | None  # None for anonymous polls


@dataclass(frozen=True, slots=True)
class _PollMeta:
    """What never changes after creation; cached so a click costs one transaction."""

    guild_id: int
    creator_id: int
    multiple: bool
    role_id: int | None
    labels: tuple[str, ...]


# live updates ----------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Pending:
    dirty: bool = True
    last_run: float = float("-inf")
    task: asyncio.Task[None] | None = None


class LiveUpdates:
    """Per key: run `action(key)` at most once per `interval` seconds, and always once after the last trigger.

    State for a key exists only while it is active (triggered within the last interval), so idle polls cost
    nothing and memory does not grow with the number of polls. At most `concurrency` actions run at a time, and
    they start at least 1/`rate` seconds apart.
    """

    def __init__(
        self,
        interval: float = LIVE_UPDATE_INTERVAL,
        concurrency: int = LIVE_UPDATE_CONCURRENCY,
        rate: float = LIVE_UPDATE_RATE,
    ) -> None:
        self.interval = interval
        self._action: Callable[[int], Awaitable[None]] | None = None
        self._pending: dict[int, _Pending] = {}
        self._slots = asyncio.Semaphore(concurrency)
        self._spacing = 1.0 / rate
        self._next_start = float("-inf")

    def bind(self, action: Callable[[int], Awaitable[None]] | None) -> None:
        self._action = action

    @property
    def active(self) -> int:
        return len(self._pending)

    def trigger(self, key: int) -> None:
        if self._action is None:
            return
        state = self._pending.get(key)
        if state is not None:
            state.dirty = True
            return
        state = _Pending()
        self._pending[key] = state
        state.task = asyncio.get_running_loop().create_task(self._run(key, state), name=f"poll-refresh-{key}")

    async def _run(self, key: int, state: _Pending) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                delay = state.last_run + self.interval - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if not state.dirty:
                    return  # a whole interval without changes: forget the key
                await self._wait_for_turn()
                state.dirty = False  # after the wait: votes cast while waiting are in this edit
                await self._call(key)
                # Counted from the end of the edit, so two edits never reach Discord closer than `interval`.
                state.last_run = loop.time()
        finally:
            if self._pending.get(key) is state:
                del self._pending[key]

    async def _wait_for_turn(self) -> None:
        # Each caller books the next free start time, so a crowd of due polls is spread out, not bunched.
        now = asyncio.get_running_loop().time()
        start = max(now, self._next_start)
        self._next_start = start + self._spacing
        if start > now:
            await asyncio.sleep(start - now)

    async def _call(self, key: int) -> None:
        action = self._action
        if action is None:
            return
        try:
            async with self._slots:
                await action(key)
        except Exception:
            log.exception("live update of poll %s failed", key)

    async def drain(self) -> None:
        """Stop every pending timer; run the action once more for keys that changed since their last run."""
        pending, self._pending = self._pending, {}
        dirty = [key for key, state in pending.items() if state.dirty]
        for state in pending.values():
            if state.task is not None:
                state.task.cancel()
        for state in pending.values():
            if state.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await state.task
        for key in dirty:
            await self._call(key)


# the service -----------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Runner:
    task: asyncio.Task[None] | None = None
    on_closed: Callable[[Poll], Awaitable[None]] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class PollService:
    def __init__(
        self,
        repository: PollsRepository,
        clock: Clock,
        *,
        live_interval: float = LIVE_UPDATE_INTERVAL,
        check_interval: float = DEADLINE_CHECK_INTERVAL,
    ) -> None:
        self._repository = repository
        self._clock = clock
        self.live = LiveUpdates(live_interval)
        self._check_interval = check_interval
        self._meta: OrderedDict[int, _PollMeta] = OrderedDict()
        self._meta_loading: dict[int, asyncio.Future[_PollMeta]] = {}
        self._runner = _Runner()

    # creating ----------------------------------------------------------------------------------------------------

    async def create(
        self,
        *,
        guild_id: int,
        channel_id: int,
        creator_id: int,
        question: str,
        options: str,
        duration: str | None = None,
        multiple: bool = False,
        anonymous: bool = False,
        role_id: int | None = None,
    ) -> Poll:
        question = question.strip()
        if not question:
            raise InvalidInput("The question cannot be empty.")
        if len(question) > MAX_QUESTION_LENGTH:
            raise InvalidInput(f"The question can be at most {MAX_QUESTION_LENGTH} characters.")
        labels = parse_options(options)
        now = self._clock.now()
        closes_at = now + parse_duration(duration) if duration and duration.strip() else None
        row = await self._repository.create(
            NewPoll(
                guild_id=guild_id,
                channel_id=channel_id,
                creator_id=creator_id,
                question=question,
                options=labels,
                multiple=multiple,
                anonymous=anonymous,
                role_id=role_id,
                created_at=now,
                closes_at=closes_at,
            )
        )
        poll = await self._load(row)
        self._remember(poll)
        return poll

    async def attach_message(self, poll_id: int, message_id: int) -> None:
        """Record the public message of a poll; live updates edit it from now on."""
        await self._repository.set_message(poll_id, message_id)
        self.live.trigger(poll_id)  # votes cast before the message id was known show up now

    # reading -----------------------------------------------------------------------------------------------------

    async def get(self, poll_id: int, guild_id: int | None = None) -> Poll:
        row = await self._repository.get(poll_id)
        if row is None or (guild_id is not None and row.guild_id != guild_id):
            raise PollNotFound("I can't find that poll in this server. Pick one from the list as you type.")
        return await self._load(row)

    async def results(self, poll_id: int, guild_id: int) -> PollResults:
        poll = await self.get(poll_id, guild_id)
        if poll.anonymous:
            return PollResults(poll, None)
        by_option: dict[int, list[int]] = {o.position: [] for o in poll.options}
        for vote in await self._repository.votes(poll_id):
            by_option.setdefault(vote.position, []).append(vote.user_id)
        return PollResults(poll, by_option)

    async def export_csv(self, poll_id: int, guild_id: int) -> tuple[Poll, str]:
        """Per-option counts, then (for polls that are not anonymous) one row per vote."""
        poll = await self.get(poll_id, guild_id)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["option", "label", "votes", "percent"])
        for option in poll.options:
            writer.writerow([option.position + 1, option.label, option.votes, f"{poll.percentage(option):.1f}"])
        if not poll.anonymous:
            votes: list[VoteRow] = await self._repository.votes(poll_id)
            writer.writerow([])
            writer.writerow(["user_id", "option", "label", "voted_at"])
            labels = {o.position: o.label for o in poll.options}
            for vote in votes:
                writer.writerow(
                    [vote.user_id, vote.position + 1, labels.get(vote.position, ""), vote.voted_at.isoformat()]
                )
        return poll, out.getvalue()

    async def list_open(self, guild_id: int) -> list[Poll]:
        return [await self._load(row) for row in await self._repository.list_open(guild_id)]

    async def search(self, guild_id: int, text: str, limit: int = 25) -> list[PollRow]:
        return await self._repository.search(guild_id, text, limit)

    # voting ------------------------------------------------------------------------------------------------------

    async def vote(
        self,
        poll_id: int,
        user_id: int,
        positions: Sequence[int],
        *,
        role_ids: Collection[int] = (),
        replace: bool = False,
    ) -> VoteResult:
        """A click on an option (toggle), or with `replace` a multiple-choice selection (exactly these)."""
        meta = await self._meta_for(poll_id)
        if meta.role_id is not None and meta.role_id not in role_ids and meta.role_id != meta.guild_id:
            raise PermissionDenied(f"Only members with the <@&{meta.role_id}> role can vote in this poll.")
        if any(not 0 <= p < len(meta.labels) for p in positions) or (not positions and not replace):
            raise InvalidInput("That option is not part of this poll.")
        if replace and not meta.multiple and len(positions) > 1:
            raise InvalidInput("This poll takes one choice per voter.")
        mode = "set" if replace else ("toggle" if meta.multiple else "toggle-single")
        outcome = await self._repository.cast(poll_id, user_id, sorted(set(positions)), self._clock.now(), mode=mode)
        if outcome is None:
            raise PollClosed("This poll has closed; votes are no longer accepted.")
        removed, current = outcome
        self.live.trigger(poll_id)
        return VoteResult(poll_id, removed, tuple(meta.labels[p] for p in current))

    async def choose(
        self, poll_id: int, user_id: int, positions: Sequence[int], *, role_ids: Collection[int] = ()
    ) -> VoteResult:
        """A choice from the poll's select menu: exactly these options (multiple choice), else a single click."""
        meta = await self._meta_for(poll_id)
        if meta.multiple:
            return await self.vote(poll_id, user_id, positions, role_ids=role_ids, replace=True)
        return await self.vote(poll_id, user_id, positions, role_ids=role_ids)

    # closing -----------------------------------------------------------------------------------------------------

    async def close(self, poll_id: int, *, user_id: int, can_manage: bool, guild_id: int | None = None) -> Poll:
        """Close by hand: the creator, or someone allowed to manage messages."""
        poll = await self.get(poll_id, guild_id)
        if user_id != poll.creator_id and not can_manage:
            raise PermissionDenied("Only the poll's creator or someone with **Manage Messages** can end this poll.")
        if not poll.is_open:
            raise PollClosed("This poll is already closed.")
        row = await self._repository.close(poll_id, self._clock.now())
        if row is None:
            raise PollClosed("This poll is already closed.")
        self.live.trigger(poll_id)
        return await self._load(row)

    async def close_due(self) -> list[Poll]:
        """Close every open poll whose deadline has passed; returns them."""
        closed: list[Poll] = []
        while True:
            rows = await self._repository.close_due(self._clock.now())
            closed += [await self._load(row) for row in rows]
            if len(rows) < 100:
                return closed

    async def close_quietly_for_messages(self, message_ids: Sequence[int]) -> list[int]:
        """The poll message was deleted: close without touching Discord."""
        return await self._repository.close_for_messages(message_ids, self._clock.now())

    async def close_quietly_for_channel(self, channel_id: int) -> list[int]:
        return await self._repository.close_for_channel(channel_id, self._clock.now())

    async def close_quietly(self, poll_id: int) -> None:
        await self._repository.close(poll_id, self._clock.now())

    # the deadline runner -----------------------------------------------------------------------------------------

    def start(self, on_closed: Callable[[Poll], Awaitable[None]]) -> None:
        """Start closing polls at their deadline (the first look is immediate: catches up after downtime)."""
        if self._runner.task is not None:
            return
        self._runner.on_closed = on_closed
        self._runner.task = asyncio.get_running_loop().create_task(self._run_deadlines(), name="poll-deadlines")

    def wake(self) -> None:
        """Look for due polls now rather than at the next tick."""
        self._runner.wake.set()

    async def stop(self) -> None:
        """Stop the runner and flush pending live updates."""
        task, self._runner.task = self._runner.task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.live.drain()

    async def _run_deadlines(self) -> None:
        while True:
            try:
                for poll in await self.close_due():
                    callback = self._runner.on_closed
                    if callback is not None:
                        await callback(poll)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("closing polls at their deadline failed; trying again shortly")
            self._runner.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._runner.wake.wait(), self._check_interval)

    # helpers -----------------------------------------------------------------------------------------------------

    async def _meta_for(self, poll_id: int) -> _PollMeta:
        meta = self._meta.get(poll_id)
        if meta is not None:
            self._meta.move_to_end(poll_id)
            return meta
        # Single flight: a storm of first clicks (say after a restart) loads the poll once, not once per click.
        loading = self._meta_loading.get(poll_id)
        if loading is None:
            loading = asyncio.ensure_future(self._load_meta(poll_id))
            self._meta_loading[poll_id] = loading
            loading.add_done_callback(lambda _: self._meta_loading.pop(poll_id, None))
        return await asyncio.shield(loading)

    async def _load_meta(self, poll_id: int) -> _PollMeta:
        return self._remember(await self.get(poll_id))

    def _remember(self, poll: Poll) -> _PollMeta:
        meta = _PollMeta(
            guild_id=poll.guild_id,
            creator_id=poll.creator_id,
            multiple=poll.multiple,
            role_id=poll.role_id,
            labels=tuple(o.label for o in poll.options),
        )
        self._meta[poll.id] = meta
        if len(self._meta) > META_CACHE_SIZE:
            self._meta.popitem(last=False)
        return meta

    async def _load(self, row: PollRow) -> Poll:
        counts: list[OptionCount]
        counts, voters = await self._repository.counts(row.id)
        return Poll(
            id=row.id,
            guild_id=row.guild_id,
            channel_id=row.channel_id,
            message_id=row.message_id,
            creator_id=row.creator_id,
            question=row.question,
            multiple=row.multiple,
            anonymous=row.anonymous,
            role_id=row.role_id,
            created_at=row.created_at,
            closes_at=row.closes_at,
            closed_at=row.closed_at,
            options=tuple(PollOption(c.position, c.label, c.votes) for c in counts),
            voters=voters,
        )
