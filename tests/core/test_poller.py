"""The compiled pollers (whirlwind._core.Poller), one test body per backend.

Every backend compiled into this build runs each test; the others are
skipped (kqueue only exists on macOS/BSD).  All readiness is produced with
real socket pairs and pipes.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from whirlwind import _core
from whirlwind._core import ERROR, READ, WRITE, Poller

ALL_BACKENDS = ["epoll", "kqueue", "select"]
AVAILABLE = _core.available_backends()


@pytest.fixture(params=ALL_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name not in AVAILABLE:
        pytest.skip(f"no {name} poller on this platform")
    return name


@pytest.fixture
def poller(backend: str) -> Iterator[Poller]:
    with Poller(backend) as p:
        yield p


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


def events_of(p: Poller, fd: int, timeout: float | None = 0) -> int:
    """The events reported for fd by one poll (0 if none)."""
    found = [ev for f, ev in p.poll(timeout) if f == fd]
    assert len(found) <= 1, "one entry per fd"
    return found[0] if found else 0


def timed_poll(p: Poller, timeout: float) -> tuple[list[tuple[int, int]], float]:
    start = time.monotonic()
    result = p.poll(timeout)
    return result, time.monotonic() - start


def quiet_poll(p: Poller, timeout: float) -> None:
    """Nothing is reported, the wait lasts its timeout, and it sleeps rather
    than spinning (a ghost entry filtered inside the C wait would show up as
    CPU time, not as an early return)."""
    cpu = time.thread_time()
    result, elapsed = timed_poll(p, timeout)
    cpu = time.thread_time() - cpu
    assert result == []
    assert elapsed >= timeout * 0.9
    assert cpu < timeout * 0.3, f"{cpu:.3f}s of CPU in a {timeout}s wait"


def test_backend_names() -> None:
    assert AVAILABLE, "at least select is always compiled in"
    assert AVAILABLE[-1] == "select"
    assert set(AVAILABLE) <= set(ALL_BACKENDS)
    assert _core.default_backend() in AVAILABLE
    with Poller() as p:
        assert p.backend == _core.default_backend()
    assert (READ, WRITE, ERROR) == (0x001, 0x004, 0x018)


def test_writable_then_readable(
    poller: Poller, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair
    poller.register(a, READ | WRITE)
    assert poller.poll(0) == [(a.fileno(), WRITE)]
    b.send(b"hello")
    assert events_of(poller, a.fileno(), 1.0) & (READ | WRITE) == READ | WRITE
    # level-triggered: still readable until drained
    assert events_of(poller, a.fileno()) & READ
    assert a.recv(100) == b"hello"
    assert events_of(poller, a.fileno()) & (READ | WRITE) == WRITE
    assert len(poller) == 1


def test_modify(poller: Poller, pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    poller.register(a.fileno(), WRITE)
    assert events_of(poller, a.fileno()) == WRITE
    poller.modify(a, READ)
    assert poller.poll(0) == []
    b.send(b"x")
    assert events_of(poller, a.fileno(), 1.0) == READ
    poller.modify(a, 0)  # registered, no interest
    assert poller.poll(0) == []
    assert len(poller) == 1
    with pytest.raises(FileNotFoundError):
        poller.modify(b, READ)


def test_register_twice_replaces(
    poller: Poller, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, _ = pair
    poller.register(a, READ)
    poller.register(a, WRITE, 5)
    assert poller.poll_with_gen(0) == [(a.fileno(), WRITE, 5)]
    assert len(poller) == 1


def test_unregister(poller: Poller, pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    poller.register(a, READ | WRITE)
    b.send(b"x")
    assert events_of(poller, a.fileno(), 1.0)
    poller.unregister(a)
    assert poller.poll(0) == []
    assert len(poller) == 0
    poller.unregister(a)  # unknown fd: no error
    poller.unregister(12345)


def test_generation_tokens(
    poller: Poller, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair
    poller.register(a, WRITE, 0xFFFFFFFF)
    poller.register(b, WRITE, 7)
    got = sorted(poller.poll_with_gen(0))
    assert got == sorted([(a.fileno(), WRITE, 0xFFFFFFFF), (b.fileno(), WRITE, 7)])
    poller.modify(a, WRITE, 8)
    assert (a.fileno(), WRITE, 8) in poller.poll_with_gen(0)
    with pytest.raises(ValueError):
        poller.register(a, READ, -1)
    with pytest.raises(ValueError):
        poller.register(a, READ, 2**32)


def test_timeout(poller: Poller, pair: tuple[socket.socket, socket.socket]) -> None:
    a, _ = pair
    poller.register(a, READ)
    result, elapsed = timed_poll(poller, 0.05)
    assert result == []
    # rounded up to whole ms, so never early (a small margin for clock skew)
    assert elapsed >= 0.045
    result, elapsed = timed_poll(poller, 0.0001)
    assert result == []
    assert poller.poll(-1) == []  # negative: don't block


def test_empty_poller_sleeps(poller: Poller) -> None:
    result, elapsed = timed_poll(poller, 0.03)
    assert result == []
    assert elapsed >= 0.025


def test_peer_close(poller: Poller, pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    poller.register(a, READ)
    b.close()
    assert events_of(poller, a.fileno(), 1.0) & (READ | ERROR)
    assert a.recv(10) == b""


def test_pipe(poller: Poller) -> None:
    r, w = os.pipe()
    try:
        poller.register(r, READ)
        poller.register(w, WRITE)
        assert poller.poll(0) == [(w, WRITE)]
        os.write(w, b"x")
        assert sorted(poller.poll(1.0)) == sorted([(r, READ), (w, WRITE)])
        poller.unregister(w)
        os.close(w)
        w = -1
        assert events_of(poller, r, 1.0) & (READ | ERROR)
    finally:
        poller.unregister(r)
        os.close(r)
        if w >= 0:
            os.close(w)


def test_no_interest_does_not_spin(
    poller: Poller, pair: tuple[socket.socket, socket.socket]
) -> None:
    # a hung-up fd with no interest must not make every wait return at once
    a, b = pair
    poller.register(a, READ)
    b.close()
    assert events_of(poller, a.fileno(), 1.0)
    poller.modify(a, 0)
    quiet_poll(poller, 0.2)


def test_fileobj_and_bad_arguments(
    poller: Poller, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, _ = pair

    class Wrapper:
        def fileno(self) -> int:
            return a.fileno()

    poller.register(Wrapper(), WRITE)
    assert poller.poll(0) == [(a.fileno(), WRITE)]
    with pytest.raises(ValueError):
        poller.register(-1, READ)
    with pytest.raises(ValueError):
        poller.register("x", READ)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        poller.register(a, 0x100)
    with pytest.raises(ValueError):
        poller.poll(float("nan"))


def test_closed(backend: str) -> None:
    p = Poller(backend)
    assert not p.closed
    assert p.backend == backend
    if backend == "select":
        assert p.fileno() == -1
    else:
        assert p.fileno() >= 0
    p.close()
    p.close()
    assert p.closed
    for call in (lambda: p.poll(0), lambda: p.register(0, READ), p.fileno):
        with pytest.raises(ValueError):
            call()


def test_many_ready_fds(poller: Poller) -> None:
    # more ready fds than the initial event array (64) holds: every one is
    # reported within two polls, and the array grows
    pairs = [socket.socketpair() for _ in range(100)]
    try:
        for a, b in pairs:
            poller.register(a, READ)
            b.send(b"x")
        seen = {fd for fd, _ in poller.poll(1.0)}
        seen |= {fd for fd, _ in poller.poll(0)}
        assert seen == {a.fileno() for a, _ in pairs}
        assert len(poller.poll(0)) == 100
    finally:
        for a, b in pairs:
            poller.unregister(a)
            a.close()
            b.close()


def test_wait_releases_gil(
    poller: Poller, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair
    poller.register(a, READ)
    timer = threading.Timer(0.05, b.send, (b"x",))
    timer.start()
    try:
        # with the GIL held the timer thread could not send and this would time out
        assert events_of(poller, a.fileno(), 5.0) == READ
    finally:
        timer.cancel()
        timer.join()


@pytest.fixture
def high_fd(pair: tuple[socket.socket, socket.socket]) -> Iterator[int]:
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2048:
        if hard != resource.RLIM_INFINITY and hard < 2048:
            pytest.skip("RLIMIT_NOFILE hard limit too low")
        resource.setrlimit(resource.RLIMIT_NOFILE, (2048, hard))
    fd = os.dup2(pair[0].fileno(), 1500)
    yield fd
    os.close(fd)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_fd_above_1024(
    poller: Poller, pair: tuple[socket.socket, socket.socket], high_fd: int
) -> None:
    if poller.backend == "select":
        with pytest.raises(ValueError, match="FD_SETSIZE"):
            poller.register(high_fd, READ)
        return
    poller.register(high_fd, READ, 3)
    assert poller.poll(0) == []
    pair[1].send(b"x")
    assert poller.poll_with_gen(1.0) == [(high_fd, READ, 3)]
    poller.unregister(high_fd)
    assert poller.poll(0) == []


@pytest.fixture
def alarm() -> Iterator[None]:
    if not hasattr(signal, "setitimer"):
        pytest.skip("no setitimer")
    previous = signal.getsignal(signal.SIGALRM)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


def test_eintr_retries_to_deadline(
    poller: Poller, pair: tuple[socket.socket, socket.socket], alarm: None
) -> None:
    poller.register(pair[0], READ)
    calls: list[int] = []
    signal.signal(signal.SIGALRM, lambda signum, frame: calls.append(signum))
    signal.setitimer(signal.ITIMER_REAL, 0.05)
    result, elapsed = timed_poll(poller, 0.3)
    assert calls == [signal.SIGALRM]
    assert result == []
    assert elapsed >= 0.28  # continued after the signal, to the deadline


def test_eintr_handler_exception_propagates(
    poller: Poller, pair: tuple[socket.socket, socket.socket], alarm: None
) -> None:
    poller.register(pair[0], READ)

    def handler(signum: int, frame: object) -> None:
        raise KeyError("from the handler")

    signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, 0.05)
    with pytest.raises(KeyError, match="from the handler"):
        poller.poll(30)
    poller.unregister(pair[0])  # still usable afterwards
    assert poller.poll(0) == []


def test_ghost_of_dup_does_not_wake(poller: Poller) -> None:
    # an fd closed before unregister while a dup keeps the socket alive:
    # epoll keeps the entry, which the poller must get rid of instead of
    # returning early on every wait
    a, b = socket.socketpair()
    keep = os.dup(a.fileno())
    try:
        fd = a.fileno()
        handle = poller.fileno()
        poller.register(fd, READ)
        a.close()
        poller.unregister(fd)  # too late: the fd number is already gone
        b.send(b"x")
        for _ in range(3):
            quiet_poll(poller, 0.2)
        # epoll rebuilt its set under the same fd number
        assert poller.fileno() == handle
    finally:
        os.close(keep)
        b.close()


@pytest.mark.parametrize("same_gen", [False, True])
def test_ghost_with_reused_fd_number(poller: Poller, same_gen: bool) -> None:
    # the ghost's fd number is reused by a new socket, registered again:
    # only the new socket's readiness may be reported
    a, b = socket.socketpair()
    keep = os.dup(a.fileno())
    c = d = None
    try:
        fd = a.fileno()
        poller.register(fd, READ, 1)
        a.close()
        poller.unregister(fd)
        c, d = socket.socketpair()
        if c.fileno() != fd:
            os.dup2(c.fileno(), fd)
            c.close()
            c = socket.socket(fileno=fd)
        poller.register(c, READ, 1 if same_gen else 2)
        b.send(b"x")  # the ghost becomes readable
        quiet_poll(poller, 0.2)
        d.send(b"y")
        assert poller.poll_with_gen(1.0) == [(fd, READ, 1 if same_gen else 2)]
        assert c.recv(10) == b"y"
        poller.unregister(c)
    finally:
        os.close(keep)
        b.close()
        if c is not None:
            c.close()
        if d is not None:
            d.close()


def run_python(code: str, poller_env: str | None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("WHIRLWIND_POLLER", None)
    if poller_env is not None:
        env["WHIRLWIND_POLLER"] = poller_env
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


CHOICE = "from whirlwind import _core; print(_core.default_backend(), _core.Poller().backend)"


@pytest.mark.parametrize("name", AVAILABLE)
def test_env_selects_backend(name: str) -> None:
    proc = run_python(CHOICE, name)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [name, name]


def test_env_unset_picks_best() -> None:
    proc = run_python(CHOICE, None)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [AVAILABLE[0], AVAILABLE[0]]


@pytest.mark.parametrize(
    "name", [n for n in ALL_BACKENDS if n not in AVAILABLE] + ["bogus"]
)
def test_env_unavailable_is_clear_error(name: str) -> None:
    proc = run_python(CHOICE, name)
    assert proc.returncode != 0
    assert f"RuntimeError: WHIRLWIND_POLLER={name}:" in proc.stderr
    assert f"available: {', '.join(AVAILABLE)}" in proc.stderr
    with pytest.raises(RuntimeError, match=name):
        Poller(name)


@pytest.fixture(scope="module")
def c_check_program(tmp_path_factory: pytest.TempPathFactory) -> str:
    import shutil

    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or sys.platform == "win32":
        pytest.skip("no C compiler")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    exe = str(tmp_path_factory.mktemp("c") / "poll_check")
    subprocess.run(
        [
            cc,
            "-std=c99",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-I",
            os.path.join(root, "csrc", "include"),
            os.path.join(root, "tests", "core", "poll_check.c"),
            "-o",
            exe,
        ],
        check=True,
        timeout=60,
    )
    return exe


def test_c_api_check_program(backend: str, c_check_program: str) -> None:
    # the C API alone (csrc/include/ww_poll.h) over loopback TCP sockets
    proc = subprocess.run(
        [c_check_program, backend], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"backend {backend}" in proc.stdout
    assert "all checks passed" in proc.stdout


def test_closed_without_unregister_goes_quiet(poller: Poller) -> None:
    # a caller bug, tolerated: the fd may be reported once (select: ERROR,
    # since select() itself rejects it), then waits are quiet
    a, b = socket.socketpair()
    try:
        fd = a.fileno()
        poller.register(fd, READ | WRITE)
        a.close()
        assert poller.poll(0) in ([], [(fd, ERROR)])
        quiet_poll(poller, 0.1)
        poller.unregister(fd)
        quiet_poll(poller, 0.05)
    finally:
        a.close()
        b.close()


def test_error_interest_only(
    poller: Poller, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair
    poller.register(a, ERROR)
    b.send(b"x")
    assert poller.poll(0) == []  # readable, but READ was not asked for
    if poller.backend == "epoll":
        b.close()
        a.shutdown(socket.SHUT_WR)
        assert events_of(poller, a.fileno(), 1.0) == ERROR  # hang-up


def test_ghost_revived_by_dup2(poller: Poller) -> None:
    # the lost fd number is made to name the same socket again (dup2): epoll
    # still holds that (fd, socket) entry, so registering must turn the
    # kernel's EEXIST into a modify and report the socket once, fresh token
    a, b = socket.socketpair()
    keep = os.dup(a.fileno())
    try:
        fd = a.fileno()
        poller.register(fd, READ, 1)
        a.close()
        poller.unregister(fd)
        os.dup2(keep, fd)
        poller.register(fd, READ, 2)
        b.send(b"x")
        assert poller.poll_with_gen(1.0) == [(fd, READ, 2)]
        os.read(fd, 10)
        quiet_poll(poller, 0.1)
        poller.unregister(fd)
        os.close(fd)
    finally:
        os.close(keep)
        b.close()


@pytest.mark.parametrize("seed", range(3))
def test_random_operations_match_model(poller: Poller, seed: int) -> None:
    # random register/modify/unregister/readiness changes over a few socket
    # pairs; after every step poll(0) must equal what a model predicts
    rng = random.Random(seed)
    pairs = [socket.socketpair() for _ in range(6)]
    model: dict[int, tuple[int, int]] = {}  # fd -> (events, gen)
    readable: set[int] = set()
    try:
        for a, _ in pairs:
            a.setblocking(False)
        for _ in range(250):
            a, b = rng.choice(pairs)
            fd = a.fileno()
            op = rng.randrange(5)
            mask = rng.choice([0, READ, WRITE, READ | WRITE])
            gen = rng.randrange(2**32)
            if op == 0:
                poller.register(a, mask, gen)
                model[fd] = (mask, gen)
            elif op == 1:
                if fd in model:
                    poller.modify(a, mask, gen)
                    model[fd] = (mask, gen)
                else:
                    with pytest.raises(FileNotFoundError):
                        poller.modify(a, mask, gen)
            elif op == 2:
                poller.unregister(a)
                model.pop(fd, None)
            elif op == 3 and fd not in readable:
                b.send(b"x")
                readable.add(fd)
            elif op == 4 and fd in readable:
                a.recv(10)
                readable.discard(fd)
            expected = set()
            for f, (events, g) in model.items():
                ev = events & WRITE | (events & READ if f in readable else 0)
                if ev:
                    expected.add((f, ev, g))
            assert set(poller.poll_with_gen(0)) == expected
            assert len(poller) == len(model)
    finally:
        for a, b in pairs:
            poller.unregister(a)
            a.close()
            b.close()
