"""Type stub for the compiled extension whirlwind._core (hand-written)."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol

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
