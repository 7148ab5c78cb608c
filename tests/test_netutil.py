"""Tests for whirlwind.netutil over real sockets, real threads and real TLS."""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import os
import socket
import ssl
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from tests._net_support import HAS_IPV6, needs_ipv6, run
from whirlwind import netutil
from whirlwind.netutil import (
    BlockingResolver,
    DefaultExecutorResolver,
    DefaultLoopResolver,
    ExecutorResolver,
    OverrideResolver,
    Resolver,
    ThreadedResolver,
    add_accept_handler,
    bind_sockets,
    bind_unix_socket,
    is_valid_ip,
    ssl_options_to_context,
    ssl_wrap_socket,
)

needs_unix = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no AF_UNIX")


# --- bind_sockets ----------------------------------------------------------


def test_bind_sockets_port_zero_shares_one_port_and_listens() -> None:
    sockets = bind_sockets(0, "localhost")
    try:
        assert sockets
        port = sockets[0].getsockname()[1]
        assert port != 0
        for s in sockets:
            assert s.getsockname()[1] == port
            assert s.gettimeout() == 0.0  # non-blocking
            assert s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    finally:
        for s in sockets:
            s.close()


def test_bind_sockets_all_interfaces_one_port_per_family() -> None:
    sockets = bind_sockets(0)
    try:
        families = [s.family for s in sockets]
        assert socket.AF_INET in families
        assert len(set(families)) == len(families)
        assert len({s.getsockname()[1] for s in sockets}) == 1
        if HAS_IPV6:
            assert socket.AF_INET6 in families
            v6 = next(s for s in sockets if s.family == socket.AF_INET6)
            assert v6.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
    finally:
        for s in sockets:
            s.close()


def test_bind_sockets_family_restricts() -> None:
    sockets = bind_sockets(0, None, family=socket.AF_INET)
    try:
        assert [s.family for s in sockets] == [socket.AF_INET]
    finally:
        for s in sockets:
            s.close()


@needs_ipv6
def test_bind_sockets_ipv6_loopback_accepts() -> None:
    (sock,) = bind_sockets(0, "::1")
    try:
        assert sock.family == socket.AF_INET6
        port = sock.getsockname()[1]
        with socket.create_connection(("::1", port), timeout=5) as c:
            c.sendall(b"x")
            conn, _ = _accept_blocking(sock)
            with conn:
                assert conn.recv(1) == b"x"
    finally:
        sock.close()


def test_bind_sockets_port_in_use_raises() -> None:
    (first,) = bind_sockets(0, "127.0.0.1")
    try:
        port = first.getsockname()[1]
        with pytest.raises(OSError) as info:
            bind_sockets(port, "127.0.0.1")
        assert info.value.errno == errno.EADDRINUSE
    finally:
        first.close()


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT")
def test_bind_sockets_reuse_port_allows_second_bind() -> None:
    (first,) = bind_sockets(0, "127.0.0.1", reuse_port=True)
    try:
        port = first.getsockname()[1]
        (second,) = bind_sockets(port, "127.0.0.1", reuse_port=True)
        with second:
            assert second.getsockname()[1] == port
            assert second.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
    finally:
        first.close()


def test_bind_sockets_backlog_and_flags() -> None:
    sockets = bind_sockets(
        0, "127.0.0.1", backlog=4, flags=socket.AI_PASSIVE | socket.AI_NUMERICHOST
    )
    try:
        assert [s.getsockname()[0] for s in sockets] == ["127.0.0.1"]
    finally:
        for s in sockets:
            s.close()


def _accept_blocking(sock: socket.socket) -> tuple[socket.socket, Any]:
    sock.settimeout(5)
    try:
        conn, addr = sock.accept()
    finally:
        sock.setblocking(False)
    return conn, addr


# --- bind_unix_socket -------------------------------------------------------


