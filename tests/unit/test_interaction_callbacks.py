"""The interaction-answer connection pool against a raw local HTTP server that shows exactly what went over the wire."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
import pytest_asyncio

from hanabi.clients.interaction_callbacks import CallbackFailed, InteractionCallbacks

Reply = Callable[[bytes, asyncio.StreamWriter], Awaitable[bool]]  # returns False to close the connection


def plain(body: bytes, status: str = "200 OK", extra: bytes = b"") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n".encode()
        + extra
        + b"\r\n"
        + body
    )


@dataclass
class RawServer:
    reply: Reply
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/api/v10"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                if not await self.reply(request, writer):
                    return
        finally:
            writer.close()


Serve = Callable[[Reply], Awaitable[RawServer]]


@pytest_asyncio.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[RawServer] = []

    async def start(reply: Reply) -> RawServer:
        raw = RawServer(reply)
        raw.server = await asyncio.start_server(raw.handle, "127.0.0.1", 0)
        servers.append(raw)
        return raw

    yield start
    for raw in servers:
        assert raw.server is not None
        raw.server.close()


def pool(url: str, **options: float) -> InteractionCallbacks:
    return InteractionCallbacks(url, "DiscordBot (test, 1) Hanabi/test", ssl.create_default_context(), **options)  # type: ignore[arg-type]


async def ok(request: bytes, writer: asyncio.StreamWriter) -> bool:
    writer.write(plain(b'{"interaction": {"id": "1"}}'))
    return True


@pytest.mark.asyncio
async def test_requests_are_well_formed_and_share_one_connection(serve: Serve) -> None:
    raw = await serve(ok)
    callbacks = pool(raw.url)
    for interaction_id in (11, 12, 13):
        response = await callbacks.post(interaction_id, "tok.en:x", b'{"type":4}')
        assert (response.status, response.body) == (200, b'{"interaction": {"id": "1"}}')
        assert response.headers["content-type"] == "application/json"
    assert raw.connections == 1
    assert callbacks.connections == 1
    head, _, body = raw.requests[0].partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /api/v10/interactions/11/tok.en:x/callback?with_response=true HTTP/1.1"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert headers["Host"] == raw.url.split("/")[2]
    assert headers["User-Agent"] == "DiscordBot (test, 1) Hanabi/test"
    assert headers["Content-Type"] == "application/json"
    assert headers["Content-Length"] == "10"
    assert body == b'{"type":4}'
    await callbacks.close()
    assert callbacks.connections == 0


@pytest.mark.asyncio
async def test_chunked_responses_and_split_packets_are_read_whole(serve: Serve) -> None:
    async def chunked(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        await writer.drain()
        for piece in (b'{"interaction":', b' {"id": "7"}}'):
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.write(b"0\r\n\r\n")
        return True

    raw = await serve(chunked)
    callbacks = pool(raw.url)
    response = await callbacks.post(1, "t", b"{}")
    assert response.body == b'{"interaction": {"id": "7"}}'
    assert (await callbacks.post(2, "t", b"{}")).status == 200
    assert raw.connections == 1
    await callbacks.close()


@pytest.mark.asyncio
async def test_a_connection_the_server_closes_is_not_reused(serve: Serve) -> None:
    async def once(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(plain(b"{}", extra=b"Connection: close\r\n"))
        return False

    raw = await serve(once)
    callbacks = pool(raw.url)
    for interaction_id in (1, 2):
        assert (await callbacks.post(interaction_id, "t", b"{}")).status == 200
    assert raw.connections == 2
    assert callbacks.connections == 0


@pytest.mark.asyncio
async def test_an_idle_connection_dropped_by_the_server_is_replaced(serve: Serve) -> None:
    async def answer_then_hang_up(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(plain(b"{}"))
        await writer.drain()
        return False  # closes after answering, without saying so in the response

    raw = await serve(answer_then_hang_up)
    callbacks = pool(raw.url)
    assert (await callbacks.post(1, "t", b"{}")).status == 200
    await asyncio.sleep(0.05)  # the close reaches the idle connection
    assert (await callbacks.post(2, "t", b"{}")).status == 200
    assert raw.connections == 2


@pytest.mark.asyncio
async def test_no_response_raises_callback_failed(serve: Serve) -> None:
    async def hang_up(request: bytes, writer: asyncio.StreamWriter) -> bool:
        return False

    async def silent(request: bytes, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(5)
        return False

    async def garbage(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        return True

    for reply, message in ((hang_up, "connection"), (silent, "no response within"), (garbage, "unparsable")):
        raw = await serve(reply)
        callbacks = pool(raw.url, timeout=0.2)
        with pytest.raises(CallbackFailed, match=message):
            await callbacks.post(1, "t", b"{}")
        assert callbacks.connections == 0


@pytest.mark.asyncio
async def test_unreachable_server_and_full_pool(serve: Serve) -> None:
    raw = await serve(ok)
    assert raw.server is not None
    port = raw.server.sockets[0].getsockname()[1]
    raw.server.close()
    await raw.server.wait_closed()
    with pytest.raises(CallbackFailed, match="could not connect"):
        await pool(f"http://127.0.0.1:{port}/api/v10").post(1, "t", b"{}")

    release = asyncio.Event()

    async def slow(request: bytes, writer: asyncio.StreamWriter) -> bool:
        await release.wait()
        writer.write(plain(b"{}"))
        return True

    raw = await serve(slow)
    callbacks = pool(raw.url, max_connections=1)
    assert callbacks.has_room()
    in_flight = asyncio.create_task(callbacks.post(1, "t", b"{}"))
    await asyncio.sleep(0.05)
    assert not callbacks.has_room()  # the caller then answers through hikari instead of waiting
    release.set()
    assert (await in_flight).status == 200
    assert callbacks.has_room()
    await callbacks.close()
    assert not callbacks.has_room()


def test_only_http_urls_are_accepted() -> None:
    with pytest.raises(ValueError, match="not an http"):
        pool("ftp://example.com/api")


def test_the_same_on_uvloop() -> None:
    # The bot runs on uvloop by default, whose transports are not asyncio's classes.
    uvloop = pytest.importorskip("uvloop")

    async def scenario() -> None:
        server = RawServer(ok)
        server.server = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        callbacks = pool(server.url)
        for interaction_id in (1, 2):
            assert (await callbacks.post(interaction_id, "t", b"{}")).status == 200
        assert server.connections == 1
        await callbacks.close()
        server.server.close()

    async def bounded() -> None:
        async with asyncio.timeout(5):
            await scenario()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(bounded())
