"""Lavalink glue: the `MusicBackend` protocol the music service plays through, and its lavalink.py 5 implementation.

The backend only does what it is told (join, play this track from here, pause, seek, ...) and reports what the
node says (track started/ended/failed, positions, node sessions). Which track comes next is the music service's
decision, so the player subclass below never advances a queue of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import aiohttp
import hikari
from lavalink.client import Client as LavalinkClient
from lavalink.errors import ClientError, RequestError
from lavalink.events import (
    NodeChangedEvent,
    NodeDisconnectedEvent,
    NodeReadyEvent,
    PlayerUpdateEvent,
    TrackEndEvent,
    TrackExceptionEvent,
    TrackStartEvent,
    TrackStuckEvent,
    WebSocketClosedEvent,
)
from lavalink.player import DefaultPlayer
from lavalink.server import AudioTrack

from hanabi.config import LavalinkNodeSpec, Settings
from hanabi.errors import ServiceUnavailable

log = logging.getLogger(__name__)

NODE_REGION = "default"
NO_NODE_TEXT = "Music is not enabled on this bot: no Lavalink node is configured"
NODE_DOWN_TEXT = "The music server is not reachable right now. Try again in a minute."


@dataclass(frozen=True, slots=True)
class Track:
    """A playable track as the node describes it; `encoded` is what the node plays."""

    encoded: str
    title: str
    author: str
    length_ms: int
    uri: str | None = None
    artwork_url: str | None = None
    source: str = "unknown"
    identifier: str = ""
    is_stream: bool = False
    is_seekable: bool = True


class LoadKind(StrEnum):
    TRACK = "track"
    PLAYLIST = "playlist"
    SEARCH = "search"
    EMPTY = "empty"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class LoadOutcome:
    kind: LoadKind
    tracks: list[Track] = field(default_factory=list)
    playlist_name: str | None = None
    error: str | None = None


class BackendEvents(Protocol):
    """What the backend reports to the music service. Guilds and channels are plain snowflakes."""

    async def on_track_start(self, guild_id: int, encoded: str | None) -> None: ...

    async def on_track_end(self, guild_id: int, encoded: str | None, reason: str) -> None: ...

    async def on_track_exception(self, guild_id: int, encoded: str | None, message: str) -> None: ...

    async def on_track_stuck(self, guild_id: int, encoded: str | None) -> None: ...

    async def on_voice_closed(self, guild_id: int, code: int, by_remote: bool) -> None: ...

    async def on_position(self, guild_id: int, position_ms: int) -> None: ...

    async def on_node_session(self, node_key: str, session_id: str) -> None: ...


class MusicBackend(Protocol):
    """Audio playback per guild. `enabled` is False when no node is configured; then nothing else is called."""

    @property
    def enabled(self) -> bool: ...

    @property
    def description(self) -> str: ...

    def set_events(self, events: BackendEvents) -> None: ...

    async def start(self, sessions: Mapping[str, str]) -> None: ...

    async def close(self) -> None: ...

    async def wait_ready(self, seconds: float) -> bool: ...

    async def load(self, identifier: str) -> LoadOutcome: ...

    async def connect(self, guild_id: int, channel_id: int) -> None: ...

    async def disconnect(self, guild_id: int) -> None: ...

    def is_connected(self, guild_id: int) -> bool: ...

    async def play(self, guild_id: int, track: Track, *, start_ms: int, volume: int, paused: bool) -> None: ...

    async def adopt(self, guild_id: int, track: Track, *, volume: int, paused: bool) -> int | None: ...

    async def stop(self, guild_id: int) -> None: ...

    async def set_paused(self, guild_id: int, paused: bool) -> None: ...

    async def seek(self, guild_id: int, position_ms: int) -> None: ...

    async def set_volume(self, guild_id: int, volume: int) -> None: ...

    def position(self, guild_id: int) -> int | None: ...


class VoiceGateway(Protocol):
    """The one thing the backend needs from Discord: asking the gateway to join or leave a voice channel."""

    async def update_voice_state(
        self, guild: int, channel: int | None, *, self_mute: bool = ..., self_deaf: bool = ...
    ) -> None: ...


class HanabiPlayer(DefaultPlayer):  # type: ignore[misc]
    """lavalink.py's player without its own queue: the music service decides what plays next."""

    async def handle_event(self, event: Any) -> None:
        return None


