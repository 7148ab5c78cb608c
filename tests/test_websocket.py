"""Tests for whirlwind.websocket over real sockets on 127.0.0.1.

Our server against our client, against raw hostile frames, and against the
independent ``websockets`` package when it is installed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import ssl
import struct
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from whirlwind import httpclient, httpserver, web, websocket
from whirlwind.loop import new_event_loop
from whirlwind.testing import bind_unused_port
from whirlwind.util import _websocket_mask_python
from whirlwind.websocket import (
    WebSocketClosedError,
    WebSocketError,
    WebSocketHandler,
    _websocket_mask,
    websocket_connect,
)

KEY = base64.b64encode(b"0123456789abcdef").decode()


def run(coro_fn: Callable[[], Awaitable[None]]) -> None:
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(asyncio.wait_for(coro_fn(), 10))
        # Let connections that are closing finish their handshakes.
        loop.run_until_complete(asyncio.sleep(0.05))
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    finally:
        asyncio.set_event_loop(None)
        loop.close()


class Recorder:
    def __init__(self) -> None:
        self.events: list[Any] = []
        self.closed: asyncio.Future[tuple[int | None, str | None]] | None = None
        self.handler: WebSocketHandler | None = None


class EchoHandler(WebSocketHandler):
    def initialize(self, rec: Recorder, compression: dict[str, Any] | None = None):  # type: ignore[override]
        self.rec = rec
        self.compression = compression

    def get_compression_options(self) -> dict[str, Any] | None:
        return self.compression

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return "chat" if "chat" in subprotocols else None

    def open(self, *args: str, **kwargs: str) -> None:
        self.rec.handler = self
        self.rec.events.append(("open", args))

    def on_message(self, message: str | bytes) -> Awaitable[None] | None:
        self.rec.events.append(("msg", message))
        if message == "close-me":
            self.close(4000, "bye now")
            return None
        if message == "ping-me":
            self.ping(b"abc")
            return None
        return self.write_message(message, binary=isinstance(message, bytes))

    def on_ping(self, data: bytes) -> None:
        self.rec.events.append(("ping", data))

    def on_pong(self, data: bytes) -> None:
        self.rec.events.append(("pong", data))

    def on_close(self) -> None:
        self.rec.events.append(("close", self.close_code, self.close_reason))
        if self.rec.closed is not None and not self.rec.closed.done():
            self.rec.closed.set_result((self.close_code, self.close_reason))


def listen(
    app: web.Application, ssl_options: ssl.SSLContext | None = None
) -> tuple[httpserver.HTTPServer, int]:
    """An `HTTPServer` for ``app`` on a fresh 127.0.0.1 port: ``(server, port)``."""
    sock, port = bind_unused_port()
    server = httpserver.HTTPServer(app, ssl_options=ssl_options)
    server.add_sockets([sock])
    return server, port


async def start(
    rec: Recorder,
    compression: dict[str, Any] | None = None,
    ssl_options: ssl.SSLContext | None = None,
    **settings: Any,
) -> tuple[httpserver.HTTPServer, int]:
    rec.closed = asyncio.get_running_loop().create_future()
    app = web.Application(
        [(r"/ws(.*)", EchoHandler, {"rec": rec, "compression": compression})],
        **settings,
    )
    return listen(app, ssl_options=ssl_options)


def run_served(
    body: Callable[[Recorder, int], Awaitable[None]], **start_kwargs: Any
) -> None:
    """Run ``body(rec, port)`` against a fresh echo server, stopped afterwards."""

    async def main() -> None:
        rec = Recorder()
        server, port = await start(rec, **start_kwargs)
        try:
            await body(rec, port)
        finally:
            server.stop()

    run(main)


# -- our client against our server ---------------------------------------------


def test_echo_text_binary_json_and_large() -> None:
    async def main(rec: Recorder, port: int) -> None:
        ws = await websocket_connect(f"ws://127.0.0.1:{port}/ws/x")
        await ws.write_message("héllo")
        assert await ws.read_message() == "héllo"
        await ws.write_message(b"\x00\xff\x10", binary=True)
        assert await ws.read_message() == b"\x00\xff\x10"
        await ws.write_message({"a": [1, 2]})
        assert json.loads(await ws.read_message() or "") == {"a": [1, 2]}
        big = os.urandom(300_000)  # 64-bit length field, split writes
        ws.write_message(big, binary=True)
        assert await ws.read_message() == big
        medium = "x" * 1000  # 16-bit length field
        ws.write_message(medium)
        assert await ws.read_message() == medium
        assert rec.events[0] == ("open", ("/x",))
        ws.close(1000, "done")
        assert await ws.read_message() is None
        assert await rec.closed == (1000, "done")  # type: ignore[misc]
        assert ws.close_code == 1000
        with pytest.raises(WebSocketClosedError):
            ws.write_message("late")

    run_served(main)


def test_wss_over_tls(cert: tuple[str, str]) -> None:
    certfile, keyfile = cert
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(certfile, keyfile)
    client_ctx = ssl.create_default_context(cafile=certfile)

    async def main(rec: Recorder, port: int) -> None:
        request = httpclient.HTTPRequest(
            f"wss://127.0.0.1:{port}/ws", ssl_options=client_ctx
        )
        ws = await websocket_connect(request, compression_options={})
        big = os.urandom(100_000)
        ws.write_message(big, binary=True)
        assert await ws.read_message() == big
        ws.write_message("tls text")
        assert await ws.read_message() == "tls text"
        ws.close()
        assert await ws.read_message() is None
        assert (await rec.closed)[0] is None  # type: ignore[misc]

    run_served(main, compression={}, ssl_options=server_ctx)


def test_compression_negotiated_and_bounded() -> None:
    async def main(rec: Recorder, port: int) -> None:
        ws = await websocket_connect(
            f"ws://127.0.0.1:{port}/ws", compression_options={}
        )
        assert ws.headers is not None
        ext = ws.headers["Sec-WebSocket-Extensions"]
        assert ext.startswith("permessage-deflate")
        text = "compress me " * 1000
        for _ in range(3):  # context takeover across messages
            ws.write_message(text)
            assert await ws.read_message() == text
        proto = ws.protocol
        assert proto is not None
        # Compression really happened on the wire.
        assert proto._wire_bytes_out < len(text)
        ws.close()
        assert await ws.read_message() is None

    run_served(main, compression={"compression_level": 9})


def test_compression_not_negotiated_when_server_refuses() -> None:
    async def main(rec: Recorder, port: int) -> None:
        ws = await websocket_connect(
            f"ws://127.0.0.1:{port}/ws", compression_options={}
        )
        assert ws.headers is not None
        assert "Sec-WebSocket-Extensions" not in ws.headers
        ws.write_message("plain")
        assert await ws.read_message() == "plain"
        ws.close()

    run_served(main)


def test_subprotocol_selection() -> None:
    async def main(rec: Recorder, port: int) -> None:
        ws = await websocket_connect(
            f"ws://127.0.0.1:{port}/ws", subprotocols=["v2", "chat"]
        )
        assert ws.selected_subprotocol == "chat"
        assert rec.handler is not None
        assert rec.handler.selected_subprotocol == "chat"
        ws.close()
        ws2 = await websocket_connect(f"ws://127.0.0.1:{port}/ws", subprotocols=["x"])
        assert ws2.selected_subprotocol is None
        ws2.close()

    run_served(main)


def test_server_close_code_and_reason_reach_client() -> None:
    async def main(rec: Recorder, port: int) -> None:
        ws = await websocket_connect(f"ws://127.0.0.1:{port}/ws")
        ws.write_message("close-me")
        assert await ws.read_message() is None
        assert (ws.close_code, ws.close_reason) == (4000, "bye now")
        code, _ = await rec.closed  # type: ignore[misc]
        assert code == 4000

    run_served(main)


def test_ping_pong_both_ways() -> None:
    async def main() -> None:
        rec = Recorder()
        server, port = await start(rec)
        ws = await websocket_connect(f"ws://127.0.0.1:{port}/ws")
        ws.ping(b"hi")
        ws.write_message("ping-me")  # server pings us; our client pongs
        ws.write_message("sync")
        assert await ws.read_message() == "sync"
        for _ in range(50):
            if ("pong", b"abc") in rec.events:
                break
            await asyncio.sleep(0.01)
        assert ("ping", b"hi") in rec.events
        assert ("pong", b"abc") in rec.events
        with pytest.raises(ValueError):
            ws.ping(b"x" * 126)
        ws.close()
        server.stop()

    run(main)


def test_server_ping_interval_closes_silent_peer() -> None:
    async def main() -> None:
        rec = Recorder()
        server, port = await start(
            rec, websocket_ping_interval=0.05, websocket_ping_timeout=0.05
        )
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_upgrade_request())
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        # Never answer pings: the server must give up and close.
        ping = await reader.readexactly(2)
        assert ping[0] == 0x89
        assert await rec.closed == (1000, "ping timed out")  # type: ignore[misc]
        assert b"ping timed out" in await reader.read()
        writer.close()
        server.stop()

    run(main)


def test_classic_callbacks() -> None:
    async def main(rec: Recorder, port: int) -> None:
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def on_connect(
            fut: asyncio.Future[websocket.WebSocketClientConnection],
        ) -> None:
            conn = fut.result()
            conn.write_message("classic")
            conn.read_message(callback=lambda f: done.set_result((conn, f.result())))

        websocket_connect(f"ws://127.0.0.1:{port}/ws", callback=on_connect)
        conn, msg = await done
        assert msg == "classic"
        conn.close()

    run_served(main)


def test_on_message_callback_receives_none_at_close() -> None:
    async def main(rec: Recorder, port: int) -> None:
        got: list[Any] = []
        closed = asyncio.get_running_loop().create_future()

        def on_msg(m: Any) -> None:
            got.append(m)
            if m is None:
                closed.set_result(None)

        ws = await websocket_connect(
            f"ws://127.0.0.1:{port}/ws", on_message_callback=on_msg
        )
        ws.write_message("one")
        ws.write_message("close-me")
        await closed
        assert got == ["one", None]

    run_served(main)


def test_async_on_message_keeps_order() -> None:
    order: list[str] = []

    class SlowHandler(WebSocketHandler):
        async def on_message(self, message: str | bytes) -> None:  # type: ignore[override]
            assert isinstance(message, str)
            await asyncio.sleep(0.01 if message == "a" else 0)
            order.append(message)
            await self.write_message(message)

    async def main() -> None:
        app = web.Application([("/", SlowHandler)])
        server, port = listen(app)
        ws = await websocket_connect(f"ws://127.0.0.1:{port}/")
        for m in "abc":
            ws.write_message(m)
        assert [await ws.read_message() for _ in range(3)] == ["a", "b", "c"]
        assert order == ["a", "b", "c"]
        ws.close()
        server.stop()

    run(main)


def test_connect_refused_and_non_websocket_response() -> None:
    class Plain(web.RequestHandler):
        def get(self) -> None:
            self.write("not a websocket")

    async def main() -> None:
        app = web.Application([("/plain", Plain)])
        server, port = listen(app)
        with pytest.raises(WebSocketError):
            await websocket_connect(f"ws://127.0.0.1:{port}/plain")
        server.stop()
        sock2, port2 = bind_unused_port()
        sock2.close()
        with pytest.raises(OSError):
            await websocket_connect(f"ws://127.0.0.1:{port2}/")

    run(main)


def test_client_rejects_bad_accept_value() -> None:
    async def main() -> None:
        async def fake(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await r.readuntil(b"\r\n\r\n")
            w.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: bogus\r\n\r\n"
            )
            await w.drain()
            await r.read()  # until the client gives up and closes
            w.close()

        srv = await asyncio.start_server(fake, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        with pytest.raises(WebSocketError, match="Accept"):
            await websocket_connect(f"ws://127.0.0.1:{port}/")
        srv.close()
        await srv.wait_closed()

    run(main)


# -- handshake refusals --------------------------------------------------------


def _upgrade_request(
    path: str = "/ws", extra: str = "", version: str = "13", key: str = KEY
) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Version: {version}\r\n"
        f"Sec-WebSocket-Key: {key}\r\n{extra}\r\n"
    ).encode()


async def _raw_status(port: int, request: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    writer.close()
    await writer.wait_closed()
    return int(head.split()[1]), head


def test_handshake_refusals() -> None:
    async def main(rec: Recorder, port: int) -> None:
        status, _ = await _raw_status(
            port, b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        )
        assert status == 400
        status, _ = await _raw_status(
            port,
            b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: close\r\n\r\n",
        )
        assert status == 400
        status, head = await _raw_status(port, _upgrade_request(version="12"))
        assert status == 426
        assert b"sec-websocket-version: 13" in head.lower()
        status, _ = await _raw_status(port, _upgrade_request(key="short"))
        assert status == 400
        # A refused upgrade closes the connection: bytes sent after the
        # handshake are never parsed as another request (upgrade smuggling).
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            _upgrade_request(version="12")
            + b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        )
        everything = await reader.read()
        assert everything.count(b"HTTP/1.1 ") == 1
        assert b"connection: close" in everything.lower()
        writer.close()
        await writer.wait_closed()
        status, _ = await _raw_status(
            port, _upgrade_request(extra="Origin: http://evil.example\r\n")
        )
        assert status == 403
        status, head = await _raw_status(
            port, _upgrade_request(extra="Origin: http://127.0.0.1\r\n")
        )
        assert status == 101
        accept = websocket.WebSocketProtocol13.compute_accept_value(KEY)
        assert f"sec-websocket-accept: {accept.lower()}".encode() in head.lower()
        assert rec.events == [("open", ("",))]

    run_served(main)


# -- hostile frames ---------------------------------------------------------------


def _frame(
    opcode: int,
    payload: bytes,
    fin: bool = True,
    masked: bool = True,
    rsv: int = 0,
    length: int | None = None,
) -> bytes:
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | rsv | opcode
    mbit = 0x80 if masked else 0
    if n < 126:
        head = bytes((b0, mbit | n))
    elif n <= 0xFFFF:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if masked:
        mask = os.urandom(4)
        return head + mask + _websocket_mask(mask, payload)
    return head + payload


async def _expect_close(
    port: int, frames: bytes, extra: str = "", **_: Any
) -> tuple[int, bytes]:
    """Open a raw websocket, send ``frames``; return the server's close code
    and reason, after checking that the server then closes the TCP stream."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(_upgrade_request(extra=extra))
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    writer.write(frames)
    while True:
        b0, b1 = await reader.readexactly(2)
        assert not b1 & 0x80, "server frames must not be masked"
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(await reader.readexactly(2), "big")
        elif n == 127:
            n = int.from_bytes(await reader.readexactly(8), "big")
        payload = await reader.readexactly(n)
        if b0 & 0x0F == 0x8:
            break
    assert await reader.read() == b""  # then the TCP close
    writer.close()
    await writer.wait_closed()
    return int.from_bytes(payload[:2], "big"), payload[2:]


