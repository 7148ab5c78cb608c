"""Tests for whirlwind.process with real forks and real child processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from whirlwind.loop import EventLoop, new_event_loop
from whirlwind.process import CalledProcessError, Subprocess, cpu_count, task_id

_T = TypeVar("_T")

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes")


def run(coro: Coroutine[Any, Any, _T]) -> _T:
    loop = new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        Subprocess.uninitialize()
        loop.close()


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_cpu_count_is_positive() -> None:
    n = cpu_count()
    assert isinstance(n, int) and n >= 1
    assert n <= (os.cpu_count() or n)


def test_task_id_is_none_outside_fork_processes() -> None:
    assert task_id() is None


# --- fork_processes (each run in a fresh interpreter, so no threads exist) ----


def _fork_script(body: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    prelude = textwrap.dedent("""
        import logging, os, sys
        logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
        from whirlwind.process import fork_processes, task_id
        marker = sys.argv[1]
        def say(text):
            os.write(1, (text + "\\n").encode())
    """)
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", prelude + textwrap.dedent(body),
         str(tmp_path / "marker")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def test_fork_processes_restarts_crashed_child(tmp_path: Path) -> None:
    result = _fork_script(
        """
        try:
            tid = fork_processes(3, max_restarts=5)
        except SystemExit as e:
            say("parent exit %s" % e.code)
            raise
        assert tid == task_id()
        if tid == 1 and not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(3)
        say("task %d" % tid)
        os._exit(0)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert sorted(lines[:-1]) == ["task 0", "task 1", "task 2"]
    assert lines[-1] == "parent exit 0"
    assert "whirlwind.general Starting 3 processes" in result.stderr
    assert "child 1 (pid" in result.stderr
    assert "exited with status 3, restarting" in result.stderr
    assert result.stderr.count("exited normally") == 3


