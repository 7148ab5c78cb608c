"""Coroutine utilities: generator-based coroutines and helpers for any coroutine.

Contents:

* `coroutine`, `Return`: write coroutines as generators that ``yield`` futures
  (the pre-``async def`` style); `is_coroutine_function`.
* `multi` (`Multi`, `multi_future`): wait for a list or dict of awaitables.
* `with_timeout`, `sleep`, `moment`: time-related awaitables.
* `WaitIterator`: iterate over futures in the order they finish.
* `convert_yielded` (extensible with ``singledispatch``), `maybe_future`.
* `Runner`, and the exceptions `BadYieldError`, `KeyReuseError`,
  `UnknownKeyError`, `LeakedCallbackError`, `ReturnValueIgnoredError`.

Theory of operation (the `Runner`)
----------------------------------
A decorated generator function returns a `Future` at once. The generator is
advanced synchronously until it yields something that is not finished; each
yielded object goes through `convert_yielded` (lists/dicts become `multi`,
awaitables are wrapped in tasks). The runner then waits for that future with
`IOLoop.add_future` and resumes the generator (send the result or throw the
exception) on a later loop iteration, inside the `contextvars.Context` copied
when the coroutine was called. ``yield None`` / ``yield gen.moment`` gives
one loop iteration to others. Returning (or ``raise Return(x)``) resolves the
coroutine's future. Invariant: ``Runner.future`` is the future the generator
waits for, or the finished sentinel; ``running`` guards against re-entering
``run`` from a callback that fires during ``run``.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextvars
import datetime
import functools
import types
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping, Sequence
from functools import singledispatch
from inspect import isawaitable
from typing import Any, TypeVar, Union, cast

from whirlwind.concurrent import (
    Future,
    chain_future,
    future_add_done_callback,
    future_set_exception_unless_cancelled,
    future_set_result_unless_cancelled,
    is_future,
)
from whirlwind.ioloop import IOLoop
from whirlwind.log import app_log
from whirlwind.util import TimeoutError  # noqa: F401  (re-exported)

_T = TypeVar("_T")

_Yieldable = Union[
    None,
    Awaitable[Any],
    list[Awaitable[Any]],
    dict[Any, Awaitable[Any]],
    concurrent.futures.Future[Any],
]


class KeyReuseError(Exception):
    pass


class UnknownKeyError(Exception):
    pass


class LeakedCallbackError(Exception):
    pass


class BadYieldError(Exception):
    """A coroutine yielded something that is neither a future nor awaitable."""


class ReturnValueIgnoredError(Exception):
    pass


class Return(Exception):
    """Raise ``Return(value)`` to return a value from a generator coroutine.

    A plain ``return value`` works too; this class remains for code written
    for Python 2.
    """

    def __init__(self, value: Any = None) -> None:
        super().__init__()
        self.value = value
        self.args = (value,)


def _return_value(e: BaseException) -> Any:
    # StopIteration and Return both carry .value.
    return getattr(e, "value", None)


class _NullFuture:
    """A finished, loop-less stand-in for ``Future`` whose result is None.

    The runner treats `moment` specially: it yields one loop iteration.
    """

    def result(self) -> None:
        return None

    def done(self) -> bool:
        return True

    def cancelled(self) -> bool:
        return False

    def __await__(self) -> Generator[Any, None, None]:
        # Lets ``await gen.moment`` also yield one iteration in native code.
        yield from asyncio.sleep(0).__await__()


_null_future: Any = _NullFuture()

#: Yield (``yield gen.moment``) to let the loop run one iteration;
#: ``await asyncio.sleep(0)`` in native coroutines.
moment: Any = _NullFuture()


def _new_future() -> Future[Any]:
    future: Future[Any] = Future()
    # In asyncio debug mode, point "created at" at the caller, not at gen.
    trace = getattr(future, "_source_traceback", None)
    while trace and trace[-1][0] == __file__:
        del trace[-1]
    return future


def coroutine(func: Callable[..., Any]) -> Callable[..., Future[Any]]:
    """Turn a generator function into a coroutine returning a `Future`.

    Inside, ``yield`` a future (or awaitable, or a list/dict of them) to wait
    for it; the value of the ``yield`` expression is its result. A function
    that is not a generator just has its result wrapped in a future. Exceptions
    end up in the returned future. The function body runs in a copy of the
    caller's `contextvars` context.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Future[Any]:
        # Exceptions raised here carry this frame in their traceback, and the
        # future stores the exception: the locals are cleared on the way out
        # so no future -> exception -> frame -> future cycle outlives the call.
        future = _new_future()
        ctx_run = contextvars.copy_context().run
        result: Any = None
        yielded: Any = None
        try:
            try:
                result = ctx_run(func, *args, **kwargs)
            except (Return, StopIteration) as e:
                result = _return_value(e)
            except asyncio.CancelledError:
                future.cancel()
                return future
            except Exception as e:
                future_set_exception_unless_cancelled(future, e)
                return future
            if not isinstance(result, Generator):
                future_set_result_unless_cancelled(future, result)
                return future
            # Run to the first yield now, so simple coroutines finish
            # synchronously and side effects happen at call time.
            try:
                yielded = ctx_run(next, result)
            except (StopIteration, Return) as e:
                future_set_result_unless_cancelled(future, _return_value(e))
            except asyncio.CancelledError:
                future.cancel()
            except Exception as e:
                future_set_exception_unless_cancelled(future, e)
            else:
                runner = Runner(ctx_run, result, future, yielded)
                # The future keeps its runner alive (and nothing else does):
                # dropping the future lets the whole chain be collected.
                future.add_done_callback(lambda _f: runner)
            return future
        finally:
            del future, result, yielded

    wrapper.__wrapped__ = func
    wrapper.__tornado_coroutine__ = True  # type: ignore[attr-defined]
    return wrapper


