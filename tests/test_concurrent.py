"""whirlwind.concurrent: run_on_executor, chain_future and the future helpers."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
import sys
import threading
from typing import Any

import pytest

from whirlwind.concurrent import (
    FUTURES,
    DummyExecutor,
    Future,
    chain_future,
    dummy_executor,
    future_add_done_callback,
    future_set_exc_info,
    future_set_exception_unless_cancelled,
    future_set_result_unless_cancelled,
    is_future,
    run_on_executor,
)
from whirlwind.ioloop import IOLoop


def test_future_is_asyncio_future() -> None:
    assert Future is asyncio.Future
    assert FUTURES == (concurrent.futures.Future, asyncio.Future)
    assert is_future(concurrent.futures.Future())
    assert not is_future(object())


class BlockingReader:
    """Blocking socket reads moved off the loop with run_on_executor."""

    def __init__(self, sock: socket.socket) -> None:
        self.executor = concurrent.futures.ThreadPoolExecutor(1)
        self._other = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="other"
        )
        self.sock = sock

    @run_on_executor
    def read(self, n: int) -> tuple[bytes, str]:
        return self.sock.recv(n), threading.current_thread().name

    @run_on_executor(executor="_other")
    def thread_name(self) -> str:
        return threading.current_thread().name

    @run_on_executor
    def fail(self) -> None:
        raise OSError("blocking call failed")


def test_run_on_executor_with_a_real_socket(io_loop: IOLoop) -> None:
    a, b = socket.socketpair()
    reader = BlockingReader(a)

    async def main() -> tuple[Any, str]:
        pending = reader.read(5)
        assert isinstance(pending, asyncio.Future)
        # The read blocks in the worker thread until the loop sends data.
        io_loop.call_later(0.01, b.sendall, b"hello")
        data = await pending
        return data, await reader.thread_name()

    (data, worker), other = io_loop.run_sync(main, timeout=5)
    assert data == b"hello"
    assert worker != threading.current_thread().name
    assert other.startswith("other")
    with pytest.raises(OSError, match="blocking call failed"):
        io_loop.run_sync(reader.fail)
    reader.executor.shutdown()
    reader._other.shutdown()
    a.close()
    b.close()


def test_run_on_executor_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        run_on_executor(lambda self: None, lambda self: None)
    with pytest.raises(ValueError):
        run_on_executor(nonsense="x")


def test_chain_future_between_asyncio_futures(io_loop: IOLoop) -> None:
    async def main() -> list[Any]:
        out: list[Any] = []
        for outcome in ("result", "error", "cancel"):
            a: Future[int] = Future()
            b: Future[int] = Future()
            chain_future(a, b)
            if outcome == "result":
                a.set_result(1)
            elif outcome == "error":
                a.set_exception(KeyError("k"))
            else:
                a.cancel()
            await asyncio.sleep(0)
            out.append(
                "cancelled" if b.cancelled() else repr(b.exception() or b.result())
            )
        # A target already resolved is left alone.
        a, b = Future(), Future()
        b.set_result(99)
        chain_future(a, b)
        a.set_result(1)
        await asyncio.sleep(0)
        out.append(b.result())
        return out

    assert io_loop.run_sync(main) == ["1", "KeyError('k')", "cancelled", 99]


def test_chain_concurrent_future_into_asyncio_future_across_threads(
    io_loop: IOLoop,
) -> None:
    loop_thread = threading.get_ident()

    async def main() -> tuple[int, int]:
        target: Future[int] = Future()
        seen_on: list[int] = []
        target.add_done_callback(lambda _f: seen_on.append(threading.get_ident()))
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            chain_future(pool.submit(lambda: 41 + 1), target)
            value = await target
        await asyncio.sleep(0)
        return value, seen_on[0]

    value, thread = io_loop.run_sync(main, timeout=5)
    assert value == 42
    assert thread == loop_thread  # the result was delivered on the loop thread


def test_chain_into_a_concurrent_future() -> None:
    a: concurrent.futures.Future[int] = concurrent.futures.Future()
    b: concurrent.futures.Future[int] = concurrent.futures.Future()
    chain_future(a, b)
    a.set_exception(ValueError("v"))
    assert isinstance(b.exception(timeout=1), ValueError)


def test_set_helpers_respect_cancellation(
    io_loop: IOLoop, caplog: pytest.LogCaptureFixture
) -> None:
    f: Future[int] = Future()
    future_set_result_unless_cancelled(f, 3)
    assert f.result() == 3

    cancelled: Future[int] = Future()
    cancelled.cancel()
    future_set_result_unless_cancelled(cancelled, 3)  # no InvalidStateError
    with caplog.at_level(logging.ERROR, logger="whirlwind.application"):
        future_set_exception_unless_cancelled(cancelled, RuntimeError("lost"))
    assert [r.getMessage() for r in caplog.records] == [
        "Exception after Future was cancelled"
    ]

    g: Future[int] = Future()
    try:
        raise LookupError("from exc_info")
    except LookupError:
        future_set_exc_info(g, sys.exc_info())
    assert isinstance(g.exception(), LookupError)
    with pytest.raises(Exception, match="no exception"):
        future_set_exc_info(Future(), (None, None, None))


def test_future_add_done_callback_runs_now_when_done(io_loop: IOLoop) -> None:
    calls: list[str] = []
    done: Future[int] = Future()
    done.set_result(1)
    future_add_done_callback(done, lambda f: calls.append("sync"))
    assert calls == ["sync"]  # before any loop iteration

    pending: Future[int] = Future()
    future_add_done_callback(pending, lambda f: calls.append("later"))
    pending.set_result(2)
    assert calls == ["sync"]
    io_loop.run_sync(lambda: asyncio.sleep(0))
    assert calls == ["sync", "later"]


def test_dummy_executor_runs_inline() -> None:
    assert isinstance(dummy_executor, DummyExecutor)
    ident = dummy_executor.submit(threading.get_ident)
    assert ident.result(timeout=0) == threading.get_ident()
    failed = dummy_executor.submit(int, "not a number")
    assert isinstance(failed.exception(timeout=0), ValueError)
    dummy_executor.shutdown()
