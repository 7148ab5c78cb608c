"""whirlwind.gen: generator coroutines, multi, with_timeout, sleep, WaitIterator."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import datetime
import gc
import logging
import platform
import sys
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from whirlwind import gen
from whirlwind.concurrent import Future
from whirlwind.ioloop import IOLoop
from whirlwind.util import TimeoutError


@pytest.fixture
def io_loop(aio_loop: asyncio.AbstractEventLoop) -> Iterator[IOLoop]:
    loop = IOLoop.current()
    assert loop is not None and loop.asyncio_loop is aio_loop
    yield loop
    loop.close()


def test_coroutine_returns_a_future_and_runs_to_first_yield(io_loop: IOLoop) -> None:
    started: list[str] = []

    @gen.coroutine
    def f() -> Any:
        started.append("body")
        return 5

    fut = f()
    # The body ran synchronously; the loop never had to run.
    assert started == ["body"]
    assert isinstance(fut, Future)
    assert fut.result() == 5
    assert gen.is_coroutine_function(f)
    assert not gen.is_coroutine_function(lambda: None)


def test_generator_coroutine_yields_futures(io_loop: IOLoop) -> None:
    @gen.coroutine
    def add_later(a: int, b: int) -> Any:
        yield gen.sleep(0.001)
        raise gen.Return(a + b)

    @gen.coroutine
    def main() -> Any:
        x = yield add_later(1, 2)
        y = yield add_later(x, 10)
        return y

    assert io_loop.run_sync(main) == 13


def test_exceptions_propagate_into_and_out_of_generators(io_loop: IOLoop) -> None:
    @gen.coroutine
    def fails() -> Any:
        yield gen.moment
        raise ValueError("inner")

    @gen.coroutine
    def catches() -> Any:
        try:
            yield fails()
        except ValueError as e:
            return f"caught {e}"

    @gen.coroutine
    def raises_at_once() -> Any:
        raise KeyError("now")
        yield  # pragma: no cover

    assert io_loop.run_sync(catches) == "caught inner"
    fut = raises_at_once()
    with pytest.raises(KeyError):
        fut.result()


def test_native_coroutines_await_generator_coroutines(io_loop: IOLoop) -> None:
    @gen.coroutine
    def classic() -> Any:
        yield gen.moment
        return "classic"

    async def native() -> str:
        return await classic()

    @gen.coroutine
    def classic_waiting_for_native() -> Any:
        result = yield native()
        return result + "!"

    assert io_loop.run_sync(classic_waiting_for_native) == "classic!"


def test_yield_list_and_dict(io_loop: IOLoop) -> None:
    @gen.coroutine
    def value(v: Any, delay: float) -> Any:
        yield gen.sleep(delay)
        return v

    @gen.coroutine
    def main() -> Any:
        as_list = yield [value(1, 0.02), value(2, 0.0), value(3, 0.01)]
        as_dict = yield {"a": value("x", 0.01), "b": value("y", 0.0)}
        empty = yield []
        empty_dict = yield {}
        return as_list, as_dict, empty, empty_dict

    assert io_loop.run_sync(main) == ([1, 2, 3], {"a": "x", "b": "y"}, [], {})


def test_multi_first_error_wins_and_others_are_logged(
    io_loop: IOLoop, caplog: pytest.LogCaptureFixture
) -> None:
    async def fail(exc: Exception, delay: float) -> None:
        await asyncio.sleep(delay)
        raise exc

    async def main() -> None:
        await gen.multi([fail(ValueError("first"), 0), fail(KeyError("second"), 0.01)])

    with caplog.at_level(logging.ERROR, logger="whirlwind.application"):
        with pytest.raises(ValueError, match="first"):
            io_loop.run_sync(main)
    assert [r.getMessage() for r in caplog.records] == [
        "Multiple exceptions in yield list"
    ]
    caplog.clear()

    async def quiet() -> None:
        await gen.multi(
            [fail(ValueError("first"), 0), fail(KeyError("second"), 0.01)],
            quiet_exceptions=KeyError,
        )

    with caplog.at_level(logging.ERROR, logger="whirlwind.application"):
        with pytest.raises(ValueError):
            io_loop.run_sync(quiet)
    assert caplog.records == []


def test_multi_with_a_cancelled_child_raises_cancelled(io_loop: IOLoop) -> None:
    async def main() -> str:
        child: Future[int] = Future()
        other: Future[int] = Future()
        waiting = gen.multi([child, other])
        child.cancel()
        other.set_result(1)
        try:
            await waiting
        except asyncio.CancelledError:
            return "cancelled"
        return "completed"

    assert io_loop.run_sync(main) == "cancelled"


def test_moment_yields_one_iteration(io_loop: IOLoop) -> None:
    order: list[str] = []

    @gen.coroutine
    def yielder(name: str) -> Any:
        for i in range(3):
            order.append(f"{name}{i}")
            yield gen.moment if i % 2 else None

    @gen.coroutine
    def main() -> Any:
        yield [yielder("a"), yielder("b")]

    io_loop.run_sync(main)
    assert order == ["a0", "b0", "a1", "b1", "a2", "b2"]


def test_yielding_unknown_objects_raises_bad_yield(io_loop: IOLoop) -> None:
    @gen.coroutine
    def main() -> Any:
        yield 42

    with pytest.raises(gen.BadYieldError):
        io_loop.run_sync(main)


def test_convert_yielded_is_extensible(io_loop: IOLoop) -> None:
    class Deferred:
        def __init__(self, value: int) -> None:
            self.value = value

    @gen.convert_yielded.register(Deferred)
    def _(d: Deferred) -> Future[int]:
        f: Future[int] = Future()
        IOLoop.current().add_callback(f.set_result, d.value * 10)  # type: ignore[union-attr]
        return f

    @gen.coroutine
    def main() -> Any:
        return (yield Deferred(4))

    assert io_loop.run_sync(main) == 40


def test_yield_concurrent_future(io_loop: IOLoop) -> None:
    @gen.coroutine
    def main() -> Any:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return (yield pool.submit(sum, [1, 2, 3]))

    assert io_loop.run_sync(main) == 6


def test_with_timeout(io_loop: IOLoop) -> None:
    async def main() -> list[Any]:
        out: list[Any] = []
        never: Future[None] = Future()
        try:
            await gen.with_timeout(datetime.timedelta(seconds=0.01), never)
        except gen.TimeoutError as e:
            out.append(str(e))
        assert not never.cancelled()  # with_timeout does not cancel
        try:
            await gen.with_timeout(io_loop.time() + 0.01, never, message=lambda: "slow")
        except TimeoutError as e:
            out.append(str(e))
        out.append(
            await gen.with_timeout(
                datetime.timedelta(seconds=5), asyncio.sleep(0, "ok")
            )
        )
        never.cancel()
        return out

    assert io_loop.run_sync(main) == ["Timeout", "slow", "ok"]


def test_with_timeout_logs_late_errors_unless_quiet(
    io_loop: IOLoop, caplog: pytest.LogCaptureFixture
) -> None:
    async def main(quiet: tuple[type[Exception], ...]) -> None:
        inner: Future[None] = Future()
        with pytest.raises(TimeoutError):
            await gen.with_timeout(datetime.timedelta(seconds=0.01), inner, quiet)
        inner.set_exception(OSError("late"))
        await asyncio.sleep(0.01)

    with caplog.at_level(logging.ERROR, logger="whirlwind.application"):
        io_loop.run_sync(lambda: main(()))
        assert any("after timeout" in r.getMessage() for r in caplog.records)
        caplog.clear()
        io_loop.run_sync(lambda: main((OSError,)))
        assert caplog.records == []


def test_sleep_waits_at_least_its_duration(io_loop: IOLoop) -> None:
    async def main() -> float:
        start = io_loop.time()
        await gen.sleep(0.03)
        return io_loop.time() - start

    assert io_loop.run_sync(main) >= 0.03 - 0.01


def test_wait_iterator_yields_in_completion_order(io_loop: IOLoop) -> None:
    async def main() -> list[tuple[Any, Any]]:
        futs: list[Future[str]] = [Future() for _ in range(3)]
        io_loop.call_later(0.02, futs[0].set_result, "zero")
        io_loop.call_later(0.0, futs[2].set_result, "two")
        io_loop.call_later(0.01, futs[1].set_exception, ValueError("one"))
        it = gen.WaitIterator(*futs)
        got: list[tuple[Any, Any]] = []
        while not it.done():
            try:
                result = await it.next()
            except ValueError as e:
                result = f"error {e}"
            got.append((it.current_index, result))
            assert it.current_future is futs[it.current_index]
        assert it.current_index is None
        return got

    assert io_loop.run_sync(main) == [(2, "two"), (1, "error one"), (0, "zero")]


def test_wait_iterator_keywords_and_async_for(io_loop: IOLoop) -> None:
    async def main() -> list[tuple[Any, Any]]:
        done: Future[int] = Future()
        done.set_result(1)
        later: Future[int] = Future()
        io_loop.call_later(0.01, later.set_result, 2)
        it = gen.WaitIterator(done=done, later=later)
        return [(it.current_index, r) async for r in it]

    assert io_loop.run_sync(main) == [("done", 1), ("later", 2)]
    with pytest.raises(ValueError):
        gen.WaitIterator(Future(), x=Future())


def test_maybe_future(io_loop: IOLoop) -> None:
    f: Future[int] = Future()
    assert gen.maybe_future(f) is f
    wrapped = gen.maybe_future(3)
    assert wrapped.done() and wrapped.result() == 3


def test_contextvars_flow_into_generator_coroutines(io_loop: IOLoop) -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")

    @gen.coroutine
    def reader() -> Any:
        yield gen.sleep(0)
        return var.get()

    @gen.coroutine
    def setter() -> Any:
        var.set("inside")
        yield gen.moment
        value = yield reader()
        return value

    assert io_loop.run_sync(setter) == "inside"
    assert var.get() == "unset"  # the caller's context is untouched


def test_cancelling_a_generator_coroutine(io_loop: IOLoop) -> None:
    steps: list[str] = []

    @gen.coroutine
    def worker() -> Any:
        try:
            yield gen.sleep(10)
        except asyncio.CancelledError:
            steps.append("cancelled inside")
            raise

    async def main() -> None:
        inner: Future[None] = Future()

        @gen.coroutine
        def waits() -> Any:
            yield inner

        fut = waits()
        inner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await fut

    io_loop.run_sync(main)
    fut = worker()
    fut.cancel()
    assert fut.cancelled()


@pytest.mark.skipif(
    platform.python_implementation() != "CPython", reason="needs refcounting"
)
def test_failed_coroutine_frees_locals_without_gc(io_loop: IOLoop) -> None:
    # An exception stored in a future must not keep the failed coroutine's
    # frame (and its locals) alive through a reference cycle.
    refs: list[weakref.ref[Any]] = []

    class Payload:
        pass

    @gen.coroutine
    def inner() -> Any:
        payload = Payload()
        refs.append(weakref.ref(payload))
        yield gen.maybe_future(None)  # already done: resumes synchronously
        raise ValueError("fail")

    @gen.coroutine
    def outer() -> Any:
        try:
            yield inner()
        except ValueError:
            pass

    gc.disable()
    try:
        io_loop.run_sync(outer)
        assert refs[0]() is None
    finally:
        gc.enable()


def test_debug_mode_reports_where_the_coroutine_was_called(io_loop: IOLoop) -> None:
    io_loop.asyncio_loop.set_debug(True)
    try:

        @gen.coroutine
        def waits() -> Any:
            yield gen.moment

        fut = waits()
        line = sys._getframe().f_lineno - 1
        assert f"created at {__file__}:{line}" in repr(fut)
        io_loop.run_sync(lambda: fut)
    finally:
        io_loop.asyncio_loop.set_debug(False)
