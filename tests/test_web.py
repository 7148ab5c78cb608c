"""Tests for whirlwind.web: handlers, errors, output, Application, through HTTP."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import json
import logging
import socket
import sys
from typing import Any

import pytest

from tests._web_support import LogCapture, no_unexpected_logs, serve  # noqa: F401
from whirlwind import httputil, template, web
from whirlwind.ioloop import IOLoop
from whirlwind.log import access_log, app_log, gen_log

# -- handlers used by several tests ----------------------------------------------------


class Hello(web.RequestHandler):
    def get(self) -> None:
        self.write("Hello, world")


class AsyncHello(web.RequestHandler):
    async def prepare(self) -> None:
        await asyncio.sleep(0)
        self.prepared = True

    async def get(self) -> None:
        await asyncio.sleep(0.001)
        self.write("async " + str(self.prepared))


class Args(web.RequestHandler):
    def get(self, *path: str) -> None:
        self.write(
            {
                "path": list(path),
                "a": self.get_argument("a", None),
                "all": self.get_arguments("a"),
                "q": self.get_query_arguments("a"),
                "nostrip": self.get_argument("s", "", strip=False),
            }
        )

    def post(self, *path: str) -> None:
        self.write(
            {
                "body": self.get_body_arguments("a"),
                "query": self.get_query_argument("a", None),
                "either": self.get_argument("a"),
            }
        )


class Required(web.RequestHandler):
    def get(self) -> None:
        self.write(self.get_argument("needed"))


class Output(web.RequestHandler):
    def get(self, what: str) -> None:
        if what == "json":
            self.write({"k": "</script>"})
        elif what == "list":
            self.write([1, 2])  # type: ignore[arg-type]
        elif what == "crlf":
            try:
                self.set_header("X-Bad", "a\r\nInjected: 1")
            except ValueError:
                self.write("refused")
        elif what == "types":
            self.set_header("X-Int", 42)
            self.set_header("X-Date", datetime.datetime(2020, 1, 2, 3, 4, 5))
            self.add_header("X-Multi", "1")
            self.add_header("X-Multi", "2")
            self.set_header("X-Gone", "x")
            self.clear_header("X-Gone")
        elif what == "status":
            self.set_status(299, "Custom Reason")
        elif what == "badreason":
            self.set_status(200, "<script>")
        elif what == "nobody":
            self.set_status(204)
        elif what == "etag":
            self.write("etag body")
        elif what == "flush":
            self.write("part1,")
            self.flush()
            self.write("part2")


class Errors(web.RequestHandler):
    def get(self, kind: str) -> None:
        if kind == "http":
            raise web.HTTPError(418, "teapot %s", "brewing", reason="I Am A Teapot")
        if kind == "plain":
            raise ZeroDivisionError("boom")
        if kind == "finish":
            self.write("partial ")
            raise web.Finish("done")
        if kind == "send":
            self.send_error(503)
            return
        if kind == "after-flush":
            self.write("started")
            self.flush()
            raise RuntimeError("too late")


class CustomError(web.RequestHandler):
    def get(self) -> None:
        raise web.HTTPError(402)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs["exc_info"][1]
        self.write(f"custom {status_code} {type(exc).__name__}")


class Lifecycle(web.RequestHandler):
    events: list[str] = []

    def initialize(self, tag: str) -> None:
        self.tag = tag

    def prepare(self) -> None:
        self.events.append("prepare " + self.tag)
        if self.get_argument("stop", None):
            self.finish("stopped in prepare")

    def get(self) -> None:
        self.events.append("get")
        self.write("ran")

    def on_finish(self) -> None:
        self.events.append("on_finish")


class Redirects(web.RequestHandler):
    def get(self, kind: str) -> None:
        if kind == "temp":
            self.redirect("/target")
        elif kind == "perm":
            self.redirect("/target", permanent=True)
        else:
            self.redirect("/target", status=307)


class Classic(web.RequestHandler):
    @web.asynchronous
    def get(self) -> None:
        IOLoop.current().call_later(0.01, self.step)

    def step(self) -> None:
        mode = self.get_argument("mode", "ok")
        if mode == "http":
            raise web.HTTPError(500)
        if mode == "other":
            raise web.HTTPError(502)
        if mode == "crash":
            raise KeyError("nope")
        self.write("classic ")
        IOLoop.current().add_callback(self.done)

    def done(self) -> None:
        self.finish("done")


class ClassicCoroutine(web.RequestHandler):
    @web.asynchronous
    async def get(self) -> None:
        await asyncio.sleep(0.001)
        self.write("coroutine finished by decorator")


class Auth(web.RequestHandler):
    def get_current_user(self) -> Any:
        user = self.get_signed_cookie("user")
        return user.decode() if user else None

    @web.authenticated
    def get(self) -> None:
        self.write("hi " + self.current_user)

    @web.authenticated
    def post(self) -> None:
        self.write("posted")


class Login(web.RequestHandler):
    def get(self) -> None:
        self.set_signed_cookie("user", self.get_argument("name"))
        self.write("logged in")


class Slashes(web.RequestHandler):
    @web.removeslash
    def get(self) -> None:
        self.write("no slash: " + self.request.path)


class AddSlash(web.RequestHandler):
    @web.addslash
    def get(self) -> None:
        self.write("slash: " + self.request.path)


@web.stream_request_body
class Streamer(web.RequestHandler):
    def prepare(self) -> None:
        self.pieces: list[bytes] = []

    def data_received(self, chunk: bytes) -> None:
        self.pieces.append(chunk)

    def put(self) -> None:
        self.write({"size": sum(map(len, self.pieces)), "n": len(self.pieces)})


def base_app(**settings: Any) -> web.Application:
    return web.Application(
        [
            ("/", Hello),
            ("/async", AsyncHello),
            (r"/args/(.*)", Args),
            ("/required", Required),
            (r"/out/(\w+)", Output),
            (r"/err/([\w-]+)", Errors),
            ("/custom", CustomError),
            ("/life", Lifecycle, {"tag": "t"}),
            (r"/redirect/(\w+)", Redirects),
            ("/classic", Classic),
            ("/classic-coro", ClassicCoroutine),
            ("/auth", Auth),
            ("/login", Login),
            ("/slash/*", Slashes),
            ("/add/?", AddSlash),
            ("/stream", Streamer),
            (r"/r/(\w+)", web.RedirectHandler, {"url": "/to/{0}"}),
            (r"/evil/(.*)", web.RedirectHandler, {"url": "http:{0}"}),
            ("/gone", web.ErrorHandler, {"status_code": 410}),
        ],
        cookie_secret="secret",
        login_url="/login",
        **settings,
    )


# -- basics ------------------------------------------------------------------------------


def test_hello_headers_and_keep_alive() -> None:
    with serve(base_app()) as c:
        r = c.fetch("/")
        assert (r.status, r.text) == (200, "Hello, world")
        assert r.headers["Content-Type"] == "text/html; charset=UTF-8"
        assert r.headers["Content-Length"] == "12"
        assert r.headers["Server"].startswith("WhirlwindServer/")
        assert r.headers["Date"].endswith(" GMT")
        assert r.headers["Etag"].startswith('"')
        # Two pipelined requests on one connection get two responses.
        raw = c.raw(
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /async HTTP/1.1\r\nHost: x\r\n"
            b"Connection: close\r\n\r\n"
        )
        assert raw.count(b"HTTP/1.1 200 OK") == 2
        assert raw.endswith(b"async True")


def test_async_handler_and_head_and_405() -> None:
    with serve(base_app()) as c:
        assert c.fetch("/async").text == "async True"
        r = c.fetch("/", "HEAD")
        assert r.status == 405
        assert c.fetch("/", "DELETE").status == 405
        assert c.fetch("/", "PROPFIND").status == 405
        assert c.fetch("/gone").status == 410


def test_arguments() -> None:
    with serve(base_app()) as c:
        data = json.loads(c.fetch("/args/p%20q?a=1&a=%20two%20&s=%20x%20").body)
        assert data == {
            "path": ["p q"],
            "a": "two",
            "all": ["1", "two"],
            "q": ["1", "two"],
            "nostrip": " x ",
        }
        body = "a=b1&a=b2"
        r = c.fetch(
            "/args/?a=q",
            "POST",
            body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert json.loads(r.body) == {
            "body": ["b1", "b2"],
            "query": "q",
            "either": "b2",
        }
        # Control characters in arguments become spaces.
        assert json.loads(c.fetch("/args/?a=x%01y").body)["a"] == "x y"


def test_missing_argument_and_bad_unicode_are_400() -> None:
    with serve(base_app()) as c:
        with LogCapture(gen_log.name) as logs:
            r = c.fetch("/required")
            assert r.status == 400
            assert "400: Bad Request" in r.text
            assert c.fetch("/args/%FF").status == 400
            assert c.fetch("/args/?a=%FF").status == 400
        assert any("Missing argument needed" in m for m in logs.messages())
        assert c.fetch("/required?needed=yes").text == "yes"


def test_write_dict_json_and_list_refused() -> None:
    with serve(base_app()) as c:
        r = c.fetch("/out/json")
        assert r.headers["Content-Type"] == "application/json; charset=UTF-8"
        assert r.text == '{"k": "<\\/script>"}'
        with LogCapture(app_log.name) as logs:
            assert c.fetch("/out/list").status == 500
        assert any("Uncaught exception" in m for m in logs.messages())


def test_header_setting() -> None:
    with serve(base_app()) as c:
        assert c.fetch("/out/crlf").text == "refused"
        r = c.fetch("/out/types")
        assert r.headers["X-Int"] == "42"
        assert r.headers["X-Date"] == "Thu, 02 Jan 2020 03:04:05 GMT"
        assert r.header_list("X-Multi") == ["1", "2"]
        assert "X-Gone" not in r.headers
        r = c.fetch("/out/status")
        assert (r.status, r.reason) == (299, "Custom Reason")
        assert c.fetch("/out/badreason").reason == "Unknown"
        r = c.fetch("/out/nobody")
        assert r.status == 204 and r.body == b""
        assert "Content-Type" not in r.headers


def test_etag_and_if_none_match() -> None:
    with serve(base_app()) as c:
        r = c.fetch("/out/etag")
        etag = r.headers["Etag"]
        for inm in (etag, "W/" + etag, '"other", ' + etag, "*"):
            r2 = c.fetch("/out/etag", headers={"If-None-Match": inm})
            assert r2.status == 304 and r2.body == b""
        assert c.fetch("/out/etag", headers={"If-None-Match": '"other"'}).status == 200


class _CustomEtag(web.RequestHandler):
    def set_etag_header(self) -> None:
        self.set_header("Etag", '"v1"')

    def get(self) -> None:
        self.write("same body")


class _NeverMatches(web.RequestHandler):
    def check_etag_header(self) -> bool:
        return False

    def get(self) -> None:
        self.write("same body")


def test_etag_hooks_overridden_by_subclasses() -> None:
    # finish() computes the default Etag inline; a subclass overriding any of
    # the Etag hooks must still be called.
    app = web.Application([("/custom", _CustomEtag), ("/never", _NeverMatches)])
    with serve(app) as c:
        r = c.fetch("/custom")
        assert r.headers["Etag"] == '"v1"'
        assert c.fetch("/custom", headers={"If-None-Match": '"v1"'}).status == 304
        etag = c.fetch("/never").headers["Etag"]
        r = c.fetch("/never", headers={"If-None-Match": etag})
        assert r.status == 200 and r.text == "same body"


class _CountingApp(web.Application):
    delegates = 0

    def get_handler_delegate(self, *args: Any, **kwargs: Any) -> Any:
        _CountingApp.delegates += 1
        return super().get_handler_delegate(*args, **kwargs)


class _FlushCounter(web.RequestHandler):
    flushes = 0

    def flush(self, include_footers: bool = False, callback: Any = None) -> Any:
        _FlushCounter.flushes += 1
        return super().flush(include_footers, callback)

    def get(self) -> None:
        self.write("counted")


def test_overridden_routing_and_flush_hooks_are_called() -> None:
    # Routing and finish() skip these calls when they are not overridden;
    # overrides must still run once per request.
    _CountingApp.delegates = _FlushCounter.flushes = 0
    with serve(_CountingApp([("/f", _FlushCounter)])) as c:
        for _ in range(2):
            assert c.fetch("/f").text == "counted"
    assert (_CountingApp.delegates, _FlushCounter.flushes) == (2, 2)


def test_flush_streams_chunks() -> None:
    with serve(base_app()) as c:
        raw = c.raw(b"GET /out/flush HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head, _, body = raw.partition(b"\r\n\r\n")
        assert b"Transfer-Encoding: chunked" in head
        assert body == b"6\r\npart1,\r\n5\r\npart2\r\n0\r\n\r\n"


# -- errors --------------------------------------------------------------------------------


def test_http_error_reason_and_log() -> None:
    with serve(base_app()) as c:
        with LogCapture(gen_log.name) as logs:
            r = c.fetch("/err/http")
        assert (r.status, r.reason) == (418, "I Am A Teapot")
        assert r.text == (
            "<html><title>418: I Am A Teapot</title>"
            "<body>418: I Am A Teapot</body></html>"
        )
        assert any(
            m.startswith("418 GET /err/http") and "teapot brewing" in m
            for m in logs.messages()
        )


def test_uncaught_exception_500_and_traceback_setting() -> None:
    with serve(base_app()) as c:
        with LogCapture(app_log.name) as logs:
            r = c.fetch("/err/plain")
        assert r.status == 500 and "ZeroDivisionError" not in r.text
        assert any("Uncaught exception GET /err/plain" in m for m in logs.messages())
    with serve(base_app(serve_traceback=True)) as c:
        with LogCapture(app_log.name):
            r = c.fetch("/err/plain")
        assert r.status == 500
        assert r.headers["Content-Type"] == "text/plain"
        assert "ZeroDivisionError: boom" in r.text and "Traceback" in r.text


def test_finish_send_error_and_custom_write_error() -> None:
    with serve(base_app()) as c:
        r = c.fetch("/err/finish")
        assert (r.status, r.text) == (200, "partial done")
        assert c.fetch("/err/send").status == 503
        r = c.fetch("/custom")
        assert (r.status, r.text) == (402, "custom 402 HTTPError")
        with LogCapture(gen_log.name), LogCapture(app_log.name):
            raw = c.raw(b"GET /err/after-flush HTTP/1.1\r\nHost: x\r\n\r\n")
        # Headers were out already: the response is cut short, not replaced.
        assert raw.startswith(b"HTTP/1.1 200 OK") and b"started" in raw


def test_lifecycle_prepare_finish_on_finish() -> None:
    Lifecycle.events = []
    with serve(base_app()) as c:
        assert c.fetch("/life").text == "ran"
        assert c.fetch("/life?stop=1").text == "stopped in prepare"
    assert Lifecycle.events == [
        "prepare t",
        "get",
        "on_finish",
        "prepare t",
        "on_finish",
    ]


def test_redirects() -> None:
    with serve(base_app()) as c:
        for kind, status in (("temp", 302), ("perm", 301), ("other", 307)):
            r = c.fetch("/redirect/" + kind)
            assert r.status == status and r.headers["Location"] == "/target"
        r = c.fetch("/r/abc?x=1")
        assert r.status == 301 and r.headers["Location"] == "/to/abc?x=1"
        with LogCapture(gen_log.name) as logs:
            assert c.fetch("/evil/%2F%2Fevil.example").status == 400
        assert any("cannot change the scheme or netloc" in m for m in logs.messages())


# -- classic asynchronous, auth, slashes, streaming --------------------------------------------


def test_classic_asynchronous_handler() -> None:
    with serve(base_app()) as c:
        r = c.fetch("/classic")
        assert (r.status, r.text) == (200, "classic done")
        assert c.fetch("/classic?mode=http").status == 500
        with LogCapture(gen_log.name):
            assert c.fetch("/classic?mode=other").status == 502
        with LogCapture(app_log.name) as logs:
            assert c.fetch("/classic?mode=crash").status == 500
        assert any("Uncaught exception GET /classic" in m for m in logs.messages())
        assert c.fetch("/classic-coro").text == "coroutine finished by decorator"


def test_authenticated_and_signed_login() -> None:
    with serve(base_app()) as c:
        r = c.fetch("/auth?x=1")
        assert r.status == 302
        assert r.headers["Location"] == "/login?next=%2Fauth%3Fx%3D1"
        with LogCapture(gen_log.name):
            assert c.fetch("/auth", "POST", body="").status == 403
        cookie = c.fetch("/login?name=ann").headers["Set-Cookie"].split(";")[0]
        assert c.fetch("/auth", headers={"Cookie": cookie}).text == "hi ann"


def test_removeslash_and_addslash() -> None:
    with serve(base_app()) as c:
        r = c.fetch("/slash/?q=1")
        assert r.status == 301 and r.headers["Location"] == "/slash?q=1"
        assert c.fetch("/slash").text == "no slash: /slash"
        r = c.fetch("/add?q=1")
        assert r.status == 301 and r.headers["Location"] == "/add/?q=1"
        assert c.fetch("/add/").text == "slash: /add/"


def test_stream_request_body() -> None:
    with serve(base_app()) as c:
        body = b"x" * 300000
        r = c.fetch("/stream", "PUT", body=body)
        data = json.loads(r.body)
        assert data["size"] == len(body) and data["n"] >= 1


# -- transforms, templates, UI modules, logging ---------------------------------------------


class Big(web.RequestHandler):
    def get(self, kind: str) -> None:
        if kind == "text":
            self.write("compress me " * 200)
        elif kind == "small":
            self.write("tiny")
        else:
            self.set_header("Content-Type", "image/png")
            self.write(b"\x89PNG" * 500)


def test_gzip_content_encoding() -> None:
    app = web.Application([(r"/(\w+)", Big)], compress_response=True)
    with serve(app) as c:
        r = c.fetch("/text", headers={"Accept-Encoding": "gzip"})
        assert r.headers["Content-Encoding"] == "gzip"
        assert r.headers["Vary"] == "Accept-Encoding"
        assert gzip.decompress(r.body) == b"compress me " * 200
        assert int(r.headers["Content-Length"]) == len(r.body)
        assert (
            "Content-Encoding"
            not in c.fetch("/small", headers={"Accept-Encoding": "gzip"}).headers
        )
        assert (
            "Content-Encoding"
            not in c.fetch("/png", headers={"Accept-Encoding": "gzip"}).headers
        )
        r = c.fetch("/text")
        assert (
            "Content-Encoding" not in r.headers
            and r.headers["Vary"] == "Accept-Encoding"
        )


class Box(web.UIModule):
    def render(self, text: str) -> str:
        return f"<div>{text}</div>"

    def javascript_files(self) -> list[str]:
        return ["/js/box.js"]

    def embedded_css(self) -> str:
        return ".box{}"


def shout(handler: web.RequestHandler, text: str) -> str:
    return text.upper()


class Page(web.RequestHandler):
    def get_user_locale(self) -> Any:
        return None

    def get(self) -> None:
        self.render("page.html", title="<T>", items=["a", "b"])


TEMPLATES = {
    "base.html": (
        "<html><head><title>{% block title %}{% end %}</title></head>"
        "<body>{% block body %}{% end %}</body></html>"
    ),
    "page.html": (
        '{% extends "base.html" %}{% block title %}{{ title }}{% end %}'
        "{% block body %}{% for i in items %}{% module Box(i) %}{% end %}"
        "{{ shout('x') }}{{ locale.code }}{% end %}"
    ),
}


def test_render_with_templates_ui_modules_and_methods() -> None:
    app = web.Application(
        [("/", Page)],
        template_loader=template.DictLoader(TEMPLATES),
        ui_modules={"Box": Box},
        ui_methods={"shout": shout},
    )
    with serve(app) as c:
        html = c.fetch("/", headers={"Accept-Language": "fr;q=0.1, en_US;q=0.9"}).text
        assert "<title>&lt;T&gt;</title>" in html
        assert "<div>a</div><div>b</div>X" in html
        assert (
            html.count('<script src="/js/box.js" type="text/javascript"></script>') == 1
        )
        assert '<style type="text/css">\n.box{}\n</style>\n</head>' in html
        assert "en_US" in html


class Quiet(web.RequestHandler):
    def get(self) -> None:
        self.set_status(int(self.get_argument("s")))


def test_log_request_levels_and_log_function() -> None:
    with serve(web.Application([("/", Quiet)])) as c:
        with LogCapture(access_log.name) as logs:
            c.fetch("/?s=200")
            c.fetch("/?s=404")
            with LogCapture(gen_log.name):
                c.fetch("/?s=503")
    levels = [(r.levelno, r.getMessage().split(" ")[0]) for r in logs.records]
    assert levels == [
        (logging.INFO, "200"),
        (logging.WARNING, "404"),
        (logging.ERROR, "503"),
    ]
    seen: list[int] = []
    app = web.Application(
        [("/", Quiet)], log_function=lambda h: seen.append(h.get_status())
    )
    with serve(app) as c:
        c.fetch("/?s=201")
    assert seen == [201]


class Detach(web.RequestHandler):
    async def get(self) -> None:
        stream = self.detach()
        await stream.write(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ndetached")
        stream.close()


def test_detach_takes_over_the_stream() -> None:
    with serve(web.Application([("/", Detach)])) as c:
        raw = c.raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert raw == b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ndetached"


class LongPoll(web.RequestHandler):
    closed: asyncio.Event | None = None

    async def get(self) -> None:
        LongPoll.closed = asyncio.Event()
        await LongPoll.closed.wait()

    def on_connection_close(self) -> None:
        assert LongPoll.closed is not None
        LongPoll.closed.set()
        LongPoll.noticed = True


def test_on_connection_close() -> None:
    LongPoll.noticed = False
    with serve(web.Application([("/", LongPoll)])) as c:
        s = socket.create_connection(("127.0.0.1", c.port))
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        for _ in range(100):
            if LongPoll.closed is not None:
                break
            c.call(lambda: None)
        s.close()
        for _ in range(200):
            if LongPoll.noticed:
                break
            c.call(lambda: None)
        assert LongPoll.noticed


class WaitForever(web.RequestHandler):
    task: asyncio.Task[Any] | None = None

    async def get(self) -> None:
        WaitForever.task = asyncio.current_task()
        await asyncio.Event().wait()


@pytest.mark.skipif(sys.version_info < (3, 11), reason="Task.cancelling() is 3.11+")
def test_cancelling_the_handler_task_answers_500_quietly() -> None:
    # Cancelling the Task a handler runs in (a shutdown, a TaskGroup) sends a
    # 500 without logging an uncaught exception; the Task ends cancelled and
    # the connection closes.
    WaitForever.task = None
    with serve(web.Application([("/", WaitForever)])) as c:
        with socket.create_connection(("127.0.0.1", c.port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            for _ in range(200):
                if WaitForever.task is not None:
                    break
                c.call(lambda: None)
            task = WaitForever.task
            assert task is not None
            c.call(task.cancel)
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        assert data.startswith(b"HTTP/1.1 500 ")
        assert c.call(task.cancelled)


def test_http_error_str_and_messages() -> None:
    e = web.HTTPError(404, "no %s here", "cake")
    assert str(e) == "HTTP 404: Not Found (no cake here)"
    assert web.HTTPError(599, reason="Odd").__str__() == "HTTP 599: Odd"
    assert web.HTTPError(400, "100%").log_message == "100%%"
    assert web.MissingArgumentError("x").status_code == 400
    with pytest.raises(TypeError):
        web.stream_request_body(object)  # type: ignore[type-var]


class _RecordingConnection:
    """Records what a delegate writes (a pure protocol check of the
    delegate.finish() contract; everything else uses sockets)."""

    def __init__(self) -> None:
        self.head: Any = None
        self.body = b""
        self.finished = False

    def set_close_callback(self, cb: Any) -> None:
        pass

    def write_headers(self, start_line: Any, headers: Any, chunk: bytes = b"") -> Any:
        self.head = (start_line, headers)
        self.body += chunk
        return None

    def write(self, chunk: bytes) -> Any:
        self.body += chunk
        return None

    def finish(self) -> None:
        self.finished = True


def test_delegate_finish_returns_the_async_remainder() -> None:
    app = web.Application([("/", Hello), ("/async", AsyncHello)])

    async def run(path: str) -> tuple[_RecordingConnection, Any]:
        conn = _RecordingConnection()
        start = httputil.RequestStartLine("GET", path, "HTTP/1.1")
        headers = httputil.HTTPHeaders({"Host": "x"})
        delegate = app.start_request(None, conn)  # type: ignore[arg-type]
        delegate.headers_received(start, headers)
        rest = delegate.finish()
        if rest is not None:
            assert not conn.finished  # nothing ran in the background
            await rest
        return conn, rest

    conn, rest = asyncio.run(run("/"))
    assert rest is None and conn.finished and conn.body == b"Hello, world"
    conn, rest = asyncio.run(run("/async"))
    assert rest is not None and conn.finished and conn.body == b"async True"
    assert conn.head[0].code == 200


# -- more built-ins, settings and template files -------------------------------------------------


def wsgi_like_fallback(request: Any) -> None:
    body = b"fallback got " + request.path.encode()
    request.connection.write_headers(
        httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
        httputil.HTTPHeaders({"Content-Length": str(len(body))}),
        body,
    )
    request.connection.finish()


class Defaults(web.RequestHandler):
    def set_default_headers(self) -> None:
        self.set_header("X-Frame-Options", "DENY")

    def compute_etag(self) -> None:
        return None

    def get(self) -> None:
        if self.get_argument("fail", None):
            raise web.HTTPError(400)
        db = self.settings["database"]
        self.write(
            f"{db} {self.reverse_url('defaults')} {self.application.settings['database']}"
        )


def test_fallback_default_headers_settings_and_reverse_url() -> None:
    app = web.Application(
        [
            web.url("/defaults", Defaults, name="defaults"),
            (r"/wsgi/.*", web.FallbackHandler, {"fallback": wsgi_like_fallback}),
        ],
        database="db-handle",
    )
    with serve(app) as c:
        r = c.fetch("/defaults")
        assert r.text == "db-handle /defaults db-handle"
        assert r.headers["X-Frame-Options"] == "DENY" and "Etag" not in r.headers
        with LogCapture(gen_log.name):
            r = c.fetch("/defaults?fail=1")
        # Default headers survive clear() for error pages.
        assert r.status == 400 and r.headers["X-Frame-Options"] == "DENY"
        assert c.fetch("/wsgi/x/y").text == "fallback got /wsgi/x/y"
        r = c.fetch("/missing")
        assert r.status == 404
        assert (
            r.text
            == "<html><title>404: Not Found</title><body>404: Not Found</body></html>"
        )


class FilePage(web.RequestHandler):
    def get(self) -> None:
        self.render("page.html", text="see http://example.com/x")


def test_template_files_static_url_builtin_modules_and_reload(tmp_path: Any) -> None:
    tdir = tmp_path / "templates"
    sdir = tmp_path / "static"
    tdir.mkdir()
    sdir.mkdir()
    (sdir / "app.css").write_text("p{}")
    page = tdir / "page.html"
    page.write_text(
        "<html><head></head><body>v1 {{ static_url('app.css') }} "
        "{% module linkify(text) %} {% module xsrf_form_html() %}</body></html>"
    )
    app = web.Application(
        [("/", FilePage)],
        template_path=str(tdir),
        static_path=str(sdir),
        compiled_template_cache=False,
    )
    with serve(app) as c:
        html = c.fetch("/").text
        assert "v1 /static/app.css?v=" in html
        assert '<a href="http://example.com/x">http://example.com/x</a>' in html
        assert 'name="_xsrf"' in html
        page.write_text("<html><head></head><body>v2</body></html>")
        assert "v2" in c.fetch("/").text  # no compiled template cache


def test_debug_setting_turns_on_tracebacks_and_no_caches() -> None:
    app = web.Application([(r"/err/([\w-]+)", Errors)], debug=True, autoreload=False)
    assert app.settings["serve_traceback"] is True
    assert app.settings["compiled_template_cache"] is False
    assert app.settings["static_hash_cache"] is False
    with serve(app) as c:
        with LogCapture(app_log.name):
            r = c.fetch("/err/plain")
        assert r.status == 500 and "ZeroDivisionError" in r.text


class ClassicWrapped(web.RequestHandler):
    @web.asynchronous
    def get(self) -> None:
        cb = self.async_callback(self.step, self.get_argument("n"))
        IOLoop.current().add_callback(cb)

    def step(self, n: str) -> None:
        if n == "0":
            raise web.HTTPError(409)
        self.write("first,")
        self.flush(callback=self.done)

    def done(self) -> None:
        self.finish("second")


def test_classic_async_callback_and_flush_callback() -> None:
    with serve(web.Application([("/", ClassicWrapped)])) as c:
        r = c.fetch("/?n=1")
        assert (r.status, r.text) == (200, "first,second")
        assert c.fetch("/?n=0").status == 409


def test_application_listen_serves_on_a_port() -> None:
    import http.client
    import threading

    from whirlwind.loop import new_event_loop

    loop = new_event_loop()
    result: list[Any] = []

    async def main() -> None:
        server = web.Application([("/", Hello)]).listen(0, "127.0.0.1")
        port = next(iter(server._sockets.values())).getsockname()[1]

        def client() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/")
            result.append(conn.getresponse().read())
            conn.close()

        t = threading.Thread(target=client)
        t.start()
        while t.is_alive():
            await asyncio.sleep(0.005)
        server.stop()
        await server.close_all_connections()

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    assert result == [b"Hello, world"]


@pytest.mark.parametrize("loop_kind", ["whirlwind", "asyncio"])
def test_core_paths_on_each_loop(loop_kind: str) -> None:
    with serve(base_app(), loop_kind=loop_kind) as c:
        assert c.fetch("/").text == "Hello, world"
        assert c.fetch("/async").text == "async True"
        assert c.fetch("/classic").text == "classic done"
        assert c.fetch("/classic?mode=http").status == 500
        assert (
            json.loads(c.fetch("/stream", "PUT", body=b"y" * 70000).body)["size"]
            == 70000
        )


def test_access_log_level_and_settings_changes_take_effect() -> None:
    app = web.Application([("/", Quiet)])
    with serve(app) as c:
        with LogCapture(access_log.name) as logs:
            c.fetch("/?s=200")
            access_log.setLevel(logging.WARNING)
            c.fetch("/?s=200")
            c.fetch("/?s=404")
            access_log.setLevel(logging.INFO)
            c.fetch("/?s=201")
            logging.disable(logging.INFO)
            try:
                c.fetch("/?s=202")
            finally:
                logging.disable(logging.NOTSET)
        assert [r.getMessage().split(" ")[0] for r in logs.records] == [
            "200",
            "404",
            "201",
        ]
        # log_function set after requests were served replaces the access log.
        seen: list[int] = []
        app.settings["log_function"] = lambda h: seen.append(h.get_status())
        c.fetch("/?s=203")
        assert seen == [203]
        app.settings.pop("log_function")
        with LogCapture(access_log.name) as logs:
            c.fetch("/?s=204")
        assert [r.getMessage().split(" ")[0] for r in logs.records] == ["204"]


class ClassicPoll(web.RequestHandler):
    noticed = False
    started = False

    @web.asynchronous
    def get(self) -> None:
        # Returns at once without finishing: the request stays open.
        ClassicPoll.started = True

    def on_connection_close(self) -> None:
        ClassicPoll.noticed = True


def test_on_connection_close_after_synchronous_method_left_request_open() -> None:
    ClassicPoll.noticed = ClassicPoll.started = False
    with serve(web.Application([("/", ClassicPoll)])) as c:
        s = socket.create_connection(("127.0.0.1", c.port))
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        for _ in range(200):
            if ClassicPoll.started:
                break
            c.call(lambda: None)
        assert ClassicPoll.started
        s.close()
        for _ in range(200):
            if ClassicPoll.noticed:
                break
            c.call(lambda: None)
        assert ClassicPoll.noticed


def test_invalid_host_is_a_quiet_400() -> None:
    # The request is refused before routing; nothing may be logged as an
    # uncaught error (the autouse fixture fails the test otherwise).
    with serve(web.Application([("/", Hello)])) as c:
        with LogCapture(gen_log.name) as logs:
            raw = c.raw(b"GET / HTTP/1.0\r\nHost: foo bar\r\n\r\n")
        assert raw.startswith(b"HTTP/1.1 400 ")
        assert any("Invalid Host header" in m for m in logs.messages())


class Echo(web.RequestHandler):
    def get(self, text: str) -> None:
        self.write(text * int(self.get_argument("n", "1")))


def test_etags_are_sha1_of_each_body() -> None:
    import hashlib

    with serve(web.Application([("/e/(.*)", Echo)])) as c:
        # More distinct bodies than the Etag cache holds, some repeated, one
        # over the cached size.
        for i in [*range(300), 0, 1, 299]:
            r = c.fetch(f"/e/b{i}")
            assert (
                r.headers["Etag"] == f'"{hashlib.sha1(f"b{i}".encode()).hexdigest()}"'
            )
        big = c.fetch("/e/xy?n=400")
        assert big.headers["Etag"] == f'"{hashlib.sha1(b"xy" * 400).hexdigest()}"'
        again = c.fetch(
            "/e/b7", headers={"If-None-Match": f'"{hashlib.sha1(b"b7").hexdigest()}"'}
        )
        assert again.status == 304


def test_etags_of_large_bodies_follow_each_body() -> None:
    import hashlib

    def tag(body: bytes) -> str:
        return f'"{hashlib.sha1(body).hexdigest()}"'

    with serve(web.Application([("/e/(.*)", Echo)])) as c:
        # Same length, different bodies, repeated and alternating; then more
        # lengths than the per-length cache holds; then one over its size.
        for text in ["a", "b", "a", "a", "c", "b"]:
            r = c.fetch(f"/e/{text}?n=1000")
            assert r.headers["Etag"] == tag(text.encode() * 1000)
        for n in range(600, 700):
            assert c.fetch(f"/e/z?n={n}").headers["Etag"] == tag(b"z" * n)
        assert c.fetch("/e/a?n=1000").headers["Etag"] == tag(b"a" * 1000)
        huge = c.fetch("/e/q?n=40000")
        assert huge.headers["Etag"] == tag(b"q" * 40000)
        again = c.fetch("/e/b?n=1000", headers={"If-None-Match": tag(b"b" * 1000)})
        assert again.status == 304 and again.body == b""
        other = c.fetch("/e/c?n=1000", headers={"If-None-Match": tag(b"b" * 1000)})
        assert other.status == 200 and other.body == b"c" * 1000


class Tmpl(web.RequestHandler):
    def get(self) -> None:
        self.render("t.html")


def test_settings_changed_after_start_take_effect(tmp_path: Any) -> None:
    (tmp_path / "t.html").write_text("v1")
    app = web.Application([("/", Tmpl)], template_path=str(tmp_path))
    with serve(app) as c:
        assert c.fetch("/").text == "v1"
        (tmp_path / "t.html").write_text("v2")
        assert c.fetch("/").text == "v1"  # compiled templates are cached
        app.settings.update(compiled_template_cache=False)
        assert c.fetch("/").text == "v2"
        (tmp_path / "t.html").write_text("v3")
        assert c.fetch("/").text == "v3"
