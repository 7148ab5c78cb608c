"""Restart the process when its source files change (development aid).

``Application(debug=True)`` (or ``autoreload=True``) turns this on. It can
also wrap a whole program, which then restarts even after a syntax error or
an exit::

    python -m whirlwind.autoreload -m myapp [args...]
    python -m whirlwind.autoreload path/to/script.py [args...]
    python -m whirlwind.autoreload --until-success script.py   # stop once it exits 0

Contents:

* `start`: poll the files of every imported module (and `watch`-ed files)
  from the current IOLoop; `wait`: block until a file changes, then restart.
* `watch`, `add_reload_hook`, `main`.

Theory of operation: a `PeriodicCallback` (every ``check_time`` ms) stats
each module file and each watched file; the first time it records the
modification time, later a different time triggers `_reload`. Reloading
runs the hooks and replaces the process image with the same command line
(``os.execv``), reconstructed so that ``python -m pkg``, ``python script.py``,
``python directory`` and the ``-m whirlwind.autoreload`` wrapper all come
back the same way. Forked children (`whirlwind.process.fork_processes`)
never reload themselves. Where ``execv`` is unreliable (Windows) a new
process is spawned and this one exits.
"""

# When run as ``python -m whirlwind.autoreload``, the package directory must
# not shadow standard modules of the same name that the imports below need.
import os
import sys

if __name__ == "__main__" and sys.path and sys.path[0] == os.path.dirname(__file__):
    del sys.path[0]

import functools  # noqa: E402
import importlib.util  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import traceback  # noqa: E402
import types  # noqa: E402
import weakref  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

from whirlwind import ioloop, process  # noqa: E402
from whirlwind.log import gen_log  # noqa: E402

__all__ = ["start", "wait", "watch", "add_reload_hook", "main"]

# os.execv is broken on Windows (it does not replace the console process).
_has_execv = sys.platform != "win32"

_watched_files: set[str] = set()
_reload_hooks: list[Callable[[], None]] = []
_reload_attempted = False
_io_loops: "weakref.WeakKeyDictionary[ioloop.IOLoop, bool]" = (
    weakref.WeakKeyDictionary()
)
# Set by main() (in both copies of this module, see there) so a restart
# goes through the wrapper again.
_autoreload_is_main = False
_original_argv: list[str] | None = None
_original_spec: Any = None


def start(check_time: int = 500) -> None:
    """Starts polling for changed files on the current IOLoop (once per loop).

    :arg check_time: milliseconds between checks.
    """
    io_loop = ioloop.IOLoop.current()
    assert io_loop is not None
    if io_loop in _io_loops:
        return
    _io_loops[io_loop] = True
    if len(_io_loops) > 1:
        gen_log.warning(
            "whirlwind.autoreload started more than once in the same process"
        )
    modify_times: dict[str, float] = {}
    checker = functools.partial(_reload_on_update, modify_times)
    ioloop.PeriodicCallback(checker, check_time).start()


def wait() -> None:
    """Blocks until a watched file changes, then restarts the process.

    For scripts that have finished their work (or crashed) under the wrapper.
    """
    io_loop = ioloop.IOLoop()
    io_loop.add_callback(start)
    io_loop.start()


def watch(filename: str) -> None:
    """Restarts the process when ``filename`` changes too (not only modules)."""
    _watched_files.add(filename)


def add_reload_hook(fn: Callable[[], None]) -> None:
    """Calls ``fn()`` just before restarting (e.g. to close sockets that are
    not marked close-on-exec)."""
    _reload_hooks.append(fn)


def _reload_on_update(modify_times: dict[str, float]) -> None:
    if _reload_attempted:
        return  # already on our way out
    if process.task_id() is not None:
        # A forked child restarting alone would leave the parent confused;
        # only the parent process reloads.
        return
    for module in list(sys.modules.values()):
        if not isinstance(module, types.ModuleType):
            continue
        path = getattr(module, "__file__", None)
        if not path:
            continue
        if path.endswith((".pyc", ".pyo")):
            path = path[:-1]
        _check_file(modify_times, path)
    for path in list(_watched_files):
        _check_file(modify_times, path)


def _check_file(modify_times: dict[str, float], path: str) -> None:
    try:
        modified = os.stat(path).st_mtime
    except Exception:
        return
    known = modify_times.get(path)
    if known is None:
        modify_times[path] = modified
    elif known != modified:
        gen_log.info("%s modified; restarting server", path)
        _reload()


