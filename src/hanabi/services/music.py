"""Music: each server's queue and the rules for it. Plays through a `MusicBackend`; no Discord imports.

One `GuildPlayer` per server holds the current track, the upcoming ones, loop mode, volume and pause state. Every
change is saved (`MusicRepository`), so a restarted bot rejoins the channel and continues from the saved
position. What plays next is decided here: the backend only reports that a track started, ended or failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Protocol

from hanabi.errors import DomainError, InvalidInput, NotFound, PermissionDenied, ServiceUnavailable
from hanabi.infra.clock import Clock
from hanabi.infra.lavalink import NO_NODE_TEXT, LoadKind, MusicBackend, Track
from hanabi.repositories.music import MusicRepository, QueueEntry, SavedPlayer

__all__ = [
    "NO_NODE_TEXT",
    "Caller",
    "Enqueued",
    "GuildPlayer",
    "LoopMode",
    "MusicOptions",
    "MusicService",
    "Notice",
    "QueueEntry",
    "QueuePosition",
    "Track",
    "parse_timestamp",
]

log = logging.getLogger(__name__)

FAILURE_LIMIT = 3  # a track that failed this often is dropped, even when looping
MAX_VOLUME = 150
READY_TIMEOUT = 15.0  # seconds to wait for a node before restoring players after a restart
_URL = re.compile(r"^https?://\S+$", re.IGNORECASE)
_SEARCH_PREFIX = re.compile(r"^[a-z]{2,12}search:", re.IGNORECASE)
AUDIO_SUFFIXES = frozenset({".mp3", ".flac", ".ogg", ".opus", ".wav", ".m4a", ".aac", ".webm", ".mka", ".mp4"})


class LoopMode(StrEnum):
    OFF = "off"
    TRACK = "track"
    QUEUE = "queue"


class QueuePosition(StrEnum):
    NEXT = "next"
    END = "end"


class NotPlaying(DomainError):
    """There is no player, or nothing is playing, in this server."""


class LoadFailed(DomainError):
    """The node could not load what the user asked for."""


@dataclass(frozen=True, slots=True)
class MusicOptions:
    search_prefix: str = "ytsearch"
    folder: Path = Path("music")
    node_folder: str = "/music"
    playlist_cap: int = 500
    idle_timeout: float = 300.0
    alone_timeout: float = 60.0
    sweep_interval: float = 5.0


@dataclass(frozen=True, slots=True)
class Caller:
    """Who runs a music command: Discord facts the extension reads, as plain numbers and flags."""

    user_id: int
    voice_channel_id: int | None
    role_ids: frozenset[int] = frozenset()
    is_moderator: bool = False


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the text channel where music was started should hear about.

    kind: `track_failed` (track, detail, dropped after repeated failures), `left_idle`, `left_alone`,
    `disconnected` or `resumed` (track, position_ms; after a restart).
    """

    kind: str
    track: Track | None = None
    detail: str | None = None
    dropped: bool = False
    position_ms: int = 0


@dataclass(frozen=True, slots=True)
class Enqueued:
    tracks: list[Track]
    playlist_name: str | None
    truncated_from: int | None  # the playlist's full length when the cap cut it
    started: bool  # the first track started playing at once
    queue_position: int  # 1-based position of the first added track among the upcoming ones (0 when started)
    joined: bool


@dataclass(slots=True)
class GuildPlayer:
    guild_id: int
    voice_channel_id: int
    text_channel_id: int
    current: QueueEntry | None = None
    upcoming: list[QueueEntry] = field(default_factory=list)
    loop: LoopMode = LoopMode.OFF
    volume: int = 100
    paused: bool = False
    position_ms: int = 0
    idle_since: float | None = None
    alone_since: float | None = None
    failed_this_play: str | None = None  # the exception message of the current play, once the node reported one
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @property
    def remaining_ms(self) -> int:
        """Time left in the current track plus all upcoming ones (streams count as zero)."""
        total = sum(e.track.length_ms for e in self.upcoming if not e.track.is_stream)
        if self.current is not None and not self.current.track.is_stream:
            total += max(0, self.current.track.length_ms - self.position_ms)
        return total


