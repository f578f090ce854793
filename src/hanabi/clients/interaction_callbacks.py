"""Interaction answers over a small pool of keep-alive HTTP/1.1 connections of their own.

Every command, click and modal is answered with one POST to `/interactions/{id}/{token}/callback`. Through
hikari's REST client that POST cost about 500 µs of CPU on the slower benchmark host: hikari's request
machinery (headers, exit stacks, route compiling) and aiohttp's (a request and a response object, a writer
task, timers, four turns of the event loop). Written straight to a kept-alive socket and read back with
httptools (llhttp, the parser uvicorn uses), the whole answer costs about 160 µs (docs/benchmarks.md, section 37).

This module only does the part that is the same for every answer: send the bytes, read one response. What a
response means is decided by the caller (`hanabi.infra.rest`), which hands everything but a plain success or
a plain client error back to hikari, so retries, 429 waits and server errors behave exactly as before.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections import deque
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 5.0  # seconds; Discord drops an interaction not answered within 3
IDLE_TIMEOUT = 10.0  # a connection idle longer is closed, not reused: servers close idle ones first (aiohttp: 15 s)
# Open at once (aiohttp's default limit too). One answer holds one for a round trip to Discord, so 100 carry about
# 1,000 answers a second at 100 ms; past this an answer goes through hikari's own pool instead of waiting.
MAX_CONNECTIONS = 100


class CallbackFailed(Exception):
    """No complete response: the connection broke, timed out, or the response could not be parsed."""


@dataclass(frozen=True, slots=True)
class CallbackResponse:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection carrying one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[CallbackResponse] | None = None
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []

    @property
    def usable(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    async def send(self, request: bytes) -> CallbackResponse:
        assert self.transport is not None
        waiter: asyncio.Future[CallbackResponse] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        self._headers = {}
        self._body = []
        self.transport.write(request)
        return await waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)  # uvloop's transports do not subclass asyncio's

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(CallbackFailed(f"unparsable response: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(CallbackFailed(f"connection lost: {exc}" if exc else "connection closed"))

    def _fail(self, exc: CallbackFailed) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        # httptools joins a header split across packets before calling this.
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        response = CallbackResponse(self._parser.get_status_code(), self._headers, b"".join(self._body))
        if not self._parser.should_keep_alive():
            self.close()
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(response)


class InteractionCallbacks:
    """POSTs interaction callbacks to Discord's REST base URL over reused connections."""

    def __init__(
        self,
        rest_url: str,
        user_agent: str,
        ssl_context: ssl.SSLContext,
        *,
        timeout: float = REQUEST_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        url = urlsplit(rest_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {rest_url!r}")
        self._host = url.hostname
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._ssl = ssl_context if url.scheme == "https" else None
        self._path = url.path.rstrip("/")
        host_header = url.netloc.rpartition("@")[2]
        self._head = (
            f"Host: {host_header}\r\nUser-Agent: {user_agent}\r\nContent-Type: application/json\r\nContent-Length: "
        ).encode("latin-1")
        self._timeout = timeout
        self._max_connections = max_connections
        self._idle: deque[_Connection] = deque()
        self._open = 0
        self._closed = False

    @property
    def connections(self) -> int:
        """Open connections, busy or idle."""
        return self._open

    def has_room(self) -> bool:
        return not self._closed and (bool(self._idle) or self._open < self._max_connections)

    async def post(self, interaction_id: int, token: str, body: bytes) -> CallbackResponse:
        """One callback with `?with_response=true`; raises CallbackFailed when no complete response came back.

        `token` must already be known to be URL-safe (the caller checks; Discord's tokens are).
        """
        target = f"{self._path}/interactions/{interaction_id}/{token}/callback?with_response=true"
        request = b"".join((f"POST {target} HTTP/1.1\r\n".encode("ascii"), self._head, b"%d\r\n\r\n" % len(body), body))
        try:
            async with asyncio.timeout(self._timeout):  # connecting included
                connection = await self._acquire()
                try:
                    response = await connection.send(request)
                except BaseException:
                    connection.close()  # a half-read response must not be mistaken for the next request's
                    self._open -= 1
                    raise
        except TimeoutError:
            raise CallbackFailed(f"no response within {self._timeout:g} s") from None
        self._release(connection)
        return response

    async def _acquire(self) -> _Connection:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()  # the most recently used: the likeliest to still be open
            if connection.usable and now - connection.idle_since < IDLE_TIMEOUT:
                return connection
            connection.close()
            self._open -= 1
        if self._closed:
            raise CallbackFailed("closed")
        self._open += 1
        try:
            _, connection = await asyncio.get_running_loop().create_connection(
                _Connection, self._host, self._port, ssl=self._ssl
            )
        except OSError as exc:  # refused, unreachable, or the TLS handshake failed (ssl.SSLError)
            self._open -= 1
            raise CallbackFailed(f"could not connect to {self._host}:{self._port}: {exc}") from exc
        except BaseException:
            self._open -= 1
            raise
        return connection

    def _release(self, connection: _Connection) -> None:
        if self._closed or not connection.usable:
            connection.close()
            self._open -= 1
            return
        connection.idle_since = time.monotonic()
        self._idle.append(connection)

    async def close(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().close()
            self._open -= 1
