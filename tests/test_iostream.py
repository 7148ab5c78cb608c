"""whirlwind.iostream over real socket pairs, TCP on 127.0.0.1, TLS and pipes.

Every test runs on whirlwind's loop (with the poller that WHIRLWIND_POLLER
selects) and on asyncio's default loop, plus uvloop when installed.
"""

from __future__ import annotations

import asyncio
import gc
import os
import re
import socket
import ssl
import weakref
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import LOOP_FACTORIES, Runner
from whirlwind.iostream import (
    IOStream,
    PipeIOStream,
    SSLIOStream,
    StreamBufferFullError,
    StreamClosedError,
    UnsatisfiableReadError,
)
from whirlwind.netutil import ssl_options_to_context


async def unix_pair(**kwargs: Any) -> tuple[IOStream, IOStream]:
    a, b = socket.socketpair()
    return IOStream(a, **kwargs), IOStream(b, **kwargs)


async def tcp_pair(**kwargs: Any) -> tuple[IOStream, IOStream]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        client = IOStream(socket.socket(), **kwargs)
        connected = client.connect(listener.getsockname())
        while True:
            try:
                conn, _ = listener.accept()
                break
            except BlockingIOError:  # pragma: no cover
                await asyncio.sleep(0.01)
        await connected
    return client, IOStream(conn, **kwargs)


