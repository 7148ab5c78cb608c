"""Coordination primitives for coroutines on one event loop (not thread-safe).

Contents: `Condition`, `Event`, `Semaphore`, `BoundedSemaphore`, `Lock`.

Every wait takes an optional ``timeout``: an absolute `.IOLoop.time` deadline
or a `datetime.timedelta`. A waiter that times out stays in its queue until
the queue is next scanned; the queues skip finished waiters when they wake
someone and are compacted after every 100 timeouts, so a stream of timed-out
waits cannot grow memory without bound.
"""

from __future__ import annotations

import collections
import datetime
import types
from collections.abc import Awaitable
from typing import Any

from whirlwind import gen, ioloop
from whirlwind.concurrent import Future, future_set_result_unless_cancelled
from whirlwind.util import TimeoutError

__all__ = ["Condition", "Event", "Semaphore", "BoundedSemaphore", "Lock"]

_Timeout = float | datetime.timedelta | None


class _WaiterQueue:
    """A FIFO of waiter futures, compacted after many timeouts."""

    def __init__(self) -> None:
        self._waiters: collections.deque[Future[Any]] = collections.deque()
        self._timeouts = 0

    def _note_timeout(self) -> None:
        self._timeouts += 1
        if self._timeouts > 100:
            self._timeouts = 0
            self._waiters = collections.deque(w for w in self._waiters if not w.done())

    def _arm_timeout(
        self, waiter: Future[Any], timeout: _Timeout, on_timeout: Any
    ) -> None:
        io_loop = ioloop.IOLoop.current()
        assert io_loop is not None

        def fire() -> None:
            if not waiter.done():
                on_timeout()
            self._note_timeout()

        handle = io_loop.add_timeout(timeout, fire)  # type: ignore[arg-type]
        waiter.add_done_callback(lambda _w: io_loop.remove_timeout(handle))


class Condition(_WaiterQueue):
    """Coroutines `wait` until another `notify`-es them.

    ``await cond.wait()`` resolves to True when notified, or to False when its
    ``timeout`` passes first.
    """

    def __repr__(self) -> str:
        extra = f" waiters[{len(self._waiters)}]" if self._waiters else ""
        return f"<{type(self).__name__}{extra}>"

    def wait(self, timeout: _Timeout = None) -> Awaitable[bool]:
        """Wait for `notify`; True if notified, False on timeout."""
        waiter: Future[bool] = Future()
        self._waiters.append(waiter)
        if timeout is not None:
            self._arm_timeout(
                waiter,
                timeout,
                lambda: future_set_result_unless_cancelled(waiter, False),
            )
        return waiter

    def notify(self, n: int = 1) -> None:
        """Wake ``n`` waiters (those that timed out do not count)."""
        woken = []
        while n and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                n -= 1
                woken.append(waiter)
        # Wake them after the queue is consistent, in case a waker re-waits.
        for waiter in woken:
            future_set_result_unless_cancelled(waiter, True)

    def notify_all(self) -> None:
        """Wake every waiter."""
        self.notify(len(self._waiters))


class Event:
    """A flag coroutines can wait for; it starts cleared.

    `set` wakes all waiters; waiting on a set event returns at once.
    """

    def __init__(self) -> None:
        self._value = False
        self._waiters: set[Future[None]] = set()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {'set' if self._value else 'clear'}>"

    def is_set(self) -> bool:
        return self._value

    def set(self) -> None:
        """Set the flag and wake every waiter."""
        if self._value:
            return
        self._value = True
        for fut in list(self._waiters):
            if not fut.done():
                fut.set_result(None)

    def clear(self) -> None:
        """Reset the flag; later `wait` calls block again."""
        self._value = False

    def wait(self, timeout: _Timeout = None) -> Awaitable[None]:
        """Wait until the flag is set; raises `TimeoutError` after ``timeout``."""
        fut: Future[None] = Future()
        if self._value:
            fut.set_result(None)
            return fut
        self._waiters.add(fut)
        fut.add_done_callback(self._waiters.discard)
        if timeout is None:
            return fut
        limited = gen.with_timeout(timeout, fut)
        # On timeout, drop our inner waiter so set() does not find it later.
        limited.add_done_callback(lambda _t: fut.cancel())
        return limited


class _ReleasingContextManager:
    """What ``yield sem.acquire()`` gives: ``with`` it to release at the end."""

    def __init__(self, obj: Any) -> None:
        self._obj = obj

    def __enter__(self) -> None:
        pass

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: types.TracebackType | None,
    ) -> None:
        self._obj.release()


class Semaphore(_WaiterQueue):
    """A counter: `acquire` decrements it, waiting while it is zero;
    `release` increments it and wakes the oldest waiter.

    Use ``async with sem:``, or in a generator coroutine
    ``with (yield sem.acquire()):``.
    """

    def __init__(self, value: int = 1) -> None:
        super().__init__()
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        self._value = value

    def __repr__(self) -> str:
        state = "locked" if self._value == 0 else f"unlocked,value:{self._value}"
        if self._waiters:
            state += f",waiters:{len(self._waiters)}"
        return f"<{type(self).__name__} [{state}]>"

    def release(self) -> None:
        """Increment the counter, handing it to the oldest live waiter."""
        self._value += 1
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._value -= 1
                waiter.set_result(_ReleasingContextManager(self))
                return

    def acquire(self, timeout: _Timeout = None) -> Awaitable[_ReleasingContextManager]:
        """Decrement the counter, waiting until it is positive.

        Raises `TimeoutError` if ``timeout`` passes first.
        """
        waiter: Future[_ReleasingContextManager] = Future()
        if self._value > 0:
            self._value -= 1
            waiter.set_result(_ReleasingContextManager(self))
            return waiter
        self._waiters.append(waiter)
        if timeout is not None:
            self._arm_timeout(
                waiter, timeout, lambda: waiter.set_exception(TimeoutError())
            )
        return waiter

    def __enter__(self) -> None:
        raise RuntimeError("Use 'async with' instead of 'with' for Semaphore")

    def __exit__(self, typ: Any, value: Any, tb: Any) -> None:
        self.__enter__()

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, typ: Any, value: Any, tb: Any) -> None:
        self.release()


class BoundedSemaphore(Semaphore):
    """A `Semaphore` that refuses to be released above its initial value."""

    def __init__(self, value: int = 1) -> None:
        super().__init__(value=value)
        self._initial_value = value

    def release(self) -> None:
        """Like `Semaphore.release`; `ValueError` if it would exceed the start value."""
        if self._value >= self._initial_value:
            raise ValueError("Semaphore released too many times")
        super().release()


class Lock:
    """A mutex for coroutines: ``async with lock:``.

    Waiters get the lock in FIFO order. It is not reentrant.
    """

    def __init__(self) -> None:
        self._block = BoundedSemaphore(value=1)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} _block={self._block}>"

    def acquire(self, timeout: _Timeout = None) -> Awaitable[_ReleasingContextManager]:
        """Wait for the lock; raises `TimeoutError` after ``timeout``."""
        return self._block.acquire(timeout)

    def release(self) -> None:
        """Release the lock; `RuntimeError` if it is not held."""
        try:
            self._block.release()
        except ValueError:
            raise RuntimeError("release unlocked lock") from None

    def __enter__(self) -> None:
        raise RuntimeError("Use `async with` instead of `with` for Lock")

    def __exit__(self, typ: Any, value: Any, tb: Any) -> None:
        self.__enter__()

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, typ: Any, value: Any, tb: Any) -> None:
        self.release()
