"""Helpers for the web tests: a real HTTP server on 127.0.0.1, port 0.

`serve(app)` starts whirlwind's `HTTPServer` for ``app`` on an event loop in a
background thread and yields a `Client` that talks to it with `http.client`
(or raw sockets), so every test goes through real sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from whirlwind.httpserver import HTTPServer
from whirlwind.testing import bind_unused_port


def _new_loop(kind: str = "whirlwind") -> asyncio.AbstractEventLoop:
    if kind == "asyncio":
        return asyncio.new_event_loop()
    from whirlwind.loop import new_event_loop

    return new_event_loop()


class Response:
    def __init__(
        self, status: int, reason: str, headers: http.client.HTTPMessage, body: bytes
    ) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def header_list(self, name: str) -> list[str]:
        return self.headers.get_all(name) or []


class Client:
    def __init__(self, port: int, loop: asyncio.AbstractEventLoop) -> None:
        self.port = port
        self.loop = loop

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def fetch(
        self,
        path: str,
        method: str = "GET",
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
        finally:
            conn.close()
        # The server logs and runs on_finish right after writing; let that
        # callback complete before the test looks at logs or state.
        self.call(lambda: None)
        return Response(r.status, r.reason, r.msg, data)

    def raw(self, data: bytes, read_until_close: bool = True) -> bytes:
        """Sends raw bytes and returns everything read until the server closes
        (or 2 s of silence)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(data)
            s.settimeout(2)
            out = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except TimeoutError:
                    break
                if not chunk:
                    break
                out += chunk
                if not read_until_close:
                    break
        self.call(lambda: None)
        return out

    def call(self, fn: Any, *args: Any) -> Any:
        """Runs ``fn(*args)`` on the server's loop thread and returns its result."""
        done = threading.Event()
        box: list[Any] = []

        def run() -> None:
            try:
                box.append(fn(*args))
            finally:
                done.set()

        self.loop.call_soon_threadsafe(run)
        done.wait(10)
        return box[0] if box else None


@contextlib.contextmanager
def serve(
    app: Any, loop_kind: str = "whirlwind", **server_kwargs: Any
) -> Iterator[Client]:
    """Serves ``app`` on a fresh loop (whirlwind's, or ``"asyncio"``'s default
    one) in a thread; yields a `Client`."""
    loop = _new_loop(loop_kind)
    sock, port = bind_unused_port()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)

        async def start() -> None:
            server = HTTPServer(app, **server_kwargs)
            server.add_sockets([sock])
            holder["server"] = server
            ready.set()

        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10), "server did not start"
    try:
        yield Client(port, loop)
    finally:

        async def stop() -> None:
            server = holder["server"]
            server.stop()
            await server.close_all_connections()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        fut = asyncio.run_coroutine_threadsafe(stop(), loop)
        with contextlib.suppress(Exception):
            fut.result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        asyncio.set_event_loop(None)


class LogCapture(logging.Handler):
    """Collects records from the whirlwind loggers during a ``with`` block.

    Records it sees are marked as expected, so `no_unexpected_logs` lets them
    through.
    """

    def __init__(self, name: str = "") -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.logger = logging.getLogger(name)

    def emit(self, record: logging.LogRecord) -> None:
        record.ww_expected = True
        self.records.append(record)

    def __enter__(self) -> LogCapture:
        self.logger.addHandler(self)
        self._old_level = self.logger.level
        if self.logger.level > logging.INFO or self.logger.level == 0:
            self.logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)
        self.logger.setLevel(self._old_level)

    def messages(self, min_level: int = logging.DEBUG) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno >= min_level]


class _Unexpected(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "whirlwind.access" or getattr(record, "ww_expected", False):
            return  # access lines are routine; expected ones were captured
        self.records.append(record)


@pytest.fixture(autouse=True)
def no_unexpected_logs() -> Iterator[None]:
    """Fails a test that logs a warning or error it did not expect (wrap
    expected ones in `LogCapture`). Import it into a test module to use it."""
    handler = _Unexpected()
    root = logging.getLogger("whirlwind")
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
    assert not handler.records, [f"{r.name}: {r.getMessage()}" for r in handler.records]
