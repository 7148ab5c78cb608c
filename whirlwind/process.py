"""Processes: pre-forking a server over all CPUs, and child processes with streams.

Contents:

* `cpu_count`: the number of CPUs this process may run on.
* `fork_processes`, `task_id`: fork worker processes that share listening sockets;
  the parent restarts workers that crash.
* `Subprocess`: `subprocess.Popen` whose pipes are non-blocking `PipeIOStream`\\s
  and whose exit is reported on the event loop (`set_exit_callback`,
  `wait_for_exit`).
* `CalledProcessError`: raised by `Subprocess.wait_for_exit` (the `subprocess` one).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any, ClassVar

from whirlwind.ioloop import IOLoop
from whirlwind.log import gen_log
from whirlwind.netutil import _event_loop

CalledProcessError = subprocess.CalledProcessError

_DEFAULT_MAX_RESTARTS = 100


def cpu_count() -> int:
    """Return the number of CPUs this process may use (at least 1).

    Honours CPU affinity (containers, ``taskset``) where the platform reports it.
    """
    process_cpu_count = getattr(os, "process_cpu_count", None)  # Python 3.13+
    if process_cpu_count is not None:
        n = process_cpu_count()
    elif hasattr(os, "sched_getaffinity"):
        n = len(os.sched_getaffinity(0))
    else:
        n = os.cpu_count()
    if not n:
        gen_log.error("Could not detect number of processors; assuming 1")
        return 1
    return int(n)


_task_id: int | None = None


def task_id() -> int | None:
    """Return the id (``0 .. n-1``) of this worker, or None outside `fork_processes`."""
    return _task_id


# Theory of operation for fork_processes: the parent forks n children, each
# tagged with a task id, then becomes a supervisor that only waits. When a child
# dies by a signal or with a non-zero status, a new child with the same task id
# takes its place (so ids stay 0..n-1), up to max_restarts restarts in total.
# A child that exits with status 0 is not replaced. When no child is left the
# parent exits with status 0 (SystemExit), so code after fork_processes() only
# ever runs in a child. The `random` module reseeds itself in forked children
# (os.register_at_fork), so workers do not share random sequences.


def fork_processes(num_processes: int | None, max_restarts: int | None = None) -> int:
    """Fork ``num_processes`` worker processes; return this worker's task id.

    ``num_processes`` of None or ``<= 0`` means `cpu_count()`. Only the children
    return (with ids ``0 .. num_processes-1``); the parent stays inside this call,
    restarting children that exit abnormally, and raises `SystemExit(0)` once
    every child has exited normally. After more than ``max_restarts`` restarts
    (default 100) the parent raises `RuntimeError`.

    Sockets bound before the call are shared by all workers. No event loop may
    have been created yet: create it in each child, after this call returns.
    """
    global _task_id
    if sys.platform == "win32":
        raise RuntimeError("fork_processes is not available on Windows")
    if _task_id is not None:
        raise RuntimeError("fork_processes() was already called in this process")
    if max_restarts is None:
        max_restarts = _DEFAULT_MAX_RESTARTS
    if num_processes is None or num_processes <= 0:
        num_processes = cpu_count()
    gen_log.info("Starting %d processes", num_processes)
    children: dict[int, int] = {}  # pid -> task id

    def spawn(tid: int) -> bool:
        """Fork one child; True in the child."""
        global _task_id
        pid = os.fork()
        if pid == 0:
            _task_id = tid
            return True
        children[pid] = tid
        return False

    for tid in range(num_processes):
        if spawn(tid):
            return tid
    restarts = 0
    while children:
        pid, status = os.wait()
        tid_or_none = children.pop(pid, None)
        if tid_or_none is None:
            continue  # not one of ours (e.g. a grandchild reparented elsewhere)
        tid = tid_or_none
        if os.WIFSIGNALED(status):
            gen_log.warning(
                "child %d (pid %d) killed by signal %d, restarting",
                tid,
                pid,
                os.WTERMSIG(status),
            )
        elif os.WEXITSTATUS(status) != 0:
            gen_log.warning(
                "child %d (pid %d) exited with status %d, restarting",
                tid,
                pid,
                os.WEXITSTATUS(status),
            )
        else:
            gen_log.info("child %d (pid %d) exited normally", tid, pid)
            continue
        restarts += 1
        if restarts > max_restarts:
            raise RuntimeError("Too many child restarts, giving up")
        if spawn(tid):
            return tid
    # Every child exited normally. Exit here rather than return, so that the
    # caller's per-worker code never runs in the supervisor.
    sys.exit(0)


# Theory of operation for Subprocess exit reporting: one SIGCHLD handler per
# process, installed with loop.add_signal_handler (so it runs as an ordinary loop
# callback, not inside the C signal handler). Each Subprocess that wants its exit
# reported registers its pid in `_waiting`; on SIGCHLD we reap only those pids
# with waitpid(pid, WNOHANG), leaving other children (asyncio's own, Popen's)
# alone. Registration also polls once, so a child that exited before anyone
# listened is still reported. Signals coalesce, hence the poll of every waiting
# pid per SIGCHLD (a handful of pids in practice).
#
# Some loops keep SIGCHLD for themselves (uvloop refuses the handler). There each
# child is watched on its own instead: a pidfd (Linux) becomes readable when the
# child exits and is watched with add_reader; elsewhere a daemon thread blocks in
# waitpid for that one pid and hands the status back with call_soon_threadsafe.


class Subprocess:
    """A `subprocess.Popen` wrapper whose pipes are non-blocking streams.

    Takes the arguments of `subprocess.Popen`. ``stdin``, ``stdout`` and ``stderr``
    may also be `Subprocess.STREAM`: the attribute of the same name is then a
    `whirlwind.iostream.PipeIOStream` instead of a file object.

    Attributes: ``proc`` (the `subprocess.Popen`), ``pid``, ``returncode``
    (None until the exit is reported), ``stdin``, ``stdout``, ``stderr``.

    Exit reporting (`set_exit_callback`, `wait_for_exit`) uses a ``SIGCHLD``
    handler installed on the event loop by `Subprocess.initialize`; it must be
    used from the main thread. On loops that reserve ``SIGCHLD`` (uvloop) each
    child is watched through a pidfd or a waiting thread instead.
    """

    STREAM: ClassVar[object] = object()

    _initialized_loop: ClassVar[asyncio.AbstractEventLoop | None] = None
    _use_sigchld: ClassVar[bool] = True  # False: the loop refused the handler
    _waiting: ClassVar[dict[int, Subprocess]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._loop = _event_loop()
        #: The `~whirlwind.ioloop.IOLoop` that reports this process's exit.
        self.io_loop = IOLoop.current()
        own_fds: list[int] = []  # every pipe end we created, closed on failure
        child_fds: list[int] = []  # the child's ends, closed once it has them
        parent_ends: dict[str, int] = {}
        for name in ("stdin", "stdout", "stderr"):
            if kwargs.get(name) is not Subprocess.STREAM:
                continue
            r, w = os.pipe()
            own_fds += (r, w)
            mine, theirs = (w, r) if name == "stdin" else (r, w)
            kwargs[name] = theirs
            child_fds.append(theirs)
            parent_ends[name] = mine
        try:
            streams: dict[str, Any] = {}
            if parent_ends:
                from whirlwind.iostream import PipeIOStream

                for name, fd in parent_ends.items():
                    streams[name] = PipeIOStream(fd)
                    own_fds.remove(fd)  # the stream owns it now
            self.proc = subprocess.Popen(*args, **kwargs)
        except BaseException:
            for stream in streams.values():
                stream.close()
            for fd in own_fds:
                os.close(fd)
            raise
        for fd in child_fds:
            os.close(fd)
        self.pid: int = self.proc.pid
        self.stdin: Any = streams.get("stdin", self.proc.stdin)
        self.stdout: Any = streams.get("stdout", self.proc.stdout)
        self.stderr: Any = streams.get("stderr", self.proc.stderr)
        self.returncode: int | None = None
        self._exit_callback: Callable[[int], None] | None = None

    def set_exit_callback(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(returncode)`` on the event loop when the process exits.

        The return code is negative (``-signum``) when a signal killed the process.
        Calls `Subprocess.initialize` if needed. Replaces any previous callback.
        """
        self._exit_callback = callback
        Subprocess.initialize()
        already_waiting = self.pid in Subprocess._waiting
        Subprocess._waiting[self.pid] = self
        if Subprocess._use_sigchld:
            Subprocess._reap(self.pid)
        elif not already_waiting:
            self._watch_exit()

    def wait_for_exit(self, raise_error: bool = True) -> asyncio.Future[int]:
        """Return a Future resolved with the return code when the process exits.

        With ``raise_error`` (the default) a non-zero return code raises
        `CalledProcessError` instead. Uses `set_exit_callback`, replacing any
        callback set before.
        """
        future: asyncio.Future[int] = self._loop.create_future()

        def on_exit(returncode: int) -> None:
            if future.done():  # cancelled by the caller
                return
            if returncode != 0 and raise_error:
                future.set_exception(CalledProcessError(returncode, self.proc.args))
            else:
                future.set_result(returncode)

        self.set_exit_callback(on_exit)
        return future

    @classmethod
    def initialize(cls) -> None:
        """Install the ``SIGCHLD`` handler on the current event loop (main thread).

        Called automatically by `set_exit_callback`; calling it again on the same
        loop does nothing. If the loop it was installed on has been closed, the
        handler moves to the current loop.
        """
        loop = _event_loop()
        if cls._initialized_loop is loop:
            return
        cls.uninitialize()
        try:
            loop.add_signal_handler(signal.SIGCHLD, cls._on_sigchld)
        except RuntimeError:
            # The loop tracks its own subprocesses with SIGCHLD (uvloop).
            Subprocess._use_sigchld = False
        else:
            Subprocess._use_sigchld = True
        Subprocess._initialized_loop = loop
        if Subprocess._use_sigchld:
            # A child may have exited while no handler was installed.
            cls._on_sigchld()

    @classmethod
    def uninitialize(cls) -> None:
        """Remove the ``SIGCHLD`` handler installed by `initialize`."""
        loop = Subprocess._initialized_loop
        if loop is None:
            return
        Subprocess._initialized_loop = None
        if Subprocess._use_sigchld and not loop.is_closed():
            loop.remove_signal_handler(signal.SIGCHLD)

    @classmethod
    def _on_sigchld(cls) -> None:
        for pid in list(Subprocess._waiting):
            Subprocess._reap(pid)

    @staticmethod
    def _reap(pid: int) -> None:
        try:
            reaped, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            # Reaped by someone else: take Popen's answer if it has one, else
            # report 0 as Popen itself does when the status is lost (ECHILD).
            subproc = Subprocess._waiting.pop(pid, None)
            if subproc is not None:
                returncode = subproc.proc.returncode
                subproc._schedule_exit(0 if returncode is None else returncode)
            return
        if reaped == 0:
            return  # still running
        subproc = Subprocess._waiting.pop(pid, None)
        if subproc is not None:
            subproc._schedule_exit(os.waitstatus_to_exitcode(status))

    def _watch_exit(self) -> None:
        """Watch this one child without SIGCHLD (see the theory above)."""
        pidfd_open = getattr(os, "pidfd_open", None)  # Linux 5.3+
        if pidfd_open is not None:
            try:
                pidfd = pidfd_open(self.pid)
            except OSError:
                pass  # e.g. ENOSYS under an old kernel or a sandbox
            else:
                loop = self._loop

                def on_exit() -> None:
                    loop.remove_reader(pidfd)
                    os.close(pidfd)
                    Subprocess._reap(self.pid)

                loop.add_reader(pidfd, on_exit)
                return
        threading.Thread(
            target=self._wait_in_thread, name=f"whirlwind-wait-{self.pid}", daemon=True
        ).start()

    def _wait_in_thread(self) -> None:
        try:
            _, status = os.waitpid(self.pid, 0)
            returncode = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            returncode = self.proc.returncode or 0
        try:
            self._loop.call_soon_threadsafe(self._exit_from_thread, returncode)
        except RuntimeError:  # the loop closed meanwhile: nobody to tell
            self.returncode = self.proc.returncode = returncode

    def _exit_from_thread(self, returncode: int) -> None:
        if Subprocess._waiting.get(self.pid) is self:
            del Subprocess._waiting[self.pid]
        self._schedule_exit(returncode)

    def _schedule_exit(self, returncode: int) -> None:
        # Record it now so Popen never waits on a reaped (maybe reused) pid.
        self.proc.returncode = returncode
        if self._loop.is_closed():
            self.returncode = returncode
            return
        self._loop.call_soon_threadsafe(self._report_exit, returncode)

    def _report_exit(self, returncode: int) -> None:
        self.returncode = returncode
        callback, self._exit_callback = self._exit_callback, None
        if callback is not None:
            callback(returncode)