HOSTILE = [
    ("unmasked", _frame(0x1, b"hi", masked=False), 1002),
    ("bad-utf8", _frame(0x1, b"\xff\xfe"), 1007),
    ("truncated-utf8", _frame(0x1, b"\xe2\x82"), 1007),
    ("fragmented-ping", _frame(0x9, b"x", fin=False), 1002),
    ("long-control", _frame(0x9, b"x" * 126), 1002),
    ("orphan-continuation", _frame(0x0, b"orphan"), 1002),
    ("missing-continuation", _frame(0x1, b"a", fin=False) + _frame(0x1, b"b"), 1002),
    ("reserved-opcode", _frame(0x3, b"?"), 1002),
    ("rsv1-uncompressed", _frame(0x1, b"x", rsv=0x40), 1002),
    ("rsv2", _frame(0x1, b"x", rsv=0x20), 1002),
    ("one-byte-close", _frame(0x8, b"\x03"), 1002),
    ("close-1005", _frame(0x8, b"\x03\xed"), 1002),
    ("close-reason-utf8", _frame(0x8, b"\x03\xe8\xff"), 1007),
    ("claims-too-big", _frame(0x2, b"", length=2048), 1009),
    (
        "fragments-too-big",
        _frame(0x2, b"a" * 600, fin=False) + _frame(0x0, b"b" * 600),
        1009,
    ),
]