def _reload() -> None:
    global _reload_attempted
    _reload_attempted = True
    for fn in _reload_hooks:
        fn()
    if sys.platform != "win32":
        # A pending alarm would kill the new process image.
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
    if _autoreload_is_main:
        assert _original_argv is not None
        spec = _original_spec
        argv = _original_argv
    else:
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        argv = sys.argv
    if spec is not None and spec.name != "__main__":
        # Started with "-m name": restart the same way.
        argv = ["-m", spec.name] + argv[1:]
    else:
        # Started as a script or directory. If sys.path[0] was the current
        # directory (""), keep it importable across the restart.
        prefix = "." + os.pathsep
        if sys.path[0] == "" and not os.environ.get("PYTHONPATH", "").startswith(
            prefix
        ):
            os.environ["PYTHONPATH"] = prefix + os.environ.get("PYTHONPATH", "")
    if not _has_execv:
        subprocess.Popen([sys.executable] + argv)
        os._exit(0)
    else:
        os.execv(sys.executable, [sys.executable] + argv)


_USAGE = """\
  python -m whirlwind.autoreload -m module.to.run [args...]
  python -m whirlwind.autoreload path/to/script.py [args...]
"""


def main() -> None:
    """Runs a module or script, restarting it whenever a source file changes
    (or after it exits, once a file changes). ``--until-success`` stops after
    an exit with status 0."""
    import argparse

    # Running as "python -m whirlwind.autoreload" makes this module
    # "__main__"; the application imports "whirlwind.autoreload" again as a
    # separate module. Both copies must know how to restart through us.
    import whirlwind.autoreload as imported

    global _autoreload_is_main, _original_argv, _original_spec
    original_argv = sys.argv
    original_spec = getattr(sys.modules["__main__"], "__spec__", None)
    for mod in (sys.modules[__name__], imported):
        mod._autoreload_is_main = True  # type: ignore[attr-defined]
        mod._original_argv = original_argv  # type: ignore[attr-defined]
        mod._original_spec = original_spec  # type: ignore[attr-defined]
    _autoreload_is_main = True
    _original_argv = original_argv
    _original_spec = original_spec

    parser = argparse.ArgumentParser(
        prog="python -m whirlwind.autoreload", usage=_USAGE
    )
    parser.add_argument("-m", dest="module", metavar="module", help="module to run")
    parser.add_argument(
        "--until-success",
        action="store_true",
        help="stop reloading once the program exits with status 0",
    )
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    opts = parser.parse_args(sys.argv[1:])
    rest: list[str] = opts.rest
    if opts.module is None:
        if not rest:
            print("Either -m or a path must be specified", file=sys.stderr)
            sys.exit(1)
        path: str | None = rest[0]
        sys.argv = rest[:]
    else:
        path = None
        sys.argv = [sys.argv[0]] + rest

    import runpy

    exit_status: Any = 1
    try:
        if opts.module is not None:
            runpy.run_module(opts.module, run_name="__main__", alter_sys=True)
        else:
            assert path is not None
            runpy.run_path(path, run_name="__main__")
    except SystemExit as e:
        exit_status = e.code
        gen_log.info("Script exited with status %s", e.code)
    except Exception as e:
        gen_log.warning("Script exited with uncaught exception", exc_info=True)
        # A module that failed to import never reached sys.modules: watch
        # every file of the traceback so fixing it triggers a restart.
        for frame in traceback.extract_tb(e.__traceback__):
            watch(frame.filename)
        if isinstance(e, SyntaxError) and e.filename is not None:
            watch(e.filename)
    else:
        exit_status = 0
        gen_log.info("Script exited normally")
    sys.argv = original_argv
    if path is not None:
        # run_path's code never enters sys.modules either.
        main_file = os.path.join(path, "__main__.py") if os.path.isdir(path) else path
        watch(os.path.abspath(main_file))
    if opts.module is not None:
        # run_module's module is gone from sys.modules; watch its file.
        spec = importlib.util.find_spec(opts.module)
        if spec is not None and spec.origin and os.path.exists(spec.origin):
            watch(spec.origin)
    if opts.until_success and not exit_status:
        return
    wait()


if __name__ == "__main__":
    main()
