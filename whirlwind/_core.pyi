"""Type stub for the compiled extension whirlwind._core (hand-written)."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol

READ: int
WRITE: int
ERROR: int

# ---- Poller (csrc/whirlwind/poller.pyx) -------------------------------------

class _HasFileno(Protocol):
    def fileno(self) -> int: ...

def available_backends() -> list[str]:
    """The compiled-in poller backends, best first (``epoll``/``kqueue``, ``select``)."""

def default_backend() -> str:
    """``WHIRLWIND_POLLER`` if set (RuntimeError if unavailable), else the best."""

class Poller:
    """Level-triggered readiness poller over epoll, kqueue or select."""

    backend: str  # read-only
    closed: bool  # read-only
    def __init__(self, backend: str | None = None) -> None: ...
    def register(
        self, fileobj: int | _HasFileno, events: int, gen: int = 0
    ) -> None: ...
    def modify(self, fileobj: int | _HasFileno, events: int, gen: int = 0) -> None: ...
    def unregister(self, fileobj: int | _HasFileno) -> None: ...
    def poll(self, timeout: float | None = None) -> list[tuple[int, int]]: ...
    def poll_with_gen(
        self, timeout: float | None = None
    ) -> list[tuple[int, int, int]]: ...
    def fileno(self) -> int: ...
    def close(self) -> None: ...
    def __len__(self) -> int: ...
    def __enter__(self) -> Poller: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

# --- loop (csrc/whirlwind/loop.pyx) ------------------------------------------

class Handle:
    _callback: Callable[..., object] | None
    _args: tuple[Any, ...] | None
    _context: contextvars.Context
    _cancelled: bool
    _source_traceback: Any
    _repr: str | None
    def __init__(
        self,
        callback: Callable[..., object],
        args: tuple[Any, ...],
        loop: _LoopCore,
        context: contextvars.Context | None = None,
    ) -> None: ...
    def cancel(self) -> None: ...
    def cancelled(self) -> bool: ...
    def get_context(self) -> contextvars.Context: ...
    def _run(self) -> None: ...

class TimerHandle(Handle):
    _when: float
    _scheduled: bool
    def __init__(
        self,
        when: float,
        callback: Callable[..., object],
        args: tuple[Any, ...],
        loop: _LoopCore,
        context: contextvars.Context | None = None,
    ) -> None: ...
    def when(self) -> float: ...
    def __lt__(self, other: TimerHandle) -> bool: ...
    def __le__(self, other: TimerHandle) -> bool: ...
    def __gt__(self, other: TimerHandle) -> bool: ...
    def __ge__(self, other: TimerHandle) -> bool: ...
    def __hash__(self) -> int: ...

class _LoopCore:
    # the compiled part of whirlwind.loop.EventLoop (see loop.pyx)
    _stopping: bool
    _closed: bool
    _debug: bool
    _timer_cancelled_count: int
    _clock_resolution: float
    _selector: Any
    _scheduled: list[TimerHandle]
    @property
    def _ready(self) -> list[Any]: ...
    @property
    def _iterations(self) -> int: ...
    @property
    def _poller_backend(self) -> str: ...
    def get_debug(self) -> bool: ...
    def time(self) -> float: ...
    def call_soon(
        self,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> Handle: ...
    def call_soon_threadsafe(
        self,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> Handle: ...
    def call_at(
        self,
        when: float,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> TimerHandle: ...
    def call_later(
        self,
        delay: float,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> TimerHandle: ...
    def run_forever(self) -> None: ...
    def _run_once(self) -> None: ...
    def _add_reader(
        self, fd: Any, callback: Callable[..., object], *args: Any
    ) -> Handle: ...
    def _add_writer(
        self, fd: Any, callback: Callable[..., object], *args: Any
    ) -> Handle: ...
    def _remove_reader(self, fd: Any) -> bool: ...
    def _remove_writer(self, fd: Any) -> bool: ...
    def _write_to_self(self) -> None: ...
    def _add_callback(self, handle: Any) -> None: ...
    def _timer_handle_cancelled(self, handle: Any) -> None: ...

# test hooks: an IOSink calling fn(events), to exercise sink dispatch from Python
def _sink_add_py(
    loop: _LoopCore, fd: int, fn: Callable[[int], object], events: int
) -> None: ...
def _sink_modify_py(loop: _LoopCore, fd: int, events: int) -> None: ...
def _sink_remove_py(loop: _LoopCore, fd: int) -> None: ...
