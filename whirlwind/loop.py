"""whirlwind's asyncio event loop: a compiled core under asyncio's selector loop.

`EventLoop` is ``class EventLoop(_LoopCore, asyncio.SelectorEventLoop)``: the
compiled ``_LoopCore`` (``csrc/whirlwind/loop.pyx``) owns the ready queue, the
timer heap, the fd table over whirlwind's own poller (epoll, kqueue or select;
``WHIRLWIND_POLLER`` forces one) and the run-once step, while everything else
(transports, TLS, subprocesses, signals, ``sock_*``, DNS, executors) is
asyncio's own code.

Fork: a loop created before ``os.fork()`` refuses to run in the child (it
shares the poller and wake-up fd with the parent); close it there and create
a new one.

Contents:

* `EventLoop`, `new_event_loop`: the loop.
* `EventLoopPolicy`, `install`: make asyncio create whirlwind loops.
* `run`: ``asyncio.run`` on a whirlwind loop (also on Python 3.10).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

from whirlwind._core import Handle, TimerHandle, _LoopCore

__all__ = [
    "EventLoop",
    "EventLoopPolicy",
    "Handle",
    "TimerHandle",
    "install",
    "new_event_loop",
    "run",
]

_T = TypeVar("_T")


class EventLoop(_LoopCore, asyncio.SelectorEventLoop):  # type: ignore[misc]
    """An asyncio event loop whose hot path is compiled.

    Use it like any asyncio loop: ``asyncio.Runner(loop_factory=EventLoop)``,
    `whirlwind.run`, or ``loop = whirlwind.new_event_loop()``.
    """

    def __init__(self, selector: Any = None) -> None:
        if selector is not None:
            self._closed = True  # half-built: asyncio's __del__ must not close it
            raise TypeError(
                "whirlwind's EventLoop polls with its own poller; "
                "set WHIRLWIND_POLLER=epoll|kqueue|select to choose it"
            )
        # the compiled core created its poller and a selector facade in
        # __cinit__; hand the facade to asyncio so it does not open its own
        super().__init__(selector=self._selector)

    def close(self) -> None:
        if not self.is_running():
            self._release_queued()
        super().close()


def new_event_loop() -> EventLoop:
    """Create a new whirlwind `EventLoop`."""
    return EventLoop()


# asyncio's policy classes are deprecated in 3.14 (accessing the public names
# warns); subclass the implementation class directly there.
if sys.version_info >= (3, 14):
    _BasePolicy: Any = getattr(
        asyncio.events, "_BaseDefaultEventLoopPolicy", None
    ) or getattr(asyncio.unix_events, "_DefaultEventLoopPolicy", None)
else:
    _BasePolicy = asyncio.DefaultEventLoopPolicy


class EventLoopPolicy(_BasePolicy):  # type: ignore[misc,valid-type]
    """An asyncio event loop policy whose loops are whirlwind `EventLoop`\\ s."""

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return new_event_loop()


def install() -> None:
    """Make asyncio's policy create whirlwind loops (``asyncio.new_event_loop()``).

    Prefer `run` or ``asyncio.Runner(loop_factory=whirlwind.new_event_loop)``:
    policies are deprecated from Python 3.14.
    """
    setter = getattr(asyncio.events, "_set_event_loop_policy", None)
    if setter is None or sys.version_info < (3, 14):
        setter = asyncio.set_event_loop_policy
    setter(EventLoopPolicy())


def run(main: Coroutine[Any, Any, _T], *, debug: bool | None = None) -> _T:
    """Run coroutine `main` on a new whirlwind loop and close the loop.

    Like ``asyncio.run``: pending tasks are cancelled, async generators and the
    default executor are shut down before the loop closes.
    """
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=new_event_loop, debug=debug) as runner:
            return runner.run(main)
    return _run_310(main, debug)


def _run_310(main: Coroutine[Any, Any, _T], debug: bool | None) -> _T:
    # asyncio.Runner is 3.11+; the same steps by hand
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("whirlwind.run() cannot be called from a running event loop")
    if not asyncio.iscoroutine(main):
        raise ValueError(f"a coroutine was expected, got {main!r}")
    loop = new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        if debug is not None:
            loop.set_debug(debug)
        return loop.run_until_complete(main)
    finally:
        try:
            _cancel_all_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> None:
    tasks = asyncio.all_tasks(loop)
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    for task in tasks:
        if task.cancelled():
            continue
        exc = task.exception()
        if exc is not None:
            loop.call_exception_handler(
                {
                    "message": "unhandled exception during whirlwind.run() shutdown",
                    "exception": exc,
                    "task": task,
                }
            )