Notifier = Callable[[int, int, Notice], Awaitable[None]]


class VoicePresence(Protocol):
    """How many people (not bots) are in a voice channel, from the gateway's cache."""

    def humans_in(self, guild_id: int, channel_id: int) -> int: ...


def parse_timestamp(text: str) -> int:
    """`90`, `1:30`, `1:02:03` or `1m30s` to milliseconds."""
    value = text.strip().lower()
    if re.fullmatch(r"\d+(:\d{1,2}){0,2}", value):
        seconds = 0
        for part in value.split(":"):
            seconds = seconds * 60 + int(part)
        return seconds * 1000
    match = re.fullmatch(r"(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?", value)
    if value and match and any(match.groups()):
        hours, minutes, seconds = (int(g or 0) for g in match.groups())
        return ((hours * 60 + minutes) * 60 + seconds) * 1000
    raise InvalidInput(f"`{text}` is not a position. Use seconds (`90`), `m:ss` (`1:30`) or `h:mm:ss`.")


class MusicService:
    def __init__(
        self,
        backend: MusicBackend,
        repository: MusicRepository,
        clock: Clock,
        options: MusicOptions,
        rng: random.Random | None = None,
    ) -> None:
        self._backend = backend
        self._repository = repository
        self._clock = clock
        self.options = options
        self._rng = rng or random.Random()  # noqa: S311 - shuffling a playlist, not cryptography
        self._players: dict[int, GuildPlayer] = {}
        self._notifier: Notifier | None = None
        self._presence: VoicePresence | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._restoring: asyncio.Task[None] | None = None
        self._dj_roles: dict[int, int | None] = {}
        backend.set_events(self)

    # lifecycle ---------------------------------------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        return self._backend.enabled

    @property
    def description(self) -> str:
        return self._backend.description

    async def start(self) -> None:
        """Connect the nodes (resuming stored sessions) and start the idle/alone sweeper."""
        if not self.enabled:
            return
        await self._backend.start(await self._repository.node_sessions())
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="music-sweeper")

    async def close(self) -> None:
        """Save every player's position, then let go of the nodes. Players stay saved for the next start."""
        for task in (self._sweeper, self._restoring):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._sweeper = self._restoring = None
        for player in list(self._players.values()):
            self._refresh_position(player)
            try:
                await self._repository.save_position(player.guild_id, player.position_ms, player.paused)
            except Exception as exc:
                log.warning("could not save the music position of guild %s: %s", player.guild_id, exc)
        self._players.clear()
        await self._backend.close()

    def attach(self, notifier: Notifier, presence: VoicePresence) -> None:
        """The extension's side: where notices go, and who is in a voice channel."""
        self._notifier = notifier
        self._presence = presence

    def begin_restore(self, owns: Callable[[int], bool] = lambda _: True) -> None:
        """Rejoin and resume the saved players of the guilds this process serves (`owns`), in the background."""
        if self.enabled and self._restoring is None:
            self._restoring = asyncio.create_task(self.restore(owns), name="music-restore")

    async def restore(self, owns: Callable[[int], bool] = lambda _: True) -> None:
        saved = [record for record in await self._repository.load_players() if owns(record.guild_id)]
        if not saved:
            return
        if not await self._backend.wait_ready(READY_TIMEOUT):
            log.warning("no Lavalink node became ready; %d saved music players were not restored", len(saved))
            return
        for record in saved:
            try:
                await self._restore_one(record)
            except DomainError as exc:
                log.warning("could not restore the music player of guild %s: %s", record.guild_id, exc.user_message)

    async def _restore_one(self, record: SavedPlayer) -> None:
        player = GuildPlayer(
            guild_id=record.guild_id,
            voice_channel_id=record.voice_channel_id,
            text_channel_id=record.text_channel_id,
            current=record.current,
            upcoming=record.upcoming,
            loop=LoopMode(record.loop_mode),
            volume=record.volume,
            paused=record.paused,
            position_ms=record.position_ms,
        )
        async with player.lock:
            self._players[player.guild_id] = player
            await self._backend.connect(player.guild_id, player.voice_channel_id)
            if player.current is None:
                player.idle_since = self._clock.monotonic()
                return
            track = player.current.track
            adopted = await self._backend.adopt(player.guild_id, track, volume=player.volume, paused=player.paused)
            if adopted is not None:
                player.position_ms = adopted
            else:
                await self._backend.play(
                    player.guild_id, track, start_ms=player.position_ms, volume=player.volume, paused=player.paused
                )
            player.idle_since = self._clock.monotonic() if player.paused else None
        log.info("restored the music player of guild %s at %d ms", player.guild_id, player.position_ms)
        await self._notify(player, Notice("resumed", track=track, position_ms=player.position_ms))

    # reading -----------------------------------------------------------------------------------------------------

    def player(self, guild_id: int) -> GuildPlayer | None:
        player = self._players.get(guild_id)
        if player is not None:
            self._refresh_position(player)
        return player

    def require_enabled(self) -> None:
        if not self.enabled:
            raise ServiceUnavailable(NO_NODE_TEXT)

    def bot_channel(self, guild_id: int) -> int | None:
        player = self._players.get(guild_id)
        return player.voice_channel_id if player is not None else None

    async def dj_role(self, guild_id: int) -> int | None:
        if guild_id not in self._dj_roles:
            self._dj_roles[guild_id] = await self._repository.dj_role(guild_id)
        return self._dj_roles[guild_id]

    async def set_dj_role(self, guild_id: int, role_id: int | None) -> None:
        await self._repository.set_dj_role(guild_id, role_id)
        self._dj_roles[guild_id] = role_id

    def forget_dj_role(self, guild_id: int) -> None:
        """Drop the cached DJ role (changed elsewhere, e.g. from the dashboard in another process)."""
        self._dj_roles.pop(guild_id, None)

    # /play -------------------------------------------------------------------------------------------------------

    def resolve_query(self, query: str) -> str:
        """What to ask the node for: a URL as is, `local:<file>` inside the music folder, or a search."""
        text = query.strip()
        if not text:
            raise InvalidInput("Tell me what to play: a link, a search, or `local:<file>`.")
        if text.lower().startswith("local:"):
            name = text[len("local:") :].strip()
            self._local_file(name)
            return str(PurePosixPath(self.options.node_folder) / name)
        if _URL.match(text) or _SEARCH_PREFIX.match(text):
            return text
        return f"{self.options.search_prefix}:{text}"

    def _local_file(self, name: str) -> Path:
        parts = PurePosixPath(name).parts
        if not name or name.startswith(("/", "\\")) or ".." in parts or "\\" in name:
            raise InvalidInput("Give a file name from the music folder, for example `local:song.mp3`.")
        folder = self.options.folder.resolve()
        path = (folder / name).resolve()
        if folder not in path.parents or not path.is_file():
            raise NotFound(f"There is no file `{name}` in the music folder.")
        return path

    def local_files(self, fragment: str = "", limit: int = 25) -> list[str]:
        """Audio files in the music folder (relative paths) whose name contains `fragment`."""
        folder = self.options.folder
        if not folder.is_dir():
            return []
        needle = fragment.strip().lower()
        found: list[str] = []
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES:
                relative = path.relative_to(folder).as_posix()
                if needle in relative.lower():
                    found.append(relative)
                    if len(found) >= limit:
                        break
        return found

    async def search(self, text: str, limit: int = 10) -> list[Track]:
        """Search results for autocomplete; empty on any trouble (autocomplete must never fail loudly)."""
        if not self.enabled or len(text.strip()) < 2 or _URL.match(text.strip()):
            return []
        try:
            outcome = await asyncio.wait_for(self._backend.load(self.resolve_query(text)), timeout=2.0)
        except (DomainError, TimeoutError):
            return []
        if outcome.kind not in (LoadKind.SEARCH, LoadKind.TRACK, LoadKind.PLAYLIST):
            return []
        return outcome.tracks[:limit]

    async def play(
        self, guild_id: int, caller: Caller, text_channel_id: int, query: str, position: QueuePosition
    ) -> Enqueued:
        self.require_enabled()
        if caller.voice_channel_id is None:
            raise InvalidInput("Join a voice channel first, then ask me to play.")
        existing = self._players.get(guild_id)
        if existing is not None and existing.voice_channel_id != caller.voice_channel_id:
            raise PermissionDenied(f"I am playing in <#{existing.voice_channel_id}>. Join that channel to add music.")
        identifier = self.resolve_query(query)
        outcome = await self._backend.load(identifier)
        if outcome.kind is LoadKind.ERROR:
            raise LoadFailed(f"I could not load `{query}`: {outcome.error or 'unknown error'}.")
        if outcome.kind is LoadKind.EMPTY or not outcome.tracks:
            raise NotFound(f"Nothing found for `{query}`.")
        tracks = outcome.tracks[:1] if outcome.kind is LoadKind.SEARCH else outcome.tracks
        truncated = None
        if len(tracks) > self.options.playlist_cap:
            truncated = len(tracks)
            tracks = tracks[: self.options.playlist_cap]

        player = self._players.get(guild_id)
        joined = player is None
        if player is None:
            player = GuildPlayer(guild_id, caller.voice_channel_id, text_channel_id)
            self._players[guild_id] = player
        async with player.lock:
            if joined or not self._backend.is_connected(guild_id):
                try:
                    await self._backend.connect(guild_id, player.voice_channel_id)
                except DomainError:
                    self._players.pop(guild_id, None)
                    raise
            entries = [QueueEntry(track, caller.user_id) for track in tracks]
            if position is QueuePosition.NEXT:
                player.upcoming[0:0] = entries
                queue_position = 1
            else:
                queue_position = len(player.upcoming) + 1
                player.upcoming.extend(entries)
            started = False
            if player.current is None:
                await self._start_next(player)
                started = True
                queue_position = 0
            else:
                await self._save(player)
        return Enqueued(tracks, outcome.playlist_name, truncated, started, queue_position, joined)

    # controls ----------------------------------------------------------------------------------------------------

    async def pause(self, guild_id: int, caller: Caller) -> Track:
        player = await self._controllable(guild_id, caller)
        async with player.lock:
            current = self._require_current(player)
            if player.paused:
                raise InvalidInput("The music is already paused. Use /resume to continue.")
            await self._backend.set_paused(guild_id, True)
            player.paused = True
            player.idle_since = self._clock.monotonic()
            await self._save(player)
            return current.track

    async def resume(self, guild_id: int, caller: Caller) -> Track:
        player = await self._controllable(guild_id, caller)
        async with player.lock:
            current = self._require_current(player)
            if not player.paused:
                raise InvalidInput("The music is not paused.")
            await self._backend.set_paused(guild_id, False)
            player.paused = False
            player.idle_since = None
            await self._save(player)
            return current.track

    async def skip(self, guild_id: int, caller: Caller, count: int = 1) -> list[Track]:
        player = await self._controllable(guild_id, caller, dj_only=True)
        if count < 1:
            raise InvalidInput("Skip at least one track.")
        async with player.lock:
            current = self._require_current(player)
            taken = min(count - 1, len(player.upcoming))
            skipped = [current, *player.upcoming[:taken]]
            del player.upcoming[:taken]
            if player.loop is LoopMode.QUEUE:
                player.upcoming.extend(skipped)
            player.current = None
            await self._start_next(player)
            return [entry.track for entry in skipped]

    async def stop(self, guild_id: int, caller: Caller) -> int:
        """Stop playback and clear the queue; stays in the channel. Returns how many tracks were dropped."""
        player = await self._controllable(guild_id, caller, dj_only=True)
        async with player.lock:
            dropped = len(player.upcoming) + (1 if player.current is not None else 0)
            player.upcoming.clear()
            player.current = None
            player.paused = False
            player.position_ms = 0
            await self._backend.stop(guild_id)
            player.idle_since = self._clock.monotonic()
            await self._save(player)
            return dropped

    async def leave(self, guild_id: int, caller: Caller) -> None:
        player = await self._controllable(guild_id, caller)
        async with player.lock:
            await self._drop_player(player)

    async def seek(self, guild_id: int, caller: Caller, position_ms: int) -> Track:
        player = await self._controllable(guild_id, caller)
        async with player.lock:
            current = self._require_current(player)
            track = current.track
            if track.is_stream or not track.is_seekable:
                raise InvalidInput("This track is a live stream; it cannot be seeked.")
            if not 0 <= position_ms < track.length_ms:
                raise InvalidInput(
                    f"This track is {format_ms(track.length_ms)} long; seek to a position from 0:00 to "
                    f"{format_ms(max(track.length_ms - 1000, 0))}."
                )
            await self._backend.seek(guild_id, position_ms)
            player.position_ms = position_ms
            await self._save(player)
            return track

    async def set_volume(self, guild_id: int, caller: Caller, volume: int) -> int:
        if not 0 <= volume <= MAX_VOLUME:
            raise InvalidInput(f"Volume goes from 0 to {MAX_VOLUME} (100 is normal).")
        player = await self._controllable(guild_id, caller, dj_only=True)
        async with player.lock:
            await self._backend.set_volume(guild_id, volume)
            player.volume = volume
            await self._save(player)
            return volume

    async def set_loop(self, guild_id: int, caller: Caller, mode: LoopMode) -> LoopMode:
        player = await self._controllable(guild_id, caller)
        async with player.lock:
            player.loop = mode
            await self._save(player)
            return mode

    async def cycle_loop(self, guild_id: int, caller: Caller) -> LoopMode:
        order = [LoopMode.OFF, LoopMode.TRACK, LoopMode.QUEUE]
        player = await self._controllable(guild_id, caller)
        return await self.set_loop(guild_id, caller, order[(order.index(player.loop) + 1) % len(order)])

    async def shuffle(self, guild_id: int, caller: Caller) -> int:
        player = await self._controllable(guild_id, caller)
        async with player.lock:
            if len(player.upcoming) < 2:
                raise InvalidInput("There is nothing to shuffle: the queue needs at least two upcoming tracks.")
            self._rng.shuffle(player.upcoming)
            await self._save(player)
            return len(player.upcoming)

    async def remove(self, guild_id: int, caller: Caller, position: int) -> Track:
        player = await self._controllable(guild_id, caller)
        async with player.lock:
            index = self._index(player, position)
            entry = player.upcoming.pop(index)
            await self._save(player)
            return entry.track

    async def move(self, guild_id: int, caller: Caller, source: int, target: int) -> Track:
        player = await self._controllable(guild_id, caller)
        async with player.lock:
            index = self._index(player, source)
            destination = self._index(player, target)
            entry = player.upcoming.pop(index)
            player.upcoming.insert(destination, entry)
            await self._save(player)
            return entry.track

    async def clear(self, guild_id: int, caller: Caller) -> int:
        player = await self._controllable(guild_id, caller, dj_only=True)
        async with player.lock:
            count = len(player.upcoming)
            if count == 0:
                raise InvalidInput("The queue is already empty.")
            player.upcoming.clear()
            await self._save(player)
            return count

    # voice facts from the extension -------------------------------------------------------------------------------

    async def voice_changed(self, guild_id: int) -> None:
        """Someone joined or left a voice channel in this guild: re-check whether we are alone."""
        player = self._players.get(guild_id)
        if player is not None:
            self._check_alone(player)

    async def bot_voice_moved(self, guild_id: int, channel_id: int | None) -> None:
        """Our own voice state changed (moved or disconnected by someone, or by us)."""
        player = self._players.get(guild_id)
        if player is None or channel_id == player.voice_channel_id:
            return
        if channel_id is None:
            async with player.lock:
                if self._players.get(guild_id) is not player:
                    return
                await self._drop_player(player)
            await self._notify(player, Notice("disconnected"))
            return
        async with player.lock:
            player.voice_channel_id = channel_id
            await self._save(player)

    # backend events (BackendEvents) --------------------------------------------------------------------------------

    async def on_track_start(self, guild_id: int, encoded: str | None) -> None:
        player = self._players.get(guild_id)
        if player is not None and player.current is not None and player.current.track.encoded == encoded:
            player.idle_since = self._clock.monotonic() if player.paused else None

    async def on_track_end(self, guild_id: int, encoded: str | None, reason: str) -> None:
        player = self._players.get(guild_id)
        if player is None or reason not in ("finished", "loadFailed"):
            return  # stopped/replaced/cleanup: we caused it and already moved on
        async with player.lock:
            current = player.current
            if current is None or (encoded is not None and current.track.encoded != encoded):
                return
            if reason == "loadFailed":
                await self._handle_failure(player, current, player.failed_this_play or "it could not be loaded")
                return
            current.failures = 0
            if player.loop is LoopMode.TRACK:
                await self._play_entry(player, current)
                return
            if player.loop is LoopMode.QUEUE:
                player.upcoming.append(current)
            player.current = None
            await self._start_next(player)

    async def on_track_exception(self, guild_id: int, encoded: str | None, message: str) -> None:
        player = self._players.get(guild_id)
        if player is None or player.current is None:
            return
        if encoded is None or player.current.track.encoded == encoded:
            player.failed_this_play = message

    async def on_track_stuck(self, guild_id: int, encoded: str | None) -> None:
        player = self._players.get(guild_id)
        if player is None:
            return
        async with player.lock:
            current = player.current
            if current is None or (encoded is not None and current.track.encoded != encoded):
                return
            await self._handle_failure(player, current, "it stopped sending audio")

    async def on_voice_closed(self, guild_id: int, code: int, by_remote: bool) -> None:
        # 4014: disconnected by someone (kicked from the channel, or the channel was deleted). The gateway's
        # VOICE_STATE_UPDATE tells us too (bot_voice_moved); this only logs what the node saw.
        log.info("voice connection of guild %s closed by the node (code %s, by_remote=%s)", guild_id, code, by_remote)

    async def on_position(self, guild_id: int, position_ms: int) -> None:
        player = self._players.get(guild_id)
        if player is None or player.current is None:
            return
        player.position_ms = position_ms
        await self._repository.save_position(guild_id, position_ms, player.paused)

    async def on_node_session(self, node_key: str, session_id: str) -> None:
        await self._repository.save_node_session(node_key, session_id)

    # internals -----------------------------------------------------------------------------------------------------

    async def _controllable(self, guild_id: int, caller: Caller, *, dj_only: bool = False) -> GuildPlayer:
        self.require_enabled()
        player = self._players.get(guild_id)
        if player is None:
            raise NotPlaying("I am not playing anything here. Start with /play.")
        if caller.voice_channel_id is None:
            raise PermissionDenied(f"Join <#{player.voice_channel_id}> to control the music.")
        if caller.voice_channel_id != player.voice_channel_id:
            raise PermissionDenied(f"You need to be in <#{player.voice_channel_id}> with me to control the music.")
        if dj_only and not caller.is_moderator:
            role = await self.dj_role(guild_id)
            if role is not None and role not in caller.role_ids:
                raise PermissionDenied(f"Only DJs (<@&{role}>) and moderators can do that here.")
        return player

    @staticmethod
    def _require_current(player: GuildPlayer) -> QueueEntry:
        if player.current is None:
            raise NotPlaying("Nothing is playing right now.")
        return player.current

    @staticmethod
    def _index(player: GuildPlayer, position: int) -> int:
        size = len(player.upcoming)
        if size == 0:
            raise InvalidInput("The queue is empty.")
        if not 1 <= position <= size:
            raise InvalidInput(f"Choose a queue position from 1 to {size}.")
        return position - 1

    async def _handle_failure(self, player: GuildPlayer, entry: QueueEntry, detail: str) -> None:
        entry.failures += 1
        dropped = entry.failures >= FAILURE_LIMIT or player.loop is LoopMode.OFF
        player.current = None
        if not dropped and player.loop is LoopMode.TRACK:
            player.failed_this_play = None
            await self._notify(player, Notice("track_failed", track=entry.track, detail=detail, dropped=False))
            await self._play_entry(player, entry)
            return
        if not dropped and player.loop is LoopMode.QUEUE:
            player.upcoming.append(entry)
        await self._notify(
            player,
            Notice("track_failed", track=entry.track, detail=detail, dropped=entry.failures >= FAILURE_LIMIT),
        )
        await self._start_next(player)

    async def _start_next(self, player: GuildPlayer) -> None:
        """Play the first upcoming track, or go idle when there is none. The caller holds the lock."""
        if player.upcoming:
            await self._play_entry(player, player.upcoming.pop(0))
            return
        player.current = None
        player.position_ms = 0
        player.paused = False
        player.idle_since = self._clock.monotonic()
        with contextlib.suppress(ServiceUnavailable):
            await self._backend.stop(player.guild_id)
        await self._save(player)

    async def _play_entry(self, player: GuildPlayer, entry: QueueEntry) -> None:
        player.current = entry
        player.position_ms = 0
        player.paused = False
        player.failed_this_play = None
        player.idle_since = None
        try:
            await self._backend.play(player.guild_id, entry.track, start_ms=0, volume=player.volume, paused=False)
        finally:
            await self._save(player)

    async def _drop_player(self, player: GuildPlayer) -> None:
        self._players.pop(player.guild_id, None)
        await self._backend.disconnect(player.guild_id)
        await self._repository.delete_player(player.guild_id)

    async def _save(self, player: GuildPlayer) -> None:
        self._refresh_position(player)
        await self._repository.save_player(
            SavedPlayer(
                guild_id=player.guild_id,
                voice_channel_id=player.voice_channel_id,
                text_channel_id=player.text_channel_id,
                loop_mode=player.loop.value,
                volume=player.volume,
                paused=player.paused,
                position_ms=player.position_ms,
                current=player.current,
                upcoming=list(player.upcoming),
            )
        )

    def _refresh_position(self, player: GuildPlayer) -> None:
        if player.current is None:
            player.position_ms = 0
            return
        live = self._backend.position(player.guild_id)
        if live is not None:
            player.position_ms = live

    async def _notify(self, player: GuildPlayer, notice: Notice) -> None:
        if self._notifier is None:
            return
        try:
            await self._notifier(player.guild_id, player.text_channel_id, notice)
        except Exception:
            log.warning("could not post a music notice in channel %s", player.text_channel_id, exc_info=True)

    def _check_alone(self, player: GuildPlayer) -> None:
        if self._presence is None:
            return
        if self._presence.humans_in(player.guild_id, player.voice_channel_id) > 0:
            player.alone_since = None
        elif player.alone_since is None:
            player.alone_since = self._clock.monotonic()

    async def sweep(self) -> None:
        """Leave where we idled or sat alone too long. Runs every `sweep_interval` seconds."""
        now = self._clock.monotonic()
        for player in list(self._players.values()):
            self._check_alone(player)
            reason: str | None = None
            if player.alone_since is not None and now - player.alone_since >= self.options.alone_timeout:
                reason = "left_alone"
            elif player.idle_since is not None and now - player.idle_since >= self.options.idle_timeout:
                reason = "left_idle"
            if reason is None:
                continue
            async with player.lock:
                if self._players.get(player.guild_id) is not player:
                    continue
                await self._drop_player(player)
            await self._notify(player, Notice(reason))

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.options.sweep_interval)
            try:
                await self.sweep()
            except Exception:
                log.exception("the music idle/alone check failed")


def format_ms(milliseconds: int) -> str:
    """`3:07` or `1:02:03`."""
    seconds = max(0, milliseconds) // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