def track_from_lavalink(track: Any) -> Track:
    return Track(
        encoded=str(track.track),
        title=str(track.title or "Unknown title"),
        author=str(track.author or "Unknown artist"),
        length_ms=int(track.duration or 0),
        uri=track.uri or None,
        artwork_url=track.artwork_url or None,
        source=str(track.source_name or "unknown"),
        identifier=str(track.identifier or ""),
        is_stream=bool(track.is_stream),
        is_seekable=bool(track.is_seekable),
    )


def track_to_lavalink(track: Track) -> Any:
    return AudioTrack(
        {
            "encoded": track.encoded,
            "info": {
                "identifier": track.identifier,
                "isSeekable": track.is_seekable,
                "author": track.author,
                "length": track.length_ms,
                "isStream": track.is_stream,
                "position": 0,
                "title": track.title,
                "uri": track.uri,
                "artworkUrl": track.artwork_url,
                "isrc": None,
                "sourceName": track.source,
            },
        },
        0,
    )


@dataclass(frozen=True, slots=True)
class BackendHealth:
    available: int
    unavailable: int
    players: int
    frame_deficit: dict[str, float]


class LavalinkBackend:
    """`MusicBackend` over lavalink.py 5: several nodes, least-loaded placement, failover, session resuming."""

    def __init__(self, settings: Settings) -> None:
        self._specs: list[LavalinkNodeSpec] = settings.lavalink_node_specs()
        self._user_id = int(hikari.applications.get_token_id(settings.discord_token.get_secret_value()))
        self._resume_timeout = settings.lavalink_resume_timeout
        # Each process has its own session on a node; the stored session ids are keyed by node and shards.
        self._scope = ",".join(str(shard) for shard in settings.shard_ids) or "all"
        self._client: Any = None
        self._events: BackendEvents | None = None
        self._gateway: VoiceGateway | None = None
        self._ready: asyncio.Event | None = None
        self._resumed: set[str] = set()

    # lifecycle -------------------------------------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        return bool(self._specs)

    @property
    def description(self) -> str:
        if not self._specs:
            return "disabled: no node configured"
        count = len(self._specs)
        return f"{count} Lavalink node{'s' if count != 1 else ''}"

    def set_events(self, events: BackendEvents) -> None:
        self._events = events

    def health(self) -> BackendHealth:
        """Node availability, players on this process and each node's frame deficit, for the metrics."""
        if self._client is None:
            return BackendHealth(available=0, unavailable=len(self._specs), players=0, frame_deficit={})
        nodes = list(self._client.node_manager.nodes)
        available = sum(1 for node in nodes if node.available)
        deficit = {str(node.name): float(node.stats.frames_deficit) for node in nodes if node.available}
        return BackendHealth(
            available=available,
            unavailable=len(nodes) - available,
            players=len(self._client.player_manager.players),
            frame_deficit=deficit,
        )

    def session_key(self, node_name: str) -> str:
        return f"{node_name}@{self._scope}"

    def attach(self, gateway: VoiceGateway) -> None:
        """Called once the Discord gateway exists: joining and leaving voice go through it."""
        self._gateway = gateway

    async def start(self, sessions: Mapping[str, str]) -> None:
        """Create the lavalink.py client and connect every node, resuming the sessions stored last time."""
        if not self._specs or self._client is not None:
            return
        self._ready = asyncio.Event()
        self._client = LavalinkClient(self._user_id, player=HanabiPlayer)
        self._client.add_event_hook(self._on_event)
        for spec in self._specs:
            self._client.add_node(
                spec.host,
                spec.port,
                spec.password or "",
                NODE_REGION,
                name=spec.name,
                ssl=spec.secure,
                session_id=sessions.get(self.session_key(spec.name)),
            )

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def wait_ready(self, seconds: float) -> bool:
        if self._ready is None:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), seconds)
        return self._ready.is_set()

    # voice -----------------------------------------------------------------------------------------------------

    async def forward_voice_state(self, event: hikari.VoiceStateUpdateEvent) -> None:
        """Hand our own voice state to lavalink.py (its session id is half of what the node needs)."""
        if self._client is None or event.state.user_id != self._user_id:
            return
        state = event.state
        await self._client.voice_update_handler(
            {
                "t": "VOICE_STATE_UPDATE",
                "d": {
                    "guild_id": str(state.guild_id),
                    "channel_id": str(state.channel_id) if state.channel_id else None,
                    "user_id": str(state.user_id),
                    "session_id": state.session_id,
                },
            }
        )

    async def forward_voice_server(self, event: hikari.VoiceServerUpdateEvent) -> None:
        """Hand the voice server (token and endpoint) to lavalink.py, which sends both to the node."""
        if self._client is None:
            return
        await self._client.voice_update_handler(
            {
                "t": "VOICE_SERVER_UPDATE",
                "d": {"guild_id": str(event.guild_id), "endpoint": event.raw_endpoint, "token": event.token},
            }
        )

    async def connect(self, guild_id: int, channel_id: int) -> None:
        client = self._require_client()
        if self._gateway is None:
            raise ServiceUnavailable("I am still starting up. Try again in a few seconds.")
        try:
            client.player_manager.create(guild_id)
        except ClientError:
            raise ServiceUnavailable(NODE_DOWN_TEXT) from None
        await self._gateway.update_voice_state(guild_id, channel_id, self_deaf=True)

    async def disconnect(self, guild_id: int) -> None:
        if self._gateway is not None:
            with contextlib.suppress(hikari.ComponentStateConflictError):
                await self._gateway.update_voice_state(guild_id, None)
        if self._client is not None:
            try:
                await self._client.player_manager.destroy(guild_id)
            except (ClientError, RequestError, aiohttp.ClientError, TimeoutError, OSError) as exc:
                log.warning("could not destroy the player of guild %s on its node: %s", guild_id, exc)

    def is_connected(self, guild_id: int) -> bool:
        player = self._player(guild_id)
        return player is not None and player.channel_id is not None

    # loading and playback -------------------------------------------------------------------------------------

    async def load(self, identifier: str) -> LoadOutcome:
        client = self._require_client()
        try:
            result = await client.get_tracks(identifier)
        except ClientError:
            raise ServiceUnavailable(NODE_DOWN_TEXT) from None
        except (RequestError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("loading %r failed: %s", identifier, exc)
            return LoadOutcome(LoadKind.ERROR, error="the music server could not load it")
        kind = LoadKind(str(result.load_type.value))
        if kind is LoadKind.ERROR:
            error = result.error
            return LoadOutcome(kind, error=str(error.message) if error is not None else "unknown error")
        name = result.playlist_info.name if kind is LoadKind.PLAYLIST else None
        return LoadOutcome(kind, [track_from_lavalink(t) for t in result.tracks], playlist_name=name or None)

    async def play(self, guild_id: int, track: Track, *, start_ms: int, volume: int, paused: bool) -> None:
        player = self._require_player(guild_id)
        start = start_ms if 0 < start_ms < max(track.length_ms, 1) and track.is_seekable else 0
        await self._call(player.play_track(track_to_lavalink(track), start_time=start, volume=volume, pause=paused))
        player.volume, player.paused = volume, paused
        player._last_position, player._last_update = start, int(time.monotonic() * 1000)

    async def adopt(self, guild_id: int, track: Track, *, volume: int, paused: bool) -> int | None:
        """After a resumed session: if the node still plays `track` for this guild, take it over; its position."""
        player = self._player(guild_id)
        if player is None or player.node is None or player.node.name not in self._resumed:
            return None
        try:
            raw = await player.node.get_player(guild_id)
        except (ClientError, RequestError, aiohttp.ClientError, TimeoutError):
            return None
        playing = (raw or {}).get("track") or {}
        if playing.get("encoded") != track.encoded:
            return None
        position = int(((raw or {}).get("state") or {}).get("position") or 0)
        player.current = track_to_lavalink(track)
        player.volume, player.paused = int(raw.get("volume", volume)), bool(raw.get("paused", paused))
        player._last_position, player._last_update = position, int(time.monotonic() * 1000)
        return position

    async def stop(self, guild_id: int) -> None:
        player = self._player(guild_id)
        if player is not None:
            await self._call(player.stop())

    async def set_paused(self, guild_id: int, paused: bool) -> None:
        await self._call(self._require_player(guild_id).set_pause(paused))

    async def seek(self, guild_id: int, position_ms: int) -> None:
        player = self._require_player(guild_id)
        await self._call(player.seek(position_ms))
        player._last_position, player._last_update = position_ms, int(time.monotonic() * 1000)

    async def set_volume(self, guild_id: int, volume: int) -> None:
        await self._call(self._require_player(guild_id).set_volume(volume))

    def position(self, guild_id: int) -> int | None:
        player = self._player(guild_id)
        if player is None or player.current is None:
            return None
        return int(player.position)

    def node_of(self, guild_id: int) -> str | None:
        player = self._player(guild_id)
        return None if player is None or player.node is None else str(player.node.name)

    # internals -------------------------------------------------------------------------------------------------

    def _require_client(self) -> Any:
        if self._client is None:
            raise ServiceUnavailable(NO_NODE_TEXT if not self._specs else NODE_DOWN_TEXT)
        return self._client

    def _player(self, guild_id: int) -> Any:
        if self._client is None:
            return None
        return self._client.player_manager.get(guild_id)

    def _require_player(self, guild_id: int) -> Any:
        player = self._player(guild_id)
        if player is None:
            raise ServiceUnavailable(NODE_DOWN_TEXT)
        return player

    @staticmethod
    async def _call(awaitable: Any) -> Any:
        try:
            return await awaitable
        except ClientError:
            raise ServiceUnavailable(NODE_DOWN_TEXT) from None
        except (RequestError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("the music server did not take a player update: %s", exc)
            raise ServiceUnavailable(NODE_DOWN_TEXT) from None

    async def _on_event(self, event: Any) -> None:
        events = self._events
        if isinstance(event, NodeReadyEvent):
            await self._on_node_ready(event)
            return
        if isinstance(event, NodeDisconnectedEvent):
            log.warning(
                "Lavalink node %s disconnected (code %s); its players move to another node", event.node.name, event.code
            )
            return
        if isinstance(event, NodeChangedEvent):
            log.info(
                "player of guild %s moved from node %s to %s",
                event.player.guild_id,
                event.old_node.name,
                event.new_node.name,
            )
            return
        if events is None:
            return
        guild_id = int(getattr(getattr(event, "player", None), "guild_id", 0) or 0)
        track = getattr(event, "track", None)
        encoded = str(track.track) if track is not None and track.track else None
        if isinstance(event, TrackStartEvent):
            await events.on_track_start(guild_id, encoded)
        elif isinstance(event, TrackEndEvent):
            await events.on_track_end(guild_id, encoded, str(event.reason.value))
        elif isinstance(event, TrackExceptionEvent):
            await events.on_track_exception(guild_id, encoded, str(event.message or event.cause or "unknown error"))
        elif isinstance(event, TrackStuckEvent):
            await events.on_track_stuck(guild_id, encoded)
        elif isinstance(event, WebSocketClosedEvent):
            await events.on_voice_closed(guild_id, int(event.code), bool(event.by_remote))
        elif isinstance(event, PlayerUpdateEvent):
            position = event.position if isinstance(event.position, int) else None
            if position is not None:
                await events.on_position(guild_id, position)

    async def _on_node_ready(self, event: Any) -> None:
        node = event.node
        log.info("Lavalink node %s ready (session %s, resumed=%s)", node.name, event.session_id, event.resumed)
        if event.resumed:
            self._resumed.add(node.name)
        try:
            await node.update_session(resuming=True, timeout=self._resume_timeout)
        except (ClientError, RequestError) as exc:
            log.warning("could not enable session resuming on node %s: %s", node.name, exc)
        if self._events is not None:
            await self._events.on_node_session(self.session_key(node.name), event.session_id)
        if self._ready is not None:
            self._ready.set()
