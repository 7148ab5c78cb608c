"""Tests for whirlwind.tcpserver: real listening sockets, real clients, real TLS."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests._net_support import needs_ipv6, run
from whirlwind.iostream import IOStream, SSLIOStream, StreamClosedError
from whirlwind.netutil import bind_sockets, bind_unix_socket
from whirlwind.tcpserver import TCPServer


class EchoServer(TCPServer):
    """Echoes lines back; records every stream it was given."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.streams: list[IOStream] = []
        self.addresses: list[Any] = []
        self.tasks: list[asyncio.Task[Any]] = []

    async def shutdown(self) -> None:
        """Stop, close every connection and let every handler finish."""
        self.stop()
        for stream in self.streams:
            stream.close()
        await asyncio.wait_for(asyncio.gather(*self.tasks, return_exceptions=True), 5)

    async def handle_stream(self, stream: IOStream, address: Any) -> None:
        self.streams.append(stream)
        self.addresses.append(address)
        task = asyncio.current_task()
        assert task is not None
        self.tasks.append(task)
        try:
            while True:
                line = await stream.read_until(b"\n")
                await stream.write(line)
        except StreamClosedError:
            pass


def serve(server: TCPServer, address: str = "127.0.0.1") -> int:
    sockets = bind_sockets(0, address)
    server.add_sockets(sockets)
    return int(sockets[0].getsockname()[1])


async def echo_once(port: int, host: str = "127.0.0.1", **kw: Any) -> bytes:
    reader, writer = await asyncio.open_connection(host, port, **kw)
    try:
        writer.write(b"hello\n")
        return await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()
        await writer.wait_closed()


def test_coroutine_handler_echoes() -> None:
    async def main() -> tuple[bytes, bytes, str]:
        server = EchoServer()
        port = serve(server)
        try:
            a = await echo_once(port)
            b = await echo_once(port)
            return a, b, server.addresses[0][0]
        finally:
            await server.shutdown()

    assert run(main()) == (b"hello\n", b"hello\n", "127.0.0.1")


def test_plain_handler_and_many_clients() -> None:
    class Greeter(TCPServer):
        def handle_stream(self, stream: IOStream, address: Any) -> None:
            stream.write(b"hi %d\n" % address[1])
            stream.close()

    async def main() -> list[tuple[bytes, int]]:
        server = Greeter()
        port = serve(server)

        async def one() -> tuple[bytes, int]:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            local_port = writer.get_extra_info("sockname")[1]
            data = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            await writer.wait_closed()
            return data, local_port

        try:
            return list(await asyncio.gather(*(one() for _ in range(20))))
        finally:
            server.stop()

    for data, local_port in run(main()):
        assert data == b"hi %d\n" % local_port


def test_accepted_tcp_sockets_get_nodelay() -> None:
    async def main() -> int:
        server = EchoServer()
        port = serve(server)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"x\n")
            await asyncio.wait_for(reader.readline(), 5)
            sock = server.streams[0].socket
            nodelay = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            writer.close()
            await writer.wait_closed()
            return int(nodelay)
        finally:
            await server.shutdown()

    assert run(main()) != 0


def test_coroutine_exception_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    class Failing(TCPServer):
        async def handle_stream(self, stream: IOStream, address: Any) -> None:
            await stream.read_bytes(5)
            stream.close()
            raise ZeroDivisionError("boom")

    async def main() -> bytes:
        server = Failing()
        port = serve(server)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"hello")
            data = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            await writer.wait_closed()
            for _ in range(3):
                await asyncio.sleep(0)
            return data
        finally:
            server.stop()

    with caplog.at_level(logging.ERROR, logger="whirlwind.application"):
        assert run(main()) == b""
    records = [r for r in caplog.records if r.name == "whirlwind.application"]
    assert len(records) == 1
    assert records[0].getMessage().startswith("Exception in callback")
    assert records[0].exc_info and records[0].exc_info[0] is ZeroDivisionError


