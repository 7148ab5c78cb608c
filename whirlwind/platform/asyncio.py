"""asyncio bridge names, where Tornado code expects them.

Contents: `BaseAsyncIOLoop`, `AsyncIOMainLoop`, `AsyncIOLoop` (defined in
`whirlwind.ioloop`), `to_tornado_future`, `to_asyncio_future` (identities
since futures *are* asyncio futures) and the deprecated
`AnyThreadEventLoopPolicy`, built on first use.

* `SelectorThread`, `AddThreadSelectorEventLoop`: ``add_reader`` and
  ``add_writer`` for loops that lack them (Windows' proactor loop), served by
  a helper thread running ``select``. whirlwind's own loop never needs them;
  `.IOLoop` uses them only on a proactor loop.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import select
import socket
import threading
import warnings
from collections.abc import Callable
from typing import Any

from whirlwind.gen import convert_yielded
from whirlwind.ioloop import AsyncIOLoop, AsyncIOMainLoop, BaseAsyncIOLoop

__all__ = [
    "AddThreadSelectorEventLoop",
    "AsyncIOLoop",
    "AsyncIOMainLoop",
    "BaseAsyncIOLoop",
    "SelectorThread",
    "to_asyncio_future",
    "to_tornado_future",
]


def to_tornado_future(asyncio_future: asyncio.Future[Any]) -> asyncio.Future[Any]:
    """Return the future unchanged (kept for old code)."""
    return asyncio_future


def to_asyncio_future(tornado_future: Any) -> asyncio.Future[Any]:
    """Turn any yieldable into an asyncio future (see `.gen.convert_yielded`)."""
    return convert_yielded(tornado_future)


_policy_class: Any = None

_FileLike = Any  # an fd or an object with fileno()

# Every open SelectorThread, so interpreter exit can stop their threads.
_selector_loops: set[SelectorThread] = set()


def _atexit_callback() -> None:
    for selector in list(_selector_loops):
        selector.close()


atexit.register(_atexit_callback)


class SelectorThread:
    """``add_reader``/``add_writer`` for an asyncio loop, from a helper thread.

    Theory of operation: the loop thread owns the reader/writer tables. When
    it wants readiness news it posts a request (a snapshot of the fds) to the
    helper thread, which runs one ``select`` over them plus a waker socket and
    posts the ready fds back with ``call_soon_threadsafe``. The loop runs the
    callbacks and only then posts the next request, so a level-triggered fd
    that stays ready costs one round trip per loop iteration, never a busy
    spin. Changing the tables while the helper is blocked writes to the waker,
    so the next ``select`` sees the change. The thread runs from creation
    until `close` (or interpreter exit).
    """

    _closed = False

    def __init__(self, real_loop: asyncio.AbstractEventLoop) -> None:
        self._real_loop = real_loop
        # Callbacks run in the context of whoever created the selector, not in
        # the helper thread's (empty) context.
        self._context = contextvars.copy_context()
        self._readers: dict[_FileLike, Callable[[], None]] = {}
        self._writers: dict[_FileLike, Callable[[], None]] = {}
        self._cond = threading.Condition()
        self._request: tuple[list[_FileLike], list[_FileLike]] | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._waker_r, self._waker_w = socket.socketpair()
        self._waker_r.setblocking(False)
        self._waker_w.setblocking(False)
        self._readers[self._waker_r] = self._drain_waker
        _selector_loops.add(self)
        self._thread = threading.Thread(
            target=self._thread_main, name="whirlwind selector", daemon=True
        )
        self._thread.start()
        self._post_request()

    def close(self) -> None:
        """Stop the helper thread and release the waker; idempotent."""
        if self._closed:
            return
        self._closed = True
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._wake()
        if self._thread is not None:
            self._thread.join()
        _selector_loops.discard(self)
        self._readers.clear()
        self._writers.clear()
        self._waker_r.close()
        self._waker_w.close()

    def _wake(self) -> None:
        try:
            self._waker_w.send(b"x")
        except OSError:
            pass  # full (a wake-up is already pending) or closed

    def _drain_waker(self) -> None:
        try:
            while self._waker_r.recv(1024):
                pass
        except OSError:
            pass

    def _post_request(self) -> None:
        with self._cond:
            self._request = (list(self._readers), list(self._writers))
            self._cond.notify()

    def _thread_main(self) -> None:
        while True:
            with self._cond:
                while self._request is None and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                readers, writers = self._request  # type: ignore[misc]
                self._request = None
            try:
                ready_r, ready_w, failed = select.select(readers, writers, writers)
                if failed:
                    # Windows reports a failed connect() as "exceptional".
                    ready_w = list(set(ready_w).union(failed))
            except OSError:
                # An fd was closed under us: report everything, let the
                # callbacks find out, and rebuild the request afterwards.
                ready_r, ready_w = readers, writers
            if self._stopping:
                return
            try:
                self._real_loop.call_soon_threadsafe(
                    self._dispatch, ready_r, ready_w, context=self._context
                )
            except RuntimeError:
                return  # the loop is closed

    def _dispatch(self, ready_r: list[_FileLike], ready_w: list[_FileLike]) -> None:
        for fd in ready_r:
            callback = self._readers.get(fd)
            if callback is not None:
                callback()
        for fd in ready_w:
            callback = self._writers.get(fd)
            if callback is not None:
                callback()
        if not self._closed:
            self._post_request()

    def add_reader(
        self, fd: _FileLike, callback: Callable[..., None], *args: Any
    ) -> None:
        self._readers[fd] = lambda: callback(*args)
        self._changed()

    def add_writer(
        self, fd: _FileLike, callback: Callable[..., None], *args: Any
    ) -> None:
        self._writers[fd] = lambda: callback(*args)
        self._changed()

    def remove_reader(self, fd: _FileLike) -> bool:
        found = self._readers.pop(fd, None) is not None
        self._changed()
        return found

    def remove_writer(self, fd: _FileLike) -> bool:
        found = self._writers.pop(fd, None) is not None
        self._changed()
        return found

    def _changed(self) -> None:
        # Make a select() in progress return, so the next one sees the change.
        self._wake()


class AddThreadSelectorEventLoop:
    """Wrap an asyncio loop so ``add_reader``/``add_writer`` work on it.

    Every other attribute is the wrapped loop's. `close` stops the helper
    thread and closes the wrapped loop.
    """

    def __init__(self, real_loop: asyncio.AbstractEventLoop) -> None:
        self._real_loop = real_loop
        self._selector = SelectorThread(real_loop)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real_loop, name)

    def close(self) -> None:
        self._selector.close()
        self._real_loop.close()

    def add_reader(
        self, fd: _FileLike, callback: Callable[..., None], *args: Any
    ) -> None:
        self._selector.add_reader(fd, callback, *args)

    def add_writer(
        self, fd: _FileLike, callback: Callable[..., None], *args: Any
    ) -> None:
        self._selector.add_writer(fd, callback, *args)

    def remove_reader(self, fd: _FileLike) -> bool:
        return self._selector.remove_reader(fd)

    def remove_writer(self, fd: _FileLike) -> bool:
        return self._selector.remove_writer(fd)


def __getattr__(name: str) -> Any:
    # Built lazily: subclassing the policy classes warns on Python 3.14.
    global _policy_class
    if name != "AnyThreadEventLoopPolicy":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _policy_class is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            base: Any = asyncio.DefaultEventLoopPolicy

        class AnyThreadEventLoopPolicy(base):  # type: ignore[misc]
            """A policy that makes a loop for any thread that asks (deprecated)."""

            def __init__(self) -> None:
                super().__init__()
                warnings.warn(
                    "AnyThreadEventLoopPolicy is deprecated, use asyncio.run "
                    "or asyncio.new_event_loop instead",
                    DeprecationWarning,
                    stacklevel=2,
                )

            def get_event_loop(self) -> asyncio.AbstractEventLoop:
                try:
                    return super().get_event_loop()  # type: ignore[no-any-return]
                except RuntimeError:
                    loop = self.new_event_loop()
                    self.set_event_loop(loop)
                    return loop  # type: ignore[no-any-return]

        _policy_class = AnyThreadEventLoopPolicy
    return _policy_class