@pytest.mark.parametrize(
    ("frames", "code"),
    [(f, c) for _, f, c in HOSTILE],
    ids=[name for name, _, _ in HOSTILE],
)
def test_hostile_frames_fail_the_connection(frames: bytes, code: int) -> None:
    async def main() -> None:
        rec = Recorder()
        server, port = await start(rec, websocket_max_message_size=1024)
        got, _ = await _expect_close(port, frames)
        assert got == code
        await rec.closed  # type: ignore[misc]
        # The server keeps serving other clients.
        ws = await websocket_connect(f"ws://127.0.0.1:{port}/ws")
        ws.write_message("still up")
        assert await ws.read_message() == "still up"
        ws.close()
        server.stop()

    run(main)


def test_fragmented_message_with_interleaved_ping() -> None:
    async def main(rec: Recorder, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_upgrade_request())
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            _frame(0x1, "hé".encode()[:2], fin=False)
            + _frame(0x9, b"p")
            + _frame(0x0, "hé".encode()[2:] + b"llo")
        )
        pong = await reader.readexactly(3)
        assert pong == b"\x8a\x01p"
        echo = await reader.readexactly(2 + len("héllo".encode()))
        assert echo[0] == 0x81 and echo[2:].decode() == "héllo"
        writer.write(_frame(0x8, b"\x03\xe8ok"))
        close = await reader.readexactly(4)
        assert close == b"\x88\x02\x03\xe8"
        assert await reader.read() == b""
        assert await rec.closed == (1000, "ok")  # type: ignore[misc]
        writer.close()

    run_served(main)