async def spin(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def wait_until(pred: Callable[[], bool], timeout: float = 2.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        assert loop.time() < end, "condition not reached"
        await asyncio.sleep(0.005)


# ---------------------------------------------------------------- basics


def test_read_until_read_bytes_write(run: Runner) -> None:
    async def main() -> None:
        a, b = await unix_pair()
        await a.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody")
        assert await b.read_until(b"\r\n\r\n") == b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        assert await b.read_bytes(4) == b"body"
        a.write(b"12")
        a.write(memoryview(b"34"))
        a.write(bytearray(b"56"))
        assert await b.read_bytes(6) == b"123456"
        a.close()
        b.close()

    run(main())


def test_tcp_connect_and_large_transfer(run: Runner) -> None:
    async def main() -> None:
        a, b = await tcp_pair()
        a.set_nodelay(True)
        payload = os.urandom(3 * 1024 * 1024)
        w = a.write(payload)
        got = await b.read_bytes(len(payload))
        await w
        assert got == payload
        assert not a.writing()
        a.close()
        b.close()

    run(main())


def test_buffered_data_completes_at_once(run: Runner) -> None:
    async def main() -> None:
        a, b = await unix_pair()
        await a.write(b"one\ntwo\nthree\n")
        assert await b.read_until(b"\n") == b"one\n"
        await spin()
        f = b.read_until(b"\n")
        assert f.done() and f.result() == b"two\n"
        f = b.read_bytes(3)
        assert f.done() and f.result() == b"thr"
        a.close()
        b.close()

    run(main())


def test_second_pending_read_is_an_error(run: Runner) -> None:
    async def main() -> None:
        a, b = await unix_pair()
        f = b.read_bytes(10)
        assert b.reading()
        with pytest.raises(AssertionError):
            b.read_until(b"\n")
        await a.write(b"0123456789")
        assert await f == b"0123456789"
        assert not b.reading()
        a.close()
        b.close()

    run(main())


def test_delimiter_arriving_byte_at_a_time(run: Runner) -> None:
    async def main() -> None:
        a, b = await unix_pair()
        f = b.read_until(b"\r\n\r\n")
        for byte in b"abc\r\n\r\nrest":
            await a.write(bytes([byte]))
            await spin(2)
        assert await f == b"abc\r\n\r\n"
        assert await b.read_bytes(4) == b"rest"
        a.close()
        b.close()

    run(main())


def test_read_until_max_bytes(run: Runner) -> None:
    async def main() -> None:
        a, b = await unix_pair()
        closed: list[bool] = []
        b.set_close_callback(lambda: closed.append(True))
        await a.write(b"abcd\n")
        assert await b.read_until(b"\n", max_bytes=5) == b"abcd\n"
        await a.write(b"abcdefgh")
        f = b.read_until(b"\n", max_bytes=5)
        with pytest.raises(StreamClosedError) as info:
            await f
        assert isinstance(info.value.real_error, UnsatisfiableReadError)
        assert b.closed()
        await wait_until(lambda: bool(closed))
        a.close()

    run(main())


def test_read_until_max_bytes_reached_later(run: Runner) -> None:
    async def main() -> None:
        a, b = await unix_pair()
        f = b.read_until(b"\n", max_bytes=100)
        await a.write(b"x" * 50)
        await spin()
        assert not f.done()
        await a.write(b"x" * 60)
        with pytest.raises(StreamClosedError):
            await f
        a.close()

    run(main())


def test_read_until_regex(run: Runner) -> None:
    async def main() -> None:
        a, b = await unix_pair()
        await a.write(b"HTTP/1.1 200 OK\r\n\r\nnext\n\nmore")
        assert await b.read_until_regex(b"\r?\n\r?\n") == b"HTTP/1.1 200 OK\r\n\r\n"
        assert await b.read_until_regex(re.compile(b"\n\n")) == b"next\n\n"
        f = b.read_until_regex(b"[0-9]+;", max_bytes=10)
        await a.write(b"123;")
        assert await f == b"more123;"
        f = b.read_until_regex(b"z", max_bytes=3)
        await a.write(b"abcdef")
        with pytest.raises(StreamClosedError):
            await f
        a.close()

    run(main())


def test_read_bytes_partial_and_zero(run: Runner) -> None:
    async def main() -> None:
        a, b = await unix_pair()
        assert await b.read_bytes(0) == b""
        f = b.read_bytes(100, partial=True)
        await a.write(b"abc")
        assert await f == b"abc"
        await a.write(b"0123456789")
        await spin()
        assert await b.read_bytes(4, partial=True) == b"0123"
        a.close()
        b.close()

    run(main())


def test_read_into(run: Runner) -> None:
    async def main() -> None:
        a, b = await unix_pair()
        buf = bytearray(8)
        f = b.read_into(buf)
        await a.write(b"1234")
        await spin()
        assert not f.done()
        await a.write(b"5678xy")
        assert await f == 8
        assert buf == b"12345678"
        small = bytearray(10)
        assert await b.read_into(small, partial=True) == 2
        assert small[:2] == b"xy"
        with pytest.raises(TypeError):
            b.read_into(b"readonly")
        a.close()
        b.close()

    run(main())


def test_read_until_close(run: Runner) -> None:
    async def main() -> None:
        a, b = await unix_pair()
        f = b.read_until_close()
        await a.write(b"part1 ")
        await a.write(b"part2")
        a.close()
        assert await f == b"part1 part2"
        assert b.closed()
        # on an already closed stream: the buffered rest
        c, d = await unix_pair()
        d.set_close_callback(lambda: None)  # watch d without reading
        await c.write(b"left over")
        c.close()
        await wait_until(d.closed)
        assert await d.read_until_close() == b"left over"
        assert await d.read_until_close() == b""

    run(main())


def test_buffered_read_after_close(run: Runner) -> None:
    async def main() -> None:
        a, b = await unix_pair()
        b.set_close_callback(lambda: None)
        await a.write(b"line\n")
        a.close()
        await wait_until(b.closed)
        assert await b.read_until(b"\n") == b"line\n"
        with pytest.raises(StreamClosedError):
            b.read_until(b"\n")

    run(main())


def test_pending_read_fails_on_close(run: Runner) -> None:
    async def main() -> None:
        a, b = await unix_pair()
        f = b.read_until(b"\n")
        a.close()
        with pytest.raises(StreamClosedError) as info:
            await f
        assert info.value.real_error is None
        b.close()

    run(main())


# ------------------------------------------------------------ writes/limits


def test_write_after_close_and_waiters_fail(run: Runner) -> None:
    async def main() -> None:
        a, b = await tcp_pair()
        big = b"x" * (16 * 1024 * 1024)
        w = a.write(big)
        assert not w.done()
        a.close()
        with pytest.raises(StreamClosedError):
            await w
        with pytest.raises(StreamClosedError):
            a.write(b"more")
        b.close()

    run(main())


def test_max_write_buffer_size(run: Runner) -> None:
    async def main() -> None:
        a, b = await tcp_pair(max_write_buffer_size=1024 * 1024)
        # Fill the kernel first, then the queue.
        with pytest.raises(StreamBufferFullError):
            for _ in range(200):
                a.write(b"y" * 256 * 1024)
        a.close()
        b.close()

    run(main())


def test_written_bytearray_is_released_after_close(run: Runner) -> None:
    async def main() -> None:
        a, b = await tcp_pair()
        data = bytearray(8 * 1024 * 1024)
        a.write(data)
        a.close()
        data.extend(b"resizable again")  # raises BufferError if still exported
        b.close()

    run(main())


def test_max_buffer_size_backpressure(run: Runner) -> None:
    async def main() -> None:
        limit = 64 * 1024
        a, b = await tcp_pair()
        b.close()
        a2, b2 = await tcp_pair(max_buffer_size=limit, read_chunk_size=16 * 1024)
        payload = os.urandom(8 * 1024 * 1024)
        w = a2.write(payload)
        b2.set_close_callback(lambda: None)  # arms reading with nothing pending
        await asyncio.sleep(0.2)
        # The reader stopped at its limit; the sender is blocked by TCP.
        assert b2._read_buffer_size <= limit + 16 * 1024
        assert not w.done()
        assert a2.writing()
        received = bytearray()
        while len(received) < len(payload):
            received += await b2.read_bytes(limit // 2, partial=True)
        await w
        assert received == payload
        a2.close()
        b2.close()
        a.close()

    run(main())


def test_idle_stream_buffers_little(run: Runner) -> None:
    async def main() -> None:
        # Default max_buffer_size (100 MiB), no read pending: the stream
        # stops after a few chunks instead of swallowing the whole transfer.
        a, b = await tcp_pair(read_chunk_size=16 * 1024)
        b.set_close_callback(lambda: None)  # arms reading, nothing pending
        payload = os.urandom(16 * 1024 * 1024)
        w = a.write(payload)
        await asyncio.sleep(0.2)
        assert b._read_buffer_size <= 256 * 1024 + 16 * 1024
        assert not w.done()
        # A pending read may use the whole buffer: one read takes it all.
        assert await b.read_bytes(len(payload)) == payload
        await w
        a.close()
        b.close()

    run(main())


def test_read_larger_than_max_buffer_closes(run: Runner) -> None:
    async def main() -> None:
        a, b = await unix_pair(max_buffer_size=4096, read_chunk_size=1024)
        f = b.read_until(b"\n")
        a.write(b"z" * 10000)
        with pytest.raises(StreamClosedError) as info:
            await f
        assert isinstance(info.value.real_error, StreamBufferFullError)
        a.close()

    run(main())


# ----------------------------------------------------------- close, errors


def test_close_callback_and_fd_released(run: Runner) -> None:
    async def main() -> None:
        a, b = await unix_pair()
        events: list[str] = []
        b.set_close_callback(lambda: events.append("closed"))
        sock = b.socket
        a.close()
        await wait_until(lambda: events == ["closed"])
        assert b.closed()
        assert sock.fileno() == -1
        assert b.socket is None
        b.close()  # idempotent
        assert events == ["closed"]

    run(main())


def test_connection_reset_sets_error(run: Runner) -> None:
    async def main() -> None:
        a, b = await tcp_pair()
        f = b.read_until_close()
        await a.write(b"abc")
        a.socket.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
        )
        a.close()  # RST
        # A reset counts as a normal close for read_until_close.
        assert await f == b"abc"
        assert b.closed()

    run(main())


def test_connect_refused(run: Runner) -> None:
    async def main() -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            addr = s.getsockname()
        stream = IOStream(socket.socket())
        with pytest.raises(StreamClosedError) as info:
            await stream.connect(addr)
        assert isinstance(info.value.real_error, ConnectionRefusedError)
        assert isinstance(stream.error, ConnectionRefusedError)
        assert stream.closed()

    run(main())


def test_write_while_connecting(run: Runner) -> None:
    async def main() -> None:
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            listener.setblocking(False)
            c = IOStream(socket.socket())
            fut = c.connect(listener.getsockname())
            w = c.write(b"early bird")
            order: list[str] = []
            fut.add_done_callback(lambda f: order.append("connect"))
            w.add_done_callback(lambda f: order.append("write"))
            await fut
            await w
            await spin()
            assert order == ["connect", "write"]
            await wait_until(lambda: _accept_ready(listener))
            conn, _ = listener.accept()
            s = IOStream(conn)
            assert await s.read_bytes(10) == b"early bird"
            s.close()
            c.close()

    run(main())


def _accept_ready(listener: socket.socket) -> bool:
    import select

    return bool(select.select([listener], [], [], 0)[0])


def test_streams_are_collected(run: Runner) -> None:
    async def main() -> None:
        a, b = await unix_pair()
        f = b.read_until(b"\n")
        await a.write(b"x\n")
        await f
        refs = [weakref.ref(a), weakref.ref(b)]
        a.close()
        b.close()
        del a, b, f
        await spin()
        gc.collect()
        assert [r() for r in refs] == [None, None]

    run(main())


# ------------------------------------------------------------ classic API


def test_classic_callbacks(run: Runner) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        a, b = await unix_pair()
        got: list[Any] = []
        done = loop.create_future()
        chunks: list[bytes] = []

        def on_close_data(data: bytes) -> None:
            got.append(("close", b"".join(chunks), data))
            done.set_result(None)

        def on_bytes(data: bytes) -> None:
            got.append(("bytes", data))
            b.read_until_close(on_close_data, chunks.append)

        def on_line(data: bytes) -> None:
            got.append(("line", data))
            b.read_bytes(3, on_bytes)

        assert b.read_until(b"\n", on_line) is None
        wrote: list[bool] = []
        assert a.write(b"hello\nabc", lambda: wrote.append(True)) is None
        a.write(b"tail one ")
        a.write(b"tail two")
        await spin(10)
        a.close()
        await done
        assert wrote == [True]
        assert got == [
            ("line", b"hello\n"),
            ("bytes", b"abc"),
            ("close", b"tail one tail two", b""),
        ]

    run(main())


def test_classic_streaming_read_bytes_and_regex(run: Runner) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        a, b = await unix_pair()
        parts: list[bytes] = []
        done = loop.create_future()
        b.read_bytes(10, lambda data: done.set_result(data), parts.append)
        await a.write(b"01234")
        await spin()
        await a.write(b"56789extra")
        assert await done == b""
        assert b"".join(parts) == b"0123456789"
        done2 = loop.create_future()
        b.read_until_regex(b"ra", done2.set_result)
        assert await done2 == b"extra"
        a.close()
        b.close()

    run(main())


def test_classic_connect_and_callback_error_closes(run: Runner) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        errors: list[Any] = []
        loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx))
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            c = IOStream(socket.socket())
            connected = loop.create_future()
            assert (
                c.connect(listener.getsockname(), lambda: connected.set_result(1))
                is None
            )
            assert await connected == 1
        closed = loop.create_future()
        c.set_close_callback(lambda: closed.set_result(True))

        def bad(data: bytes) -> None:
            raise ValueError("boom")

        a, b = await unix_pair()
        b.set_close_callback(lambda: closed.set_result(True))
        b.read_bytes(1, bad)
        await a.write(b"!")
        assert await closed is True
        assert isinstance(b.error, ValueError)
        assert errors and isinstance(errors[0]["exception"], ValueError)
        a.close()
        c.close()

    import logging

    logging.getLogger("whirlwind.general").disabled = True
    try:
        run(main())
    finally:
        logging.getLogger("whirlwind.general").disabled = False