def is_coroutine_function(func: Any) -> bool:
    """True if ``func`` was decorated with `coroutine`."""
    return bool(getattr(func, "__tornado_coroutine__", False))


class Runner:
    """Drives one generator coroutine (see the module's theory of operation)."""

    def __init__(
        self,
        ctx_run: Callable[..., Any],
        gen: Generator[Any, Any, Any],
        result_future: Future[Any],
        first_yielded: Any,
    ) -> None:
        self.ctx_run = ctx_run
        self.gen: Generator[Any, Any, Any] | None = gen
        self.result_future: Future[Any] | None = result_future
        self.future: Any = _null_future
        self.running = False
        self.finished = False
        io_loop = IOLoop.current()
        assert io_loop is not None
        self.io_loop = io_loop
        if self.ctx_run(self.handle_yield, first_yielded):
            del gen, result_future, first_yielded
            self.ctx_run(self.run)

    def _finish(
        self,
        value: Any = None,
        error: BaseException | None = None,
        cancel: bool = False,
    ) -> None:
        # A separate frame: ``run``'s frame (kept alive by the traceback of
        # ``error``) then never holds the result future in a local.
        result_future = self.result_future
        assert result_future is not None
        self.finished = True
        self.future = _null_future
        self.result_future = None
        self.gen = None
        if cancel:
            result_future.cancel()
        elif error is not None:
            future_set_exception_unless_cancelled(result_future, error)
        else:
            future_set_result_unless_cancelled(result_future, value)

    def run(self) -> None:
        """Advance the generator until it waits for an unfinished future."""
        if self.running or self.finished:
            return
        self.running = True
        try:
            while True:
                future = self.future
                if future is None:
                    raise Exception("No pending future")
                if not future.done():
                    return
                self.future = None
                assert self.gen is not None and self.result_future is not None
                try:
                    exc: BaseException | None = None
                    try:
                        value = future.result()
                    except (Exception, asyncio.CancelledError) as e:
                        exc = e
                    future = None
                    if exc is not None:
                        try:
                            yielded = self.gen.throw(exc)
                        finally:
                            exc = None  # break the traceback cycle
                    else:
                        yielded = self.gen.send(value)
                except (StopIteration, Return) as e:
                    self._finish(value=_return_value(e))
                    return
                except asyncio.CancelledError:
                    self._finish(cancel=True)
                    return
                except Exception as e:
                    self._finish(error=e)
                    return
                if not self.handle_yield(yielded):
                    return
                yielded = None
        finally:
            self.running = False

    def handle_yield(self, yielded: Any) -> bool:
        """Set up the wait for ``yielded``; True if it is already finished."""
        try:
            self.future = convert_yielded(yielded)
        except BadYieldError as e:
            failed = _new_future()
            failed.set_exception(e)
            self.future = failed
        if self.future is moment:
            self.io_loop.add_callback(self.ctx_run, self.run)
            return False
        if self.future is None:
            raise Exception("no pending future")
        if not self.future.done():
            self.io_loop.add_future(self.future, self._resume)
            return False
        return True

    def _resume(self, future: Any) -> None:
        # Drop the argument first: run()'s frame links back to this one, and
        # a failed future kept here would close a frame <-> exception cycle.
        del future
        self.ctx_run(self.run)

    def handle_exception(
        self, typ: type[Exception], value: Exception, tb: types.TracebackType
    ) -> bool:
        if self.running or self.finished:
            return False
        failed = _new_future()
        failed.set_exception(value.with_traceback(tb))
        self.future = failed
        self.ctx_run(self.run)
        return True