def test_deflate_bomb_is_bounded() -> None:
    async def main(rec: Recorder, port: int) -> None:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        bomb = c.compress(b"\0" * (50 * 1024 * 1024)) + c.flush(zlib.Z_SYNC_FLUSH)
        bomb = bomb[:-4]
        assert len(bomb) < 64 * 1024
        code, reason = await _expect_close(
            port,
            _frame(0x2, bomb, rsv=0x40),
            extra="Sec-WebSocket-Extensions: permessage-deflate\r\n",
        )
        assert (code, reason) == (1009, b"message too big")

    run_served(main, compression={}, websocket_max_message_size=64 * 1024)


def test_mask_lanes_match_reference_across_sizes() -> None:
    mask = b"\x01\x80\xfe\x37"
    for n in (0, 1, 3, 4, 5, 511, 512, 513, 514, 515, 4096, 70_001):
        data = os.urandom(n)
        masked = bytes(_websocket_mask(mask, data))
        assert masked == _websocket_mask_python(mask, data)
        if n >= 4:
            assert masked[:4] == bytes(
                d ^ m for d, m in zip(data[:4], mask, strict=True)
            )
        assert bytes(_websocket_mask(mask, masked)) == data


# -- the independent ``websockets`` package as a peer --------------------------------


def test_websockets_package_client_against_our_server() -> None:
    client = pytest.importorskip("websockets.asyncio.client")

    async def main(rec: Recorder, port: int) -> None:
        async with client.connect(
            f"ws://127.0.0.1:{port}/ws", subprotocols=["chat"], compression="deflate"
        ) as ws:
            assert ws.subprotocol == "chat"
            await ws.send("from websockets " * 100)
            assert await ws.recv() == "from websockets " * 100
            payload = os.urandom(200_000)
            await ws.send(payload)
            assert await ws.recv() == payload
            await ws.ping(b"x")
        assert (await rec.closed)[0] == 1000  # type: ignore[misc]

    run_served(main, compression={})


