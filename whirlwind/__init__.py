"""whirlwind: a Tornado-shaped web framework and asynchronous networking library
whose event loop, pollers and buffered stream are compiled.

Importing this package is cheap: it creates no event loop and imports no
submodule until one is used (PEP 562 lazy attributes).

Contents:

* `new_event_loop`, `EventLoopPolicy`, `install`, `run`: whirlwind's compiled
  asyncio event loop (see `whirlwind.loop`).
* Submodules in the shape of Tornado's: `ioloop`, `iostream`, `gen`, `web`, ...
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# version is a string, version_info a tuple comparable with other tuples.
version = "0.1.0.dev0"
version_info = (0, 1, 0, -100)

# Submodules, importable lazily as attributes of the package. Tornado's
# ``__all__`` lists its submodules (so ``from tornado import *`` and tools that
# walk ``__all__`` import every module); whirlwind's does the same. The loop
# helpers below stay reachable as attributes but are not in ``__all__``.
__all__ = [
    "auth",
    "autoreload",
    "concurrent",
    "escape",
    "gen",
    "http1connection",
    "httpclient",
    "httpserver",
    "httputil",
    "ioloop",
    "iostream",
    "locale",
    "locks",
    "log",
    "loop",
    "netutil",
    "options",
    "platform",
    "process",
    "queues",
    "routing",
    "simple_httpclient",
    "tcpclient",
    "tcpserver",
    "template",
    "testing",
    "util",
    "web",
    "websocket",
    "wsgi",
]
_SUBMODULES = frozenset(__all__)
_FROM_LOOP = frozenset(
    {"EventLoop", "EventLoopPolicy", "new_event_loop", "install", "run"}
)

if TYPE_CHECKING:
    # Redundant aliases mark these as re-exports for type checkers.
    from whirlwind.loop import EventLoop as EventLoop
    from whirlwind.loop import EventLoopPolicy as EventLoopPolicy
    from whirlwind.loop import install as install
    from whirlwind.loop import new_event_loop as new_event_loop
    from whirlwind.loop import run as run


def __getattr__(name: str) -> Any:
    if name in _FROM_LOOP:
        return getattr(importlib.import_module("whirlwind.loop"), name)
    if name in _SUBMODULES:
        return importlib.import_module("whirlwind." + name)
    raise AttributeError(f"module 'whirlwind' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBMODULES | _FROM_LOOP)
