"""Server-side dashboard sessions: PostgreSQL by default, Redis when it is configured.

The browser holds only a random session id in an HttpOnly cookie. The store is keyed by an HMAC of that id under
SESSION_SECRET, so neither a copy of the table nor a leaked Redis dump lets anybody use a session, and rotating
the secret ends every session. The Discord access token lives in the session data and never leaves the server.
CSRF tokens are derived from the session id with the same secret (a synchronizer token that needs no storage).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from hanabi.infra.clock import Clock
from hanabi.repositories.dashboard import DashboardRepository

SESSION_LIFETIME = timedelta(days=7)
LOGIN_LIFETIME = timedelta(minutes=10)  # a session that has only started the OAuth dance


class SessionStore(Protocol):
    kind: str

    async def load(self, id_hash: str, now: datetime) -> dict[str, Any] | None: ...

    async def save(self, id_hash: str, data: dict[str, Any], expires_at: datetime, now: datetime) -> None: ...

    async def delete(self, id_hash: str) -> None: ...


class PostgresSessionStore:
    kind = "postgres"

    def __init__(self, repository: DashboardRepository) -> None:
        self._repository = repository
        self._saves = 0

    async def load(self, id_hash: str, now: datetime) -> dict[str, Any] | None:
        return await self._repository.load_session(id_hash, now)

    async def save(self, id_hash: str, data: dict[str, Any], expires_at: datetime, now: datetime) -> None:
        await self._repository.save_session(id_hash, data, expires_at)
        self._saves += 1
        if self._saves % 100 == 1:  # expired rows go now and then; loads ignore them anyway
            await self._repository.purge_sessions(now)

    async def delete(self, id_hash: str) -> None:
        await self._repository.delete_session(id_hash)


class RedisSessionStore:
    kind = "redis"

    def __init__(self, url: str, namespace: str) -> None:
        import redis.asyncio as redis_asyncio

        self._redis = redis_asyncio.from_url(url, socket_connect_timeout=5)
        self._prefix = f"{namespace}:dashboard:session:"

    async def load(self, id_hash: str, now: datetime) -> dict[str, Any] | None:
        raw = await self._redis.get(self._prefix + id_hash)
        if raw is None:
            return None
        data = json.loads(raw)
        return dict(data) if isinstance(data, dict) else None

    async def save(self, id_hash: str, data: dict[str, Any], expires_at: datetime, now: datetime) -> None:
        ttl = max(1, int((expires_at - now).total_seconds()))
        await self._redis.set(self._prefix + id_hash, json.dumps(data), ex=ttl)

    async def delete(self, id_hash: str) -> None:
        await self._redis.delete(self._prefix + id_hash)

    async def close(self) -> None:
        await self._redis.aclose()


@dataclass
class Session:
    """One browser's session. `data` is saved when `dirty`; `sid` is the raw cookie value (never stored)."""

    sid: str
    data: dict[str, Any] = field(default_factory=dict)
    new: bool = False
    dirty: bool = False
    ended: bool = False

    @property
    def user_id(self) -> int | None:
        user = self.data.get("user")
        return int(user["id"]) if isinstance(user, dict) else None

    @property
    def username(self) -> str:
        user = self.data.get("user") or {}
        return str(user.get("global_name") or user.get("username") or "?")

    def set(self, key: str, value: Any) -> None:
        self.data[key] = value
        self.dirty = True

    def pop(self, key: str) -> Any:
        self.dirty = True
        return self.data.pop(key, None)


class SessionManager:
    def __init__(self, store: SessionStore, secret: str, clock: Clock) -> None:
        self.store = store
        self._key = secret.encode()
        self._clock = clock

    def _hash(self, sid: str) -> str:
        return hmac.new(self._key, b"session:" + sid.encode(), hashlib.sha256).hexdigest()

    def csrf_token(self, session: Session) -> str:
        return hmac.new(self._key, b"csrf:" + session.sid.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(session), str(token))

    async def load(self, sid: str | None) -> Session | None:
        if not sid or len(sid) > 100:
            return None
        data = await self.store.load(self._hash(sid), self._clock.now())
        return Session(sid, data) if data is not None else None

    def new(self) -> Session:
        return Session(secrets.token_urlsafe(32), new=True, dirty=True)

    async def save(self, session: Session) -> None:
        lifetime = SESSION_LIFETIME if session.user_id is not None else LOGIN_LIFETIME
        now = self._clock.now()
        await self.store.save(self._hash(session.sid), session.data, now + lifetime, now)
        session.dirty = False

    async def end(self, session: Session) -> None:
        await self.store.delete(self._hash(session.sid))
        session.ended = True

    async def rotate(self, session: Session) -> Session:
        """A fresh id for the same data (after login: an id seen before login is worth nothing afterwards)."""
        await self.store.delete(self._hash(session.sid))
        fresh = self.new()
        fresh.data = dict(session.data)
        session.ended = True
        return fresh
