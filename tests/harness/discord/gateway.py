"""The gateway websocket: zlib-stream transport, HELLO/IDENTIFY/READY/RESUME, heartbeats and dispatches."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
import zlib
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from tests.harness.discord.state import FakeDiscordBase
from tests.harness.payloads import EVENT_INTENTS, JSON, Intent

_LOGGER = logging.getLogger("tests.harness.discord.gateway")

HEARTBEAT_INTERVAL_MS = 41250


@dataclasses.dataclass(eq=False)
class Connection:
    """One websocket. zlib-stream needs one deflate context per connection, shared by every frame."""

    ws: web.WebSocketResponse
    compressor: Any | None  # zlib compressobj; None when the client asked for no transport compression
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)
    session: Session | None = None
    heartbeats: int = 0


@dataclasses.dataclass(eq=False)
class Session:
    id: str
    shard_id: int
    shard_count: int
    intents: int
    seq: int = 0
    connection: Connection | None = None
    ready: bool = False
    backlog: list[tuple[str, JSON]] = dataclasses.field(default_factory=list)  # events missed while disconnected


class GatewayMixin(FakeDiscordBase):
    def __init__(self, *, shard_count: int = 1, max_concurrency: int = 1) -> None:
        super().__init__(shard_count=shard_count, max_concurrency=max_concurrency)
        self.sessions: dict[str, Session] = {}
        self.shards: dict[int, Session] = {}  # current session per shard id
        self.connections: list[Connection] = []
        self.auto_voice = True  # answer op 4 with VOICE_STATE_UPDATE + VOICE_SERVER_UPDATE
        self.voice_endpoint = "voice.fake-discord.test:443"
        self.resumes: list[JSON] = []
        self._ready_gate = asyncio.Event()  # cleared by hold_ready(): IDENTIFY is accepted, READY waits
        self._ready_gate.set()

    def hold_ready(self) -> None:
        """Accept IDENTIFYs but hold READY (and GUILD_CREATEs) back until :meth:`release_ready`."""
        self._ready_gate.clear()

    def release_ready(self) -> None:
        self._ready_gate.set()

    # -- transport -----------------------------------------------------------------------------------------------

    async def _send(self, conn: Connection, payload: JSON) -> None:
        raw = orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS)  # compact UTF-8, as Discord sends
        async with conn.lock:  # frames must leave in deflate-stream order
            if conn.ws.closed:
                return
            if conn.compressor is not None:
                data = conn.compressor.compress(raw) + conn.compressor.flush(zlib.Z_SYNC_FLUSH)
                await conn.ws.send_bytes(data)
            else:
                await conn.ws.send_str(raw.decode())

    async def _send_dispatch(self, session: Session, event: str, data: JSON) -> None:
        conn = session.connection
        if conn is None or conn.ws.closed:
            session.backlog.append((event, data))
            return
        session.seq += 1
        await self._send(conn, {"op": 0, "t": event, "s": session.seq, "d": data})

    def _shard_live(self, shard_id: int) -> bool:
        session = self.shards.get(shard_id)
        return session is not None and session.ready

    # -- public helpers ------------------------------------------------------------------------------------------

    async def dispatch(self, event: str, data: JSON, *, shard_id: int | None = None, force: bool = False) -> None:
        """Send a dispatch event. The shard follows ``data["guild_id"]`` unless given; events the bot's intents
        exclude are dropped (recorded in ``dropped_events``) unless ``force``."""
        guild_id = data.get("guild_id")
        if shard_id is None:
            shard_id = self.shard_for(int(guild_id) if guild_id else None)
        session = self.shards.get(shard_id)
        if session is None:
            self.dropped_events.append((event, f"shard {shard_id} never identified"))
            return
        if not force and (reason := self._intent_block(session, event, data)):
            self.dropped_events.append((event, reason))
            return
        if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE") and not session.intents & Intent.MESSAGE_CONTENT:
            data = self._strip_content(data)
        await self._send_dispatch(session, event, data)

    def _intent_block(self, session: Session, event: str, data: JSON) -> str | None:
        if event not in EVENT_INTENTS:
            return None
        guild_intent, dm_intent = EVENT_INTENTS[event]
        needed = guild_intent if data.get("guild_id") else dm_intent
        if needed and not session.intents & needed:
            return f"missing intent {needed} for {event}"
        return None

    def _strip_content(self, data: JSON) -> JSON:
        """Without MESSAGE_CONTENT, content-ish fields are empty unless the bot wrote or was mentioned in it,
        or it is a DM (Discord's rule)."""
        author_id = int((data.get("author") or {}).get("id", 0))
        mentioned = any(int(u["id"]) == self.bot_user_id for u in data.get("mentions") or [])
        if author_id == self.bot_user_id or mentioned or not data.get("guild_id"):
            return data
        stripped = data | {"content": "", "embeds": [], "attachments": [], "components": []}
        stripped.pop("poll", None)
        return stripped

    async def wait_ready(self, timeout: float = 10) -> None:
        """All shards identified, got READY and every GUILD_CREATE."""

        def check() -> bool | None:
            return True if all(self._shard_live(i) for i in range(self.shard_count)) else None

        await self.wait_until(check, timeout, f"{self.shard_count} shard(s) to become ready")

    async def close_shard(self, shard_id: int, code: int = 4000, *, invalidate: bool = False) -> None:
        """Close a shard's socket with ``code``; ``invalidate`` also forgets the session so RESUME fails."""
        session = self.shards.get(shard_id)
        if session is None or session.connection is None:
            raise LookupError(f"shard {shard_id} is not connected")
        conn = session.connection
        session.connection = None
        if invalidate:
            self.sessions.pop(session.id, None)
        await conn.ws.close(code=code, message=b"closed by fake discord")
        self.changed()

    async def send_reconnect(self, shard_id: int) -> None:
        """Op 7 RECONNECT: hikari closes with 3000 and resumes."""
        session = self.shards[shard_id]
        if session.connection is not None:
            await self._send(session.connection, {"op": 7, "d": None})

    async def send_invalid_session(self, shard_id: int, *, resumable: bool = False) -> None:
        session = self.shards[shard_id]
        if not resumable:
            self.sessions.pop(session.id, None)
        if session.connection is not None:
            await self._send(session.connection, {"op": 9, "d": resumable})

    # -- websocket handler ---------------------------------------------------------------------------------------

    async def _gateway_handler(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(compress=False, max_msg_size=0)
        await ws.prepare(request)
        compression = request.query.get("compress")
        if compression not in (None, "zlib-stream"):
            self.violation(f"gateway: unsupported transport compression {compression!r}")
            await ws.close(code=4000, message=b"unsupported compression")
            return ws
        if request.query.get("v") != "10" or request.query.get("encoding", "json") != "json":
            self.violation(f"gateway: unexpected query {dict(request.query)}")
        conn = Connection(ws=ws, compressor=zlib.compressobj() if compression else None)
        self.connections.append(conn)
        try:
            await self._send(conn, {"op": 10, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}})
            async for message in ws:
                if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    # hikari sends plain JSON, as bytes (BINARY) — only the server side is compressed.
                    payload = orjson.loads(message.data)
                else:
                    break
                await self._handle_op(conn, payload)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            if conn.session is not None and conn.session.connection is conn:
                conn.session.connection = None
            self.changed()
        return ws

    async def _handle_op(self, conn: Connection, payload: JSON) -> None:
        op = payload.get("op")
        data: Any = payload.get("d")  # an object for most opcodes, the sequence number for heartbeats
        if op == 1:
            conn.heartbeats += 1
            await self._send(conn, {"op": 11})
        elif op == 2:
            await self._identify(conn, data)
        elif op == 6:
            await self._resume(conn, data)
        elif op == 3:
            self.presence_updates.append(data)
        elif op == 4:
            await self._voice_state_update(conn, data)
        elif op == 8:
            await self._request_members(conn, data)
        else:
            self.violation(f"gateway: unknown opcode {op}")
        self.changed()

    async def _identify(self, conn: Connection, data: JSON) -> None:
        self.identifies.append(data | {"received_at": time.monotonic()})
        if data.get("token") != self.token or self.reject_token:
            if not self.reject_token:
                self.violation("gateway: IDENTIFY with a wrong token")
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        shard_id, shard_count = data.get("shard") or [0, 1]
        if shard_count != self.shard_count or not 0 <= shard_id < shard_count:
            self.violation(f"gateway: IDENTIFY with invalid shard {[shard_id, shard_count]}")
            await conn.ws.close(code=4010, message=b"Invalid shard.")
            return
        if (old := self.shards.get(shard_id)) is not None and old.connection is not None:
            # A second IDENTIFY for a live shard replaces it, like Discord does with the old session.
            self.sessions.pop(old.id, None)
        session = Session(
            id=secrets.token_hex(16), shard_id=shard_id, shard_count=shard_count, intents=int(data.get("intents", 0))
        )
        session.connection = conn
        conn.session = session
        self.sessions[session.id] = session
        self.shards[shard_id] = session
        # READY goes out from a task so a held gate does not stop this socket answering heartbeats.
        self.spawn(self._send_ready(session), flushable=False)

    async def _send_ready(self, session: Session) -> None:
        await self._ready_gate.wait()
        shard_id, shard_count = session.shard_id, session.shard_count
        my_guilds = [g for g in self.guilds.values() if self.shard_for(g.id) == shard_id]
        await self._send_dispatch(
            session,
            "READY",
            {
                "v": 10,
                "user": self.bot_user
                | {"mfa_enabled": False, "flags": 0, "verified": True, "email": None, "locale": "en-US"},
                "guilds": [{"id": str(g.id), "unavailable": True} for g in my_guilds],
                "session_id": session.id,
                "resume_gateway_url": self.gateway_url,
                "shard": [shard_id, shard_count],
                "application": {"id": str(self.application_id), "flags": 0},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "geo_ordered_rtc_regions": [],
            },
        )
        for guild in my_guilds:
            await self._send_dispatch(session, "GUILD_CREATE", self._guild_create(session, guild.id, join=False))
        session.ready = True
        self.changed()

    def _guild_create(self, session: Session, guild_id: int, *, join: bool) -> JSON:
        return self.guilds[guild_id].gateway_payload(
            members_intent=bool(session.intents & Intent.GUILD_MEMBERS),
            presences_intent=bool(session.intents & Intent.GUILD_PRESENCES),
            join=join,
        )

    async def _resume(self, conn: Connection, data: JSON) -> None:
        self.resumes.append(data)
        session = self.sessions.get(data.get("session_id", ""))
        if session is None or data.get("token") != self.token:
            await self._send(conn, {"op": 9, "d": False})  # not resumable: the bot must IDENTIFY again
            return
        session.connection = conn
        conn.session = session
        backlog, session.backlog = session.backlog, []
        for event, event_data in backlog:  # Discord replays missed dispatches before RESUMED
            await self._send_dispatch(session, event, event_data)
        await self._send_dispatch(session, "RESUMED", {})

    async def _voice_state_update(self, conn: Connection, data: JSON) -> None:
        self.voice_requests.append(data)
        if not self.auto_voice or conn.session is None:
            return
        guild = self.guilds.get(int(data["guild_id"]))
        if guild is None:
            return
        session_id = secrets.token_hex(16)
        channel_id = data.get("channel_id")
        state: JSON = {
            "guild_id": str(guild.id),
            "channel_id": str(channel_id) if channel_id else None,
            "user_id": str(self.bot_user_id),
            "member": guild.bot_member.payload(),
            "session_id": session_id,
            "deaf": False,
            "mute": False,
            "self_deaf": bool(data.get("self_deaf")),
            "self_mute": bool(data.get("self_mute")),
            "self_video": False,
            "self_stream": False,
            "suppress": False,
            "request_to_speak_timestamp": None,
        }
        if channel_id:
            guild.voice_states[self.bot_user_id] = state
        else:
            guild.voice_states.pop(self.bot_user_id, None)
        await self.dispatch("VOICE_STATE_UPDATE", state)
        if channel_id:
            # lavalink needs the server update (token + endpoint) before it can connect.
            await self.dispatch(
                "VOICE_SERVER_UPDATE",
                {"token": secrets.token_hex(8), "guild_id": str(guild.id), "endpoint": self.voice_endpoint},
            )

    async def _request_members(self, conn: Connection, data: JSON) -> None:
        self.member_requests.append(data)
        guild = self.guilds.get(int(data.get("guild_id", 0)))
        if guild is None or conn.session is None:
            return
        members = list(guild.members.values())
        if user_ids := data.get("user_ids"):
            wanted = {int(u) for u in (user_ids if isinstance(user_ids, list) else [user_ids])}
            members = [m for m in members if m.id in wanted]
        elif query := data.get("query"):
            members = [m for m in members if m.username.lower().startswith(str(query).lower())]
        if limit := data.get("limit"):
            members = members[: int(limit)]
        chunk: JSON = {
            "guild_id": str(guild.id),
            "members": [m.payload() for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
        }
        if data.get("nonce"):
            chunk["nonce"] = data["nonce"]
        if data.get("presences"):
            chunk["presences"] = []
        await self._send_dispatch(conn.session, "GUILD_MEMBERS_CHUNK", chunk)

    async def _close_all(self) -> None:
        for conn in self.connections:
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001, message=b"fake discord stopping")
