"""Shared fixtures: the asyncio loops whirlwind is tested on."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator

import pytest

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def _whirlwind_loop() -> asyncio.AbstractEventLoop:
    from whirlwind.loop import new_event_loop

    return new_event_loop()


def _uvloop_loop() -> asyncio.AbstractEventLoop:
    uvloop = pytest.importorskip("uvloop")
    return uvloop.new_event_loop()  # type: ignore[no-any-return]


LOOP_FACTORIES: dict[str, LoopFactory] = {
    "whirlwind": _whirlwind_loop,
    "asyncio": asyncio.new_event_loop,
    "uvloop": _uvloop_loop,
}


@pytest.fixture(params=sorted(LOOP_FACTORIES))
def loop_factory(request: pytest.FixtureRequest) -> LoopFactory:
    """Each asyncio loop implementation whirlwind must run on."""
    return LOOP_FACTORIES[request.param]


@pytest.fixture
def aio_loop(loop_factory: LoopFactory) -> Iterator[asyncio.AbstractEventLoop]:
    """A new asyncio loop of each kind, set as current and closed afterwards."""
    loop = loop_factory()
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        asyncio.set_event_loop(None)
        if not loop.is_closed():
            loop.close()
        _forget_closed_loops()


def _forget_closed_loops() -> None:
    ioloop = sys.modules.get("whirlwind.ioloop")
    if ioloop is None:
        return
    registry = ioloop.IOLoop._ioloop_for_asyncio
    for loop in [lp for lp in registry if lp.is_closed()]:
        del registry[loop]
