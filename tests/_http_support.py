"""Helpers shared by the HTTP tests: a server on a background loop, raw clients."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from whirlwind.httpserver import HTTPServer
from whirlwind.httputil import HTTPHeaders, HTTPServerRequest, ResponseStartLine
from whirlwind.loop import new_event_loop
from whirlwind.netutil import bind_sockets


def echo_app(request: HTTPServerRequest) -> None:
    """Answer ``METHOD URI BODYLEN`` with a Content-Length response."""
    body = f"{request.method} {request.uri} {len(request.body)}".encode()
    request.connection.write_headers(  # type: ignore[union-attr]
        ResponseStartLine("HTTP/1.1", 200, "OK"),
        HTTPHeaders({"Content-Length": str(len(body))}),
        body,
    )
    request.connection.finish()  # type: ignore[union-attr]


class ServerThread:
    """An `HTTPServer` running on its own whirlwind loop in a thread."""

    def __init__(self, app: Any, **options: Any) -> None:
        self.loop = new_event_loop()
        self.requests: list[HTTPServerRequest] = []
        self._app = app
        self._options = options
        self.server: HTTPServer | None = None
        ready = threading.Event()
        self.port = 0
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)

        def record(request: HTTPServerRequest) -> Any:
            self.requests.append(request)
            return self._app(request)

        app = (
            self._app
            if not callable(self._app) or hasattr(self._app, "start_request")
            else record
        )

        async def start() -> None:
            self.server = HTTPServer(app, **self._options)
            socks = bind_sockets(0, "127.0.0.1")
            self.port = socks[0].getsockname()[1]
            self.server.add_sockets(socks)

        self.loop.run_until_complete(start())
        ready.set()
        self.loop.run_forever()
        self.loop.close()

    def call(self, fn: Callable[[], Any], timeout: float = 10) -> Any:
        """Run ``fn`` (a coroutine function or a plain one) on the server loop."""

        async def wrapper() -> Any:
            r = fn()
            if asyncio.iscoroutine(r):
                r = await r
            return r

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(timeout)

    def stop(self) -> None:
        async def shutdown() -> None:
            assert self.server is not None
            self.server.stop()
            await self.server.close_all_connections()

        try:
            self.call(shutdown)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


@contextmanager
def serve(app: Any = echo_app, **options: Any) -> Iterator[ServerThread]:
    st = ServerThread(app, **options)
    try:
        yield st
    finally:
        st.stop()


class RawConn(socket.socket):
    """A blocking client socket that keeps bytes read past one response."""

    buf = b""


def connect(port: int, timeout: float = 5.0) -> RawConn:
    s = RawConn(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    return s


def read_until_close(s: socket.socket, limit: int = 1 << 22) -> tuple[bytes, bool]:
    """Read until EOF; returns (data, closed_cleanly).  A reset counts as not clean."""
    chunks = [getattr(s, "buf", b"")]
    total = 0
    try:
        while total < limit:
            b = s.recv(65536)
            if not b:
                return b"".join(chunks), True
            chunks.append(b)
            total += len(b)
    except (ConnectionResetError, TimeoutError):
        return b"".join(chunks), False
    return b"".join(chunks), False


def read_response(s: RawConn) -> tuple[int, HTTPHeaders, bytes]:
    """Read one Content-Length or chunked response from a blocking socket."""
    buf, s.buf = s.buf, b""
    while b"\r\n\r\n" not in buf:
        b = s.recv(65536)
        if not b:
            raise EOFError(buf)
        buf += b
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    code = int(lines[0].split(" ")[1])
    headers = HTTPHeaders.parse("\r\n".join(lines[1:]))
    if "Content-Length" in headers:
        n = int(headers["Content-Length"])
        while len(rest) < n:
            b = s.recv(65536)
            if not b:
                raise EOFError(rest)
            rest += b
        s.buf = rest[n:]
        return code, headers, rest[:n]
    if headers.get("Transfer-Encoding") == "chunked":
        body = b""
        while True:
            while b"\r\n" not in rest:
                rest += s.recv(65536)
            line, _, rest = rest.partition(b"\r\n")
            size = int(line, 16)
            while len(rest) < size + 2:
                rest += s.recv(65536)
            body += rest[:size]
            rest = rest[size + 2 :]
            if size == 0:
                s.buf = rest
                return code, headers, body
    return code, headers, rest


def wait_for(cond: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def run_async(coro: Any) -> Any:
    """Run ``coro`` to completion on a fresh whirlwind loop, then close it."""
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(coro)
    finally:
        asyncio.set_event_loop(None)
        loop.close()