# ------------------------------------------------------------------ pipes


def test_pipe_stream(run: Runner) -> None:
    async def main() -> None:
        r, w = os.pipe()
        reader, writer = PipeIOStream(r), PipeIOStream(w)
        await writer.write(b"through the pipe\n" * 1000)
        assert await reader.read_until(b"\n") == b"through the pipe\n"
        rest = reader.read_until_close()
        writer.close()
        assert await rest == b"through the pipe\n" * 999
        assert reader.closed()
        for fd in (r, w):
            with pytest.raises(OSError):
                os.fstat(fd)

    run(main())


# -------------------------------------------------------------------- TLS


def _contexts(cert: tuple[str, str]) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    crt, key = cert
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(crt, key)
    server.set_alpn_protocols(["h2", "http/1.1"])
    client = ssl.create_default_context(cafile=crt)
    client.set_alpn_protocols(["http/1.1"])
    return server, client


async def _tls_pair(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> tuple[SSLIOStream, SSLIOStream]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.setblocking(False)
        client = SSLIOStream(socket.socket(), ssl_options=client_ctx)
        handshake = client.connect(listener.getsockname(), server_hostname="localhost")
        await wait_until(lambda: _accept_ready(listener))
        conn, _ = listener.accept()
        wrapped = server_ctx.wrap_socket(
            conn, server_side=True, do_handshake_on_connect=False
        )
        server = SSLIOStream(wrapped, ssl_options=server_ctx)
        server_ready = server.wait_for_handshake()
        assert await handshake is client
        assert await server_ready is server
    return client, server


def test_tls_roundtrip_sni_alpn(run: Runner, cert: tuple[str, str]) -> None:
    async def main() -> None:
        server_ctx, client_ctx = _contexts(cert)
        names: list[str | None] = []
        server_ctx.sni_callback = lambda sock, name, ctx: names.append(name)
        client, server = await _tls_pair(server_ctx, client_ctx)
        assert names == ["localhost"]
        assert client.socket.selected_alpn_protocol() == "http/1.1"
        big = os.urandom(1024 * 1024)
        client.write(b"ping\r\n")
        client.write(big)
        assert await server.read_until(b"\r\n") == b"ping\r\n"
        assert await server.read_bytes(len(big)) == big
        await server.write(b"pong" * 50000)
        assert await client.read_bytes(200000) == b"pong" * 50000
        rest = client.read_until_close()
        server.close()
        assert await rest == b""
        client.close()

    run(main())


def test_tls_certificate_not_trusted(run: Runner, cert: tuple[str, str]) -> None:
    async def main() -> None:
        server_ctx, _ = _contexts(cert)
        untrusting = ssl.create_default_context()  # system CAs only
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            listener.setblocking(False)
            client = SSLIOStream(socket.socket(), ssl_options=untrusting)
            fut = client.connect(listener.getsockname(), server_hostname="localhost")
            await wait_until(lambda: _accept_ready(listener))
            conn, _ = listener.accept()
            server = SSLIOStream(
                server_ctx.wrap_socket(
                    conn, server_side=True, do_handshake_on_connect=False
                ),
                ssl_options=server_ctx,
            )
            server_hs = server.wait_for_handshake()
            with pytest.raises(ssl.SSLCertVerificationError):
                await fut
            with pytest.raises((ssl.SSLError, OSError)):
                await server_hs
            assert client.closed()
            server.close()

    import logging

    logging.getLogger("whirlwind.general").disabled = True
    try:
        run(main())
    finally:
        logging.getLogger("whirlwind.general").disabled = False


def test_start_tls(run: Runner, cert: tuple[str, str]) -> None:
    async def main() -> None:
        server_ctx, client_ctx = _contexts(cert)
        a, b = await tcp_pair()
        await a.write(b"STARTTLS\r\n")
        assert await b.read_until(b"\r\n") == b"STARTTLS\r\n"
        closed: list[bool] = []
        b.set_close_callback(lambda: closed.append(True))
        fa = a.start_tls(False, client_ctx, server_hostname="localhost")
        fb = b.start_tls(True, server_ctx)
        ta, tb = await asyncio.gather(fa, fb)
        assert isinstance(ta, SSLIOStream) and isinstance(tb, SSLIOStream)
        await ta.write(b"secret\n")
        assert await tb.read_until(b"\n") == b"secret\n"
        ta.close()
        await wait_until(lambda: closed == [True])
        tb.close()

    run(main())


def test_start_tls_requires_idle_stream(run: Runner) -> None:
    async def main() -> None:
        a, b = await unix_pair()
        b.read_bytes(1)
        with pytest.raises(ValueError):
            b.start_tls(True)
        a.close()
        b.close()

    run(main())


def test_read_into_buffer_released_when_read_fails(run: Runner) -> None:
    async def main() -> None:
        a, b = await unix_pair()
        buf = bytearray(16)
        f = b.read_into(buf)
        await a.write(b"abc")
        a.close()
        with pytest.raises(StreamClosedError):
            await f
        buf.extend(b"resizable")  # BufferError if the stream kept a view
        with pytest.raises(StreamClosedError):
            b.read_into(bytearray(4))

    run(main())


def _split_reference(data: bytes, delim: bytes) -> list[bytes]:
    out = []
    while True:
        i = data.find(delim)
        if i < 0:
            return out
        out.append(data[: i + len(delim)])
        data = data[i + len(delim) :]


@settings(max_examples=25, deadline=None)
@given(
    data=st.lists(st.sampled_from([b"a", b"\r", b"\n", b"xy"]), max_size=80).map(
        b"".join
    ),
    delim=st.sampled_from([b"\n", b"\r\n", b"\r\n\r\n", b"a\ra"]),
    chunk=st.integers(min_value=1, max_value=9),
    read_chunk=st.integers(min_value=1, max_value=16),
    use_regex=st.booleans(),
)
def test_stream_read_until_matches_reference(
    data: bytes, delim: bytes, chunk: int, read_chunk: int, use_regex: bool
) -> None:
    # Tiny read_chunk_size forces many reads, buffer growth and compaction
    # while a delimiter read is pending; the writer trickles small chunks.
    async def main() -> list[bytes]:
        a, b = await unix_pair(read_chunk_size=read_chunk)
        expected = _split_reference(data, delim)

        async def feed() -> None:
            for i in range(0, len(data), chunk):
                await a.write(data[i : i + chunk])
                await asyncio.sleep(0)

        feeder = asyncio.ensure_future(feed())
        if use_regex:
            pattern = re.compile(re.escape(delim))
            got = [await b.read_until_regex(pattern) for _ in expected]
        else:
            got = [await b.read_until(delim) for _ in expected]
        await feeder
        a.close()
        b.close()
        return got

    loop = LOOP_FACTORIES["whirlwind"]()
    try:
        got = loop.run_until_complete(asyncio.wait_for(main(), 4))
    finally:
        loop.close()
    assert got == _split_reference(data, delim)


def test_pipe_write_end_close_callback(run: Runner) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        r, w = os.pipe()
        writer = PipeIOStream(w)
        closed = loop.create_future()
        writer.set_close_callback(lambda: closed.set_result(True))
        await writer.write(b"data")
        os.close(r)  # the reader goes away
        assert await closed is True
        assert writer.closed()
        assert writer.error is None

    run(main())


def test_subclass_read_write_hooks_are_used(run: Runner) -> None:
    class Rot13Stream(IOStream):
        # A user stream that transforms bytes in read_from_fd/write_to_fd.
        def read_from_fd(self, buf: memoryview) -> int | None:
            try:
                data = self.socket.recv(len(buf))
            except BlockingIOError:
                return None
            buf[: len(data)] = data.translate(ROT)
            return len(data)

        def write_to_fd(self, data: memoryview) -> int:
            try:
                return self.socket.send(bytes(data).translate(ROT))
            except BlockingIOError:
                return 0

    async def main() -> None:
        a, b = socket.socketpair()
        plain, rot = IOStream(a), Rot13Stream(b)
        await plain.write(b"uryyb\n")
        assert await rot.read_until(b"\n") == b"hello\n"
        await rot.write(b"world\n")
        assert await plain.read_until(b"\n") == b"jbeyq\n"
        plain.close()
        rot.close()

    run(main())


ROT = bytes.maketrans(b"abcdefghijklmnopqrstuvwxyz", b"nopqrstuvwxyzabcdefghijklm")


def test_read_from_fd_replaced_on_an_instance_is_used(run: Runner) -> None:
    # Replacing the hook on one live stream (a wrapper, a test stub) takes
    # effect for that stream's next reads.
    async def main() -> None:
        a, b = socket.socketpair()
        plain, stream = IOStream(a), IOStream(b)
        await plain.write(b"one\n")
        assert await stream.read_until(b"\n") == b"one\n"
        seen: list[int] = []
        native = type(stream).read_from_fd

        def counting(buf: memoryview) -> int | None:
            seen.append(len(buf))
            return native(stream, buf)

        stream.read_from_fd = counting  # type: ignore[method-assign]
        await plain.write(b"uryyb\n")
        assert await stream.read_until(b"\n") == b"uryyb\n"
        assert seen
        plain.close()
        stream.close()

    run(main())


def test_stream_is_a_compiled_sink_on_whirlwind_loop() -> None:
    # On whirlwind's loop the stream registers itself with the loop core
    # (no add_reader Handle); the fd table then refuses Python callbacks.
    async def main() -> None:
        loop = asyncio.get_running_loop()
        a, b = await unix_pair()
        b.set_close_callback(lambda: None)  # registers the stream
        with pytest.raises(RuntimeError, match="compiled stream"):
            loop.add_reader(b.fileno(), lambda: None)
        assert loop.remove_reader(b.fileno()) is False
        await a.write(b"still works\n")
        assert await b.read_until(b"\n") == b"still works\n"
        fd = b.fileno()
        b.close()
        # closing hands the fd slot back
        c, d = socket.socketpair()
        try:
            if c.fileno() == fd or d.fileno() == fd:
                loop.add_reader(fd, lambda: None)
                assert loop.remove_reader(fd) is True
        finally:
            c.close()
            d.close()
        a.close()

    loop = LOOP_FACTORIES["whirlwind"]()
    try:
        loop.run_until_complete(asyncio.wait_for(main(), 4))
    finally:
        loop.close()


def test_classic_positional_forms(run: Runner) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        a, b = await unix_pair()
        got = loop.create_future()
        # read_until(delimiter, callback, max_bytes) as in Tornado 3/4
        b.read_until(b"\n", got.set_result, 100)
        await a.write(b"ok\n")
        assert await got == b"ok\n"
        # read_bytes(n, callback, streaming_callback, partial)
        got2 = loop.create_future()
        b.read_bytes(100, got2.set_result, None, True)
        await a.write(b"some")
        assert await got2 == b"some"
        # max_bytes still applies in the classic form
        closed = loop.create_future()
        b.set_close_callback(lambda: closed.set_result(True))
        b.read_until(b"\n", lambda data: None, 3)
        await a.write(b"toolong\n")
        assert await closed is True
        assert isinstance(b.error, UnsatisfiableReadError)
        a.close()

    run(main())


def test_tls_dict_options_and_classic_connect(
    run: Runner, cert: tuple[str, str]
) -> None:
    # ssl_options as a dict of old wrap_socket keywords (Tornado's form):
    # the server loads certfile/keyfile, the client skips verification.
    async def main() -> None:
        loop = asyncio.get_running_loop()
        crt, key = cert
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            listener.setblocking(False)
            client = SSLIOStream(
                socket.socket(), ssl_options={"cert_reqs": ssl.CERT_NONE}
            )
            connected = loop.create_future()
            assert (
                client.connect(
                    listener.getsockname(), lambda: connected.set_result(True)
                )
                is None
            )
            await wait_until(lambda: _accept_ready(listener))
            conn, _ = listener.accept()
            server_ctx = ssl_options_to_context(
                {"certfile": crt, "keyfile": key}, server_side=True
            )
            server = SSLIOStream(
                server_ctx.wrap_socket(
                    conn, server_side=True, do_handshake_on_connect=False
                )
            )
            assert await server.wait_for_handshake() is server
            assert await connected is True
            await client.write(b"over tls\n")
            assert await server.read_until(b"\n") == b"over tls\n"
            client.close()
            server.close()

    run(main())


@pytest.mark.parametrize("kind", sorted(LOOP_FACTORIES))
def test_close_after_loop_closed(kind: str) -> None:
    loop = LOOP_FACTORIES[kind]()
    a, b = socket.socketpair()

    async def make() -> tuple[IOStream, IOStream]:
        return IOStream(a), IOStream(b)

    sa, sb = loop.run_until_complete(make())
    sa.set_close_callback(lambda: None)
    loop.close()
    sa.close()  # must not raise on the closed loop
    sb.close()
    assert sa.closed() and sb.closed()
    assert a.fileno() == -1 and b.fileno() == -1


def test_read_until_regex_http_head_end(run: Runner) -> None:
    # b"\r?\n\r?\n" is scanned in C; results must equal re.search().end().
    async def main() -> None:
        a, b = await unix_pair()
        head = b"GET / HTTP/1.1\r\nHost: x\n\r\nBODY"
        f = b.read_until_regex(b"\r?\n\r?\n", max_bytes=64)
        for byte in head:
            await a.write(bytes([byte]))
            await spin(1)
        assert await f == b"GET / HTTP/1.1\r\nHost: x\n\r\n"
        assert await b.read_bytes(4) == b"BODY"
        f = b.read_until_regex(re.compile(b"\n\r?\n"), max_bytes=10)
        await a.write(b"0123456789ab\n\n")
        with pytest.raises(StreamClosedError) as info:
            await f
        assert isinstance(info.value.real_error, UnsatisfiableReadError)
        a.close()

    run(main())


def test_start_tls_on_fresh_stream_after_delay(
    run: Runner, cert: tuple[str, str]
) -> None:
    # A stream nobody has read from reads nothing ahead: the client's TLS
    # hello waits in the kernel until the server converts its stream.
    async def main() -> None:
        server_ctx, client_ctx = _contexts(cert)
        a, b = await tcp_pair()
        fa = a.start_tls(False, client_ctx, server_hostname="localhost")
        await asyncio.sleep(0.05)
        assert b._read_buffer_size == 0
        fb = b.start_tls(True, server_ctx)
        ta, tb = await asyncio.gather(fa, fb)
        await tb.write(b"hi\n")
        assert await ta.read_until(b"\n") == b"hi\n"
        ta.close()
        tb.close()

    run(main())
