"""Restart the process when one of its source files changes.

For development: ``Application(debug=True)`` (or ``autoreload=True``) calls
`start`, so editing a module of a running server restarts it. Do not use it
in production, nor with `whirlwind.process.fork_processes` (forked children
never reload themselves).

Contents:

* `start`: check the files of every imported module, and the files given to
  `watch`, every ``check_time`` ms on the current `.IOLoop`; restart when one
  changes.
* `wait`: run a new IOLoop until a file changes, then restart (for programs
  that end, such as test runners).
* `watch`: also restart when this (non-module) file changes.
* `add_reload_hook`: call a function just before restarting (e.g. to close
  file descriptors that are not close-on-exec).
* ``python -m whirlwind.autoreload [-m module | script.py] [args...]``: run
  the module or script, then restart it whenever one of its files changes,
  including after it exited or failed at start-up (a syntax error is
  retried once the file is fixed).

Theory of operation
-------------------

Polling, not file-system notifications: it needs nothing outside the
standard library and works the same everywhere; a check costs one ``stat``
per imported module. One table maps each path to the modification time
(nanoseconds) seen first; a path is recorded the first time it is checked,
and any later difference triggers the restart. `start` checks once at once,
so a change made after `start` returns is never taken for the baseline.
A file that cannot be ``stat``-ed (an editor may be replacing it) is skipped
until it reappears.

The restart re-executes the interpreter with ``sys.orig_argv``, the command
line as typed: interpreter flags, ``-m package`` (re-running the path in
``sys.argv[0]`` as a script would break the package's relative imports),
``-c``, and ``-m whirlwind.autoreload`` itself all come back as they were. On
POSIX ``os.execv`` keeps the process id, and the listening sockets close with
the old image (Python creates descriptors close-on-exec), so the new process
can bind the same port. Windows has no true exec: there a new process is
started and this one exits.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import runpy
import signal
import subprocess
import sys
import traceback
import weakref
from collections.abc import Callable
from types import ModuleType

from whirlwind.ioloop import IOLoop, PeriodicCallback
from whirlwind.log import gen_log

__all__ = ["start", "wait", "watch", "add_reload_hook", "main"]

_watched_files: set[str] = set()
_reload_hooks: list[Callable[[], None]] = []
_modify_times: dict[str, int] = {}
_io_loops: weakref.WeakKeyDictionary[IOLoop, bool] = weakref.WeakKeyDictionary()
_reload_attempted = False


def start(check_time: int = 500) -> None:
    """Check for changed files every ``check_time`` milliseconds on the current
    IOLoop, and restart the process when one changed. Idempotent per loop."""
    io_loop = IOLoop.current()
    assert io_loop is not None
    if io_loop in _io_loops:
        return
    _io_loops[io_loop] = True
    if len(_io_loops) > 1:
        gen_log.warning("autoreload started on more than one IOLoop")
    _reload_on_update()  # the baseline, or a restart if already stale
    PeriodicCallback(_reload_on_update, check_time).start()


def wait() -> None:
    """Wait on a new IOLoop until a watched file changes, then restart.

    For scripts that run to completion, such as test runners: call it at the
    end to run them again after each edit.
    """
    io_loop = IOLoop(make_current=False)
    io_loop.add_callback(start)
    io_loop.start()


def watch(filename: str) -> None:
    """Restart the process when ``filename`` changes, too (imported modules
    are always watched)."""
    path = os.path.abspath(filename)
    _watched_files.add(path)
    _check_file(path)


def add_reload_hook(fn: Callable[[], None]) -> None:
    """Call ``fn()`` just before restarting (hooks run in the order added).

    Descriptors opened by Python are closed by the restart; use a hook for
    anything else that must not outlive the old process image.
    """
    _reload_hooks.append(fn)


def _module_path(module: ModuleType) -> str | None:
    path = getattr(module, "__file__", None)
    if not isinstance(path, str):
        return None
    if path.endswith(".pyc") and os.path.exists(path[:-1]):
        return path[:-1]  # a stray .pyc beside its source: watch the source
    return path


def _reload_on_update() -> None:
    if _reload_attempted:
        return  # hooks or exec failed: do not restart in a loop
    process = sys.modules.get("whirlwind.process")
    if process is not None and process.task_id() is not None:
        return  # a forked child: the parent owns the restart
    for module in list(sys.modules.values()):
        if isinstance(module, ModuleType):
            path = _module_path(module)
            if path is not None:
                _check_file(path)
    for path in list(_watched_files):
        _check_file(path)


def _check_file(path: str) -> None:
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        return
    seen = _modify_times.setdefault(path, mtime)
    if seen != mtime and not _reload_attempted:
        gen_log.info("%s modified; restarting server", path)
        _reload()


def _reload() -> None:
    global _reload_attempted
    _reload_attempted = True
    for fn in _reload_hooks:
        try:
            fn()
        except Exception:
            gen_log.error("Exception in autoreload hook %r", fn, exc_info=True)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()  # exec discards buffered output
        except Exception:
            pass
    if hasattr(signal, "setitimer"):
        # A pending SIGALRM would survive exec and kill the new image.
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
    # orig_argv is empty in an embedded interpreter: fall back to argv.
    argv = [sys.executable, *(sys.orig_argv[1:] or sys.argv)]
    if sys.platform == "win32":
        # No exec on Windows: start the new process and leave.
        subprocess.Popen(argv)
        os._exit(0)
    try:
        os.execv(sys.executable, argv)
    except OSError:
        # execv can fail in a process with threads on some systems (macOS
        # reports ENOTSUP): spawn the new image instead.
        os.spawnv(os.P_NOWAIT, sys.executable, argv)
        os._exit(0)


_USAGE = """\
Usage:
  python -m whirlwind.autoreload [--until-success] -m module.to.run [args...]
  python -m whirlwind.autoreload [--until-success] path/to/script.py [args...]