def test_our_client_against_websockets_package_server() -> None:
    wsserver = pytest.importorskip("websockets.asyncio.server")

    async def main() -> None:
        async def echo(conn: Any) -> None:
            async for message in conn:
                await conn.send(message)

        async with wsserver.serve(echo, "127.0.0.1", 0, compression="deflate") as srv:
            port = list(srv.sockets)[0].getsockname()[1]
            ws = await websocket_connect(
                f"ws://127.0.0.1:{port}/", compression_options={}
            )
            ws.write_message("ours " * 500)
            assert await ws.read_message() == "ours " * 500
            data = os.urandom(70_000)
            ws.write_message(data, binary=True)
            assert await ws.read_message() == data
            ws.close(1000, "bye")
            assert await ws.read_message() is None
            assert ws.close_code == 1000

    run(main)


def test_async_open_delays_messages_and_http_methods_refused() -> None:
    seen: list[Any] = []

    class SlowOpen(WebSocketHandler):
        async def open(self) -> None:  # type: ignore[override]
            for call in (
                lambda: self.write("x"),
                lambda: self.set_status(500),
                lambda: self.redirect("/"),
                lambda: self.finish(),
            ):
                try:
                    call()
                except RuntimeError:
                    seen.append("refused")
            await asyncio.sleep(0.05)
            seen.append("opened")

        def on_message(self, message: str | bytes) -> None:
            seen.append(message)
            assert isinstance(message, str)
            self.write_message("got " + message)

    async def main() -> None:
        app = web.Application([("/", SlowOpen)])
        server, port = listen(app)
        ws = await websocket_connect(f"ws://127.0.0.1:{port}/")
        ws.write_message("early")
        assert await ws.read_message() == "got early"
        assert seen == ["refused"] * 4 + ["opened", "early"]
        ws.close()
        server.stop()

    run(main)


