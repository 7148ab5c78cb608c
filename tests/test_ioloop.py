"""IOLoop, both API generations, on whirlwind's loop, asyncio's and uvloop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import LoopFactory
from whirlwind import gen
from whirlwind.ioloop import AsyncIOLoop, AsyncIOMainLoop, IOLoop, PeriodicCallback
from whirlwind.util import TimeoutError

# Timers may fire up to one clock tick early relative to time.time().
EARLY = 0.01


@pytest.fixture
def io_loop(aio_loop: asyncio.AbstractEventLoop) -> Iterator[IOLoop]:
    """The classic IOLoop.instance() of a current (not running) asyncio loop."""
    loop = IOLoop.instance()
    assert loop.asyncio_loop is aio_loop
    yield loop
    loop.close(all_fds=True)


def _stop_later(io_loop: IOLoop, seconds: float = 5.0) -> list[bool]:
    """A safety net: stop the loop after ``seconds``; the list records it."""
    fired: list[bool] = []

    def give_up() -> None:
        fired.append(True)
        io_loop.stop()

    io_loop.call_later(seconds, give_up)
    return fired


def _then_stop(io_loop: IOLoop, record: list[Any], value: Any) -> Any:
    """A callback that records ``value`` and stops the loop."""

    def callback(*_args: Any) -> None:
        record.append(value() if callable(value) else value)
        io_loop.stop()

    return callback


def test_constants_are_epoll_values() -> None:
    assert (IOLoop.NONE, IOLoop.READ, IOLoop.WRITE, IOLoop.ERROR) == (0, 1, 4, 0x18)


def test_seed_example(io_loop: IOLoop) -> None:
    # The classic program from the issue, on each kind of asyncio loop.
    a, b = socket.socketpair()
    a.setblocking(False)
    seen: list[tuple[str, Any]] = []
    results = ["parsed"]

    def parse_results(res: list[str]) -> None:
        seen.append(("parse", res))
        IOLoop.instance().stop()

    def callback(fd: int, events: int) -> None:
        if events & IOLoop.READ:
            seen.append(("read", a.recv(100)))
            io_loop.update_handler(fd, io_loop.WRITE)
        else:
            seen.append(("write", events))
            io_loop.remove_handler(fd)
            IOLoop.instance().add_callback(parse_results, results)

    ioloop = IOLoop.instance()
    assert ioloop is io_loop
    ioloop.add_handler(a.fileno(), callback, ioloop.READ)
    never = ioloop.add_timeout(time.time() + 60, callback)
    b.sendall(b"ping")
    fired = _stop_later(ioloop)
    ioloop.start()
    ioloop.remove_timeout(never)
    assert not fired
    assert seen == [("read", b"ping"), ("write", IOLoop.WRITE), ("parse", results)]
    a.close()
    b.close()


def test_handler_receives_the_object_it_was_given(io_loop: IOLoop) -> None:
    a, b = socket.socketpair()
    got: list[Any] = []

    def on_read(obj: Any, events: int) -> None:
        got.append((obj, events, obj.recv(10)))
        io_loop.stop()

    io_loop.add_handler(a, on_read, IOLoop.READ)
    with pytest.raises(ValueError):
        io_loop.add_handler(a.fileno(), on_read, IOLoop.READ)
    b.send(b"x")
    fired = _stop_later(io_loop)
    io_loop.start()
    assert not fired
    assert got == [(a, IOLoop.READ, b"x")]
    io_loop.remove_handler(a)
    io_loop.remove_handler(a)  # a second removal is harmless
    b.close()
    a.close()


def test_update_handler_to_read_only_stops_write_events(io_loop: IOLoop) -> None:
    a, b = socket.socketpair()
    events_seen: list[int] = []

    def handler(fd: int, events: int) -> None:
        events_seen.append(events)
        if events & IOLoop.WRITE:
            # A writable socket stays writable: only dropping WRITE ends this.
            io_loop.update_handler(fd, IOLoop.READ)
            io_loop.call_later(0.05, b.send, b"z")
        else:
            os.read(fd, 10)
            io_loop.stop()

    io_loop.add_handler(a.fileno(), handler, IOLoop.WRITE)
    fired = _stop_later(io_loop)
    io_loop.start()
    assert not fired
    assert events_seen == [IOLoop.WRITE, IOLoop.READ]
    a.close()
    b.close()


def test_add_timeout_float_and_timedelta(io_loop: IOLoop) -> None:
    fired: list[tuple[str, float, float]] = []
    start = io_loop.time()

    def record(name: str, deadline: float) -> None:
        fired.append((name, deadline, io_loop.time()))
        if len(fired) == 3:
            io_loop.stop()

    io_loop.add_timeout(start + 0.06, record, "float", start + 0.06)
    io_loop.add_timeout(
        datetime.timedelta(milliseconds=30), record, "timedelta", start + 0.03
    )
    io_loop.call_later(0.0, record, "call_later", start)
    with pytest.raises(TypeError):
        io_loop.add_timeout("soon", record)  # type: ignore[arg-type]
    safety = _stop_later(io_loop)
    io_loop.start()
    assert not safety
    assert [name for name, _, _ in fired] == ["call_later", "timedelta", "float"]
    for _name, deadline, at in fired:
        assert at >= deadline - EARLY


def test_past_deadline_runs_soon(io_loop: IOLoop) -> None:
    ran: list[str] = []
    io_loop.call_at(io_loop.time() - 100, lambda: ran.append("past"))
    io_loop.add_callback(io_loop.stop)
    io_loop.call_later(0.02, io_loop.stop)
    io_loop.start()
    if not ran:  # the stop callback may run in the same pass
        io_loop.start()
    assert ran == ["past"]


def test_remove_timeout(io_loop: IOLoop) -> None:
    ran: list[str] = []
    doomed = io_loop.add_timeout(io_loop.time() + 0.01, lambda: ran.append("removed"))
    io_loop.call_later(0.05, _then_stop(io_loop, ran, "kept"))
    io_loop.remove_timeout(doomed)
    io_loop.start()
    assert ran == ["kept"]


def test_call_at_passes_args_and_kwargs(io_loop: IOLoop) -> None:
    got: list[Any] = []

    def cb(*args: Any, **kwargs: Any) -> None:
        got.append((args, kwargs))
        io_loop.stop()

    io_loop.call_at(io_loop.time() + 0.01, cb, 1, 2, key="v")
    io_loop.start()
    assert got == [((1, 2), {"key": "v"})]


def test_add_callback_from_thread_wakes_blocked_loop(io_loop: IOLoop) -> None:
    ran_on: list[int] = []

    def from_thread() -> None:
        time.sleep(0.05)  # let the loop block in its poll with nothing to do
        io_loop.add_callback(_then_stop(io_loop, ran_on, threading.get_ident))

    safety = _stop_later(io_loop)
    worker = threading.Thread(target=from_thread)
    worker.start()
    io_loop.start()
    worker.join()
    assert not safety
    assert ran_on == [threading.get_ident()]


def test_add_callback_after_close_is_ignored(loop_factory: LoopFactory) -> None:
    io_loop = AsyncIOLoop(asyncio_loop=loop_factory(), make_current=False)
    io_loop.close()
    io_loop.add_callback(lambda: None)  # no exception

    def in_thread() -> None:
        io_loop.add_callback(lambda: None)

    t = threading.Thread(target=in_thread)
    t.start()
    t.join()


def test_callbacks_added_during_a_callback_run_on_the_next_cycle(
    io_loop: IOLoop,
) -> None:
    order: list[str] = []

    def first() -> None:
        order.append("first")
        io_loop.add_callback(_then_stop(io_loop, order, "third"))

    io_loop.add_callback(first)
    io_loop.add_callback(lambda: order.append("second"))
    io_loop.start()
    assert order == ["first", "second", "third"]


def test_spawn_callback_and_kwargs(io_loop: IOLoop) -> None:
    got: dict[str, Any] = {}

    def cb(a: int, *, b: int) -> None:
        got.update(a=a, b=b)
        io_loop.stop()

    io_loop.spawn_callback(cb, 1, b=2)
    io_loop.start()
    assert got == {"a": 1, "b": 2}


def test_callback_exceptions_are_logged(
    io_loop: IOLoop, caplog: pytest.LogCaptureFixture
) -> None:
    async def failing_coroutine() -> None:
        raise ValueError("async boom")

    def failing() -> None:
        raise ZeroDivisionError("sync boom")

    io_loop.add_callback(failing)
    io_loop.add_callback(failing_coroutine)
    io_loop.call_later(0.05, io_loop.stop)
    with caplog.at_level(logging.ERROR, logger="whirlwind.application"):
        io_loop.start()
    messages = [r for r in caplog.records if r.name == "whirlwind.application"]
    assert len(messages) == 2
    assert all(r.getMessage().startswith("Exception in callback") for r in messages)
    raised = {type(r.exc_info[1]) for r in messages if r.exc_info}
    assert raised == {ZeroDivisionError, ValueError}


def test_handler_exception_is_logged_and_loop_survives(
    io_loop: IOLoop, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = socket.socketpair()

    def bad(fd: int, events: int) -> None:
        io_loop.remove_handler(fd)
        raise RuntimeError("handler failed")

    io_loop.add_handler(a.fileno(), bad, IOLoop.READ)
    b.send(b"x")
    io_loop.call_later(0.05, io_loop.stop)
    with caplog.at_level(logging.ERROR, logger="whirlwind.application"):
        io_loop.start()
    assert any("Exception in callback" in r.getMessage() for r in caplog.records)
    a.close()
    b.close()


def test_run_sync_values_exceptions_and_timeout(loop_factory: LoopFactory) -> None:
    io_loop = AsyncIOLoop(asyncio_loop=loop_factory(), make_current=False)
    try:

        async def native() -> int:
            await asyncio.sleep(0)
            return 7

        @gen.coroutine
        def classic() -> Any:
            yield gen.moment
            raise gen.Return("classic")

        def failing() -> None:
            raise KeyError("k")

        async def slow() -> None:
            await asyncio.sleep(10)

        assert io_loop.run_sync(native) == 7
        assert io_loop.run_sync(classic) == "classic"
        assert io_loop.run_sync(lambda: None) is None
        with pytest.raises(gen.BadYieldError):
            io_loop.run_sync(lambda: 3)  # only awaitables (or None) are allowed
        with pytest.raises(KeyError):
            io_loop.run_sync(failing)
        with pytest.raises(TimeoutError):
            io_loop.run_sync(slow, timeout=0.05)
        # The loop is still usable after a timeout.
        assert io_loop.run_sync(native, timeout=5) == 7
    finally:
        io_loop.close()


def test_run_sync_stopped_early_raises(io_loop: IOLoop) -> None:
    async def never() -> None:
        await asyncio.Event().wait()

    io_loop.call_later(0.02, io_loop.stop)
    with pytest.raises(RuntimeError, match="Event loop stopped"):
        io_loop.run_sync(never)
    io_loop.run_sync(lambda: asyncio.sleep(0))  # drain the cancelled task


def test_add_future_asyncio_and_concurrent(io_loop: IOLoop) -> None:
    got: list[Any] = []
    fut: asyncio.Future[int] = io_loop.asyncio_loop.create_future()
    io_loop.add_future(fut, lambda f: got.append(("aio", f.result())))
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        cfut = pool.submit(lambda: 5)

        def on_cfut(f: concurrent.futures.Future[int]) -> None:
            got.append(("cf", f.result()))
            io_loop.stop()

        io_loop.add_future(cfut, on_cfut)
        fut.set_result(4)
        safety = _stop_later(io_loop)
        io_loop.start()
    assert not safety
    assert sorted(got) == [("aio", 4), ("cf", 5)]


def test_run_in_executor_and_default_executor(io_loop: IOLoop) -> None:
    names: list[str] = []

    class NamedPool(concurrent.futures.ThreadPoolExecutor):
        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            names.append("custom")
            return super().submit(fn, *args, **kwargs)

    async def main() -> tuple[int, str]:
        a = await io_loop.run_in_executor(None, lambda x: x * 2, 21)
        b = await io_loop.run_in_executor(None, threading.current_thread)
        return a, b.name

    pool = NamedPool(1, thread_name_prefix="custom-pool")
    io_loop.set_default_executor(pool)
    value, thread_name = io_loop.run_sync(main)
    assert value == 42
    assert thread_name.startswith("custom-pool")
    assert names == ["custom", "custom"]


def test_close_all_fds_closes_registered_fds(loop_factory: LoopFactory) -> None:
    io_loop = AsyncIOLoop(asyncio_loop=loop_factory(), make_current=False)
    a, b = socket.socketpair()
    r, w = os.pipe()
    io_loop.add_handler(a, lambda *_: None, IOLoop.READ)
    io_loop.add_handler(r, lambda *_: None, IOLoop.READ)
    io_loop.close(all_fds=True)
    assert a.fileno() == -1  # the socket object was closed
    with pytest.raises(OSError):
        os.fstat(r)
    assert io_loop.asyncio_loop.is_closed()
    b.close()
    os.close(w)


def test_close_without_all_fds_leaves_fds_open(loop_factory: LoopFactory) -> None:
    io_loop = AsyncIOLoop(asyncio_loop=loop_factory(), make_current=False)
    a, b = socket.socketpair()
    io_loop.add_handler(a.fileno(), lambda *_: None, IOLoop.READ)
    io_loop.close()
    b.send(b"still open")
    assert a.recv(100) == b"still open"
    a.close()
    b.close()


def _in_fresh_thread(fn: Any) -> Any:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result()


def test_current_creates_a_whirlwind_loop_when_there_is_none() -> None:
    def probe() -> tuple[Any, ...]:
        from whirlwind.loop import EventLoop

        assert IOLoop.current(instance=False) is None
        first = IOLoop.current()
        assert first is not None
        try:
            return (
                type(first),
                isinstance(first.asyncio_loop, EventLoop),
                IOLoop.instance() is first,
                IOLoop.current() is first,
                asyncio.get_event_loop() is first.asyncio_loop,
            )
        finally:
            asyncio.set_event_loop(None)
            first.close()

    assert _in_fresh_thread(probe) == (AsyncIOMainLoop, True, True, True, True)


def test_current_wraps_a_running_loop_once(loop_factory: LoopFactory) -> None:
    async def probe() -> tuple[bool, bool]:
        running = asyncio.get_running_loop()
        a, b = IOLoop.current(), IOLoop.current()
        assert a is not None
        return a is b, a.asyncio_loop is running

    loop = loop_factory()
    try:
        assert loop.run_until_complete(probe()) == (True, True)
        # Still the same adapter when the loop runs again.
        assert loop.run_until_complete(probe()) == (True, True)
    finally:
        loop.close()


def test_current_after_close_makes_a_new_loop() -> None:
    def probe() -> bool:
        first = IOLoop.instance()
        first.close()
        second = IOLoop.instance()
        try:
            return second is not first and not second.asyncio_loop.is_closed()
        finally:
            asyncio.set_event_loop(None)
            second.close()

    assert _in_fresh_thread(probe)


def test_one_ioloop_per_asyncio_loop(aio_loop: asyncio.AbstractEventLoop) -> None:
    main = AsyncIOMainLoop()
    assert main.asyncio_loop is aio_loop
    with pytest.raises(RuntimeError, match="already associated"):
        AsyncIOLoop(asyncio_loop=aio_loop, make_current=False)
    main.close()


def test_new_ioloop_and_install_make_current() -> None:
    def probe() -> tuple[bool, bool, bool]:
        loop = IOLoop(make_current=False)
        try:
            not_current = IOLoop.current(instance=False) is not loop
            loop.install()
            installed = IOLoop.instance() is loop
            IOLoop.clear_instance()
            cleared = IOLoop.current(instance=False) is not loop
            return not_current, installed, cleared
        finally:
            loop.close()

    assert _in_fresh_thread(probe) == (True, True, True)


def test_make_current_warns_deprecation() -> None:
    def probe() -> bool:
        loop = IOLoop(make_current=False)
        try:
            with pytest.warns(DeprecationWarning):
                loop.make_current()
            ok = IOLoop.current() is loop
            with pytest.warns(DeprecationWarning):
                IOLoop.clear_current()
            return ok
        finally:
            loop.close()

    assert _in_fresh_thread(probe)


def test_configure_rejects_non_asyncio_classes() -> None:
    with pytest.raises(RuntimeError):
        IOLoop.configure(PeriodicCallback)  # type: ignore[arg-type]
    assert IOLoop.configured_class() is AsyncIOLoop


def test_periodic_callback_runs_and_stops(io_loop: IOLoop) -> None:
    calls: list[float] = []

    def tick() -> None:
        calls.append(io_loop.time())
        if len(calls) == 3:
            pc.stop()
            io_loop.call_later(0.05, io_loop.stop)

    pc = PeriodicCallback(tick, datetime.timedelta(milliseconds=10))
    assert pc.callback_time == 10
    assert not pc.is_running()
    pc.start()
    assert pc.is_running()
    safety = _stop_later(io_loop)
    io_loop.start()
    assert not safety
    assert len(calls) == 3  # nothing after stop()
    assert not pc.is_running()


def test_periodic_callback_skips_overrun_slots(io_loop: IOLoop) -> None:
    period = 0.02
    starts: list[float] = []
    slots: list[float] = []

    def slow_tick() -> None:
        starts.append(io_loop.time())
        slots.append(pc._next_timeout)  # the slot this run was scheduled for
        if len(starts) == 1:
            time.sleep(period * 3.5)  # overrun three whole slots
        else:
            pc.stop()
            io_loop.stop()

    pc = PeriodicCallback(slow_tick, period * 1000)
    pc.start()
    origin = pc._next_timeout - period
    safety = _stop_later(io_loop)
    io_loop.start()
    assert not safety
    # After the overrun, the next run was put on the original grid, past the
    # end of the slow run, instead of the missed slots being run back to back.
    first, second = ((slot - origin) / period for slot in slots)
    assert round(first) == 1
    assert abs(second - round(second)) < 1e-3
    assert round(second) >= 5
    assert starts[1] >= starts[0] + period * 3.5 - EARLY


def test_periodic_callback_schedule_math() -> None:
    pc = PeriodicCallback(lambda: None, 10_000)
    pc._next_timeout = 1000.0
    now = 1000.0
    seen = []
    for duration in [0, 9, 25, 0, -3]:
        pc._update_next(now)
        seen.append(pc._next_timeout)
        now = pc._next_timeout + duration
    assert seen == [1010, 1020, 1030, 1060, 1070]
    with pytest.raises(ValueError):
        PeriodicCallback(lambda: None, 0)


def test_periodic_callback_awaits_coroutines(io_loop: IOLoop) -> None:
    events: list[str] = []

    async def tick() -> None:
        events.append("start")
        await asyncio.sleep(0.03)  # longer than the period
        events.append("end")
        if events.count("end") == 2:
            pc.stop()
            io_loop.stop()

    pc = PeriodicCallback(tick, 10)
    pc.start()
    safety = _stop_later(io_loop)
    io_loop.start()
    assert not safety
    assert events == ["start", "end", "start", "end"]


def test_time_is_wall_clock(io_loop: IOLoop) -> None:
    before = time.time()
    now = io_loop.time()
    assert before <= now <= time.time()


def test_selector_thread_serves_add_reader_for_any_loop(
    aio_loop: asyncio.AbstractEventLoop,
) -> None:
    # What IOLoop uses on Windows' proactor loop; it works on any loop.
    from whirlwind.platform.asyncio import AddThreadSelectorEventLoop

    wrapped = AddThreadSelectorEventLoop(aio_loop)
    a, b = socket.socketpair()
    a.setblocking(False)
    got: list[tuple[bytes, int]] = []
    done = aio_loop.create_future()

    def on_readable(tag: str) -> None:
        got.append((a.recv(100), threading.get_ident()))
        if len(got) == 2:
            wrapped.remove_reader(a.fileno())
            done.set_result(tag)

    async def main() -> str:
        wrapped.add_reader(a.fileno(), on_readable, "tag")
        b.send(b"one")
        await asyncio.sleep(0.02)
        b.send(b"two")
        return await asyncio.wait_for(done, 5)

    assert aio_loop.run_until_complete(main()) == "tag"
    assert [data for data, _ in got] == [b"one", b"two"]
    assert {ident for _, ident in got} == {threading.get_ident()}
    thread = wrapped._selector._thread
    assert thread is not None and thread.is_alive()
    wrapped.close()
    wrapped.close()  # idempotent
    assert not thread.is_alive() and aio_loop.is_closed()
    a.close()
    b.close()


def test_remove_handler_stops_an_accept_watch_made_by_netutil(io_loop: IOLoop) -> None:
    # Tornado code removes a listener with io_loop.remove_handler(fd) before
    # closing it, whoever registered it; a closed fd left in the poller
    # breaks later waits (select fails with EBADF).
    from whirlwind.netutil import add_accept_handler
    from whirlwind.testing import bind_unused_port

    listener, _port = bind_unused_port()
    add_accept_handler(listener, lambda conn, addr: conn.close())
    io_loop.remove_handler(listener.fileno())
    # (uvloop answers None here, the others False: already removed)
    assert not io_loop.asyncio_loop.remove_reader(listener.fileno())
    listener.close()
    done: list[bool] = []
    io_loop.call_later(0.05, _then_stop(io_loop, done, True))
    io_loop.start()
    assert done == [True]
