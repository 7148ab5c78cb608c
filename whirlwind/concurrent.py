"""Futures: asyncio's `Future` plus helpers that bridge to `concurrent.futures`.

Contents:

* `Future` (it *is* `asyncio.Future`), `FUTURES`, `is_future`.
* `run_on_executor`: run a method on ``self.executor`` and return a Future.
* `chain_future`: copy one future's outcome into another, across threads too.
* `future_set_result_unless_cancelled`, `future_set_exception_unless_cancelled`,
  `future_set_exc_info`, `future_add_done_callback`.
* `DummyExecutor` / `dummy_executor`: an executor that runs calls inline.
"""

from __future__ import annotations

import asyncio
import functools
import types
from collections.abc import Callable
from concurrent import futures
from typing import Any, TypeVar, Union

from whirlwind.log import app_log

_T = TypeVar("_T")

Future = asyncio.Future

#: The future types whirlwind accepts wherever it takes "a future".
FUTURES = (futures.Future, Future)

_AnyFuture = Union["futures.Future[_T]", "Future[_T]"]


class ReturnValueIgnoredError(Exception):
    """A function returned a value where its result is discarded."""


def is_future(x: Any) -> bool:
    """True for an `asyncio.Future` (or Task) or a `concurrent.futures.Future`."""
    return isinstance(x, FUTURES)


class DummyExecutor(futures.Executor):
    """An `~concurrent.futures.Executor` that runs each call at once, inline."""

    def submit(  # type: ignore[override]
        self, fn: Callable[..., _T], *args: Any, **kwargs: Any
    ) -> futures.Future[_T]:
        future: futures.Future[_T] = futures.Future()
        try:
            result = fn(*args, **kwargs)
        except Exception as e:
            future_set_exception_unless_cancelled(future, e)
        else:
            future_set_result_unless_cancelled(future, result)
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


dummy_executor = DummyExecutor()


def run_on_executor(*args: Any, **kwargs: Any) -> Callable[..., Any]:
    """Decorate a method to run on an executor and return an awaitable Future.

    The executor is ``self.executor`` unless ``executor="attr"`` names another
    attribute. Use bare (``@run_on_executor``) or called
    (``@run_on_executor(executor="_pool")``). The returned `Future` belongs to
    the caller's event loop, and its result arrives there.
    """
    attr = kwargs.pop("executor", "executor")
    if kwargs:
        raise ValueError(f"unexpected keyword arguments: {', '.join(kwargs)}")

    def decorate(fn: Callable[..., _T]) -> Callable[..., Future[_T]]:
        @functools.wraps(fn)
        def wrapper(self: Any, *a: Any, **kw: Any) -> Future[_T]:
            result: Future[_T] = Future()
            chain_future(getattr(self, attr).submit(fn, self, *a, **kw), result)
            return result

        return wrapper

    if args:
        if len(args) != 1 or attr != "executor":
            raise ValueError("run_on_executor takes one function or executor=name")
        return decorate(args[0])
    return decorate


def _copy_outcome(src: _AnyFuture[_T], dst: _AnyFuture[_T]) -> None:
    if dst.done():
        return
    if src.cancelled():
        dst.cancel()
        return
    exc = src.exception()
    if exc is not None:
        dst.set_exception(exc)
    else:
        dst.set_result(src.result())


def chain_future(a: _AnyFuture[_T], b: _AnyFuture[_T]) -> None:
    """When ``a`` completes, give ``b`` the same result, exception or cancel.

    ``b`` is left alone if it is already done (for instance cancelled by its
    waiter). ``a`` may be a `concurrent.futures.Future` finished on another
    thread: the copy is then posted to ``b``'s event loop thread-safely.
    """
    if isinstance(a, Future):
        future_add_done_callback(a, functools.partial(_copy_outcome, dst=b))
        return
    if not isinstance(b, Future):
        a.add_done_callback(functools.partial(_copy_outcome, dst=b))
        return
    loop = b.get_loop()

    def post(done: futures.Future[_T]) -> None:
        try:
            loop.call_soon_threadsafe(_copy_outcome, done, b)
        except RuntimeError:
            pass  # b's loop is closed: nobody can observe b any more

    a.add_done_callback(post)


def future_set_result_unless_cancelled(future: _AnyFuture[_T], value: _T) -> None:
    """Set ``future``'s result, unless the future was cancelled meanwhile."""
    if not future.cancelled():
        future.set_result(value)


def future_set_exception_unless_cancelled(
    future: _AnyFuture[_T], exc: BaseException
) -> None:
    """Set ``future``'s exception; if it was cancelled, log the exception instead.

    Logging keeps an error from vanishing just because nobody waits any more.
    """
    if not future.cancelled():
        future.set_exception(exc)
    else:
        app_log.error("Exception after Future was cancelled", exc_info=exc)


def future_set_exc_info(
    future: _AnyFuture[_T],
    exc_info: tuple[
        type[BaseException] | None, BaseException | None, types.TracebackType | None
    ],
) -> None:
    """Set ``future``'s exception from a `sys.exc_info` triple."""
    if exc_info[1] is None:
        raise Exception("future_set_exc_info called with no exception")
    future_set_exception_unless_cancelled(future, exc_info[1])


def future_add_done_callback(
    future: _AnyFuture[_T], callback: Callable[..., None]
) -> None:
    """Call ``callback(future)`` when ``future`` is done: now if it already is.

    Unlike `asyncio.Future.add_done_callback` this runs a done future's
    callback synchronously, which code ported from callback APIs relies on.
    """
    if future.done():
        callback(future)
    else:
        future.add_done_callback(callback)
