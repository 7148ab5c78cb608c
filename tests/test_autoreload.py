"""whirlwind.autoreload, with real subprocesses whose files the tests edit.

Each program prints a line with a marker taken from a file the test then
rewrites; the restarted program prints the new marker. Programs print their
pid: ``os.execv`` keeps it.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

if sys.platform == "win32":  # pragma: no cover
    pytest.skip("restarts by exec are POSIX-only", allow_module_level=True)

LINE_TIMEOUT = 5.0


class Program:
    """A child process whose stdout lines are read by a thread."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put("<EOF>")

    def expect(self, pattern: str) -> re.Match[str]:
        """The first new line matching ``pattern`` (others are kept in seen)."""
        while True:
            try:
                line = self.lines.get(timeout=LINE_TIMEOUT)
            except queue.Empty:
                raise AssertionError(
                    f"no line matching {pattern!r}: {self.seen}"
                ) from None
            self.seen.append(line)
            if line == "<EOF>":
                raise AssertionError(f"exited before {pattern!r}: {self.seen}")
            m = re.search(pattern, line)
            if m:
                return m

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture
def programs() -> Iterator[list[Program]]:
    started: list[Program] = []
    yield started
    for p in started:
        p.stop()


def run(programs: list[Program], args: list[str], cwd: Path) -> Program:
    p = Program(args, cwd)
    programs.append(p)
    return p


def edit(path: Path, text: str) -> None:
    """Rewrites ``path`` and moves its mtime forward, so the change shows even
    on file systems with coarse timestamps."""
    before = path.stat().st_mtime_ns
    path.write_text(text)
    later = before + 2_000_000_000
    os.utime(path, ns=(later, later))


SERVER_SCRIPT = """\
import asyncio, os, sys
import helper
import whirlwind
from whirlwind import autoreload

async def main():
    autoreload.start(check_time=50)
    autoreload.add_reload_hook(lambda: print("hook", helper.MARK, flush=True))
    print("ready", helper.MARK, os.getpid(), sys.argv[1:], flush=True)
    await asyncio.Event().wait()

whirlwind.run(main())
"""


def test_start_restarts_when_an_imported_module_changes(
    tmp_path: Path, programs: list[Program]
) -> None:
    (tmp_path / "helper.py").write_text("MARK = 'one'\n")
    (tmp_path / "server.py").write_text(SERVER_SCRIPT)
    p = run(programs, ["server.py", "a", "--b=c"], tmp_path)
    first = p.expect(r"^ready (\w+) (\d+) (.*)$")
    assert first.group(1) == "one"
    assert first.group(3) == "['a', '--b=c']"

    edit(tmp_path / "helper.py", "MARK = 'two'\n")
    p.expect(r"^hook one$")  # the old image runs the hooks
    second = p.expect(r"^ready (\w+) (\d+) (.*)$")
    assert second.group(1) == "two"
    assert second.group(2) == first.group(2)  # exec: same process
    assert second.group(3) == first.group(3)  # same arguments


def test_dash_m_package_restarts_as_a_module(
    tmp_path: Path, programs: list[Program]
) -> None:
    # A package's __main__ with a relative import only runs through -m: the
    # restart must not re-run it as a script path.
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "helper.py").write_text("MARK = 'one'\n")
    (pkg / "__main__.py").write_text(
        SERVER_SCRIPT.replace("import helper", "from . import helper")
    )
    p = run(programs, ["-m", "pkg", "x"], tmp_path)
    assert p.expect(r"^ready (\w+)").group(1) == "one"
    edit(pkg / "helper.py", "MARK = 'two'\n")
    second = p.expect(r"^ready (\w+) \d+ (.*)$")
    assert second.groups() == ("two", "['x']")


def test_watched_data_file_restarts(tmp_path: Path, programs: list[Program]) -> None:
    (tmp_path / "config.txt").write_text("one")
    (tmp_path / "server.py").write_text(
        textwrap.dedent(
            """\
            import asyncio
            import whirlwind
            from whirlwind import autoreload

            async def main():
                autoreload.watch("config.txt")
                autoreload.start(check_time=50)
                print("config", open("config.txt").read(), flush=True)
                await asyncio.Event().wait()

            whirlwind.run(main())
            """
        )
    )
    p = run(programs, ["server.py"], tmp_path)
    p.expect(r"^config one$")
    edit(tmp_path / "config.txt", "two")
    p.expect(r"^config two$")


