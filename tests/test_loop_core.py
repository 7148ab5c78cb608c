"""Tests of whirlwind's compiled loop core that have no asyncio counterpart:
the timer heap's cleanup, the IOSink hook, the fd table, the selector facade,
GC parking of queued handles, fork safety and the poller choice."""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import textwrap
import weakref
from typing import Any

import pytest

import whirlwind
from whirlwind import _core


def test_cancelled_timers_cleaned_without_iterating() -> None:
    loop = whirlwind.new_event_loop()
    try:
        for _ in range(20):
            for h in [loop.call_later(100 + i, print) for i in range(1000)]:
                h.cancel()
        # the heap is rebuilt by call_at itself when half of it is cancelled
        assert len(loop._scheduled) <= 2000
        assert loop._timer_cancelled_count <= len(loop._scheduled)
    finally:
        loop.close()


def test_poller_backend_honours_env() -> None:
    loop = whirlwind.new_event_loop()
    try:
        expected = os.environ.get("WHIRLWIND_POLLER")
        if expected:
            assert loop._poller_backend == expected
        else:
            assert loop._poller_backend in ("epoll", "kqueue", "select")
    finally:
        loop.close()


def test_io_sink_dispatch() -> None:
    loop = whirlwind.new_event_loop()
    a, b = socket.socketpair()
    b.setblocking(False)
    try:
        seen: list[tuple[int, bytes]] = []
        done: list[bool] = []

        def on_io(events: int) -> None:
            data = b.recv(100) if events & _core.READ else b""
            seen.append((events, data))
            # a callback queued from dispatch runs in this same iteration
            loop.call_soon(done.append, True)

        _core._sink_add_py(loop, b.fileno(), on_io, _core.READ)
        with pytest.raises(RuntimeError):
            loop.add_reader(b, print)
        with pytest.raises(RuntimeError):
            _core._sink_add_py(loop, b.fileno(), on_io, _core.READ)
        a.send(b"data")
        before = loop._iterations
        while not done:
            loop._run_once()
        assert loop._iterations - before == 1
        assert seen == [(_core.READ, b"data")]
        # errors in a sink go to the exception handler
        contexts: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))
        _core._sink_modify_py(loop, b.fileno(), _core.WRITE)
        _core._sink_remove_py(loop, b.fileno())
        _core._sink_remove_py(loop, b.fileno())  # tolerant
        _core._sink_add_py(loop, b.fileno(), lambda ev: 1 / 0, _core.WRITE)
        loop._run_once()
        assert contexts and isinstance(contexts[0]["exception"], ZeroDivisionError)
        _core._sink_remove_py(loop, b.fileno())
        loop.add_reader(b, print)  # the fd is free again
        loop.remove_reader(b)
    finally:
        loop.close()
        a.close()
        b.close()


def test_fd_closed_without_remove_then_reused() -> None:
    loop = whirlwind.new_event_loop()
    try:
        a, b = socket.socketpair()
        loop.add_reader(b, print)
        fd = b.fileno()
        b.close()  # closed without remove_reader: the kernel forgets it
        a.close()
        c, d = socket.socketpair()
        try:
            if fd not in (c.fileno(), d.fileno()):
                pytest.skip("fd number not reused")
            reused = c if c.fileno() == fd else d
            other = d if reused is c else c
            got: list[bytes] = []

            def on_read() -> None:
                got.append(reused.recv(10))
                loop.stop()

            loop.add_reader(reused, on_read)
            loop.add_writer(reused, lambda: loop.remove_writer(reused))
            other.send(b"again")
            loop.call_later(5, loop.stop)
            loop.run_forever()
            assert got == [b"again"]
        finally:
            c.close()
            d.close()
    finally:
        loop.close()


def test_foreign_selector_is_refused() -> None:
    import selectors

    sel = selectors.SelectSelector()
    try:
        with pytest.raises(TypeError, match="WHIRLWIND_POLLER"):
            whirlwind.EventLoop(sel)
    finally:
        sel.close()


def test_selector_facade() -> None:
    loop = whirlwind.new_event_loop()
    a, b = socket.socketpair()
    try:
        loop.add_reader(b, print)
        key = loop._selector.get_key(b)
        assert key.fd == b.fileno() and key.events == 1
        assert b.fileno() in loop._selector.get_map()
        with pytest.raises(KeyError):
            loop._selector.get_key(a)
        loop.remove_reader(b)
    finally:
        loop.close()
        a.close()
        b.close()


def test_handles_are_collected() -> None:
    loop = whirlwind.new_event_loop()
    try:

        class Obj:
            pass

        o = Obj()
        o.loop = loop  # type: ignore[attr-defined]
        ref = weakref.ref(o)
        loop.call_soon(print, o)
        loop.call_later(100, print, o)
        a, b = socket.socketpair()
        loop.add_reader(a, print, o)
        loop.add_writer(b, print, o)
        a.close()
        b.close()
        del o
        loop.close()
        gc.collect()
        assert ref() is None
    finally:
        loop.close()


def test_cycles_through_kept_handles_are_collected() -> None:
    # handles are hidden from the cyclic GC only while the loop queues them
    loop = whirlwind.new_event_loop()
    try:

        class Owner:
            def __init__(self) -> None:
                self.fired = 0
                self.timer = loop.call_later(0, self.on_timer)
                self.soon = loop.call_soon(self.on_timer)
                self.cancelled = loop.call_later(100, self.on_timer)
                self.cancelled.cancel()

            def on_timer(self) -> None:
                self.fired += 1

        owners = [Owner() for _ in range(200)]  # > 100: the heap is rebuilt
        refs = [weakref.ref(o) for o in owners]
        loop.call_later(0.01, loop.stop)
        loop.run_forever()
        assert all(o.fired == 2 for o in owners)
        del owners
        gc.collect()
        assert all(r() is None for r in refs)
        # queues cleared behind the loop's back must not crash
        for _ in range(50):
            loop.call_soon(print)
        loop._ready.clear()
        loop._scheduled.clear()
        gc.collect()
    finally:
        loop.close()


def test_forked_child_refuses_to_run() -> None:
    if not hasattr(os, "fork"):
        pytest.skip("no fork")
    code = textwrap.dedent(
        """
        import os, sys, whirlwind
        loop = whirlwind.new_event_loop()
        pid = os.fork()
        if pid == 0:
            try:
                loop.run_until_complete(loop.create_future())
            except RuntimeError as e:
                ok = "fork" in str(e)
                loop.close()
                os._exit(0 if ok else 2)
            os._exit(3)
        _, status = os.waitpid(pid, 0)
        # the parent's loop still works after the child closed its copy
        async def main():
            import asyncio
            await asyncio.sleep(0.01)
            return os.waitstatus_to_exitcode(status)
        print(loop.run_until_complete(main()))
        loop.close()
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0"


def test_ctrl_c_interrupts_run() -> None:
    # SIGINT while whirlwind.run() waits in the poller: asyncio.Runner's
    # handler (3.11+) or the default one (3.10) must end the run promptly
    if sys.platform == "win32":
        pytest.skip("POSIX signals")
    code = textwrap.dedent(
        """
        import asyncio, os, signal, threading, time, whirlwind
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
        t = time.monotonic()
        try:
            whirlwind.run(asyncio.sleep(30))
        except KeyboardInterrupt:
            print("interrupted", time.monotonic() - t < 5)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30
    )
    assert out.stdout.strip() == "interrupted True", out.stderr
