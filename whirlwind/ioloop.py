"""The I/O loop: Tornado's `IOLoop` API over any asyncio event loop.

Contents:

* `IOLoop`: callbacks, timeouts, fd handlers and futures, in both API
  generations (``IOLoop.instance()`` / ``add_timeout`` / ``install()`` and
  ``IOLoop.current()`` / ``call_later`` / ``run_sync``).
* `BaseAsyncIOLoop`, `AsyncIOMainLoop`, `AsyncIOLoop`: the implementations
  (also exported by `whirlwind.platform.asyncio`).
* `PeriodicCallback`: run a callback every N milliseconds, skipping overruns.

Theory of operation
-------------------
An `IOLoop` is a thin adapter around exactly one asyncio event loop; there is
never more than one `IOLoop` per asyncio loop (``IOLoop._ioloop_for_asyncio``
maps each loop to its adapter and drops closed loops). `IOLoop.current` looks
for an asyncio loop in this order: the running loop, then the loop set as
current for this thread (``asyncio.set_event_loop``), and finally, if there is
none (or it is closed), a new whirlwind loop (`whirlwind.loop.new_event_loop`)
that it sets as current. The adapter found or created for that loop is
returned, so whirlwind runs equally on its own compiled loop, on asyncio's
default loop and on uvloop.

Everything user code hands the loop (callbacks, timeouts, fd handlers, future
callbacks) runs through `IOLoop._run_callback`, which logs exceptions on
``whirlwind.application`` and, when a callback returns an awaitable, watches it
so its failure is logged too. Fd handlers sit on the asyncio loop's
``add_reader``/``add_writer``; ``self._handlers`` keeps, per fd number, the
object the user passed, the handler and the current event mask, which makes
`update_handler` a diff and ``close(all_fds=True)`` possible.

`IOLoop.time` is wall-clock time (`time.time`), as in Tornado; absolute
deadlines are converted to delays for the asyncio loop's monotonic clock when
they are scheduled.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime
import functools
import math
import numbers
import os
import random
import time
import warnings
from collections.abc import Awaitable, Callable
from inspect import isawaitable
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast, overload

from whirlwind.concurrent import (
    Future,
    chain_future,
    future_add_done_callback,
    is_future,
)
from whirlwind.log import app_log
from whirlwind.util import (  # noqa: F401  (re-exported like Tornado's)
    Configurable,
    TimeoutError,
    import_object,
)

if TYPE_CHECKING:
    from types import ModuleType

_T = TypeVar("_T")


_FdLike = Any  # an int fd, or an object with fileno() (and close())

_get_running_loop = asyncio._get_running_loop


def _event_loop_policy() -> asyncio.AbstractEventLoopPolicy:
    # Python 3.14 deprecates the public getter; its private twin does not warn.
    getter = getattr(asyncio.events, "_get_event_loop_policy", None)
    if getter is not None:
        return getter()  # type: ignore[no-any-return]
    return asyncio.get_event_loop_policy()


def _loop_set_for_thread() -> asyncio.AbstractEventLoop | None:
    """The loop ``asyncio.set_event_loop`` made current here, or None.

    Unlike ``asyncio.get_event_loop`` this never creates a loop nor warns.
    """
    policy = _event_loop_policy()
    local = getattr(policy, "_local", None)
    if local is not None and hasattr(local, "_loop"):
        return local._loop  # type: ignore[no-any-return]
    # A policy of unknown shape: ask it, muting the "no current loop" noise.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return policy.get_event_loop()
    except RuntimeError:
        return None


def _current_asyncio_loop() -> asyncio.AbstractEventLoop | None:
    loop = _get_running_loop()
    if loop is None:
        loop = _loop_set_for_thread()
    return loop


def _new_current_loop() -> asyncio.AbstractEventLoop:
    """A new whirlwind loop, set as this thread's current asyncio loop."""
    from whirlwind.loop import new_event_loop

    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    return loop


_gen: ModuleType | None = None


def _gen_module() -> ModuleType:
    # whirlwind.gen imports this module; import it back lazily, once.
    global _gen
    if _gen is None:
        from whirlwind import gen

        _gen = gen
    return _gen


