"""Asynchronous queues for coroutines on one event loop (not thread-safe).

Contents: `Queue` (FIFO), `PriorityQueue` (lowest first), `LifoQueue`
(last in, first out), `QueueEmpty`, `QueueFull`.

Theory of operation: a queue holds items, plus two FIFOs of waiting futures:
getters (waiting for an item) and putters (waiting for room, each with the
item it wants to put). At most one of the two is non-empty at a time. A
put first serves the oldest live getter directly; a get first takes room
made by the oldest live putter. Waiters that timed out or were cancelled are
skipped when they reach the front. ``_unfinished_tasks`` counts items put
but not yet marked `Queue.task_done`; `Queue.join` waits for it to reach zero.
"""

from __future__ import annotations

import collections
import datetime
import heapq
from collections.abc import Awaitable
from typing import Any, Generic, TypeVar

from whirlwind import ioloop
from whirlwind.concurrent import Future, future_set_result_unless_cancelled
from whirlwind.locks import Event
from whirlwind.util import TimeoutError

__all__ = ["Queue", "PriorityQueue", "LifoQueue", "QueueFull", "QueueEmpty"]

_T = TypeVar("_T")
_Timeout = float | datetime.timedelta | None


class QueueEmpty(Exception):
    """Raised by `Queue.get_nowait` when there is no item."""


class QueueFull(Exception):
    """Raised by `Queue.put_nowait` when the queue is at its ``maxsize``."""


def _fail_after(future: Future[Any], timeout: _Timeout) -> None:
    if timeout is None:
        return
    io_loop = ioloop.IOLoop.current()
    assert io_loop is not None

    def expire() -> None:
        if not future.done():
            future.set_exception(TimeoutError())

    handle = io_loop.add_timeout(timeout, expire)
    future.add_done_callback(lambda _f: io_loop.remove_timeout(handle))


class _QueueIterator(Generic[_T]):
    def __init__(self, q: Queue[_T]) -> None:
        self.q = q

    def __anext__(self) -> Awaitable[_T]:
        return self.q.get()


class Queue(Generic[_T]):
    """A FIFO queue whose `get` and `put` can be awaited.

    ``maxsize=0`` means unbounded; otherwise `put` waits while the queue is
    full. ``async for item in q`` gets items forever. Pair each `get` with
    `task_done` to use `join`.
    """

    _queue: Any = None

    def __init__(self, maxsize: int = 0) -> None:
        if maxsize is None:
            raise TypeError("maxsize can't be None")
        if maxsize < 0:
            raise ValueError("maxsize can't be negative")
        self._maxsize = maxsize
        self._init()
        self._getters: collections.deque[Future[_T]] = collections.deque()
        self._putters: collections.deque[tuple[_T, Future[None]]] = collections.deque()
        self._unfinished_tasks = 0
        self._finished = Event()
        self._finished.set()

    @property
    def maxsize(self) -> int:
        """The number of items the queue may hold (0: no limit)."""
        return self._maxsize

    def qsize(self) -> int:
        """The number of items in the queue."""
        return len(self._queue)

    def empty(self) -> bool:
        return not self._queue

    def full(self) -> bool:
        return self._maxsize > 0 and len(self._queue) >= self._maxsize

    def put(self, item: _T, timeout: _Timeout = None) -> Future[None]:
        """Put ``item``, waiting for room; raises `TimeoutError` after ``timeout``."""
        done: Future[None] = Future()
        try:
            self.put_nowait(item)
        except QueueFull:
            self._putters.append((item, done))
            _fail_after(done, timeout)
        else:
            done.set_result(None)
        return done

    def put_nowait(self, item: _T) -> None:
        """Put ``item`` now, or raise `QueueFull`."""
        self._drop_expired()
        if self._getters:
            # Items only wait in the queue when nobody is waiting for them.
            getter = self._getters.popleft()
            self._accept(item)
            future_set_result_unless_cancelled(getter, self._get())
        elif self.full():
            raise QueueFull
        else:
            self._accept(item)

    def get(self, timeout: _Timeout = None) -> Awaitable[_T]:
        """Remove and return an item, waiting for one.

        Raises `TimeoutError` after ``timeout``.
        """
        result: Future[_T] = Future()
        try:
            result.set_result(self.get_nowait())
        except QueueEmpty:
            self._getters.append(result)
            _fail_after(result, timeout)
        return result

    def get_nowait(self) -> _T:
        """Remove and return an item now, or raise `QueueEmpty`."""
        self._drop_expired()
        if self._putters:
            # The queue is full: admit the oldest waiting put, then take one.
            item, putter = self._putters.popleft()
            self._accept(item)
            future_set_result_unless_cancelled(putter, None)
            return self._get()
        if self._queue:
            return self._get()
        raise QueueEmpty

    def task_done(self) -> None:
        """Mark one item taken with `get` as processed (for `join`)."""
        if self._unfinished_tasks <= 0:
            raise ValueError("task_done() called too many times")
        self._unfinished_tasks -= 1
        if self._unfinished_tasks == 0:
            self._finished.set()

    def join(self, timeout: _Timeout = None) -> Awaitable[None]:
        """Wait until every item put has been marked `task_done`."""
        return self._finished.wait(timeout)

    def __aiter__(self) -> _QueueIterator[_T]:
        return _QueueIterator(self)

    # Storage hooks, overridden by the subclasses.
    def _init(self) -> None:
        self._queue = collections.deque()

    def _get(self) -> _T:
        return self._queue.popleft()  # type: ignore[no-any-return]

    def _put(self, item: _T) -> None:
        self._queue.append(item)

    def _accept(self, item: _T) -> None:
        self._unfinished_tasks += 1
        self._finished.clear()
        self._put(item)

    def _drop_expired(self) -> None:
        putters, getters = self._putters, self._getters
        while putters and putters[0][1].done():
            putters.popleft()
        while getters and getters[0].done():
            getters.popleft()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} at {hex(id(self))} {self._format()}>"

    def __str__(self) -> str:
        return f"<{type(self).__name__} {self._format()}>"

    def _format(self) -> str:
        parts = [f"maxsize={self._maxsize!r}"]
        if self._queue:
            parts.append(f"queue={self._queue!r}")
        if self._getters:
            parts.append(f"getters[{len(self._getters)}]")
        if self._putters:
            parts.append(f"putters[{len(self._putters)}]")
        if self._unfinished_tasks:
            parts.append(f"tasks={self._unfinished_tasks}")
        return " ".join(parts)


class PriorityQueue(Queue[_T]):
    """A `Queue` that returns the smallest item first (often ``(priority, x)``)."""

    def _init(self) -> None:
        self._queue = []

    def _put(self, item: _T) -> None:
        heapq.heappush(self._queue, item)

    def _get(self) -> _T:
        return heapq.heappop(self._queue)  # type: ignore[no-any-return]


class LifoQueue(Queue[_T]):
    """A `Queue` that returns the most recently put item first."""

    def _init(self) -> None:
        self._queue = []

    def _put(self, item: _T) -> None:
        self._queue.append(item)

    def _get(self) -> _T:
        return self._queue.pop()  # type: ignore[no-any-return]
