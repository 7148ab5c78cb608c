"""Tests for whirlwind.autoreload, with real subprocesses and files."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap
import time

APP = """\
import asyncio, os, sys
import helper

runs = int(os.environ.get("WW_RUNS", "0")) + 1
os.environ["WW_RUNS"] = str(runs)
print("run", runs, sys.argv[1:], flush=True)
if runs >= 2:
    os._exit(0)

async def main():
    {starter}
    open("ready", "w").close()
    await asyncio.sleep(20)

asyncio.run(main())
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("WW_RUNS", None)
    return env


def _wait_for(path: pathlib.Path, proc: subprocess.Popen[str]) -> None:
    for _ in range(400):
        if path.exists() or proc.poll() is not None:
            return
        time.sleep(0.01)


def _touch_later(path: pathlib.Path) -> None:
    st = path.stat()
    os.utime(path, (st.st_atime + 10, st.st_mtime + 10))


def _run_until_reload(
    tmp_path: pathlib.Path, starter: str, args: list[str], settle: float = 0.1
) -> str:
    (tmp_path / "helper.py").write_text("X = 1\n")
    (tmp_path / "app.py").write_text(APP.format(starter=starter))
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(tmp_path / "ready", proc)
        time.sleep(settle)  # let the first poll record modification times
        _touch_later(tmp_path / "helper.py")
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    return out


def test_start_restarts_on_module_change(tmp_path: pathlib.Path) -> None:
    starter = "from whirlwind import autoreload; autoreload.start(check_time=20)"
    out = _run_until_reload(tmp_path, starter, ["app.py", "a1"])
    assert out == "run 1 ['a1']\nrun 2 ['a1']\n"


def test_debug_application_restarts(tmp_path: pathlib.Path) -> None:
    starter = "from whirlwind import web; web.Application([], debug=True)"
    # The application polls every 500 ms; the first poll records the times.
    out = _run_until_reload(tmp_path, starter, ["app.py"], settle=0.8)
    assert out == "run 1 []\nrun 2 []\n"


def test_wrapper_reruns_failed_script_after_change(tmp_path: pathlib.Path) -> None:
    script = tmp_path / "job.py"
    script.write_text(
        textwrap.dedent(
            """\
            import os, sys
            runs = int(os.environ.get("WW_RUNS", "0")) + 1
            os.environ["WW_RUNS"] = str(runs)
            print("job", runs, sys.argv[1:], flush=True)
            if runs == 1:
                open("ready", "w").close()
                sys.exit(3)
            sys.exit(0)
            """
        )
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "whirlwind.autoreload",
            "--until-success",
            "job.py",
            "-x",
        ],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(tmp_path / "ready", proc)
        time.sleep(0.8)  # the wrapper's first poll (500 ms) records mtimes
        _touch_later(script)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert out == "job 1 ['-x']\njob 2 ['-x']\n"
