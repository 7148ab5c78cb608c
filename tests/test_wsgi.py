"""Tests for whirlwind.wsgi: WSGI apps in whirlwind, whirlwind under WSGI servers."""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.client
import json
import threading
import wsgiref.simple_server
from collections.abc import Iterable, Iterator
from typing import Any
from wsgiref.validate import validator

from tests._web_support import LogCapture, no_unexpected_logs, serve  # noqa: F401
from whirlwind import web, wsgi


def echo_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    info = {
        "method": environ["REQUEST_METHOD"],
        "path": environ["PATH_INFO"].encode("latin1").decode("utf-8"),
        "query": environ["QUERY_STRING"],
        "type": environ.get("CONTENT_TYPE"),
        "body": body.decode(),
        "custom": environ.get("HTTP_X_CUSTOM"),
        "port": environ["SERVER_PORT"],
    }
    start_response("201 Created", [("Content-Type", "application/json")])
    return [json.dumps(info).encode()]


def streaming_app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"one,"
    yield b"two"


def test_container_behind_http_server_with_thread_pool() -> None:
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        container = wsgi.WSGIContainer(validator(echo_app), executor=pool)
        with serve(container) as c:
            r = c.fetch(
                "/p%C3%A9?x=1",
                "POST",
                body="data=1",
                headers={"Content-Type": "text/plain", "X-Custom": "yes"},
            )
            assert r.status == 201 and r.reason == "Created"
            assert json.loads(r.body) == {
                "method": "POST",
                "path": "/pé",
                "query": "x=1",
                "type": "text/plain",
                "body": "data=1",
                "custom": "yes",
                "port": str(c.port),
            }
            assert r.headers["Server"].startswith("WhirlwindServer/")


class Native(web.RequestHandler):
    def get(self) -> None:
        self.write("native")


def test_container_as_fallback_next_to_handlers() -> None:
    container = wsgi.WSGIContainer(validator(streaming_app))
    app = web.Application(
        [("/native", Native), (r".*", web.FallbackHandler, {"fallback": container})]
    )
    with serve(app) as c:
        assert c.fetch("/native").text == "native"
        r = c.fetch("/anything")
        assert r.text == "one,two" and r.headers["Content-Length"] == "7"


class Form(web.RequestHandler):
    def get(self) -> None:
        self.set_cookie("seen", "1")
        self.write({"name": self.get_argument("name", "?"), "host": self.request.host})

    def post(self) -> None:
        self.write("posted " + self.get_body_argument("v"))


class AsyncOnly(web.RequestHandler):
    async def get(self) -> None:
        self.write("never")


class _Quiet(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def wsgi_server(app: Any) -> Iterator[int]:
    server = wsgiref.simple_server.make_server(
        "127.0.0.1", 0, app, handler_class=_Quiet
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}
    )
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _get(port: int, path: str, method: str = "GET", body: str | None = None) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r, data


def test_classic_wsgi_application_under_wsgiref() -> None:
    app = wsgi.WSGIApplication(
        [("/form", Form), ("/async", AsyncOnly)], cookie_secret="s"
    )
    with wsgi_server(app) as port:
        r, data = _get(port, "/form?name=ann")
        assert r.status == 200 and json.loads(data)["name"] == "ann"
        assert r.getheader("Set-Cookie").startswith("seen=1")
        r, data = _get(port, "/form", "POST", "v=x")
        assert data == b"posted x"
        r, _ = _get(port, "/missing")
        assert r.status == 404
        # Nothing runs an event loop under WSGI: async handlers cannot finish.
        r, _ = _get(port, "/async")
        assert r.status == 500


def test_wsgi_adapter_wraps_a_plain_application() -> None:
    adapter = wsgi.WSGIAdapter(web.Application([("/form", Form)]))
    with wsgi_server(validator(adapter)) as port:
        r, data = _get(port, "/form?name=bob")
        assert json.loads(data) == {"name": "bob", "host": f"127.0.0.1:{port}"}
