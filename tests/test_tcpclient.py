"""Tests for whirlwind.tcpclient over real sockets on 127.0.0.1 and ::1, and real TLS."""

from __future__ import annotations

import asyncio
import datetime
import os
import socket
import ssl
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from tests._net_support import needs_ipv6, run
from whirlwind.iostream import IOStream, SSLIOStream
from whirlwind.netutil import Resolver
from whirlwind.tcpclient import TCPClient, _format_addr


class FixedResolver(Resolver):
    """Answers every lookup with the given addresses (no DNS involved)."""

    def initialize(self, answer: list[tuple[int, Any]]) -> None:  # type: ignore[override]
        self.answer = answer
        self.closed = False

    async def resolve(self, host: str, port: int, family: int = 0) -> Any:
        return self.answer

    def close(self) -> None:
        self.closed = True


class NeverResolver(Resolver):
    async def resolve(self, host: str, port: int, family: int = 0) -> Any:
        await asyncio.Event().wait()


@asynccontextmanager
async def echo_server(
    host: str = "127.0.0.1", ssl_ctx: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[int, list[Any]]]:
    """An asyncio echo server (independent of whirlwind's streams); yields port, peers."""
    peers: list[Any] = []
    writers: list[asyncio.StreamWriter] = []
    tasks: list[asyncio.Task[Any]] = []

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peers.append(writer.get_extra_info("peername"))
        writers.append(writer)
        task = asyncio.current_task()
        assert task is not None
        tasks.append(task)
        try:
            while data := await reader.read(4096):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, 0, ssl=ssl_ctx)
    try:
        yield server.sockets[0].getsockname()[1], peers
    finally:
        server.close()
        for w in writers:
            w.close()
        await server.wait_closed()
        # Let every handler finish before the loop closes under it.
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)


async def roundtrip(stream: IOStream) -> bytes:
    await stream.write(b"ping")
    return await asyncio.wait_for(stream.read_bytes(4), 5)


@asynccontextmanager
async def hanging_address() -> AsyncIterator[tuple[str, int]]:
    """A 127.0.0.1 port whose accept queue is full, so new connects never finish."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    filler = socket.socket()
    filler.setblocking(False)
    filler.connect_ex(("127.0.0.1", port))
    await asyncio.sleep(0.05)
    try:
        yield "127.0.0.1", port
    finally:
        filler.close()
        listener.close()


def refusing_port() -> tuple[socket.socket, int]:
    """A bound but not listening socket: connecting to its port is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock, sock.getsockname()[1]


# --- plain connections ----------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "af"),
    [
        ("127.0.0.1", socket.AF_INET),
        ("127.0.0.1", socket.AF_UNSPEC),
        ("localhost", socket.AF_INET),
        ("localhost", socket.AF_UNSPEC),
    ],
)
def test_connect_ipv4(host: str, af: socket.AddressFamily) -> None:
    async def main() -> tuple[bytes, int, int]:
        async with echo_server() as (port, peers):
            client = TCPClient()
            stream = await client.connect(host, port, af=af)
            try:
                data = await roundtrip(stream)
                return data, stream.socket.family, peers[0][1]
            finally:
                stream.close()
                client.close()

    data, family, peer_port = run(main())
    assert data == b"ping"
    assert family == socket.AF_INET
    assert peer_port > 0


@needs_ipv6
def test_connect_ipv6() -> None:
    async def main() -> tuple[bytes, int]:
        async with echo_server("::1") as (port, _):
            client = TCPClient()
            stream = await client.connect("::1", port, af=socket.AF_INET6)
            try:
                return await roundtrip(stream), stream.socket.family
            finally:
                stream.close()
                client.close()

    assert run(main()) == (b"ping", socket.AF_INET6)


def test_refused_raises_oserror() -> None:
    async def main() -> None:
        sock, port = refusing_port()
        with sock:
            with pytest.raises(OSError):
                await TCPClient().connect("127.0.0.1", port)

    run(main())


def test_source_ip_is_used() -> None:
    async def main() -> str:
        async with echo_server() as (port, peers):
            stream = await TCPClient().connect("127.0.0.1", port, source_ip="127.0.0.1")
            try:
                await roundtrip(stream)
                assert stream.socket.getsockname()[1] == peers[0][1]
                return str(peers[0][0])
            finally:
                stream.close()

    assert run(main()) == "127.0.0.1"


def test_source_ip_that_cannot_be_bound_fails() -> None:
    async def main() -> None:
        async with echo_server() as (port, _):
            with pytest.raises(OSError):
                await TCPClient().connect("127.0.0.1", port, source_ip="192.0.2.77")

    run(main())


