"""A fake Lavalink v4 node: the real websocket and REST protocol on 127.0.0.1, canned tracks, test controls.

Speaks what lavalink.py 5 uses: the `/v4/websocket` handshake (Authorization, User-Id, Client-Name, optional
Session-Id to resume), the `ready`, `playerUpdate`, `stats` and `event` ops, and the REST routes for loading
tracks, players and sessions. Tracks carry real encodings (lavalink.py's own encoder), so the client decodes them
as it would a real node's. Tests drive it: end a track, raise an exception, report a position, drop the node.

    node = FakeLavalink(name="main")
    await node.start()
    ...  # settings: lavalink_nodes=[node.spec]
    await node.end_track(guild.id)
    await node.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, web
from lavalink.dataio import DataWriter
from lavalink.utils import decode_track, encode_track

from hanabi.config import LavalinkNodeSpec

JSON = dict[str, Any]
DEFAULT_LENGTH_MS = 180_000


def _probe_info(writer: DataWriter, _: JSON) -> None:
    writer.write_utf("mp3")  # http and local tracks carry the probe info after the source name


SOURCE_ENCODERS: dict[str, Callable[[DataWriter, JSON], None]] = {"http": _probe_info, "local": _probe_info}


def make_track(
    title: str,
    *,
    author: str = "Fake Artist",
    length_ms: int = DEFAULT_LENGTH_MS,
    identifier: str | None = None,
    uri: str | None = None,
    source: str = "youtube",
    is_stream: bool = False,
    artwork_url: str | None = None,
) -> JSON:
    """A Lavalink v4 track object whose `encoded` is a real (version 3) track encoding."""
    identifier = identifier or re.sub(r"\W+", "-", title.lower()).strip("-") or "track"
    if uri is None and source == "youtube":
        uri = f"https://www.youtube.com/watch?v={identifier[:11]}"
    info: JSON = {
        "identifier": identifier,
        "isSeekable": not is_stream,
        "author": author,
        "length": length_ms,
        "isStream": is_stream,
        "position": 0,
        "title": title,
        "uri": uri,
        "artworkUrl": artwork_url,
        "isrc": None,
        "sourceName": source,
    }
    _, encoded = encode_track(info, SOURCE_ENCODERS)
    return {"encoded": encoded, "info": info, "pluginInfo": {}, "userData": {}}


@dataclass
class FakePlayer:
    guild_id: int
    track: JSON | None = None
    position: int = 0
    volume: int = 100
    paused: bool = False
    voice: JSON = field(default_factory=dict)
    updated_at: float = field(default_factory=time.time)

    def payload(self) -> JSON:
        return {
            "guildId": str(self.guild_id),
            "track": self.track,
            "volume": self.volume,
            "paused": self.paused,
            "state": {
                "time": int(time.time() * 1000),
                "position": self.position,
                "connected": bool(self.voice),
                "ping": 5 if self.voice else -1,
            },
            "voice": self.voice,
            "filters": {},
        }


@dataclass
class FakeSession:
    id: str
    user_id: int
    players: dict[int, FakePlayer] = field(default_factory=dict)
    resuming: bool = False
    timeout: int = 60
    ws: web.WebSocketResponse | None = None
    backlog: list[JSON] = field(default_factory=list)  # events held while the client is away (resuming)


@dataclass
class RecordedCall:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]
    status: int = 0


class FakeLavalink:
    """One fake node. `tracks` maps identifiers to canned load results; unknown searches synthesise results."""

    version = "4.0.8"

    def __init__(self, *, name: str = "fake", password: str = "fake-lavalink-password") -> None:
        self.name = name
        self.password = password
        self.host = "127.0.0.1"
        self.port = 0
        self.sessions: dict[str, FakeSession] = {}
        self.calls: list[RecordedCall] = []
        self.handshakes: list[dict[str, str]] = []
        self.results: dict[str, JSON] = {}  # identifier -> full loadtracks response
        self.unplayable: dict[str, str] = {}  # encoded -> exception message raised when it starts
        self.system_load = 0.0
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    # lifecycle ---------------------------------------------------------------------------------------------------

    @property
    def spec(self) -> LavalinkNodeSpec:
        return LavalinkNodeSpec(self.name, self.host, self.port, self.password)

    @property
    def entry(self) -> str:
        """This node as a LAVALINK_NODES entry."""
        return f"{self.name}:{self.password}@{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/v4/websocket", self._websocket)
        app.router.add_get("/version", self._version)
        app.router.add_get("/v4/info", self._info)
        app.router.add_get("/v4/stats", self._stats)
        app.router.add_get("/v4/loadtracks", self._loadtracks)
        app.router.add_get("/v4/decodetrack", self._decodetrack)
        app.router.add_post("/v4/decodetracks", self._decodetracks)
        app.router.add_patch("/v4/sessions/{session}", self._update_session)
        app.router.add_get("/v4/sessions/{session}/players", self._get_players)
        app.router.add_get("/v4/sessions/{session}/players/{guild}", self._get_player)
        app.router.add_patch("/v4/sessions/{session}/players/{guild}", self._update_player)
        app.router.add_delete("/v4/sessions/{session}/players/{guild}", self._destroy_player)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        await self._listen()

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, self.host, self.port)
        await self._site.start()
        if self.port == 0:
            self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self._close_sockets()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._site = None

    async def drop(self) -> None:
        """The node goes away: websockets close and new connections are refused until `revive()`."""
        if self._site is not None:
            await self._site.stop()
            self._site = None
        await self._close_sockets()

    async def revive(self) -> None:
        if self._site is None:
            await self._listen()

    async def _close_sockets(self) -> None:
        for session in self.sessions.values():
            ws, session.ws = session.ws, None
            if ws is not None and not ws.closed:
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"node going away")

    # test controls -------------------------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return any(s.ws is not None and not s.ws.closed for s in self.sessions.values())

    def player(self, guild_id: int) -> FakePlayer | None:
        for session in self.sessions.values():
            if guild_id in session.players:
                return session.players[guild_id]
        return None

    def _session_of(self, guild_id: int) -> FakeSession:
        for session in self.sessions.values():
            if guild_id in session.players:
                return session
        raise LookupError(f"node {self.name} has no player for guild {guild_id}")

    async def end_track(self, guild_id: int, reason: str = "finished") -> None:
        """The current track ends (by default: it finished playing)."""
        session = self._session_of(guild_id)
        player = session.players[guild_id]
        track, player.track, player.position = player.track, None, 0
        if track is None:
            raise LookupError(f"guild {guild_id} is not playing anything on node {self.name}")
        await self._event(session, guild_id, "TrackEndEvent", track=track, reason=reason)

    async def fail_track(self, guild_id: int, message: str = "Something broke while playing") -> None:
        """The current track throws (TrackExceptionEvent) and ends with loadFailed, as Lavalink reports it."""
        session = self._session_of(guild_id)
        player = session.players[guild_id]
        track = player.track
        if track is None:
            raise LookupError(f"guild {guild_id} is not playing anything on node {self.name}")
        await self._exception(session, guild_id, track, message)

    async def stuck(self, guild_id: int, threshold_ms: int = 10_000) -> None:
        session = self._session_of(guild_id)
        track = session.players[guild_id].track
        await self._event(session, guild_id, "TrackStuckEvent", track=track, thresholdMs=threshold_ms)

    async def report_position(self, guild_id: int, position_ms: int) -> None:
        """A playerUpdate with this position (a real node sends one every few seconds)."""
        session = self._session_of(guild_id)
        player = session.players[guild_id]
        player.position = position_ms
        await self._send(session, {"op": "playerUpdate", "guildId": str(guild_id), "state": player.payload()["state"]})

    async def voice_closed(self, guild_id: int, code: int = 4014, reason: str = "Disconnected.") -> None:
        session = self._session_of(guild_id)
        await self._event(session, guild_id, "WebSocketClosedEvent", code=code, reason=reason, byRemote=True)

    async def send_stats(self) -> None:
        for session in self.sessions.values():
            await self._send(session, self._stats_payload() | {"op": "stats"})

    def set_result(self, identifier: str, result: JSON) -> None:
        self.results[identifier] = result

    def set_empty(self, identifier: str) -> None:
        self.results[identifier] = {"loadType": "empty", "data": {}}

    def set_error(self, identifier: str, message: str = "This video is unavailable") -> None:
        self.results[identifier] = {
            "loadType": "error",
            "data": {"message": message, "severity": "common", "cause": f"java.lang.Exception: {message}"},
        }

    def set_playlist(self, identifier: str, name: str, tracks: list[JSON]) -> None:
        self.results[identifier] = {
            "loadType": "playlist",
            "data": {"info": {"name": name, "selectedTrack": -1}, "pluginInfo": {}, "tracks": tracks},
        }

    def calls_to(self, method: str, pattern: str) -> list[RecordedCall]:
        regex = re.compile(pattern)
        return [c for c in self.calls if c.method == method and regex.search(c.path)]

    async def wait_for(self, check: Callable[[], Any], timeout: float = 5, what: str = "the node") -> Any:
        """Wait until `check()` returns something truthy (re-checked whenever the node sees a request)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = check()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {what} on fake Lavalink node {self.name}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.05))

    async def wait_for_call(
        self, method: str, pattern: str, predicate: Callable[[RecordedCall], bool] | None = None, timeout: float = 5
    ) -> RecordedCall:
        def check() -> RecordedCall | None:
            for call in self.calls_to(method, pattern):
                if predicate is None or predicate(call):
                    return call
            return None

        result: RecordedCall = await self.wait_for(check, timeout, f"{method} {pattern}")
        return result

    async def wait_playing(self, guild_id: int, title: str | None = None, timeout: float = 5) -> FakePlayer:
        def check() -> FakePlayer | None:
            player = self.player(guild_id)
            if player is None or player.track is None:
                return None
            if title is not None and player.track["info"]["title"] != title:
                return None
            return player

        result: FakePlayer = await self.wait_for(check, timeout, f"guild {guild_id} playing {title!r}")
        return result

    # protocol: websocket ----------------------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == self.password

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() in {"user-id", "client-name", "session-id"}}
        self.handshakes.append(headers)
        if not self._authorized(request):
            return web.Response(status=401, text="Unauthorized")
        user_id = request.headers.get("User-Id", "")
        if not user_id.isdigit() or not request.headers.get("Client-Name"):
            return web.Response(status=400, text="User-Id and Client-Name headers are required")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        wanted = request.headers.get("Session-Id")
        session = self.sessions.get(wanted or "")
        resumed = session is not None and session.resuming and session.ws is None
        if not resumed or session is None:
            session = FakeSession(id=secrets.token_hex(8), user_id=int(user_id))
            self.sessions[session.id] = session
        session.ws = ws
        self._changed.set()
        await ws.send_json({"op": "ready", "resumed": resumed, "sessionId": session.id})
        await ws.send_json(self._stats_payload() | {"op": "stats"})
        backlog, session.backlog = session.backlog, []
        for message in backlog:
            await ws.send_json(message)
        async for _ in ws:  # lavalink.py sends nothing over the websocket in v4
            pass
        if session.ws is ws:
            session.ws = None
            if not session.resuming:
                self.sessions.pop(session.id, None)
        self._changed.set()
        return ws

    async def _send(self, session: FakeSession, message: JSON) -> None:
        ws = session.ws
        if ws is None or ws.closed:
            if session.resuming:
                session.backlog.append(message)
            return
        await ws.send_json(message)

    async def _event(self, session: FakeSession, guild_id: int, kind: str, **fields: Any) -> None:
        await self._send(session, {"op": "event", "type": kind, "guildId": str(guild_id), **fields})

    async def _exception(self, session: FakeSession, guild_id: int, track: JSON, message: str) -> None:
        player = session.players.get(guild_id)
        exception = {"message": message, "severity": "common", "cause": f"java.lang.Exception: {message}"}
        await self._event(session, guild_id, "TrackExceptionEvent", track=track, exception=exception)
        if player is not None and player.track is track:
            player.track, player.position = None, 0
        await self._event(session, guild_id, "TrackEndEvent", track=track, reason="loadFailed")

    def _stats_payload(self) -> JSON:
        players = [p for s in self.sessions.values() for p in s.players.values()]
        return {
            "players": len(players),
            "playingPlayers": sum(1 for p in players if p.track is not None and not p.paused),
            "uptime": 60_000,
            "memory": {"free": 1 << 28, "used": 1 << 27, "allocated": 1 << 29, "reservable": 1 << 30},
            "cpu": {"cores": 4, "systemLoad": self.system_load, "lavalinkLoad": self.system_load / 2},
            "frameStats": None,
        }

    # protocol: REST --------------------------------------------------------------------------------------------------

    async def _record(self, request: web.Request) -> RecordedCall:
        body: Any = None
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                body = await request.text()
        call = RecordedCall(
            request.method,
            request.path,
            dict(request.query),
            body,
            {k: v for k, v in request.headers.items() if k.lower() != "authorization"},
        )
        self.calls.append(call)
        self._changed.set()
        return call

    @staticmethod
    def _error(request: web.Request, status: int, message: str) -> web.Response:
        reasons = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}
        body = {
            "timestamp": int(time.time() * 1000),
            "status": status,
            "error": reasons.get(status, "Error"),
            "message": message,
            "path": request.path,
        }
        return web.json_response(body, status=status)

    async def _guard(self, request: web.Request) -> tuple[RecordedCall, web.Response | None]:
        call = await self._record(request)
        if not self._authorized(request):
            call.status = 401
            return call, self._error(request, 401, "Unauthorized")
        return call, None

    async def _version(self, request: web.Request) -> web.StreamResponse:
        call, denied = await self._guard(request)
        call.status = 200 if denied is None else 401
        return denied or web.Response(text=self.version)

    async def _info(self, request: web.Request) -> web.StreamResponse:
        call, denied = await self._guard(request)
        if denied is not None:
            return denied
        call.status = 200
        major, minor, patch = (int(p) for p in self.version.split("."))
        return web.json_response(
            {
                "version": {
                    "semver": self.version,
                    "major": major,
                    "minor": minor,
                    "patch": patch,
                    "preRelease": None,
                    "build": None,
                },
                "buildTime": 1_700_000_000_000,
                "git": {"branch": "main", "commit": "fake", "commitTime": 1_700_000_000_000},
                "jvm": "21",
                "lavaplayer": "2.2.2",
                "sourceManagers": ["youtube", "http", "local"],
                "filters": ["volume", "equalizer", "timescale"],
                "plugins": [],
            }
        )

    async def _stats(self, request: web.Request) -> web.StreamResponse:
        call, denied = await self._guard(request)
        if denied is not None:
            return denied
        call.status = 200
        return web.json_response(self._stats_payload())

    def load(self, identifier: str) -> JSON:
        """What /v4/loadtracks answers for `identifier`."""
        if identifier in self.results:
            return self.results[identifier]
        search = re.match(r"^(?P<source>[a-z]+)search:(?P<query>.+)$", identifier, re.IGNORECASE)
        if search:
            query = search.group("query").strip()
            source = {"yt": "youtube", "sc": "soundcloud"}.get(search.group("source").lower(), "youtube")
            tracks = [
                make_track(title, author=f"{query} Artist", source=source, identifier=f"{source}-{i}-{query}"[:40])
                for i, title in enumerate([query, f"{query} (live)", f"{query} (remix)"])
            ]
            return {"loadType": "search", "data": tracks}
        if identifier.startswith(("http://", "https://")):
            name = urllib.parse.unquote(identifier.rstrip("/").rsplit("/", 1)[-1]) or identifier
            is_stream = "stream" in identifier or "radio" in identifier
            track = make_track(
                name,
                author="Unknown artist",
                source="http",
                uri=identifier,
                identifier=identifier,
                is_stream=is_stream,
                length_ms=2**63 - 1 if is_stream else DEFAULT_LENGTH_MS,
            )
            return {"loadType": "track", "data": track}
        if identifier.startswith("/"):
            name = identifier.rsplit("/", 1)[-1]
            track = make_track(name, author="Unknown artist", source="local", uri=identifier, identifier=identifier)
            return {"loadType": "track", "data": track}
        return {"loadType": "empty", "data": {}}

    async def _loadtracks(self, request: web.Request) -> web.StreamResponse:
        call, denied = await self._guard(request)
        if denied is not None:
            return denied
        identifier = request.query.get("identifier")
        if not identifier:
            call.status = 400
            return self._error(request, 400, "No identifier provided")
        call.status = 200
        return web.json_response(self.load(identifier))

    async def _decodetrack(self, request: web.Request) -> web.StreamResponse:
        call, denied = await self._guard(request)
        if denied is not None:
            return denied
        try:
            track = decode_track(request.query.get("encodedTrack", ""))
        except Exception:
            call.status = 400
            return self._error(request, 400, "Failed to decode track")
        call.status = 200
        return web.json_response({"encoded": track.track, "info": dict(track.raw["info"]), "pluginInfo": {}})

    async def _decodetracks(self, request: web.Request) -> web.StreamResponse:
        call, denied = await self._guard(request)
        if denied is not None:
            return denied
        out = []
        for encoded in call.body or []:
            try:
                track = decode_track(encoded)
            except Exception:
                call.status = 400
                return self._error(request, 400, "Failed to decode track")
            out.append({"encoded": encoded, "info": dict(track.raw["info"]), "pluginInfo": {}})
        call.status = 200
        return web.json_response(out)

    def _session(self, request: web.Request) -> FakeSession | None:
        return self.sessions.get(request.match_info["session"])

    async def _update_session(self, request: web.Request) -> web.StreamResponse:
        call, denied = await self._guard(request)
        if denied is not None:
            return denied
        session = self._session(request)
        if session is None:
            call.status = 404
            return self._error(request, 404, "Session not found")
        body = call.body if isinstance(call.body, dict) else {}
        if "resuming" in body:
            session.resuming = bool(body["resuming"])
        if "timeout" in body:
            session.timeout = int(body["timeout"])
        call.status = 200
        return web.json_response({"resuming": session.resuming, "timeout": session.timeout})

    async def _get_players(self, request: web.Request) -> web.StreamResponse:
        call, denied = await self._guard(request)
        if denied is not None:
            return denied
        session = self._session(request)
        if session is None:
            call.status = 404
            return self._error(request, 404, "Session not found")
        call.status = 200
        return web.json_response([p.payload() for p in session.players.values()])

    async def _get_player(self, request: web.Request) -> web.StreamResponse:
        call, denied = await self._guard(request)
        if denied is not None:
            return denied
        session = self._session(request)
        player = session.players.get(int(request.match_info["guild"])) if session is not None else None
        if player is None:
            call.status = 404
            return self._error(request, 404, "Player not found")
        call.status = 200
        return web.json_response(player.payload())

    async def _destroy_player(self, request: web.Request) -> web.StreamResponse:
        call, denied = await self._guard(request)
        if denied is not None:
            return denied
        session = self._session(request)
        if session is None:
            call.status = 404
            return self._error(request, 404, "Session not found")
        session.players.pop(int(request.match_info["guild"]), None)
        call.status = 204
        return web.Response(status=204)

    async def _update_player(self, request: web.Request) -> web.StreamResponse:
        call, denied = await self._guard(request)
        if denied is not None:
            return denied
        session = self._session(request)
        if session is None:
            call.status = 404
            return self._error(request, 404, "Session not found")
        body = call.body if isinstance(call.body, dict) else None
        if body is None:
            call.status = 400
            return self._error(request, 400, "Body must be a JSON object")
        guild_id = int(request.match_info["guild"])
        volume = body.get("volume")
        if volume is not None and not (isinstance(volume, int) and 0 <= volume <= 1000):
            call.status = 400
            return self._error(request, 400, "Volume must be between 0 and 1000")
        voice = body.get("voice")
        if voice is not None and not all(voice.get(k) for k in ("token", "endpoint", "sessionId")):
            call.status = 400
            return self._error(request, 400, "Partial Lavalink voice state")
        new_track: JSON | None = None
        track_given = "track" in body or "encodedTrack" in body
        if track_given:
            spec = body.get("track") or {}
            encoded = spec.get("encoded") if "track" in body else body.get("encodedTrack")
            if encoded is not None:
                try:
                    decoded = decode_track(encoded)
                except Exception:
                    call.status = 400
                    return self._error(request, 400, "Failed to decode track")
                new_track = {"encoded": encoded, "info": dict(decoded.raw["info"]), "pluginInfo": {}, "userData": {}}

        player = session.players.setdefault(guild_id, FakePlayer(guild_id))
        events: list[tuple[str, JSON]] = []
        if voice is not None:
            player.voice = dict(voice)
        if volume is not None:
            player.volume = volume
        if "paused" in body:
            player.paused = bool(body["paused"])
        no_replace = request.query.get("noReplace") == "true"
        if track_given and not (no_replace and player.track is not None):
            old = player.track
            if old is not None:
                events.append(("TrackEndEvent", {"track": old, "reason": "replaced" if new_track else "stopped"}))
            player.track = new_track
            player.position = int(body.get("position") or 0)
            if new_track is not None:
                events.append(("TrackStartEvent", {"track": new_track}))
        elif "position" in body:
            player.position = int(body["position"])
        call.status = 200
        if events:
            task = asyncio.create_task(self._emit(session, guild_id, events))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return web.json_response(player.payload())

    async def _emit(self, session: FakeSession, guild_id: int, events: list[tuple[str, JSON]]) -> None:
        # Lavalink answers the PATCH first and reports the track events over the websocket right after.
        for kind, fields in events:
            await self._event(session, guild_id, kind, **fields)
            track = fields.get("track")
            if kind == "TrackStartEvent" and track is not None and track["encoded"] in self.unplayable:
                await self._exception(session, guild_id, track, self.unplayable[track["encoded"]])
