"""Helpers shared by the socket-level tests: a fresh loop per test, IPv6 detection."""

from __future__ import annotations

import socket
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from whirlwind.loop import new_event_loop

_T = TypeVar("_T")


def run(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` on a fresh whirlwind loop and close it completely."""
    loop = new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


def _has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


HAS_IPV6 = _has_ipv6_loopback()
needs_ipv6 = pytest.mark.skipif(not HAS_IPV6, reason="no IPv6 loopback")
