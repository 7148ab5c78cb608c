"""Conformance tests for whirlwind.loop.

Every test taking the ``loop`` fixture runs twice: on whirlwind's EventLoop and
on asyncio's own selector loop (the reference).  Behaviour that only whirlwind
has (the compiled core's counters, the IOSink hook, fork safety, GC parking)
is tested in test_loop_core.py.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import signal
import socket
import ssl
import sys
import threading
import time
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

import whirlwind
from whirlwind.loop import EventLoop

_T = TypeVar("_T")

WHIRLWIND_SELECT = os.environ.get("WHIRLWIND_POLLER") == "select"


@pytest.fixture(params=["whirlwind", "asyncio"])
def loop(request: pytest.FixtureRequest) -> Iterator[asyncio.AbstractEventLoop]:
    if request.param == "whirlwind":
        lp: asyncio.AbstractEventLoop = whirlwind.new_event_loop()
    else:
        lp = asyncio.SelectorEventLoop()
    try:
        yield lp
    finally:
        if not lp.is_closed():
            lp.run_until_complete(lp.shutdown_asyncgens())
            lp.close()


def run(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, _T]) -> _T:
    return loop.run_until_complete(asyncio.wait_for(coro, 10))


def is_ww(loop: asyncio.AbstractEventLoop) -> bool:
    return isinstance(loop, EventLoop)


# --- scheduling ---------------------------------------------------------------


def test_call_soon_fifo_and_args(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[Any] = []
    for i in range(5):
        loop.call_soon(seen.append, i)
    loop.call_soon(lambda a, b, c: seen.append((a, b, c)), 1, 2, 3)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == [0, 1, 2, 3, 4, (1, 2, 3)]


def test_callbacks_added_while_running_wait_for_next_iteration(
    loop: asyncio.AbstractEventLoop,
) -> None:
    seen: list[str] = []

    def first() -> None:
        seen.append("first")
        loop.call_soon(seen.append, "third")

    loop.call_soon(first)
    loop.call_soon(seen.append, "second")
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == ["first", "second"]
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == ["first", "second", "third"]


def test_call_later_ordering(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[int] = []
    loop.call_later(0.03, seen.append, 3)
    loop.call_later(0.01, seen.append, 1)
    loop.call_later(0.02, seen.append, 2)
    when = loop.time() + 0.015
    for i in range(10, 15):
        loop.call_at(when, seen.append, i)
    loop.call_later(0.05, loop.stop)
    t0 = loop.time()
    loop.run_forever()
    assert loop.time() - t0 >= 0.05
    assert seen[0] == 1 and seen[-2:] == [2, 3]
    assert sorted(seen[1:6]) == [10, 11, 12, 13, 14]
    if is_ww(loop):
        # whirlwind fires equal deadlines in scheduling order
        assert seen[1:6] == [10, 11, 12, 13, 14]


def test_loop_time_is_monotonic_clock(loop: asyncio.AbstractEventLoop) -> None:
    a = time.monotonic()
    b = loop.time()
    c = time.monotonic()
    assert a <= b <= c


def test_timer_handle_api(loop: asyncio.AbstractEventLoop) -> None:
    h1 = loop.call_later(10, print)
    h2 = loop.call_later(20, print)
    assert h1.when() < h2.when()
    assert h1 < h2 and h2 > h1 and h1 <= h2 and h1 != h2
    assert sorted([h2, h1]) == [h1, h2]
    assert "when=" in repr(h1) and "print" in repr(h1)
    assert not h1.cancelled()
    h1.cancel()
    assert h1.cancelled() and "cancelled" in repr(h1)
    h2.cancel()
    ctx = contextvars.copy_context()
    h = loop.call_soon(print, context=ctx)
    h.cancel()
    if sys.version_info >= (3, 12) or is_ww(loop):
        assert h.get_context() is ctx  # type: ignore[attr-defined]


def test_cancelled_timers_do_not_run(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[int] = []
    handles = [loop.call_later(0.001 * i, seen.append, i) for i in range(20)]
    for h in handles[::2]:
        h.cancel()
    loop.call_later(0.05, loop.stop)
    loop.run_forever()
    assert seen == list(range(1, 20, 2))


def test_many_cancelled_timers_are_cleaned(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        keep = loop.call_later(100, print)
        for _ in range(10):
            for h in [loop.call_later(100 + i, print) for i in range(1000)]:
                h.cancel()
            await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert len(loop._scheduled) < 1000  # type: ignore[attr-defined]
        keep.cancel()

    run(loop, main())


def test_call_at_and_later_argument_errors(loop: asyncio.AbstractEventLoop) -> None:
    with pytest.raises(TypeError):
        loop.call_later(None, print)  # type: ignore[arg-type]
    # asyncio 3.10 asserts instead of raising TypeError
    with pytest.raises(TypeError if is_ww(loop) else (TypeError, AssertionError)):
        loop.call_at(None, print)  # type: ignore[arg-type]


def test_timeout_and_wait_for(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> str:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.sleep(1), 0.02)
        if sys.version_info >= (3, 11):
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.02):
                    await asyncio.sleep(1)
            async with asyncio.timeout(1) as cm:
                cm.reschedule(loop.time() + 2)
                await asyncio.sleep(0.01)
        return await asyncio.wait_for(asyncio.sleep(0.01, "ok"), 1)

    assert run(loop, main()) == "ok"


def test_contextvars_propagation(loop: asyncio.AbstractEventLoop) -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="none")
    seen: list[str] = []

    def cb() -> None:
        seen.append(var.get())
        var.set("changed-in-cb")

    var.set("outer")
    loop.call_soon(cb)
    ctx = contextvars.copy_context()
    ctx.run(var.set, "in-ctx")
    loop.call_soon(cb, context=ctx)
    loop.call_later(0.001, cb)
    loop.call_soon_threadsafe(cb)

    async def task() -> str:
        await asyncio.sleep(0)
        return var.get()

    seen.append(run(loop, task()))
    assert seen[:4] == ["outer", "in-ctx", "outer", "outer"]
    assert seen[-1] == "outer"
    assert var.get() == "outer"
    assert ctx[var] == "changed-in-cb"


# --- running, stopping, closing ---------------------------------------------------


def test_stop_runs_scheduled_callbacks_first(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[int] = []
    loop.call_soon(loop.stop)
    loop.call_soon(seen.append, 1)
    loop.run_forever()
    assert seen == [1]
    assert not loop.is_running()


def test_keyboard_interrupt_escapes_run_forever(
    loop: asyncio.AbstractEventLoop,
) -> None:
    seen: list[int] = []

    def boom() -> None:
        raise KeyboardInterrupt

    loop.call_soon(boom)
    loop.call_soon(seen.append, 1)
    with pytest.raises(KeyboardInterrupt):
        loop.run_forever()
    assert not loop.is_running()
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == [1]


def test_close_with_pending_callbacks(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[int] = []
    loop.call_soon(seen.append, 1)
    loop.call_later(0.001, seen.append, 2)
    loop.close()
    assert loop.is_closed()
    assert seen == []
    loop.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        loop.call_soon(print)
    with pytest.raises(RuntimeError, match="closed"):
        loop.call_later(1, print)
    with pytest.raises(RuntimeError, match="closed"):
        loop.run_forever()
    with pytest.raises(RuntimeError):
        loop.add_reader(0, print)


def test_run_until_complete_and_running_state(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> bool:
        assert asyncio.get_running_loop() is loop
        running = loop.is_running()
        with pytest.raises(RuntimeError):
            loop.run_forever()
        return running

    assert run(loop, main()) is True
    assert not loop.is_running()


def test_shutdown_asyncgens(loop: asyncio.AbstractEventLoop) -> None:
    finalized: list[str] = []

    async def agen() -> Any:
        try:
            yield 1
            yield 2
        finally:
            finalized.append("done")

    async def main() -> Any:
        g = agen()
        assert await g.__anext__() == 1
        return g

    g = run(loop, main())
    assert finalized == []
    loop.run_until_complete(loop.shutdown_asyncgens())
    assert finalized == ["done"]
    del g


def test_exception_handler(loop: asyncio.AbstractEventLoop) -> None:
    contexts: list[dict[str, Any]] = []

    def handler(lp: asyncio.AbstractEventLoop, ctx: dict[str, Any]) -> None:
        assert lp is loop
        contexts.append(ctx)

    def bad() -> None:
        raise ZeroDivisionError("boom")

    loop.set_exception_handler(handler)
    assert loop.get_exception_handler() is handler
    loop.call_soon(bad)
    loop.call_later(0.001, bad)
    loop.call_soon(loop.call_exception_handler, {"message": "custom"})
    loop.call_later(0.01, loop.stop)
    loop.run_forever()
    errors = [c for c in contexts if "exception" in c]
    assert len(errors) == 2
    assert all(isinstance(c["exception"], ZeroDivisionError) for c in errors)
    assert all("Exception in callback" in c["message"] for c in errors)
    assert all("handle" in c for c in errors)
    assert {"message": "custom"} in contexts


def test_default_exception_handler_logs(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    def bad() -> None:
        raise ValueError("logged")

    loop.call_soon(bad)
    loop.call_soon(loop.stop)
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        loop.run_forever()
    assert "Exception in callback" in caplog.text
    assert "ValueError: logged" in caplog.text


def test_debug_mode(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    loop.set_debug(True)
    assert loop.get_debug()
    loop.slow_callback_duration = 0.01  # type: ignore[attr-defined]

    async def coro() -> None:
        pass

    c = coro()
    with pytest.raises(TypeError):
        loop.call_soon(c)  # type: ignore[arg-type]
    c.close()
    with pytest.raises(TypeError):
        loop.call_soon(coro)
    h = loop.call_soon(print)
    assert h._source_traceback  # type: ignore[attr-defined]
    h.cancel()
    loop.call_soon(time.sleep, 0.03)
    loop.call_soon(loop.stop)
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        loop.run_forever()
    assert "Executing <Handle" in caplog.text and "took" in caplog.text

    # a non-thread-safe call from another thread is refused in debug mode
    errors: list[BaseException] = []

    async def main() -> None:
        def other() -> None:
            try:
                loop.call_soon(print)
            except RuntimeError as e:
                errors.append(e)

        await loop.run_in_executor(None, other)

    run(loop, main())
    assert errors and "thread" in str(errors[0])
    loop.set_debug(False)


def test_call_soon_threadsafe_wakes_blocked_loop(
    loop: asyncio.AbstractEventLoop,
) -> None:
    async def main() -> int:
        fut: asyncio.Future[int] = loop.create_future()

        def worker() -> None:
            time.sleep(0.05)
            loop.call_soon_threadsafe(fut.set_result, 7)

        t = threading.Thread(target=worker)
        t.start()
        try:
            return await fut
        finally:
            t.join()

    t0 = time.monotonic()
    assert run(loop, main()) == 7
    assert time.monotonic() - t0 < 5


def test_call_soon_threadsafe_many_threads(loop: asyncio.AbstractEventLoop) -> None:
    n_threads, per_thread = 4, 200

    async def main() -> int:
        done = asyncio.Event()
        count = 0

        def inc() -> None:
            nonlocal count
            count += 1
            if count == n_threads * per_thread:
                done.set()

        def worker() -> None:
            for _ in range(per_thread):
                loop.call_soon_threadsafe(inc)

        threads = [threading.Thread(target=worker) for _ in range(n_threads)]
        for t in threads:
            t.start()
        await done.wait()
        for t in threads:
            t.join()
        return count

    assert run(loop, main()) == n_threads * per_thread


# --- I/O ----------------------------------------------------------------------------


def test_add_reader_writer(loop: asyncio.AbstractEventLoop) -> None:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    try:
        got: list[bytes] = []

        def on_read() -> None:
            got.append(b.recv(100))
            if b"".join(got) == b"ping":
                assert loop.remove_reader(b) is True
                loop.stop()

        def on_write() -> None:
            a.send(b"ping")
            assert loop.remove_writer(a.fileno()) is True

        loop.add_reader(b, on_read)
        loop.add_writer(a, on_write)
        loop.run_forever()
        assert b"".join(got) == b"ping"
        assert loop.remove_reader(b) is False
        assert loop.remove_writer(a) is False
    finally:
        a.close()
        b.close()


def test_add_reader_replaces_and_invalid_fd(loop: asyncio.AbstractEventLoop) -> None:
    a, b = socket.socketpair()
    try:
        seen: list[str] = []
        loop.add_reader(b, seen.append, "old")

        def new() -> None:
            seen.append("new")
            loop.remove_reader(b)

        loop.add_reader(b, new)
        a.send(b"x")
        loop.call_later(0.05, loop.stop)
        loop.run_forever()
        assert seen == ["new"]
        with pytest.raises(ValueError):
            loop.add_reader(-1, print)
        with pytest.raises(ValueError):
            loop.add_reader(object(), print)  # type: ignore[arg-type]
    finally:
        a.close()
        b.close()


def test_reader_sees_peer_close(loop: asyncio.AbstractEventLoop) -> None:
    a, b = socket.socketpair()
    b.setblocking(False)
    try:
        fut: asyncio.Future[bytes] = loop.create_future()

        def on_read() -> None:
            data = b.recv(100)
            if not data:
                loop.remove_reader(b)
                fut.set_result(data)

        loop.add_reader(b, on_read)
        a.close()
        assert run(loop, asyncio.wait_for(fut, 5)) == b""
    finally:
        b.close()


def test_fd_above_1024(loop: asyncio.AbstractEventLoop) -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = 1500
    if soft <= target:
        if hard != resource.RLIM_INFINITY and hard <= target:
            pytest.skip("RLIMIT_NOFILE too low")
        resource.setrlimit(resource.RLIMIT_NOFILE, (target + 100, hard))
    a, b = socket.socketpair()
    high = os.dup2(b.fileno(), target)
    try:
        if is_ww(loop) and WHIRLWIND_SELECT:
            with pytest.raises(ValueError):
                loop.add_reader(high, print)
            return
        got: list[bytes] = []

        def on_read() -> None:
            got.append(os.read(high, 10))
            loop.remove_reader(high)
            loop.stop()

        loop.add_reader(high, on_read)
        a.send(b"hi")
        loop.call_later(5, loop.stop)
        loop.run_forever()
        assert got == [b"hi"]
    finally:
        os.close(high)
        a.close()
        b.close()


def test_streams_echo(loop: asyncio.AbstractEventLoop) -> None:
    handled: list[bool] = []

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while line := await reader.readline():
            writer.write(line.upper())
            await writer.drain()
        writer.close()
        await writer.wait_closed()
        handled.append(True)

    async def main() -> list[bytes]:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, limit=1 << 20)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        out = []
        for word in (b"alpha\n", b"beta\n", b"x" * 300000 + b"\n"):
            writer.write(word)
            await writer.drain()
            out.append(await reader.readline())
        writer.close()
        await writer.wait_closed()
        while not handled:
            await asyncio.sleep(0.001)
        server.close()
        await server.wait_closed()
        return out

    out = run(loop, main())
    assert out[:2] == [b"ALPHA\n", b"BETA\n"]
    assert out[2] == b"X" * 300000 + b"\n"


def test_protocols_create_connection_server(loop: asyncio.AbstractEventLoop) -> None:
    events: list[str] = []

    class Server(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport
            events.append("server-made")

        def data_received(self, data: bytes) -> None:
            self.transport.write(data[::-1])  # type: ignore[attr-defined]

        def eof_received(self) -> bool | None:
            events.append("server-eof")
            return None

    class Client(asyncio.Protocol):
        def __init__(self) -> None:
            self.buf = b""
            self.done: asyncio.Future[bytes] = loop.create_future()

        def data_received(self, data: bytes) -> None:
            self.buf += data
            if len(self.buf) >= 6:
                self.done.set_result(self.buf)

        def connection_lost(self, exc: Exception | None) -> None:
            events.append("client-lost")

    async def main() -> bytes:
        server = await loop.create_server(Server, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, proto = await loop.create_connection(Client, "127.0.0.1", port)
        assert "fd=" in repr(transport)
        transport.write(b"abcdef")
        data = await proto.done
        transport.close()
        await asyncio.sleep(0.01)
        server.close()
        await server.wait_closed()
        return data

    assert run(loop, main()) == b"fedcba"
    assert "server-made" in events and "client-lost" in events


def test_sock_methods(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> bytes:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        client = socket.socket()
        client.setblocking(False)
        try:
            accept = asyncio.ensure_future(loop.sock_accept(listener))
            await loop.sock_connect(client, listener.getsockname())
            conn, _ = await accept
            conn.setblocking(False)
            with conn:
                payload = b"z" * 200000
                send = asyncio.ensure_future(loop.sock_sendall(client, payload))
                got = b""
                while len(got) < len(payload):
                    got += await loop.sock_recv(conn, 65536)
                await send
                buf = bytearray(10)
                await loop.sock_sendall(conn, b"back")
                n = await loop.sock_recv_into(client, buf)
                return got[:3] + bytes(buf[:n]) + str(len(got)).encode()
        finally:
            client.close()
            listener.close()

    assert run(loop, main()) == b"zzzback200000"


def test_sock_recv_cancel_then_reuse(loop: asyncio.AbstractEventLoop) -> None:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)

    async def main() -> bytes:
        t = asyncio.ensure_future(loop.sock_recv(b, 10))
        await asyncio.sleep(0.01)
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
        a.send(b"after")
        return await loop.sock_recv(b, 10)

    try:
        assert run(loop, main()) == b"after"
    finally:
        a.close()
        b.close()


def test_tls_and_start_tls(
    loop: asyncio.AbstractEventLoop, cert: tuple[str, str]
) -> None:
    certfile, keyfile = cert
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(certfile, keyfile)
    client_ctx = ssl.create_default_context(cafile=certfile)
    lost: list[bool] = []

    class Server(asyncio.Protocol):
        # a line protocol that answers "secure:<line>", upgrading on STARTTLS
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport: Any = transport
            self.buf = b""
            self.upgrading = False

        def data_received(self, data: bytes) -> None:
            self.buf += data
            if self.buf == b"STARTTLS\n":
                self.buf = b""
                self.transport.write(b"OK\n")
                self.transport.pause_reading()
                self.upgrading = True
                loop.create_task(self.upgrade())
            elif self.buf.endswith(b"\n") and not self.upgrading:
                self.transport.write(b"secure:" + self.buf)
                self.buf = b""

        async def upgrade(self) -> None:
            # plaintext may arrive before start_tls() returns the new transport
            self.transport = await loop.start_tls(
                self.transport, self, server_ctx, server_side=True
            )
            self.upgrading = False
            self.data_received(b"")

        def connection_lost(self, exc: Exception | None) -> None:
            self.transport.close()  # 3.10's TLS transport warns if never closed
            lost.append(True)

    async def main() -> tuple[bytes, bytes]:
        server = await loop.create_server(Server, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        # upgrade in the middle of a plain connection
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"STARTTLS\n")
        assert await reader.readline() == b"OK\n"
        tls: Any = await loop.start_tls(
            writer.transport,
            writer.transport.get_protocol(),
            client_ctx,
            server_hostname="localhost",
        )
        assert tls.get_extra_info("ssl_object") is not None
        tls.write(b"hello\n")
        first = await reader.readline()
        tls.close()
        while len(lost) < 1:
            await asyncio.sleep(0.001)
        server.close()
        await server.wait_closed()
        # TLS from the first byte
        server2 = await loop.create_server(Server, "127.0.0.1", 0, ssl=server_ctx)
        port2 = server2.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port2, ssl=client_ctx, server_hostname="localhost"
        )
        writer.write(b"direct\n")
        second = await reader.readline()
        writer.close()
        await writer.wait_closed()
        while len(lost) < 2:
            await asyncio.sleep(0.001)
        server2.close()
        await server2.wait_closed()
        return first, second

    assert run(loop, main()) == (b"secure:hello\n", b"secure:direct\n")


def test_subprocess_pipes(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> tuple[bytes, bytes, int]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "import sys; d = sys.stdin.read(); sys.stdout.write(d.upper()); "
            "sys.stderr.write('err'); sys.exit(3)",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate(b"piped data")
        return out, err, await proc.wait()

    assert run(loop, main()) == (b"PIPED DATA", b"err", 3)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_add_signal_handler(loop: asyncio.AbstractEventLoop) -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals need the main thread")
    got: list[int] = []

    async def main() -> None:
        done = asyncio.Event()

        def on_signal(n: int) -> None:
            got.append(n)
            done.set()

        loop.add_signal_handler(signal.SIGUSR1, on_signal, 42)
        try:
            loop.call_later(0.01, os.kill, os.getpid(), signal.SIGUSR1)
            await asyncio.wait_for(done.wait(), 5)
            # again while the loop is blocked in the poller (no timer due)
            done.clear()
            killer = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGUSR1))
            killer.start()
            await done.wait()
            killer.join()
        finally:
            assert loop.remove_signal_handler(signal.SIGUSR1)

    run(loop, main())
    assert got == [42, 42]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_signal_handler_wakes_blocked_loop(loop: asyncio.AbstractEventLoop) -> None:
    # a plain signal.signal() handler runs on the loop's thread while the loop
    # is blocked in its poller; its call_soon_threadsafe must wake the loop
    # (asyncio.Runner's SIGINT handling depends on this)
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals need the main thread")
    fut: asyncio.Future[int] = loop.create_future()

    def handler(signum: int, frame: Any) -> None:
        loop.call_soon_threadsafe(fut.set_result, signum)

    old = signal.signal(signal.SIGUSR2, handler)
    killer = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGUSR2))
    try:
        killer.start()
        t0 = time.monotonic()
        assert loop.run_until_complete(asyncio.wait_for(fut, 3)) == signal.SIGUSR2
        assert time.monotonic() - t0 < 2
    finally:
        killer.join()
        signal.signal(signal.SIGUSR2, old)


def test_run_in_executor_and_getaddrinfo(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> tuple[int, Any]:
        total = await loop.run_in_executor(None, sum, range(10))
        infos = await loop.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM)
        name = await loop.getnameinfo(("127.0.0.1", 80), socket.NI_NUMERICHOST)
        assert name[0] == "127.0.0.1"
        return total, infos[0][4]

    total, addr = run(loop, main())
    assert total == 45
    assert addr == ("127.0.0.1", 80)
    loop.run_until_complete(loop.shutdown_default_executor())


def test_task_awaits_future_resolved_by_callback(
    loop: asyncio.AbstractEventLoop,
) -> None:
    async def main() -> int:
        total = 0
        for i in range(100):
            fut = loop.create_future()
            loop.call_soon(fut.set_result, i)
            total += await fut
        return total

    assert run(loop, main()) == sum(range(100))


# --- entry points ----------------------------------------------------------------------


def test_run_and_runner() -> None:
    async def main() -> type:
        await asyncio.sleep(0)
        return type(asyncio.get_running_loop())

    assert whirlwind.run(main()) is EventLoop
    assert whirlwind.run(main(), debug=True) is EventLoop
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=whirlwind.new_event_loop) as runner:
            assert runner.run(main()) is EventLoop


def test_install_policy() -> None:
    setter = getattr(asyncio.events, "_set_event_loop_policy", None)
    if setter is None or sys.version_info < (3, 14):
        setter = asyncio.set_event_loop_policy
    whirlwind.install()
    try:
        lp = asyncio.new_event_loop()
        assert isinstance(lp, EventLoop)
        lp.close()
    finally:
        setter(None)