def test_exception_in_on_message_is_logged_and_aborts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    closed: list[int | None] = []

    class Broken(WebSocketHandler):
        def on_message(self, message: str | bytes) -> None:
            raise ValueError("handler bug")

        def on_close(self) -> None:
            closed.append(self.close_code)

    async def main() -> None:
        app = web.Application([("/", Broken)])
        server, port = listen(app)
        ws = await websocket_connect(f"ws://127.0.0.1:{port}/")
        ws.write_message("boom")
        assert await ws.read_message() is None
        for _ in range(50):
            if closed:
                break
            await asyncio.sleep(0.01)
        assert closed == [None]
        server.stop()

    with caplog.at_level(logging.ERROR, "whirlwind.application"):
        run(main)
    assert any(
        r.exc_info and isinstance(r.exc_info[1], ValueError) for r in caplog.records
    )


def test_slow_reader_stops_the_client_reading() -> None:
    # The server floods; a client that does not read leaves data in TCP
    # buffers instead of queueing every message in memory.
    class Flood(WebSocketHandler):
        async def open(self) -> None:  # type: ignore[override]
            for _ in range(200):
                await self.write_message("y" * 10_000)

        def on_message(self, message: str | bytes) -> None:
            pass

    async def main() -> None:
        app = web.Application([("/", Flood)])
        server, port = listen(app)
        ws = await websocket_connect(f"ws://127.0.0.1:{port}/")
        await asyncio.sleep(0.2)
        assert len(ws._queue) <= 2
        got = 0
        while got < 200:
            assert await ws.read_message() == "y" * 10_000
            got += 1
        ws.close()
        server.stop()

    run(main)


async def _read_server_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    b0, b1 = await reader.readexactly(2)
    assert not b1 & 0x80, "server frames must not be masked"
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(await reader.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await reader.readexactly(8), "big")
    return b0, await reader.readexactly(n)


def test_randomly_fragmented_and_split_stream() -> None:
    # Messages cut into random fragments, with pings between fragments, and
    # the byte stream cut at random points (headers split across reads).
    import random

    rng = random.Random(6455)
    messages: list[str | bytes] = []
    for i in range(120):
        size = rng.choice([0, 1, 5, 125, 126, 127, 300, 65535, 65536, 70_000])
        if i % 2:
            messages.append(rng.randbytes(size))
        else:
            messages.append("é" * (size // 2))
    blob = bytearray()
    for m in messages:
        data = m.encode() if isinstance(m, str) else m
        opcode = 0x1 if isinstance(m, str) else 0x2
        cuts = sorted(rng.sample(range(len(data) + 1), k=min(2, len(data) + 1)))
        pieces = [
            data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)
        ]
        for j, piece in enumerate(pieces):
            last = j == len(pieces) - 1
            blob += _frame(opcode if j == 0 else 0x0, piece, fin=last)
            if not last and rng.random() < 0.5:
                blob += _frame(0x9, b"p%d" % j)

    async def main(rec: Recorder, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_upgrade_request())
        await reader.readuntil(b"\r\n\r\n")

        async def send() -> None:
            pos = 0
            while pos < len(blob):
                step = rng.choice([1, 2, 3, 7, 64, 1000, 40_000])
                writer.write(bytes(blob[pos : pos + step]))
                pos += step
                await writer.drain()
                if step < 8:
                    await asyncio.sleep(0.0005)

        sender = asyncio.ensure_future(send())
        got: list[str | bytes] = []
        while len(got) < len(messages):
            b0, payload = await _read_server_frame(reader)
            if b0 == 0x81:
                got.append(payload.decode())
            elif b0 == 0x82:
                got.append(payload)
            else:
                assert b0 == 0x8A  # pongs for our pings
        await sender
        assert got == messages
        writer.write(_frame(0x8, b"\x03\xe8"))
        assert (await _read_server_frame(reader))[0] == 0x88
        writer.close()
        await writer.wait_closed()

    run_served(main)