@needs_unix
def test_bind_unix_socket_mode_and_connect(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")
    sock = bind_unix_socket(path, mode=0o640)
    try:
        st = os.stat(path)
        assert stat.S_ISSOCK(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o640
        with socket.socket(socket.AF_UNIX) as c:
            c.connect(path)
            c.sendall(b"hi")
            conn, _ = _accept_blocking(sock)
            with conn:
                assert conn.recv(2) == b"hi"
    finally:
        sock.close()


@needs_unix
def test_bind_unix_socket_replaces_stale_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")
    bind_unix_socket(path).close()  # leaves the socket file behind
    assert os.path.exists(path)
    sock = bind_unix_socket(path)
    with sock:
        assert sock.getsockname() == path


@needs_unix
def test_bind_unix_socket_refuses_regular_file(tmp_path: Path) -> None:
    path = tmp_path / "not-a-socket"
    path.write_bytes(b"keep me")
    with pytest.raises(ValueError, match="not a socket"):
        bind_unix_socket(str(path))
    assert path.read_bytes() == b"keep me"


# --- add_accept_handler ----------------------------------------------------


def test_add_accept_handler_delivers_each_connection() -> None:
    async def main() -> list[tuple[bytes, str]]:
        (sock,) = bind_sockets(0, "127.0.0.1")
        port = sock.getsockname()[1]
        got: list[tuple[bytes, str]] = []
        done = asyncio.Event()

        def on_conn(conn: socket.socket, addr: Any) -> None:
            with conn:
                conn.setblocking(True)
                got.append((conn.recv(10), addr[0]))
            if len(got) == 3:
                done.set()

        remove = add_accept_handler(sock, on_conn)
        clients = []
        for i in range(3):
            c = socket.create_connection(("127.0.0.1", port))
            c.sendall(b"c%d" % i)
            clients.append(c)
        await asyncio.wait_for(done.wait(), 5)
        remove()
        sock.close()
        for c in clients:
            c.close()
        return got

    got = run(main())
    assert sorted(got) == [
        (b"c0", "127.0.0.1"),
        (b"c1", "127.0.0.1"),
        (b"c2", "127.0.0.1"),
    ]


def test_add_accept_handler_remover_stops_accepting() -> None:
    async def main() -> tuple[int, bytes]:
        (sock,) = bind_sockets(0, "127.0.0.1")
        port = sock.getsockname()[1]
        count = 0

        def on_conn(conn: socket.socket, addr: Any) -> None:
            nonlocal count
            count += 1
            conn.close()

        remove = add_accept_handler(sock, on_conn)
        remove()
        remove()  # idempotent
        with socket.create_connection(("127.0.0.1", port)) as c:
            c.sendall(b"queued")
            for _ in range(5):
                await asyncio.sleep(0.01)
            # Still in the kernel's accept queue: nobody took it.
            conn, _ = _accept_blocking(sock)
            with conn:
                data = conn.recv(6)
        sock.close()
        return count, data

    assert run(main()) == (0, b"queued")


def test_add_accept_handler_remove_inside_callback_stops_burst() -> None:
    async def main() -> tuple[int, int]:
        (sock,) = bind_sockets(0, "127.0.0.1")
        port = sock.getsockname()[1]
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        seen = 0
        first = asyncio.Event()

        def on_conn(conn: socket.socket, addr: Any) -> None:
            nonlocal seen
            seen += 1
            conn.close()
            remove()
            first.set()

        remove = add_accept_handler(sock, on_conn)
        await asyncio.wait_for(first.wait(), 5)
        await asyncio.sleep(0.02)
        left = 0
        sock.settimeout(0.5)
        try:
            while True:
                conn, _ = sock.accept()
                conn.close()
                left += 1
        except TimeoutError:
            pass
        sock.close()
        for c in clients:
            c.close()
        return seen, left

    assert run(main()) == (1, 2)


# --- is_valid_ip -------------------------------------------------------------


@pytest.mark.parametrize(
    "ip",
    ["127.0.0.1", "4.4.4.4", "0.0.0.0", "::1", "::", "2620:0:1cfe:face:b00c::3",
     "::ffff:1.2.3.4", "fe80::1%eth0"],
)  # fmt: skip
def test_is_valid_ip_accepts(ip: str) -> None:
    assert is_valid_ip(ip)


@pytest.mark.parametrize(
    "ip",
    ["", " ", "\n", "\x00", "127.0.0.1\x00", "www.example.com", "localhost",
     "4.4.4.4<", " 127.0.0.1", "127.0.0.1 ", "256.1.1.1", "1.2.3", "a" * 100,
     ":::", "fe80::1%", "1:2:3:4:5:6:7:8:9"],
)  # fmt: skip
def test_is_valid_ip_rejects(ip: str) -> None:
    assert not is_valid_ip(ip)


# --- resolvers ----------------------------------------------------------------


def _resolve(resolver: Resolver, host: str, port: int, family: int = 0) -> Any:
    async def main() -> Any:
        try:
            return await resolver.resolve(host, port, socket.AddressFamily(family))
        finally:
            resolver.close()

    return run(main())


@pytest.mark.parametrize(
    "make",
    [DefaultLoopResolver, DefaultExecutorResolver, BlockingResolver, ThreadedResolver],
)
def test_resolvers_find_loopback(make: type[Resolver]) -> None:
    result = _resolve(make(), "localhost", 80)
    assert (socket.AF_INET, ("127.0.0.1", 80)) in result or (
        socket.AF_INET6,
        ("::1", 80, 0, 0),
    ) in result
    assert all(isinstance(fam, int) for fam, _ in result)


@pytest.mark.parametrize(
    "make",
    [DefaultLoopResolver, DefaultExecutorResolver, BlockingResolver, ThreadedResolver],
)
def test_resolvers_raise_oserror(make: type[Resolver]) -> None:
    # An IPv4 literal asked for as IPv6 fails at once, without touching DNS.
    with pytest.raises(OSError):
        _resolve(make(), "127.0.0.1", 80, socket.AF_INET6)


def test_resolver_default_is_loop_resolver_and_configurable() -> None:
    assert isinstance(Resolver(), DefaultLoopResolver)
    Resolver.configure("whirlwind.netutil.BlockingResolver")
    try:
        assert type(Resolver()) is BlockingResolver
    finally:
        Resolver.configure(None)
    assert isinstance(Resolver(), DefaultLoopResolver)


def test_threaded_resolver_shares_one_pool() -> None:
    a, b = ThreadedResolver(), ThreadedResolver()
    assert a.executor is b.executor is ThreadedResolver._threadpool
    a.close()
    b.close()
    # close() leaves the shared pool usable for the next resolver.
    assert _resolve(ThreadedResolver(), "127.0.0.1", 9) == [
        (socket.AF_INET, ("127.0.0.1", 9))
    ]


def test_executor_resolver_runs_on_executor_and_closes_it() -> None:
    executor = concurrent.futures.ThreadPoolExecutor(1)
    threads: list[str] = []
    real = netutil._getaddrinfo_pairs

    def spy(*args: Any) -> Any:
        threads.append(threading.current_thread().name)
        return real(*args)

    netutil._getaddrinfo_pairs = spy  # type: ignore[assignment]
    try:
        result = _resolve(ExecutorResolver(executor), "127.0.0.1", 7)
    finally:
        netutil._getaddrinfo_pairs = real
    assert result == [(socket.AF_INET, ("127.0.0.1", 7))]
    assert threads and threads[0] != threading.current_thread().name
    with pytest.raises(RuntimeError):
        executor.submit(int)  # shut down by close()


def test_executor_resolver_keeps_executor_when_asked() -> None:
    with concurrent.futures.ThreadPoolExecutor(1) as executor:
        _resolve(ExecutorResolver(executor, close_executor=False), "127.0.0.1", 7)
        assert executor.submit(int).result() == 0


def test_override_resolver_most_specific_key_wins() -> None:
    mapping = {
        "example.com": "127.0.0.2",
        ("example.com", 443): ("127.0.0.3", 8443),
        ("example.com", 443, socket.AF_INET6): ("::1", 9443),
    }
    assert _resolve(
        OverrideResolver(BlockingResolver(), mapping), "example.com", 80
    ) == [(socket.AF_INET, ("127.0.0.2", 80))]
    assert _resolve(
        OverrideResolver(BlockingResolver(), mapping), "example.com", 443
    ) == [(socket.AF_INET, ("127.0.0.3", 8443))]
    assert _resolve(
        OverrideResolver(BlockingResolver(), mapping),
        "example.com",
        443,
        socket.AF_INET6,
    ) == [(socket.AF_INET6, ("::1", 9443, 0, 0))]
    assert _resolve(OverrideResolver(BlockingResolver(), mapping), "127.0.0.1", 5) == [
        (socket.AF_INET, ("127.0.0.1", 5))
    ]


# --- TLS ---------------------------------------------------------------------------


def test_ssl_options_to_context_passes_contexts_through() -> None:
    ctx = ssl.create_default_context()
    assert ssl_options_to_context(ctx) is ctx
    assert ssl_options_to_context(ctx, server_side=True) is ctx


def test_ssl_options_to_context_rejects_unknown_keys(cert: tuple[str, str]) -> None:
    with pytest.raises(ValueError, match="certfiel"):
        ssl_options_to_context({"certfiel": cert[0]}, server_side=True)
    with pytest.raises(TypeError):
        ssl_options_to_context([("certfile", cert[0])], server_side=True)  # type: ignore[arg-type]


def test_ssl_options_to_context_sides(cert: tuple[str, str]) -> None:
    server = ssl_options_to_context({"certfile": cert[0], "keyfile": cert[1]})
    assert server.protocol == ssl.PROTOCOL_TLS_SERVER
    client = ssl_options_to_context({"cert_reqs": ssl.CERT_NONE}, server_side=False)
    assert client.protocol == ssl.PROTOCOL_TLS_CLIENT
    assert client.verify_mode == ssl.CERT_NONE and not client.check_hostname
    verifying = ssl_options_to_context({"ca_certs": cert[0]}, server_side=False)
    assert verifying.verify_mode == ssl.CERT_REQUIRED and verifying.check_hostname


def _tls_exchange(
    cert: tuple[str, str], client_options: dict[str, Any], hostname: str
) -> bytes:
    """Serve one TLS connection built by ssl_wrap_socket; return what the client read."""
    (listener,) = bind_sockets(0, "127.0.0.1")
    port = listener.getsockname()[1]
    result: dict[str, Any] = {}

    def client() -> None:
        try:
            raw = socket.create_connection(("127.0.0.1", port), timeout=5)
            with ssl_wrap_socket(
                raw, client_options, server_hostname=hostname, server_side=False
            ) as tls:
                tls.sendall(b"ping")
                result["data"] = tls.recv(4)
        except BaseException as e:
            result["error"] = e

    t = threading.Thread(target=client)
    t.start()
    try:
        conn, _ = _accept_blocking(listener)
        conn.settimeout(5)
        try:
            with ssl_wrap_socket(
                conn, {"certfile": cert[0], "keyfile": cert[1]}, server_side=True
            ) as tls:
                assert tls.recv(4) == b"ping"
                tls.sendall(b"pong")
        except ssl.SSLError:
            conn.close()
    finally:
        t.join(10)
        listener.close()
    if "error" in result:
        raise result["error"]
    return result["data"]  # type: ignore[no-any-return]


def test_ssl_wrap_socket_handshake_with_verification(cert: tuple[str, str]) -> None:
    options = {"ca_certs": cert[0], "cert_reqs": ssl.CERT_REQUIRED}
    assert _tls_exchange(cert, options, "localhost") == b"pong"


def test_ssl_wrap_socket_rejects_wrong_hostname(cert: tuple[str, str]) -> None:
    options = {"ca_certs": cert[0], "cert_reqs": ssl.CERT_REQUIRED}
    with pytest.raises(ssl.SSLCertVerificationError):
        _tls_exchange(cert, options, "not-the-host.example")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs resource limits")
def test_add_accept_handler_pauses_when_out_of_descriptors() -> None:
    # In a child interpreter: exhaust the descriptor limit, connect, and check
    # that accept() failing with EMFILE is logged once per pause instead of
    # spinning, and that the connection is accepted once descriptors free up.
    code = textwrap.dedent("""
        import asyncio, logging, os, resource, socket, sys
        from whirlwind.loop import new_event_loop
        from whirlwind.netutil import add_accept_handler, bind_sockets

        records = []
        class Keep(logging.Handler):
            def emit(self, record):
                records.append(record.getMessage())
        logging.getLogger("whirlwind.general").addHandler(Keep())

        async def main():
            (sock,) = bind_sockets(0, "127.0.0.1")
            port = sock.getsockname()[1]
            got = asyncio.get_running_loop().create_future()
            remove = add_accept_handler(sock, lambda c, a: got.set_result(c))
            client = socket.create_connection(("127.0.0.1", port))
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            fillers = []
            resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
            try:
                while True:
                    fillers.append(os.dup(0))
            except OSError:
                pass
            await asyncio.sleep(0.4)   # accept fails, pauses, retries, fails
            assert not got.done()
            for fd in fillers:
                os.close(fd)
            conn = await asyncio.wait_for(got, 5)
            conn.close(); client.close(); remove(); sock.close()
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

        loop = new_event_loop()
        loop.run_until_complete(main())
        loop.close()
        pauses = [r for r in records if r.startswith("accept() failed")]
        assert 1 <= len(pauses) <= 4, records
        print("ok")
    """)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"
