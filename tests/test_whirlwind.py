"""The package itself: ``__all__`` and the lazy submodule attributes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import whirlwind


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_all_lists_importable_submodules_without_touching_the_event_loop() -> None:
    # Every name in __all__ is a submodule, and importing all of them creates
    # no event loop (asyncio.set_event_loop(None) makes any attempt raise).
    proc = _run(
        """
        import asyncio, importlib, sys, warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            asyncio.set_event_loop(None)
        import whirlwind
        for name in whirlwind.__all__:
            mod = importlib.import_module("whirlwind." + name)
            assert getattr(whirlwind, name) is mod, name
        print(len(whirlwind.__all__))
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) == len(whirlwind.__all__)
    for name in ("web", "ioloop", "iostream", "platform", "websocket", "wsgi"):
        assert name in whirlwind.__all__


def test_submodules_are_imported_on_first_attribute_access() -> None:
    proc = _run(
        """
        import sys
        import whirlwind
        assert "whirlwind.web" not in sys.modules
        handler = whirlwind.web.RequestHandler
        assert "whirlwind.web" in sys.modules
        assert whirlwind.EventLoop is sys.modules["whirlwind.loop"].EventLoop
        """
    )
    assert proc.returncode == 0, proc.stderr


def test_star_import_binds_the_submodules() -> None:
    namespace: dict[str, object] = {}
    exec("from whirlwind import *", namespace)
    assert namespace["web"] is whirlwind.web
    assert namespace["gen"] is whirlwind.gen
    assert "EventLoop" not in namespace