def _wrap_awaitable(awaitable: Awaitable[Any]) -> Future[Any]:
    task = asyncio.ensure_future(awaitable)
    io_loop = IOLoop.current()
    assert io_loop is not None
    # Keep a strong reference until it finishes: asyncio holds tasks weakly.
    io_loop._register_task(task)
    task.add_done_callback(io_loop._unregister_task)
    return task


@singledispatch
def convert_yielded(yielded: Any) -> Future[Any]:
    """Turn something a coroutine yielded into a future.

    Accepts futures, awaitables (started as tasks), lists and dicts of those
    (via `multi`) and None (`moment`). Register more types with
    ``@convert_yielded.register(SomeType)``.
    """
    if yielded is None or yielded is moment:
        return cast("Future[Any]", moment)
    if yielded is _null_future:
        return cast("Future[Any]", _null_future)
    if isinstance(yielded, (list, dict)):
        return multi(yielded)
    if is_future(yielded):
        return cast("Future[Any]", yielded)
    if isawaitable(yielded):
        return _wrap_awaitable(yielded)
    raise BadYieldError(f"yielded unknown object {yielded!r}")


def multi(
    children: Sequence[_Yieldable] | Mapping[Any, _Yieldable],
    quiet_exceptions: type[Exception] | tuple[type[Exception], ...] = (),
) -> Future[Any]:
    """Wait for several awaitables at once.

    ``children`` is a list (the result is the list of results, in order) or a
    dict (the result is a dict with the same keys). The first failure becomes
    the result's exception; later failures are logged unless they are
    instances of ``quiet_exceptions`` (or cancellations). A cancelled child
    makes the whole wait fail with `asyncio.CancelledError`. Cancelling the
    returned future does not cancel the children (unlike `asyncio.gather`).
    """
    keys: list[Any] | None
    values: Iterable[Any]
    if isinstance(children, dict):
        keys = list(children)
        values = children.values()
    else:
        keys = None
        values = children
    futures = [convert_yielded(v) for v in values]
    result = _new_future()
    if not futures:
        result.set_result({} if keys is not None else [])
        return result
    pending = set(futures)

    def on_child_done(done: Any) -> None:
        pending.discard(done)
        if pending:
            return
        results = []
        for f in futures:
            try:
                results.append(f.result())
            except (Exception, asyncio.CancelledError) as e:
                if not result.done():
                    future_set_exception_unless_cancelled(result, e)
                elif not isinstance(e, (asyncio.CancelledError, quiet_exceptions)):
                    app_log.error("Multiple exceptions in yield list", exc_info=True)
        if not result.done():
            future_set_result_unless_cancelled(
                result,
                dict(zip(keys, results, strict=True)) if keys is not None else results,
            )

    for f in set(futures):
        future_add_done_callback(f, on_child_done)
    return result


Multi = multi
multi_future = multi


def maybe_future(x: Any) -> Future[Any]:
    """Return ``x`` if it is a future, else a finished future holding ``x``.

    Deprecated since Tornado 4.3; kept for old code.
    """
    if is_future(x):
        return x  # type: ignore[no-any-return]
    fut = _new_future()
    fut.set_result(x)
    return fut