--until-success: stop once the program exits with status 0 instead of
waiting for changes (for a test run to repeat until it passes).
"""


def main() -> None:
    """Run a module or script, restarting it whenever its files change.

    The program keeps running across restarts of any kind: when it exits or
    fails, the files it imported (and, after a failure, every file of the
    traceback) are watched until one changes.
    """
    original_argv = sys.argv
    # Options come before the program: [--until-success] [-m module | script]
    args = sys.argv[1:]
    until_success = False
    mode = target = ""
    while args:
        if args[0] == "--until-success":
            until_success = True
            args = args[1:]
        elif args[0] == "-m" and len(args) >= 2:
            mode, target, args = "module", args[1], args[2:]
            break
        elif not args[0].startswith("-"):
            mode, target, args = "script", args[0], args[1:]
            break
        else:
            break
    if not mode:
        sys.stderr.write(_USAGE)
        sys.exit(1)
    rest = args

    if mode == "script":
        # As `python script.py` would: argv[0] is the script, its directory
        # comes first on sys.path (run_path adds a directory or zip itself).
        sys.argv = [target, *rest]
        if os.path.isdir(target):
            watch(os.path.join(target, "__main__.py"))
        else:
            watch(target)
            if not target.endswith(".zip"):
                sys.path.insert(0, os.path.dirname(os.path.abspath(target)))
    else:
        sys.argv = [target, *rest]
        origin = _module_origin(target)
        if origin is not None:
            watch(origin)
    try:
        if mode == "module":
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(target, run_name="__main__")
    except SystemExit as e:
        outcome, exc = f"Script exited with status {e.code}", None
        succeeded = e.code in (None, 0)
    except Exception as e:
        outcome, exc = "Script exited with uncaught exception", e
        succeeded = False
        # Fixing any file of the traceback should restart the program.
        for frame, _ in traceback.walk_tb(e.__traceback__):
            watch(frame.f_code.co_filename)
        if isinstance(e, SyntaxError) and e.filename:
            watch(e.filename)
    else:
        outcome, exc = "Script exited normally", None
        succeeded = True
    sys.argv = original_argv
    # Record what the program imported before saying it is over: an edit
    # made after that message must count as a change.
    _reload_on_update()
    _ensure_logging()
    if exc is None:
        gen_log.info(outcome)
    else:
        gen_log.warning(outcome, exc_info=exc)
    if until_success and succeeded:
        return
    wait()


def _module_origin(name: str) -> str | None:
    try:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations is not None:
            spec = importlib.util.find_spec(name + ".__main__")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.has_location or spec.origin is None:
        return None
    return spec.origin


def _ensure_logging() -> None:
    # The wrapped program may have set up logging; if not, show our messages.
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="[autoreload] %(message)s")


if __name__ == "__main__":
    # Run from the importable module, not this __main__ copy, so the program
    # and this wrapper share one set of watched files and hooks.
    from whirlwind.autoreload import main as _main

    _main()
