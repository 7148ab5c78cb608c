"""asyncio bridge names, where Tornado code expects them.

Contents: `BaseAsyncIOLoop`, `AsyncIOMainLoop`, `AsyncIOLoop` (defined in
`whirlwind.ioloop`), `to_tornado_future`, `to_asyncio_future` (identities
since futures *are* asyncio futures) and the deprecated
`AnyThreadEventLoopPolicy`, built on first use.

Tornado's ``AddThreadSelectorEventLoop`` / ``SelectorThread`` (``add_reader``
on Windows' proactor loop) are not provided: whirlwind's own loop is a
selector-style loop on every platform.
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

from whirlwind.gen import convert_yielded
from whirlwind.ioloop import AsyncIOLoop, AsyncIOMainLoop, BaseAsyncIOLoop

__all__ = [
    "AsyncIOLoop",
    "AsyncIOMainLoop",
    "BaseAsyncIOLoop",
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