def with_timeout(
    timeout: float | datetime.timedelta,
    future: _Yieldable,
    quiet_exceptions: type[Exception] | tuple[type[Exception], ...] = (),
    *,
    message: str | Callable[[], str] | None = None,
) -> Future[Any]:
    """Wait for ``future`` until ``timeout``; then fail with `TimeoutError`.

    ``timeout`` is an absolute `IOLoop.time` or a `datetime.timedelta`.
    The wrapped future is *not* cancelled on timeout (use `asyncio.wait_for`
    for that); if it later fails, its error is logged unless it is one of
    ``quiet_exceptions``. ``message`` (text, or a callable building it only
    when needed) becomes the `TimeoutError`'s message.
    """
    inner = convert_yielded(future)
    result = _new_future()
    chain_future(inner, result)
    io_loop = IOLoop.current()
    assert io_loop is not None

    def log_late_error(f: Any) -> None:
        try:
            f.result()
        except asyncio.CancelledError:
            pass
        except Exception as e:
            if not isinstance(e, quiet_exceptions):
                app_log.error("Exception in Future %r after timeout", f, exc_info=True)

    def on_timeout() -> None:
        if not result.done():
            if message is None:
                text = "Timeout"
            elif callable(message):
                text = message()
            else:
                text = message
            result.set_exception(TimeoutError(text))
        future_add_done_callback(inner, log_late_error)

    handle = io_loop.add_timeout(timeout, on_timeout)
    if isinstance(inner, Future):
        future_add_done_callback(inner, lambda _f: io_loop.remove_timeout(handle))
    else:
        io_loop.add_future(inner, lambda _f: io_loop.remove_timeout(handle))
    return result


def sleep(duration: float) -> Future[None]:
    """A future that resolves (to None) after ``duration`` seconds."""
    fut: Future[None] = _new_future()
    io_loop = IOLoop.current()
    assert io_loop is not None
    io_loop.call_later(duration, future_set_result_unless_cancelled, fut, None)
    return fut


class WaitIterator:
    """Yield futures in the order they finish.

    ``WaitIterator(*futures)`` or ``WaitIterator(**futures)``; after each
    ``await it.next()``, `current_index` says which input (position or key)
    finished and `current_future` is that input::

        it = gen.WaitIterator(f1, f2)
        while not it.done():
            try:
                result = await it.next()
            except Exception as e:
                print(it.current_index, "failed:", e)

    ``async for result in gen.WaitIterator(...)`` works as well.
    """

    def __init__(self, *args: Future[Any], **kwargs: Future[Any]) -> None:
        if args and kwargs:
            raise ValueError("You must provide args or kwargs, not both")
        pairs: Iterable[tuple[Any, Future[Any]]] = (
            kwargs.items() if kwargs else enumerate(args)
        )
        # future -> the positions/keys it was given under (one future may be
        # passed twice); finished futures wait in _finished until asked for.
        self._unfinished: dict[Any, collections.deque[Any]] = {}
        for key, fut in pairs:
            self._unfinished.setdefault(fut, collections.deque()).append(key)
        self._finished: collections.deque[Any] = collections.deque()
        self.current_index: Any = None
        self.current_future: Any = None
        self._waiting: Future[Any] | None = None
        for fut in list(kwargs.values()) if kwargs else args:
            future_add_done_callback(fut, self._on_done)

    def done(self) -> bool:
        """True once every input has been returned by `next`."""
        if self._finished or self._unfinished:
            return False
        self.current_index = self.current_future = None
        return True

    def next(self) -> Future[Any]:
        """A future for the next input to finish (with its result or error)."""
        self._waiting = _new_future()
        if self._finished:
            return self._hand_out(self._finished.popleft())
        return self._waiting

    def _on_done(self, done: Any) -> None:
        if self._waiting is not None and not self._waiting.done():
            self._hand_out(done)
        else:
            self._finished.append(done)

    def _hand_out(self, done: Any) -> Future[Any]:
        waiting = self._waiting
        if waiting is None:
            raise Exception("no future is running")
        chain_future(done, waiting)
        self._waiting = None
        self.current_future = done
        keys = self._unfinished[done]
        self.current_index = keys.popleft()
        if not keys:
            del self._unfinished[done]
        return waiting

    def __aiter__(self) -> WaitIterator:
        return self

    def __anext__(self) -> Future[Any]:
        if self.done():
            raise StopAsyncIteration()
        return self.next()