class IOLoop(Configurable):
    """An I/O event loop: Tornado's API over an asyncio loop.

    Get the loop of this thread with `IOLoop.current` (or the classic
    `IOLoop.instance`); ``IOLoop()`` builds a new one on a fresh whirlwind
    loop. Typical classic use::

        io_loop = IOLoop.instance()
        io_loop.add_handler(sock.fileno(), on_ready, io_loop.READ)
        io_loop.add_timeout(time.time() + 60, on_timeout)
        io_loop.start()

    Only `add_callback` may be called from other threads.
    """

    # Event bits, with epoll's values.
    NONE = 0
    READ = 0x001
    WRITE = 0x004
    ERROR = 0x018

    # One IOLoop per asyncio loop (see the theory of operation).
    _ioloop_for_asyncio: dict[asyncio.AbstractEventLoop, IOLoop] = {}

    asyncio_loop: asyncio.AbstractEventLoop

    @classmethod
    def configure(cls, impl: str | type[Configurable] | None, **kwargs: Any) -> None:
        """Choose the `IOLoop` subclass; only asyncio-based ones exist."""
        if isinstance(impl, str):
            impl = import_object(impl)
        if isinstance(impl, type) and not issubclass(impl, BaseAsyncIOLoop):
            raise RuntimeError("only AsyncIOLoop is allowed when asyncio is available")
        super().configure(impl, **kwargs)

    @classmethod
    def configurable_base(cls) -> type[Configurable]:
        return IOLoop

    @classmethod
    def configurable_default(cls) -> type[Configurable]:
        return AsyncIOLoop

    # --- finding the loop -------------------------------------------------

    @overload
    @staticmethod
    def current() -> IOLoop: ...

    @overload
    @staticmethod
    def current(instance: Literal[True]) -> IOLoop: ...

    @overload
    @staticmethod
    def current(instance: bool = True) -> IOLoop | None: ...

    @staticmethod
    def current(instance: bool = True) -> IOLoop | None:
        """The `IOLoop` of the running or current asyncio loop.

        With no usable asyncio loop, ``instance=True`` (the default) starts a
        new whirlwind loop, sets it as this thread's current loop and returns
        its `IOLoop`; ``instance=False`` returns None instead.
        """
        loop = _current_asyncio_loop()
        if loop is not None:
            found = IOLoop._ioloop_for_asyncio.get(loop)
            if found is not None:
                return found
            if loop.is_closed():
                loop = None
        if not instance:
            return None
        if loop is None:
            loop = _new_current_loop()
        return cast(IOLoop, AsyncIOMainLoop(asyncio_loop=loop))

    @staticmethod
    def instance() -> IOLoop:
        """Classic name of `current`: the loop of this thread."""
        current = IOLoop.current()
        assert current is not None
        return current

    def install(self) -> None:
        """Classic name of `make_current` (without the deprecation warning)."""
        self._make_current()

    @staticmethod
    def clear_instance() -> None:
        """Classic name of `clear_current`."""
        IOLoop._clear_current()

    def make_current(self) -> None:
        """Make this loop the current one for this thread.

        Deprecated in Tornado 6.2: start the loop (or ``asyncio.run``) instead.
        """
        warnings.warn(
            "make_current is deprecated; start the event loop first",
            DeprecationWarning,
            stacklevel=2,
        )
        self._make_current()

    def _make_current(self) -> None:
        raise NotImplementedError()

    @staticmethod
    def clear_current() -> None:
        """Undo `make_current` (deprecated in Tornado 6.2)."""
        warnings.warn("clear_current is deprecated", DeprecationWarning, stacklevel=2)
        IOLoop._clear_current()

    @staticmethod
    def _clear_current() -> None:
        old = IOLoop.current(instance=False)
        if old is not None:
            old._clear_current_hook()

    def _clear_current_hook(self) -> None:
        pass

    def initialize(self, make_current: bool = True) -> None:
        if make_current:
            self._make_current()

    # --- implemented by BaseAsyncIOLoop -----------------------------------

    def close(self, all_fds: bool = False) -> None:
        """Close the loop; with ``all_fds`` also close every registered fd."""
        raise NotImplementedError()

    def add_handler(
        self, fd: _FdLike, handler: Callable[..., None], events: int
    ) -> None:
        """Call ``handler(fd, events)`` when ``fd`` is ready for ``events``.

        ``fd`` is an int or an object with ``fileno()``; the handler receives
        whichever was passed.
        """
        raise NotImplementedError()

    def update_handler(self, fd: _FdLike, events: int) -> None:
        """Change the events ``fd``'s handler listens for."""
        raise NotImplementedError()

    def remove_handler(self, fd: _FdLike) -> None:
        """Stop listening on ``fd`` (no error if it was not registered)."""
        raise NotImplementedError()

    def start(self) -> None:
        """Run until `stop` is called."""
        raise NotImplementedError()

    def stop(self) -> None:
        """Make `start` return once the current iteration is done."""
        raise NotImplementedError()

    def add_callback(
        self, callback: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> None:
        """Call ``callback`` on the next iteration; safe from any thread."""
        raise NotImplementedError()

    def add_callback_from_signal(
        self, callback: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> None:
        """Like `add_callback`, from a signal handler."""
        raise NotImplementedError()

    def call_at(
        self, when: float, callback: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> object:
        """Call ``callback`` at `time` ``when``; returns a handle for `remove_timeout`."""
        raise NotImplementedError()

    def remove_timeout(self, timeout: object) -> None:
        """Cancel a pending timeout (a handle from `add_timeout`/`call_*`)."""
        raise NotImplementedError()

    # --- shared implementation --------------------------------------------

    def spawn_callback(
        self, callback: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> None:
        """Call ``callback`` on the next iteration, detached from the caller."""
        self.add_callback(callback, *args, **kwargs)

    def time(self) -> float:
        """The loop's clock: `time.time` (wall-clock seconds)."""
        return time.time()

    def add_timeout(
        self,
        deadline: float | datetime.timedelta,
        callback: Callable[..., Any],
        *args: Any,
        **kwargs: Any,
    ) -> object:
        """Call ``callback`` at ``deadline``: an absolute `time` or a timedelta
        from now. Returns a handle for `remove_timeout`."""
        if isinstance(deadline, numbers.Real):
            return self.call_at(float(deadline), callback, *args, **kwargs)
        if isinstance(deadline, datetime.timedelta):
            return self.call_at(
                self.time() + deadline.total_seconds(), callback, *args, **kwargs
            )
        raise TypeError(f"Unsupported deadline {deadline!r}")

    def call_later(
        self, delay: float, callback: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> object:
        """Call ``callback`` after ``delay`` seconds; returns a timeout handle."""
        return self.call_at(self.time() + delay, callback, *args, **kwargs)

    def run_sync(self, func: Callable[[], Any], timeout: float | None = None) -> Any:
        """Start the loop, run ``func`` and stop once its result is ready.

        ``func`` may return a value, an awaitable or a yieldable; its result is
        returned and its exception raised. With ``timeout`` (seconds), a
        still-running ``func`` is cancelled and `TimeoutError` raised.
        """
        box: dict[str, Any] = {"future": None, "timed_out": False}

        def begin() -> None:
            fut: Future[Any]
            try:
                result = func()
                if result is not None:
                    result = _gen_module().convert_yielded(result)
            except Exception as e:
                fut = Future()
                fut.set_exception(e)
            else:
                if is_future(result):
                    fut = result
                else:
                    fut = Future()
                    fut.set_result(result)
            box["future"] = fut
            self.add_future(fut, lambda _f: self.stop())

        def on_timeout() -> None:
            box["timed_out"] = True
            fut = box["future"]
            if fut is None or not fut.cancel():
                self.stop()

        self.add_callback(begin)
        handle = self.call_later(timeout, on_timeout) if timeout is not None else None
        self.start()
        if handle is not None:
            self.remove_timeout(handle)
        fut = box["future"]
        if fut is None or fut.cancelled() or not fut.done():
            if box["timed_out"]:
                raise TimeoutError(f"Operation timed out after {timeout} seconds")
            raise RuntimeError("Event loop stopped before Future completed.")
        return fut.result()

    def add_future(
        self,
        future: Future[_T] | concurrent.futures.Future[_T],
        callback: Callable[..., Any],
    ) -> None:
        """Call ``callback(future)`` on this loop once ``future`` is done."""
        if isinstance(future, Future):
            future.add_done_callback(functools.partial(self._run_callback, callback))
        else:
            assert is_future(future)
            future_add_done_callback(
                future, functools.partial(self.add_callback, callback)
            )

    def run_in_executor(
        self,
        executor: concurrent.futures.Executor | None,
        func: Callable[..., _T],
        *args: Any,
    ) -> Future[_T]:
        """Run ``func(*args)`` on ``executor`` (None: the default one)."""
        if executor is None:
            if not hasattr(self, "_executor"):
                self._executor: concurrent.futures.Executor = (
                    concurrent.futures.ThreadPoolExecutor(
                        max_workers=(os.cpu_count() or 1) * 5
                    )
                )
            executor = self._executor
        result: Future[_T] = Future()
        chain_future(executor.submit(func, *args), result)
        return result

    def set_default_executor(self, executor: concurrent.futures.Executor) -> None:
        """Use ``executor`` for ``run_in_executor(None, ...)``."""
        self._executor = executor

    def _run_callback(self, callback: Callable[..., Any], *args: Any) -> None:
        try:
            ret = callback(*args)
            if ret is not None:
                gen = _gen_module()
                try:
                    ret = gen.convert_yielded(ret)
                except gen.BadYieldError:
                    pass  # a plain return value: ignore it
                else:
                    self.add_future(ret, self._discard_future_result)
        except asyncio.CancelledError:
            pass
        except Exception:
            app_log.error("Exception in callback %r", callback, exc_info=True)

    def _discard_future_result(self, future: Future[Any]) -> None:
        future.result()  # raises (and so logs) the error, if any

    # asyncio keeps only weak references to tasks; tasks that gen starts on
    # behalf of a yield are kept here until they finish.
    _pending_tasks: set[Future[Any]] = set()

    def _register_task(self, task: Future[Any]) -> None:
        self._pending_tasks.add(task)

    def _unregister_task(self, task: Future[Any]) -> None:
        self._pending_tasks.discard(task)

    def split_fd(self, fd: _FdLike) -> tuple[int, _FdLike]:
        """Return ``(fd number, the object passed)``."""
        if isinstance(fd, int):
            return fd, fd
        return fd.fileno(), fd

    def close_fd(self, fd: _FdLike) -> None:
        """Close an int fd or a file-like object, ignoring `OSError`."""
        try:
            if isinstance(fd, int):
                os.close(fd)
            else:
                fd.close()
        except OSError:
            pass


class BaseAsyncIOLoop(IOLoop):
    """`IOLoop` implemented on an asyncio event loop (``self.asyncio_loop``)."""

    def initialize(  # type: ignore[override]
        self, asyncio_loop: asyncio.AbstractEventLoop, **kwargs: Any
    ) -> None:
        self.asyncio_loop = asyncio_loop
        # The loop that serves add_reader/add_writer: the loop itself, except
        # for Windows' proactor loop, which lacks them and gets a helper thread.
        self.selector_loop: Any = asyncio_loop
        proactor = getattr(asyncio, "ProactorEventLoop", None)
        if proactor is not None and isinstance(asyncio_loop, proactor):
            from whirlwind.platform.asyncio import AddThreadSelectorEventLoop

            self.selector_loop = AddThreadSelectorEventLoop(asyncio_loop)
        # fd number -> [object passed in, handler, events mask]
        self._handlers: dict[int, list[Any]] = {}
        self.closing = False
        registry = IOLoop._ioloop_for_asyncio
        for loop in [lp for lp in registry if lp.is_closed()]:
            registry.pop(loop, None)
        existing = registry.setdefault(asyncio_loop, self)
        if existing is not self:
            raise RuntimeError(
                f"IOLoop {existing} already associated with asyncio loop {asyncio_loop}"
            )
        super().initialize(**kwargs)

    @property
    def handlers(self) -> dict[int, tuple[Any, Callable[..., None]]]:
        return {fd: (h[0], h[1]) for fd, h in self._handlers.items()}

    def close(self, all_fds: bool = False) -> None:
        self.closing = True
        for fd, (fileobj, _handler, _events) in list(self._handlers.items()):
            self.remove_handler(fd)
            if all_fds:
                self.close_fd(fileobj)
        if IOLoop._ioloop_for_asyncio.get(self.asyncio_loop) is self:
            del IOLoop._ioloop_for_asyncio[self.asyncio_loop]
        if self.selector_loop is not self.asyncio_loop:
            self.selector_loop.close()
        self.asyncio_loop.close()

    def add_handler(
        self, fd: _FdLike, handler: Callable[..., None], events: int
    ) -> None:
        fd_num, fileobj = self.split_fd(fd)
        if fd_num in self._handlers:
            raise ValueError(f"fd {fd_num} added twice")
        self._handlers[fd_num] = [fileobj, handler, 0]
        self._set_events(fd_num, events)

    def update_handler(self, fd: _FdLike, events: int) -> None:
        fd_num, _ = self.split_fd(fd)
        if fd_num not in self._handlers:
            raise KeyError(fd_num)
        self._set_events(fd_num, events)

    def _set_events(self, fd: int, events: int) -> None:
        entry = self._handlers[fd]
        old = entry[2]
        loop = self.selector_loop
        changed = old ^ events
        if changed & IOLoop.READ:
            if events & IOLoop.READ:
                loop.add_reader(fd, self._handle_events, fd, IOLoop.READ)
            else:
                loop.remove_reader(fd)
        if changed & IOLoop.WRITE:
            if events & IOLoop.WRITE:
                loop.add_writer(fd, self._handle_events, fd, IOLoop.WRITE)
            else:
                loop.remove_writer(fd)
        entry[2] = events

    def remove_handler(self, fd: _FdLike) -> None:
        fd_num, _ = self.split_fd(fd)
        entry = self._handlers.pop(fd_num, None)
        if entry is None:
            # Not ours: whirlwind's own helpers (netutil.add_accept_handler)
            # watch fds through the asyncio loop directly.  Tornado code
            # calls remove_handler(fd) on those before closing them, so stop
            # every watch on the fd: a closed fd left in a select() set fails
            # every later wait with EBADF.
            with contextlib.suppress(ValueError, OSError):
                self.selector_loop.remove_reader(fd_num)
            with contextlib.suppress(ValueError, OSError):
                self.selector_loop.remove_writer(fd_num)
            return
        if entry[2] & IOLoop.READ:
            self.selector_loop.remove_reader(fd_num)
        if entry[2] & IOLoop.WRITE:
            self.selector_loop.remove_writer(fd_num)

    def _handle_events(self, fd: int, events: int) -> None:
        entry = self._handlers.get(fd)
        if entry is None:
            return
        try:
            entry[1](entry[0], events)
        except Exception:
            app_log.error("Exception in callback %r", entry[1], exc_info=True)

    def start(self) -> None:
        self.asyncio_loop.run_forever()

    def stop(self) -> None:
        self.asyncio_loop.stop()

    def call_at(
        self, when: float, callback: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> object:
        if kwargs:
            callback = functools.partial(callback, *args, **kwargs)
            args = ()
        # IOLoop deadlines are wall-clock; asyncio schedules on its own clock.
        return self.asyncio_loop.call_later(
            max(0.0, when - time.time()), self._run_callback, callback, *args
        )

    def call_later(
        self, delay: float, callback: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> object:
        if kwargs:
            callback = functools.partial(callback, *args, **kwargs)
            args = ()
        return self.asyncio_loop.call_later(
            max(0.0, delay), self._run_callback, callback, *args
        )

    def remove_timeout(self, timeout: object) -> None:
        timeout.cancel()  # type: ignore[attr-defined]

    def add_callback(
        self, callback: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> None:
        if kwargs:
            callback = functools.partial(callback, *args, **kwargs)
            args = ()
        loop = self.asyncio_loop
        try:
            if _get_running_loop() is loop:
                loop.call_soon(self._run_callback, callback, *args)
            else:
                loop.call_soon_threadsafe(self._run_callback, callback, *args)
        except RuntimeError:
            pass  # the loop is closed (e.g. a late callback from a thread)

    def add_callback_from_signal(
        self, callback: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> None:
        if kwargs:
            callback = functools.partial(callback, *args, **kwargs)
            args = ()
        try:
            self.asyncio_loop.call_soon_threadsafe(self._run_callback, callback, *args)
        except RuntimeError:
            pass

    def run_in_executor(
        self,
        executor: concurrent.futures.Executor | None,
        func: Callable[..., _T],
        *args: Any,
    ) -> Future[_T]:
        return self.asyncio_loop.run_in_executor(executor, func, *args)

    def set_default_executor(self, executor: concurrent.futures.Executor) -> None:
        self.asyncio_loop.set_default_executor(executor)


class AsyncIOMainLoop(BaseAsyncIOLoop):
    """The `IOLoop` of an asyncio loop whirlwind did not create.

    ``AsyncIOMainLoop()`` wraps the running (or current) asyncio loop; closing
    it closes that loop.
    """

    def initialize(self, **kwargs: Any) -> None:  # type: ignore[override]
        loop = kwargs.pop("asyncio_loop", None)
        if loop is None:
            loop = _current_asyncio_loop()
            if loop is None or loop.is_closed():
                loop = _new_current_loop()
        super().initialize(loop, **kwargs)

    def _make_current(self) -> None:
        pass  # it is current by definition


class AsyncIOLoop(BaseAsyncIOLoop):
    """An `IOLoop` that owns its asyncio loop (a new whirlwind loop by default).

    ``IOLoop()`` builds one. Pass ``asyncio_loop=`` to adopt an existing loop.
    """

    def initialize(self, **kwargs: Any) -> None:  # type: ignore[override]
        self.is_current = False
        self._old_current: asyncio.AbstractEventLoop | None = None
        created = None
        if "asyncio_loop" not in kwargs:
            from whirlwind.loop import new_event_loop

            kwargs["asyncio_loop"] = created = new_event_loop()
        try:
            super().initialize(**kwargs)
        except Exception:
            if created is not None:
                created.close()
            raise

    def close(self, all_fds: bool = False) -> None:
        if self.is_current:
            self._clear_current()
        super().close(all_fds=all_fds)

    def _make_current(self) -> None:
        if not self.is_current:
            self._old_current = _loop_set_for_thread()
            self.is_current = True
        asyncio.set_event_loop(self.asyncio_loop)

    def _clear_current_hook(self) -> None:
        if self.is_current:
            asyncio.set_event_loop(self._old_current)
            self.is_current = False


class PeriodicCallback:
    """Call ``callback`` every ``callback_time`` (milliseconds or a timedelta).

    The schedule is anchored on start times: a run that overruns makes the
    following runs skip to the next slot of the original schedule instead of
    piling up. ``jitter`` (a fraction, e.g. 0.1) spreads each period by
    ±jitter/2 so many processes do not fire in lockstep. A callback returning
    an awaitable is awaited before the next run is scheduled. `start` uses the
    current `IOLoop`.
    """

    def __init__(
        self,
        callback: Callable[[], Awaitable[Any] | None],
        callback_time: datetime.timedelta | float,
        jitter: float = 0,
    ) -> None:
        self.callback = callback
        if isinstance(callback_time, datetime.timedelta):
            self.callback_time = callback_time.total_seconds() * 1000.0
        else:
            if callback_time <= 0:
                raise ValueError("Periodic callback must have a positive callback_time")
            self.callback_time = callback_time
        self.jitter = jitter
        self._running = False
        self._timeout: object = None
        self._next_timeout = 0.0

    def start(self) -> None:
        """Start calling (the first call comes one period from now)."""
        io_loop = IOLoop.current()
        assert io_loop is not None
        self.io_loop = io_loop
        self._running = True
        self._next_timeout = io_loop.time()
        self._schedule_next()

    def stop(self) -> None:
        """Stop calling; a run in progress finishes."""
        self._running = False
        if self._timeout is not None:
            self.io_loop.remove_timeout(self._timeout)
            self._timeout = None

    def is_running(self) -> bool:
        """True between `start` and `stop`."""
        return self._running

    async def _run(self) -> None:
        if not self._running:
            return
        try:
            result = self.callback()
            if result is not None and isawaitable(result):
                await result
        except Exception:
            app_log.error("Exception in callback %r", self.callback, exc_info=True)
        finally:
            self._schedule_next()

    def _schedule_next(self) -> None:
        if self._running:
            self._update_next(self.io_loop.time())
            self._timeout = self.io_loop.add_timeout(self._next_timeout, self._run)

    def _update_next(self, current_time: float) -> None:
        """Advance ``_next_timeout`` past ``current_time`` on the schedule grid."""
        period = self.callback_time / 1000.0
        if self.jitter:
            period *= 1 + self.jitter * (random.random() - 0.5)
        late = current_time - self._next_timeout
        if late >= 0:
            # Skip the slots that passed while the last run was busy.
            self._next_timeout += (math.floor(late / period) + 1) * period
        else:
            # The clock went backwards (or the run ended early): still move
            # forward one period so the same slot never fires twice.
            self._next_timeout += period