def test_fork_processes_restarts_child_killed_by_signal(tmp_path: Path) -> None:
    result = _fork_script(
        """
        tid = fork_processes(1)
        if not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(os.getpid(), 9)
        say("task %d" % tid)
        os._exit(0)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["task 0"]
    assert "child 0 (pid" in result.stderr
    assert "killed by signal 9, restarting" in result.stderr


def test_fork_processes_gives_up_after_max_restarts(tmp_path: Path) -> None:
    result = _fork_script(
        """
        try:
            fork_processes(1, max_restarts=2)
        except RuntimeError as e:
            say("parent: %s" % e)
            sys.exit(0)
        say("child")
        os._exit(1)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines.count("child") == 3  # the first run and two restarts
    assert lines[-1] == "parent: Too many child restarts, giving up"


def test_fork_processes_zero_means_cpu_count(tmp_path: Path) -> None:
    result = _fork_script(
        """
        from whirlwind.process import cpu_count
        try:
            tid = fork_processes(0)
        except SystemExit:
            say("cpus %d" % cpu_count())
            raise
        say("task %d" % tid)
        os._exit(0)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    n = int(lines[-1].split()[1])
    assert sorted(lines[:-1]) == sorted(f"task {i}" for i in range(n))


def test_fork_processes_twice_is_an_error(tmp_path: Path) -> None:
    result = _fork_script(
        """
        tid = fork_processes(1)
        try:
            fork_processes(1)
        except RuntimeError as e:
            say("again: %s" % e)
        os._exit(0)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("again: fork_processes() was already called")


# --- Subprocess exit reporting -------------------------------------------------------


def test_set_exit_callback_reports_zero() -> None:
    async def main() -> tuple[int, int | None, int | None]:
        proc = Subprocess(py("pass"))
        assert proc.io_loop.asyncio_loop is asyncio.get_running_loop()
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        proc.set_exit_callback(done.set_result)
        code = await asyncio.wait_for(done, 10)
        return code, proc.returncode, proc.proc.returncode

    assert run(main()) == (0, 0, 0)


def test_wait_for_exit_raises_on_failure() -> None:
    async def main() -> CalledProcessError:
        proc = Subprocess(py("import sys; sys.exit(3)"))
        with pytest.raises(CalledProcessError) as info:
            await asyncio.wait_for(proc.wait_for_exit(), 10)
        assert proc.returncode == 3
        return info.value

    err = run(main())
    assert err.returncode == 3
    assert err.cmd == py("import sys; sys.exit(3)")


def test_wait_for_exit_without_raise_returns_code() -> None:
    async def main() -> int:
        proc = Subprocess(py("import sys; sys.exit(5)"))
        return await asyncio.wait_for(proc.wait_for_exit(raise_error=False), 10)

    assert run(main()) == 5


def test_exit_by_signal_is_negative() -> None:
    async def main() -> int:
        proc = Subprocess(py("import time; time.sleep(30)"))
        fut = proc.wait_for_exit(raise_error=False)
        await asyncio.sleep(0.05)
        os.kill(proc.pid, signal.SIGTERM)
        return await asyncio.wait_for(fut, 10)

    assert run(main()) == -signal.SIGTERM


def test_exit_before_callback_registered_is_still_reported() -> None:
    async def main() -> int:
        proc = Subprocess(py("pass"))
        # Let it exit (and its SIGCHLD go unheard) before anyone listens.
        if hasattr(os, "waitid"):
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        else:  # macOS: no waitid; give the child ample time to finish
            await asyncio.sleep(0.5)
        return await asyncio.wait_for(proc.wait_for_exit(), 10)

    assert run(main()) == 0


def test_many_children_each_get_their_own_code() -> None:
    async def main() -> list[int]:
        procs = [Subprocess(py(f"import sys; sys.exit({i})")) for i in range(6)]
        futs = [p.wait_for_exit(raise_error=False) for p in procs]
        return list(await asyncio.wait_for(asyncio.gather(*futs), 10))

    assert run(main()) == [0, 1, 2, 3, 4, 5]


def test_other_children_are_left_alone() -> None:
    async def main() -> tuple[int, int]:
        ours = Subprocess(py("pass"))
        theirs = subprocess.Popen(py("import sys; sys.exit(7)"))
        code = await asyncio.wait_for(ours.wait_for_exit(), 10)
        # Our SIGCHLD handler must not have reaped the plain Popen child.
        return code, theirs.wait(10)

    assert run(main()) == (0, 7)


def test_handler_follows_a_new_loop() -> None:
    async def main() -> int:
        return await asyncio.wait_for(Subprocess(py("pass")).wait_for_exit(), 10)

    # The first loop is closed (taking its SIGCHLD handler with it) before the
    # second one starts; the second wait must still be answered.
    first = new_event_loop()
    try:
        assert first.run_until_complete(main()) == 0
    finally:
        first.close()
    assert run(main()) == 0


def test_initialize_and_uninitialize_manage_sigchld() -> None:
    async def main() -> tuple[bool, Any]:
        Subprocess.initialize()
        Subprocess.initialize()  # idempotent
        installed = signal.getsignal(signal.SIGCHLD) not in (
            signal.SIG_DFL,
            signal.SIG_IGN,
            None,
        )
        Subprocess.uninitialize()
        Subprocess.uninitialize()
        return installed, signal.getsignal(signal.SIGCHLD)

    installed, after = run(main())
    assert installed
    assert after == signal.SIG_DFL


def test_plain_pipes_are_file_objects() -> None:
    async def main() -> tuple[bytes, int]:
        proc = Subprocess(py("print('hi')"), stdout=subprocess.PIPE)
        fut = proc.wait_for_exit()
        out = proc.stdout.read()
        proc.stdout.close()
        return out, await asyncio.wait_for(fut, 10)

    assert run(main()) == (b"hi\n", 0)


def test_popen_failure_closes_pipes() -> None:
    async def main() -> None:
        before = (
            len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0
        )
        with pytest.raises(FileNotFoundError):
            Subprocess(["/nonexistent/program"], stdout=subprocess.PIPE)
        if before:
            assert len(os.listdir("/proc/self/fd")) == before

    run(main())


class NoSigchldLoop(EventLoop):
    """A whirlwind loop that, like uvloop, keeps SIGCHLD for itself."""

    def add_signal_handler(self, sig: int, callback: Any, *args: Any) -> None:
        if sig == signal.SIGCHLD:
            raise RuntimeError("SIGCHLD is used by this event loop")
        super().add_signal_handler(sig, callback, *args)


@pytest.mark.parametrize("pidfd", [True, False], ids=["pidfd", "thread"])
def test_exit_reported_on_a_loop_that_reserves_sigchld(
    pidfd: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if pidfd and not hasattr(os, "pidfd_open"):
        pytest.skip("no pidfd_open here")
    if not pidfd:
        # As on macOS: no pidfd, so one waiting thread per child.
        monkeypatch.delattr(os, "pidfd_open", raising=False)

    async def main() -> tuple[int, int, int, int]:
        Subprocess.initialize()  # falls back quietly instead of raising
        sleeper = Subprocess(py("import time; time.sleep(30)"))
        fut = sleeper.wait_for_exit(raise_error=False)
        quick = [Subprocess(py(f"import sys; sys.exit({i})")) for i in (0, 4)]
        codes = [await asyncio.wait_for(p.wait_for_exit(False), 10) for p in quick]
        os.kill(sleeper.pid, signal.SIGKILL)
        killed = await asyncio.wait_for(fut, 10)
        return codes[0], codes[1], killed, int(sleeper.returncode or 0)

    loop = NoSigchldLoop()
    try:
        result = loop.run_until_complete(main())
    finally:
        Subprocess.uninitialize()
        loop.close()
    assert result == (0, 4, -signal.SIGKILL, -signal.SIGKILL)
    assert signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL


# --- Subprocess.STREAM pipes -----------------------------------------------------


def test_stream_pipes_talk_to_an_interactive_child() -> None:
    async def main() -> tuple[bytes, bytes, int]:
        proc = Subprocess(
            [sys.executable, "-u", "-c",
             "import sys\n"
             "for line in sys.stdin:\n"
             "    sys.stdout.write(line.upper())\n"
             "sys.stderr.write('bye\\n')\n"],
            stdin=Subprocess.STREAM, stdout=Subprocess.STREAM, stderr=Subprocess.STREAM,
        )  # fmt: skip
        exited = proc.wait_for_exit()
        await proc.stdin.write(b"hello\n")
        first = await asyncio.wait_for(proc.stdout.read_until(b"\n"), 10)
        await proc.stdin.write(b"again\n")
        proc.stdin.close()  # EOF ends the child's loop
        rest = await asyncio.wait_for(proc.stdout.read_until_close(), 10)
        err = await asyncio.wait_for(proc.stderr.read_until_close(), 10)
        code = await asyncio.wait_for(exited, 10)
        return first + rest, err, code

    assert run(main()) == (b"HELLO\nAGAIN\n", b"bye\n", 0)


def test_stream_stdout_with_stderr_merged() -> None:
    async def main() -> bytes:
        proc = Subprocess(
            py(
                "import sys; print('out'); sys.stdout.flush(); sys.stderr.write('err\\n')"
            ),
            stdout=Subprocess.STREAM,
            stderr=subprocess.STDOUT,
        )
        data = await asyncio.wait_for(proc.stdout.read_until_close(), 10)
        await asyncio.wait_for(proc.wait_for_exit(), 10)
        return bytes(data)

    assert run(main()) == b"out\nerr\n"


def test_stream_child_ends_are_closed_in_parent() -> None:
    # If the parent kept the child's end of stdout open, read_until_close
    # would never see EOF after the child exits.
    async def main() -> bytes:
        proc = Subprocess(py("pass"), stdout=Subprocess.STREAM)
        data = await asyncio.wait_for(proc.stdout.read_until_close(), 10)
        await asyncio.wait_for(proc.wait_for_exit(), 10)
        return bytes(data)

    assert run(main()) == b""


def test_stream_popen_failure_releases_pipes() -> None:
    async def main() -> None:
        fds = "/proc/self/fd"
        before = len(os.listdir(fds)) if os.path.isdir(fds) else 0
        with pytest.raises(FileNotFoundError):
            Subprocess(
                ["/nonexistent/program"],
                stdin=Subprocess.STREAM,
                stdout=Subprocess.STREAM,
                stderr=Subprocess.STREAM,
            )
        if before:
            assert len(os.listdir(fds)) == before

    run(main())