def test_sync_exception_is_logged_and_server_keeps_going(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Flaky(EchoServer):
        def handle_stream(self, stream: IOStream, address: Any) -> Any:
            if not self.streams:
                self.streams.append(stream)
                stream.close()
                raise ValueError("first one fails")
            return super().handle_stream(stream, address)

    async def main() -> bytes:
        server = Flaky()
        port = serve(server)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert await asyncio.wait_for(reader.read(), 5) == b""
            writer.close()
            await writer.wait_closed()
            return await echo_once(port)
        finally:
            await server.shutdown()

    with caplog.at_level(logging.ERROR, logger="whirlwind.application"):
        assert run(main()) == b"hello\n"
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["Error in connection callback"]


def test_stop_closes_listeners_and_is_idempotent() -> None:
    async def main() -> None:
        server = EchoServer()
        sockets = bind_sockets(0, "127.0.0.1")
        port = sockets[0].getsockname()[1]
        server.add_sockets(sockets)
        assert await echo_once(port) == b"hello\n"
        server.stop()
        server.stop()
        assert sockets[0].fileno() == -1
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)
        await server.shutdown()

    run(main())


def test_stop_inside_handler_during_burst() -> None:
    class StopOnFirst(TCPServer):
        count = 0

        def handle_stream(self, stream: IOStream, address: Any) -> None:
            self.count += 1
            self.stop()
            stream.close()

    async def main() -> int:
        server = StopOnFirst()
        port = serve(server)
        conns = []
        for _ in range(10):
            try:
                conns.append(await asyncio.open_connection("127.0.0.1", port))
            except OSError:
                pass
        await asyncio.sleep(0.05)
        for _, writer in conns:
            writer.close()
        for _, writer in conns:
            try:
                await writer.wait_closed()
            except OSError:
                pass
        return server.count

    assert run(main()) == 1


def test_listen_with_reuse_port() -> None:
    async def main() -> bytes:
        (placeholder,) = bind_sockets(0, "127.0.0.1", reuse_port=True)
        port = placeholder.getsockname()[1]
        server = EchoServer()
        server.listen(port, "127.0.0.1", reuse_port=True)
        placeholder.close()
        try:
            return await echo_once(port)
        finally:
            await server.shutdown()

    assert run(main()) == b"hello\n"


def test_bind_then_start_single_process() -> None:
    async def main() -> bytes:
        (placeholder,) = bind_sockets(0, "127.0.0.1", reuse_port=True)
        port = placeholder.getsockname()[1]
        server = EchoServer()
        server.bind(port, "127.0.0.1", family=socket.AF_INET, reuse_port=True)
        placeholder.close()
        server.start(1)
        with pytest.raises(RuntimeError):
            server.start(1)
        try:
            return await echo_once(port)
        finally:
            await server.shutdown()

    assert run(main()) == b"hello\n"


@needs_ipv6
def test_ipv6_listener() -> None:
    async def main() -> tuple[bytes, str]:
        server = EchoServer()
        port = serve(server, "::1")
        try:
            return await echo_once(port, "::1"), server.addresses[0][0]
        finally:
            await server.shutdown()

    assert run(main()) == (b"hello\n", "::1")


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no AF_UNIX")
def test_unix_socket_listener(tmp_path: Path) -> None:
    async def main() -> tuple[bytes, int]:
        path = str(tmp_path / "echo.sock")
        server = EchoServer()
        server.add_socket(bind_unix_socket(path))
        try:
            reader, writer = await asyncio.open_unix_connection(path)
            writer.write(b"over unix\n")
            data = await asyncio.wait_for(reader.readline(), 5)
            family = server.streams[0].socket.family
            writer.close()
            await writer.wait_closed()
            return data, family
        finally:
            await server.shutdown()

    assert run(main()) == (b"over unix\n", socket.AF_UNIX)


def test_max_buffer_size_is_enforced() -> None:
    errors: list[BaseException] = []

    class Reader(TCPServer):
        async def handle_stream(self, stream: IOStream, address: Any) -> None:
            try:
                await stream.read_until(b"\n")
            except Exception as e:
                errors.append(e)
            stream.close()

    async def main() -> bytes:
        server = Reader(max_buffer_size=1024, read_chunk_size=512)
        port = serve(server)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"x" * 8192)
            try:
                data = await asyncio.wait_for(reader.read(), 5)
            except ConnectionResetError:
                data = b""  # closed with our bytes unread: a reset, also fine
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass  # reset: the server closed with unread data
            return data
        finally:
            server.stop()

    assert run(main()) == b""
    assert len(errors) == 1