def test_max_buffer_size_reaches_the_stream() -> None:
    async def main() -> None:
        async with echo_server() as (port, _):
            stream = await TCPClient().connect("127.0.0.1", port, max_buffer_size=16)
            try:
                await stream.write(b"x" * 64)
                with pytest.raises(Exception):  # noqa: B017 - buffer full closes it
                    await asyncio.wait_for(stream.read_until(b"\n"), 5)
            finally:
                stream.close()

    run(main())


def test_client_closes_only_its_own_resolver() -> None:
    given = FixedResolver([])
    TCPClient(resolver=given).close()
    assert not given.closed


# --- Happy Eyeballs ---------------------------------------------------------


def test_same_family_falls_back_to_next_address() -> None:
    async def main() -> bytes:
        sock, bad = refusing_port()
        with sock:
            async with echo_server() as (port, _):
                resolver = FixedResolver(
                    [
                        (socket.AF_INET, ("127.0.0.1", bad)),
                        (socket.AF_INET, ("127.0.0.1", port)),
                    ]
                )
                stream = await TCPClient(resolver).connect("example.com", port)
                try:
                    return await roundtrip(stream)
                finally:
                    stream.close()

    assert run(main()) == b"ping"


@needs_ipv6
def test_failed_primary_family_starts_secondary_at_once() -> None:
    async def main() -> int:
        sock, bad = refusing_port()
        with sock:
            async with echo_server("::1") as (port, _):
                resolver = FixedResolver(
                    [
                        (socket.AF_INET, ("127.0.0.1", bad)),
                        (socket.AF_INET6, ("::1", port, 0, 0)),
                    ]
                )
                stream = await TCPClient(resolver).connect("example.com", port)
                try:
                    await roundtrip(stream)
                    return int(stream.socket.family)
                finally:
                    stream.close()

    assert run(main()) == socket.AF_INET6


@needs_ipv6
def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else -1


def test_hanging_primary_family_loses_to_secondary() -> None:
    async def main() -> tuple[bytes, int, int]:
        async with hanging_address() as hang, echo_server("::1") as (port, _):
            resolver = FixedResolver(
                [(socket.AF_INET, hang), (socket.AF_INET6, ("::1", port, 0, 0))]
            )
            before = _open_fds()
            stream = await asyncio.wait_for(
                TCPClient(resolver).connect("example.com", port), 5
            )
            try:
                data = await roundtrip(stream)
                # The winner and the server's end remain; the loser is closed.
                grown = _open_fds() - before if before >= 0 else 2
                return data, stream.socket.family, grown
            finally:
                stream.close()

    assert run(main()) == (b"ping", socket.AF_INET6, 2)


def test_source_port_in_use_fails() -> None:
    async def main() -> None:
        async with echo_server() as (port, _):
            taken = socket.create_server(("127.0.0.1", 0))
            with taken:
                busy = taken.getsockname()[1]
                with pytest.raises(OSError):
                    await TCPClient().connect(
                        "127.0.0.1", port, source_ip="127.0.0.1", source_port=busy
                    )

    run(main())


def test_synchronous_failure_moves_on_at_once() -> None:
    # Binding an IPv4 source address on an IPv6 socket fails inside
    # create-the-stream, before any connect: the IPv4 address must be tried next.
    async def main() -> int:
        async with echo_server() as (port, _):
            resolver = FixedResolver(
                [
                    (socket.AF_INET6, ("::1", port, 0, 0)),
                    (socket.AF_INET, ("127.0.0.1", port)),
                ]
            )
            stream = await asyncio.wait_for(
                TCPClient(resolver).connect("example.com", port, source_ip="127.0.0.1"),
                5,
            )
            try:
                await roundtrip(stream)
                return int(stream.socket.family)
            finally:
                stream.close()

    assert run(main()) == socket.AF_INET


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_cancelled_connect_closes_pending_sockets() -> None:
    async def main() -> tuple[int, int]:
        async with hanging_address() as hang:
            before = len(os.listdir("/proc/self/fd"))
            resolver = FixedResolver([(socket.AF_INET, hang)])
            task = asyncio.ensure_future(TCPClient(resolver).connect("example.com", 1))
            for _ in range(5):
                await asyncio.sleep(0.01)
            during = len(os.listdir("/proc/self/fd"))
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.sleep(0)
            after = len(os.listdir("/proc/self/fd"))
            return during - before, after - before

    assert run(main()) == (1, 0)


def test_all_addresses_fail_with_last_error() -> None:
    async def main() -> None:
        s1, p1 = refusing_port()
        s2, p2 = refusing_port()
        with s1, s2:
            resolver = FixedResolver(
                [
                    (socket.AF_INET, ("127.0.0.1", p1)),
                    (socket.AF_INET, ("127.0.0.1", p2)),
                ]
            )
            with pytest.raises(OSError):
                await TCPClient(resolver).connect("example.com", 1)

    run(main())