def test_unchanged_files_do_not_restart(
    tmp_path: Path, programs: list[Program]
) -> None:
    (tmp_path / "server.py").write_text(
        textwrap.dedent(
            """\
            import asyncio, os
            import whirlwind
            from whirlwind import autoreload

            async def main():
                autoreload.start(check_time=20)
                print("ready", flush=True)
                # Rewriting a file's content without changing its mtime is
                # not a change; touching another file is not either.
                await asyncio.sleep(0.3)
                print("still the first run", flush=True)

            whirlwind.run(main())
            """
        )
    )
    (tmp_path / "other.txt").write_text("x")
    p = run(programs, ["server.py"], tmp_path)
    p.expect("^ready$")
    edit(tmp_path / "other.txt", "y")
    p.expect("^still the first run$")
    assert p.proc.wait(5) == 0
    assert p.seen.count("ready") == 1


def test_main_reruns_a_script_after_it_exits(
    tmp_path: Path, programs: list[Program]
) -> None:
    script = tmp_path / "job.py"
    script.write_text("import sys\nprint('job', 'one', sys.argv[1:], flush=True)\n")
    # an option after the script belongs to the script, not the wrapper
    args = ["-m", "whirlwind.autoreload", "job.py", "--until-success"]
    p = run(programs, args, tmp_path)
    assert p.expect(r"^job (\w+) (.*)$").groups() == ("one", "['--until-success']")
    p.expect("Script exited normally")
    edit(script, "import sys\nprint('job', 'two', sys.argv[1:], flush=True)\n")
    assert p.expect(r"^job (\w+) (.*)$").groups() == ("two", "['--until-success']")


def test_main_waits_for_a_fix_after_a_failure(
    tmp_path: Path, programs: list[Program]
) -> None:
    (tmp_path / "tool.py").write_text("def run():\n    raise ValueError('broken')\n")
    (tmp_path / "job.py").write_text("import tool\ntool.run()\n")
    p = run(programs, ["-m", "whirlwind.autoreload", "-m", "job"], tmp_path)
    p.expect("Script exited with uncaught exception")
    p.expect("ValueError: broken")
    edit(tmp_path / "tool.py", "def run():\n    print('fixed', flush=True)\n")
    p.expect("^fixed$")


def test_main_retries_after_a_syntax_error(
    tmp_path: Path, programs: list[Program]
) -> None:
    script = tmp_path / "job.py"
    script.write_text("print('half'\n")
    p = run(programs, ["-m", "whirlwind.autoreload", "job.py"], tmp_path)
    p.expect("SyntaxError")
    edit(script, "print('whole', flush=True)\n")
    p.expect("^whole$")


def test_main_until_success_stops_after_a_clean_exit(
    tmp_path: Path, programs: list[Program]
) -> None:
    script = tmp_path / "check.py"
    script.write_text("print('attempt one', flush=True)\nraise SystemExit(3)\n")
    p = run(
        programs,
        ["-m", "whirlwind.autoreload", "--until-success", "check.py"],
        tmp_path,
    )
    p.expect("^attempt one$")
    p.expect("Script exited with status 3")
    assert p.proc.poll() is None  # a failure waits for a fix
    edit(script, "print('attempt two', flush=True)\n")
    p.expect("^attempt two$")
    p.expect("Script exited normally")
    assert p.proc.wait(5) == 0


def test_main_runs_a_directory_with_main(
    tmp_path: Path, programs: list[Program]
) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "__main__.py").write_text("import sys\nprint('dir', sys.argv[1:])\n")
    p = run(programs, ["-m", "whirlwind.autoreload", "app", "z"], tmp_path)
    p.expect(r"^dir \['z'\]$")
    p.expect("Script exited normally")
    edit(app / "__main__.py", "print('dir two', flush=True)\n")
    p.expect("^dir two$")


def test_main_usage_error(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "whirlwind.autoreload"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 1
    assert "Usage:" in r.stderr


def test_application_debug_restarts_on_edit(
    tmp_path: Path, programs: list[Program]
) -> None:
    (tmp_path / "handlers.py").write_text("MARK = 'one'\n")
    (tmp_path / "app.py").write_text(
        textwrap.dedent(
            """\
            import asyncio
            import handlers
            import whirlwind
            from whirlwind import web

            async def main():
                app = web.Application([], debug=True)
                print("serving", handlers.MARK, app.settings["autoreload"], flush=True)
                await asyncio.Event().wait()

            whirlwind.run(main())
            """
        )
    )
    p = run(programs, ["app.py"], tmp_path)
    assert p.expect(r"^serving (\w+) (\w+)$").groups() == ("one", "True")
    edit(tmp_path / "handlers.py", "MARK = 'two'\n")
    assert p.expect(r"^serving (\w+)").group(1) == "two"
