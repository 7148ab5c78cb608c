"""The package root: version, lazy submodules, no loop at import."""

from __future__ import annotations

import subprocess
import sys

import whirlwind


def _run(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return out.stdout.strip()


def test_version() -> None:
    assert isinstance(whirlwind.version, str)
    assert whirlwind.version.startswith(".".join(map(str, whirlwind.version_info[:3])))
    assert whirlwind.version_info >= (0, 1, 0, -100)


def test_import_is_light_and_creates_no_loop() -> None:
    # A fresh interpreter: importing the package pulls in no submodule, not
    # even the compiled core, and sets no event loop policy or loop.
    out = _run(
        "import sys, asyncio\n"
        "before = set(sys.modules)\n"
        "import whirlwind\n"
        "new = sorted(m for m in set(sys.modules) - before if 'whirlwind' in m)\n"
        "print(new)\n"
        "print(type(asyncio.get_event_loop_policy()).__module__)\n"
    )
    new, policy_module = out.splitlines()
    assert new == "['whirlwind']"
    assert policy_module.startswith("asyncio")


def test_submodules_load_on_first_use() -> None:
    out = _run(
        "import sys, whirlwind\n"
        "print('whirlwind.web' in sys.modules)\n"
        "whirlwind.web\n"
        "print('whirlwind.web' in sys.modules)\n"
        "print(whirlwind.new_event_loop.__module__)\n"
    )
    assert out.splitlines() == ["False", "True", "whirlwind.loop"]


def test_unknown_attribute() -> None:
    try:
        whirlwind.no_such_thing  # noqa: B018
    except AttributeError as e:
        assert "no_such_thing" in str(e)
    else:
        raise AssertionError("expected AttributeError")