# --- timeouts --------------------------------------------------------------


def test_timeout_while_resolving() -> None:
    async def main() -> str:
        with pytest.raises(TimeoutError) as info:
            await TCPClient(NeverResolver()).connect("example.com", 80, timeout=0.05)
        return str(info.value)

    assert run(main()) == "Timeout while resolving example.com"


def test_timeout_while_connecting_names_the_addresses() -> None:
    async def main() -> tuple[str, str]:
        async with hanging_address() as (host, port):
            resolver = FixedResolver([(socket.AF_INET, (host, port))])
            with pytest.raises(TimeoutError) as info:
                await TCPClient(resolver).connect(
                    "example.com", port, timeout=datetime.timedelta(seconds=0.1)
                )
            return str(info.value), f"Timeout while connecting to 127.0.0.1:{port}"

    message, expected = run(main())
    assert message == expected


def test_bad_timeout_type() -> None:
    async def main() -> None:
        with pytest.raises(TypeError):
            await TCPClient().connect("127.0.0.1", 1, timeout="soon")  # type: ignore[arg-type]

    run(main())


def test_format_addr() -> None:
    assert _format_addr(("1.2.3.4", 443)) == "1.2.3.4:443"
    assert _format_addr(("::1", 443, 0, 0)) == "[::1]:443"
    assert _format_addr("/tmp/sock") == "/tmp/sock"


# --- TLS ------------------------------------------------------------------------


def _server_context(cert: tuple[str, str]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*cert)
    return ctx


def test_tls_connect_with_context(cert: tuple[str, str]) -> None:
    async def main() -> tuple[bytes, bool]:
        async with echo_server(ssl_ctx=_server_context(cert)) as (port, _):
            client_ctx = ssl.create_default_context(cafile=cert[0])
            stream = await TCPClient().connect(
                "localhost", port, ssl_options=client_ctx, timeout=5
            )
            try:
                return await roundtrip(stream), isinstance(stream, SSLIOStream)
            finally:
                stream.close()

    assert run(main()) == (b"ping", True)


def test_tls_connect_with_dict_options(cert: tuple[str, str]) -> None:
    async def main() -> bytes:
        async with echo_server(ssl_ctx=_server_context(cert)) as (port, _):
            stream = await TCPClient().connect(
                "localhost",
                port,
                ssl_options={"ca_certs": cert[0], "cert_reqs": ssl.CERT_REQUIRED},
            )
            try:
                return await roundtrip(stream)
            finally:
                stream.close()

    assert run(main()) == b"ping"


def test_tls_certificate_for_another_host_fails(cert: tuple[str, str]) -> None:
    # The server is a blocking thread, so its side of the failed handshake is
    # over (and its socket closed) when the thread is joined.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server_errors: list[BaseException] = []

    def serve_one() -> None:
        conn, _ = listener.accept()
        conn.settimeout(5)
        try:
            with _server_context(cert).wrap_socket(conn, server_side=True):
                pass
        except (ssl.SSLError, OSError) as e:
            server_errors.append(e)
        finally:
            conn.close()

    thread = threading.Thread(target=serve_one)
    thread.start()

    async def main() -> None:
        resolver = FixedResolver([(socket.AF_INET, ("127.0.0.1", port))])
        client_ctx = ssl.create_default_context(cafile=cert[0])
        with pytest.raises(ssl.SSLCertVerificationError):
            await TCPClient(resolver).connect(
                "wrong.example", port, ssl_options=client_ctx, timeout=5
            )

    try:
        run(main())
    finally:
        thread.join(10)
        listener.close()
    assert len(server_errors) == 1  # the client refused the handshake


def test_tls_handshake_timeout_closes_the_socket() -> None:
    async def main() -> tuple[str, bytes, int]:
        accepted: asyncio.Queue[asyncio.StreamReader] = asyncio.Queue()
        writers: list[asyncio.StreamWriter] = []

        async def silent(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> None:
            writers.append(writer)
            await accepted.put(reader)

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        ctx = ssl.create_default_context()
        try:
            with pytest.raises(TimeoutError) as info:
                await TCPClient().connect(
                    "127.0.0.1", port, ssl_options=ctx, timeout=0.3
                )
            reader = await accepted.get()
            # The abandoned client must have closed its socket: we reach EOF.
            rest = await asyncio.wait_for(reader.read(), 5)
            return str(info.value), rest[:1], port
        finally:
            server.close()
            for w in writers:
                w.close()
            await server.wait_closed()

    message, first, port = run(main())
    assert message == f"Timeout during TLS handshake with 127.0.0.1:{port}"
    assert first == b"\x16"  # the ClientHello had been sent
