"""Tests for whirlwind.wsgi through real sockets.

WSGI apps (the wsgiref kind) served by whirlwind's HTTPServer, and
whirlwind web applications served by ``wsgiref.simple_server``; clients are
``http.client`` and raw sockets.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.client
import json
import logging
import threading
import wsgiref.simple_server
import wsgiref.validate
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests._http_support import serve
from whirlwind import web
from whirlwind.wsgi import WSGIApplication, WSGIContainer, from_wsgi_str, to_wsgi_str


def environ_app(
    environ: dict[str, Any], start_response: Callable[..., Any]
) -> Iterable[bytes]:
    """Describes its environ as JSON (only the CGI-style string keys)."""
    body = environ["wsgi.input"].read()
    info = {k: v for k, v in environ.items() if isinstance(v, str)}
    info["body"] = body.decode("latin1")
    info["multithread"] = environ["wsgi.multithread"]
    data = json.dumps(info).encode()
    start_response(
        "200 OK",
        [
            ("Content-Type", "application/json"),
            ("X-Thread", threading.current_thread().name),
        ],
    )
    return [data]


def generator_app(
    environ: dict[str, Any], start_response: Callable[..., Any]
) -> Iterator[bytes]:
    start_response("201 Created", [("X-Gen", "yes")])
    yield b"one,"
    yield b""
    yield b"two"


def failing_app(
    environ: dict[str, Any], start_response: Callable[..., Any]
) -> Iterable[bytes]:
    raise ZeroDivisionError("boom")


def fetch(
    port: int,
    path: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.msg, r.read()
    finally:
        conn.close()


# -- WSGIContainer ------------------------------------------------------------------


def test_container_environ_and_body() -> None:
    with serve(WSGIContainer(environ_app)) as st:
        status, headers, body = fetch(
            st.port,
            "/caf%C3%A9/x?a=1&b=%20",
            "POST",
            b"payload=1",
            {"Content-Type": "application/x-www-form-urlencoded", "X-Custom": "v"},
        )
        assert status == 200
        assert headers["Content-Type"] == "application/json"
        assert headers["Content-Length"] == str(len(body))
        env = json.loads(body)
        assert env["REQUEST_METHOD"] == "POST"
        assert env["PATH_INFO"] == "/café/x".encode().decode("latin1")
        assert env["QUERY_STRING"] == "a=1&b=%20"
        assert env["CONTENT_TYPE"] == "application/x-www-form-urlencoded"
        assert env["CONTENT_LENGTH"] == "9"
        assert env["HTTP_X_CUSTOM"] == "v"
        assert env["SERVER_PORT"] == str(st.port)
        assert env["SERVER_NAME"] == "127.0.0.1"
        assert env["REMOTE_ADDR"] == "127.0.0.1"
        assert env["wsgi.url_scheme"] == "http"
        assert env["body"] == "payload=1"
        assert env["multithread"] is False


def test_container_generator_head_and_errors(caplog: pytest.LogCaptureFixture) -> None:
    with serve(WSGIContainer(generator_app)) as st:
        status, headers, body = fetch(st.port, "/")
        assert (status, body, headers["X-Gen"]) == (201, b"one,two", "yes")
        status, headers, body = fetch(st.port, "/", "HEAD")
        assert status == 201 and body == b""
    with serve(WSGIContainer(failing_app)) as st:
        with caplog.at_level(logging.ERROR, "whirlwind.application"):
            status, _, _ = fetch(st.port, "/")
        assert status == 500
        assert any("boom" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)
        # The server survives.
        status, _, _ = fetch(st.port, "/")
        assert status == 500


def test_container_with_thread_executor() -> None:
    with concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="wsgi") as pool:
        with serve(WSGIContainer(environ_app, executor=pool)) as st:
            status, headers, body = fetch(st.port, "/t")
            assert status == 200
            assert headers["X-Thread"].startswith("wsgi")
            assert json.loads(body)["multithread"] is True
            status, _, body = fetch(st.port, "/", "POST", b"x" * 5000)
            assert json.loads(body)["body"] == "x" * 5000


def test_container_body_limit_honoured() -> None:
    with serve(WSGIContainer(environ_app), max_body_size=1000) as st:
        status, _, _ = fetch(st.port, "/", "POST", b"x" * 999)
        assert status == 200
        status, _, _ = fetch(st.port, "/", "POST", b"x" * 5000)
        assert status == 413


def test_container_behind_fallback_handler() -> None:
    class Native(web.RequestHandler):
        def get(self) -> None:
            self.write("native")

    app = web.Application(
        [
            ("/native", Native),
            (r".*", web.FallbackHandler, {"fallback": WSGIContainer(environ_app)}),
        ]
    )
    with serve(app) as st:
        assert fetch(st.port, "/native")[2] == b"native"
        status, _, body = fetch(st.port, "/other?q=1")
        assert status == 200
        assert json.loads(body)["QUERY_STRING"] == "q=1"


def test_wsgi_str_helpers() -> None:
    raw = bytes(range(256))
    assert from_wsgi_str(to_wsgi_str(raw)) == raw
    assert to_wsgi_str("é".encode()) == "Ã©"


# -- WSGIApplication ----------------------------------------------------------------


class _QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def wsgiref_server(app: Any) -> Iterator[int]:
    server = wsgiref.simple_server.make_server(
        "127.0.0.1", 0, app, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class Hello(web.RequestHandler):
    def get(self, name: str) -> None:
        self.set_cookie("seen", "1")
        self.write({"hello": name, "q": self.get_argument("q", "")})

    def post(self, name: str) -> None:
        self.write(f"posted {self.get_body_argument('v')} by {name}")


class AsyncHello(web.RequestHandler):
    async def get(self) -> None:
        await asyncio.sleep(0.01)
        self.write("async done")


class Boom(web.RequestHandler):
    def get(self) -> None:
        raise ValueError("handler failure")


class Moved(web.RequestHandler):
    def get(self) -> None:
        self.redirect("/hello/x")


def make_app() -> WSGIApplication:
    return WSGIApplication(
        [
            (r"/hello/(\w+)", Hello),
            ("/async", AsyncHello),
            ("/boom", Boom),
            ("/moved", Moved),
        ]
    )


def test_wsgi_application_under_wsgiref(caplog: pytest.LogCaptureFixture) -> None:
    # wsgiref.validate checks PEP 3333 conformance of every call.
    with wsgiref_server(wsgiref.validate.validator(make_app())) as port:
        status, headers, body = fetch(port, "/hello/bob?q=%C3%A9")
        assert status == 200
        assert json.loads(body) == {"hello": "bob", "q": "é"}
        assert headers["Content-Type"].startswith("application/json")
        assert "seen=1" in headers["Set-Cookie"]
        status, _, body = fetch(
            port,
            "/hello/ann",
            "POST",
            b"v=42",
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert (status, body) == (200, b"posted 42 by ann")
        assert fetch(port, "/async")[2] == b"async done"
        assert fetch(port, "/async")[2] == b"async done"  # the thread loop is reused
        assert fetch(port, "/missing")[0] == 404
        status, headers, _ = fetch(port, "/moved")
        assert status == 302 and headers["Location"] == "/hello/x"
        with caplog.at_level(logging.ERROR, "whirlwind.application"):
            assert fetch(port, "/boom")[0] == 500
        assert any(
            "handler failure" in r.getMessage() or r.exc_info for r in caplog.records
        )


def test_wsgi_application_is_still_a_web_application() -> None:
    # Served natively, the same object answers like any Application.
    with serve(make_app()) as st:
        status, _, body = fetch(st.port, "/hello/zed")
        assert status == 200 and json.loads(body)["hello"] == "zed"


def test_wsgi_application_refuses_to_run_inside_a_loop() -> None:
    app = make_app()

    async def main() -> None:
        with pytest.raises(RuntimeError):
            app({"REQUEST_METHOD": "GET"}, lambda *a: None)

    asyncio.run(main())