# --- TLS ---------------------------------------------------------------------


def _client_context(cert: tuple[str, str]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=cert[0])
    return ctx


def test_tls_with_dict_options(cert: tuple[str, str]) -> None:
    async def main() -> tuple[bytes, bool]:
        server = EchoServer(ssl_options={"certfile": cert[0], "keyfile": cert[1]})
        port = serve(server)
        try:
            data = await echo_once(
                port, ssl=_client_context(cert), server_hostname="localhost"
            )
            return data, isinstance(server.streams[0], SSLIOStream)
        finally:
            await server.shutdown()

    assert run(main()) == (b"hello\n", True)


def test_tls_with_context(cert: tuple[str, str]) -> None:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*cert)

    async def main() -> bytes:
        server = EchoServer(ssl_options=ctx)
        port = serve(server)
        try:
            return await echo_once(
                port, ssl=_client_context(cert), server_hostname="localhost"
            )
        finally:
            await server.shutdown()

    assert run(main()) == b"hello\n"


def test_tls_handshake_failure_does_not_stop_server(
    cert: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> bytes:
        server = EchoServer(ssl_options={"certfile": cert[0], "keyfile": cert[1]})
        port = serve(server)
        try:
            # A plaintext client speaking garbage instead of a ClientHello.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.0\r\n\r\n")
            try:
                await asyncio.wait_for(reader.read(), 5)
            except ConnectionResetError:
                pass
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass
            return await echo_once(
                port, ssl=_client_context(cert), server_hostname="localhost"
            )
        finally:
            await server.shutdown()

    with caplog.at_level(logging.WARNING):
        assert run(main()) == b"hello\n"
    # Logged (by the stream), never raised into the loop.
    assert [r.name for r in caplog.records] == ["whirlwind.general"]
    assert "SSL Error" in caplog.records[0].getMessage()


def test_ssl_options_are_validated(cert: tuple[str, str], tmp_path: Path) -> None:
    with pytest.raises(KeyError):
        TCPServer(ssl_options={"keyfile": cert[1]})
    with pytest.raises(ValueError, match="certfile"):
        TCPServer(ssl_options={"certfile": str(tmp_path / "missing.pem")})
    with pytest.raises(ValueError, match="keyfile"):
        TCPServer(
            ssl_options={"certfile": cert[0], "keyfile": str(tmp_path / "nope.pem")}
        )
    with pytest.raises(ValueError, match="unknown ssl_options"):
        TCPServer(ssl_options={"certfile": cert[0], "bogus": 1})


def test_handle_stream_must_be_overridden() -> None:
    with pytest.raises(NotImplementedError):
        TCPServer().handle_stream(None, None)  # type: ignore[arg-type]


# --- several processes (fresh interpreters: fork needs a thread-free process) ---


def _run_script(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.skipif(sys.platform == "win32", reason="fork")
def test_add_sockets_after_fork_processes() -> None:
    result = _run_script(
        """
        import asyncio, os
        from whirlwind.netutil import bind_sockets, bind_unix_socket
        from whirlwind.process import fork_processes, task_id
        from whirlwind.tcpserver import TCPServer

        class Hello(TCPServer):
            def handle_stream(self, stream, address):
                stream.write(b"%d" % task_id())
                stream.close()

        sockets = bind_sockets(0, "127.0.0.1")
        port = sockets[0].getsockname()[1]
        tid = fork_processes(2)

        async def main():
            server = Hello()
            server.add_sockets(sockets)
            # Each worker connects once; any worker may answer.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            data = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            await asyncio.sleep(0.2)  # keep serving the other worker
            server.stop()
            return data

        data = asyncio.run(main())
        os.write(1, b"%d:%s\\n" % (tid, data))
        """
    )
    assert result.returncode == 0, result.stderr
    lines = sorted(result.stdout.split())
    assert [line.split(":")[0] for line in lines] == ["0", "1"]
    assert all(line.split(":")[1] in ("0", "1") for line in lines)
