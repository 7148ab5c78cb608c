"""Tests for whirlwind.httpserver with real clients: curl, http.client, urllib, raw sockets."""

from __future__ import annotations

import asyncio
import http.client
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests._http_support import (
    connect,
    echo_app,
    read_response,
    read_until_close,
    serve,
    wait_for,
)
from whirlwind.httpserver import HTTPRequest, HTTPServer
from whirlwind.httputil import (
    HTTPHeaders,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    HTTPServerRequest,
    ResponseStartLine,
)


def json_app(request: HTTPServerRequest) -> None:
    """Describe the request as JSON."""
    data = {
        "method": request.method,
        "path": request.path,
        "query": {
            k: [v.decode() for v in vs] for k, vs in request.query_arguments.items()
        },
        "args": {k: [v.decode() for v in vs] for k, vs in request.arguments.items()},
        "files": {k: [f.filename for f in fs] for k, fs in request.files.items()},
        "body": len(request.body),
        "remote_ip": request.remote_ip,
        "protocol": request.protocol,
        "host": request.host,
        "cookies": {k: m.value for k, m in request.cookies.items()},
        "full_url": request.full_url(),
    }
    body = json.dumps(data).encode()
    request.connection.write_headers(  # type: ignore[union-attr]
        ResponseStartLine("HTTP/1.1", 200, "OK"),
        HTTPHeaders(
            {"Content-Type": "application/json", "Content-Length": str(len(body))}
        ),
        body,
    )
    request.connection.finish()  # type: ignore[union-attr]


def test_http_client_keep_alive_and_forms() -> None:
    with serve(json_app) as st:
        c = http.client.HTTPConnection("127.0.0.1", st.port, timeout=5)
        c.request("GET", "/p?a=1&a=2&b=%C3%A9", headers={"Cookie": 'x=1; y="2"'})
        r = c.getresponse()
        data = json.loads(r.read())
        assert r.status == 200 and r.getheader("Date")
        assert data["query"] == {"a": ["1", "2"], "b": ["é"]}
        assert data["cookies"] == {"x": "1", "y": "2"}
        assert data["full_url"] == f"http://127.0.0.1:{st.port}/p?a=1&a=2&b=%C3%A9"
        c.request(
            "POST",
            "/form?q=1",
            body="a=x&c=y",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        data = json.loads(c.getresponse().read())
        assert data["args"] == {"q": ["1"], "a": ["x"], "c": ["y"]}
        c.request("PUT", "/chunked", body=iter([b"ab", b"cd"]), encode_chunked=True)
        assert json.loads(c.getresponse().read())["body"] == 4
        c.close()
    # One TCP connection served all three requests.
    assert len({id(r.connection.stream) for r in st.requests}) == 1  # type: ignore[union-attr]


def test_urllib_multipart_upload() -> None:
    boundary = "b0und"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\nhello\r\n--{boundary}\r\n"
        f'Content-Disposition: form-data; name="t"\r\n\r\nv\r\n--{boundary}--\r\n'
    ).encode()
    with serve(json_app) as st:
        req = urllib.request.Request(
            f"http://127.0.0.1:{st.port}/up",
            data=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            data = json.loads(resp.read())
    assert data["files"] == {"f": ["a.txt"]} and data["args"] == {"t": ["v"]}


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_curl_client() -> None:
    with serve(json_app) as st:
        url = f"http://127.0.0.1:{st.port}"
        out = subprocess.run(
            ["curl", "-sS", "--max-time", "5", "-d", "k=v", f"{url}/a", f"{url}/b?x=1",
             "-H", "Expect: 100-continue"],
            capture_output=True, check=True,
        )  # fmt: skip
        docs = out.stdout.replace(b"}{", b"}\n{").splitlines()
        assert [json.loads(d)["args"] for d in docs] == [
            {"k": ["v"]},
            {"x": ["1"], "k": ["v"]},
        ]
        # A chunked upload with a trailer-less body.
        out = subprocess.run(
            ["curl", "-sS", "--max-time", "5", "-H", "Transfer-Encoding: chunked",
             "--data-binary", "@-", f"{url}/c"],
            input=b"z" * 100_000, capture_output=True, check=True,
        )  # fmt: skip
        assert json.loads(out.stdout)["body"] == 100_000
        # Pipelined-style reuse and HTTP/1.0.
        out = subprocess.run(
            ["curl", "-sS", "--http1.0", "--max-time", "5", f"{url}/old"],
            capture_output=True, check=True,
        )  # fmt: skip
        assert json.loads(out.stdout)["path"] == "/old"


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_curl_sees_rejections() -> None:
    with serve(max_body_size=100) as st:
        url = f"http://127.0.0.1:{st.port}/"
        out = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
             "--data-binary", "x" * 1000, url],
            capture_output=True,
        )  # fmt: skip
        assert out.stdout == b"413"
        out = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
             "-H", "Transfer-Encoding: gzip, chunked", "--data-binary", "x", url],
            capture_output=True,
        )  # fmt: skip
        assert out.stdout == b"501"


def test_xheaders_and_trusted_downstream() -> None:
    cases: list[tuple[dict[str, str], str, str]] = [
        ({}, "127.0.0.1", "http"),
        ({"X-Real-Ip": "4.4.4.4"}, "4.4.4.4", "http"),
        ({"X-Forwarded-For": "4.4.4.4, 5.5.5.5"}, "5.5.5.5", "http"),
        ({"X-Forwarded-For": "4.4.4.4, 10.0.0.1"}, "4.4.4.4", "http"),  # trusted proxy
        ({"X-Real-Ip": "not an ip"}, "127.0.0.1", "http"),
        ({"X-Real-Ip": "2001:db8::1"}, "2001:db8::1", "http"),
        ({"X-Scheme": "https"}, "127.0.0.1", "https"),
        ({"X-Forwarded-Proto": "http, https"}, "127.0.0.1", "https"),
        ({"X-Forwarded-Proto": "gopher"}, "127.0.0.1", "http"),
    ]
    with serve(json_app, xheaders=True, trusted_downstream=["10.0.0.1"]) as st:
        c = http.client.HTTPConnection("127.0.0.1", st.port, timeout=5)
        for headers, ip, proto in cases:
            c.request("GET", "/", headers=headers)
            data = json.loads(c.getresponse().read())
            # Each request starts from the real peer: nothing leaks across.
            assert (data["remote_ip"], data["protocol"]) == (ip, proto), headers
        c.close()
    with serve(json_app) as st:
        c = http.client.HTTPConnection("127.0.0.1", st.port, timeout=5)
        c.request("GET", "/", headers={"X-Real-Ip": "4.4.4.4", "X-Scheme": "https"})
        data = json.loads(c.getresponse().read())
        c.close()
        assert (data["remote_ip"], data["protocol"]) == ("127.0.0.1", "http")


def test_protocol_option() -> None:
    with serve(json_app, protocol="https") as st:
        with urllib.request.urlopen(f"http://127.0.0.1:{st.port}/", timeout=5) as r:
            assert json.loads(r.read())["protocol"] == "https"


def test_tls_server(cert: tuple[str, str]) -> None:
    certfile, keyfile = cert
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certfile, keyfile)
    with serve(json_app, ssl_options=ctx) as st:
        client_ctx = ssl.create_default_context(cafile=certfile)
        c = http.client.HTTPSConnection(
            "127.0.0.1", st.port, context=client_ctx, timeout=5
        )
        for _ in range(2):
            c.request("POST", "/s", body=b"x" * 50_000)
            data = json.loads(c.getresponse().read())
            assert data["protocol"] == "https" and data["body"] == 50_000
        c.close()
        # A TLS connection sending a malformed request gets a 400 too.
        raw = socket.create_connection(("127.0.0.1", st.port), timeout=5)
        with client_ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\nx")
            assert s.recv(100).startswith(b"HTTP/1.1 400 ")
        assert st.requests[0].get_ssl_certificate() is None  # no client certificate


def test_delegate_interface() -> None:
    events: list[str] = []

    class Message(HTTPMessageDelegate):
        def __init__(self, conn: Any) -> None:
            self.conn = conn
            self.size = 0

        def headers_received(self, start_line: Any, headers: HTTPHeaders) -> None:
            events.append(f"headers {start_line.method} {start_line.path}")

        def data_received(self, chunk: bytes) -> None:
            self.size += len(chunk)

        def finish(self) -> None:
            events.append(f"finish {self.size}")
            self.conn.write_headers(
                ResponseStartLine("HTTP/1.1", 204, "No Content"), HTTPHeaders()
            )
            self.conn.finish()

    class App(HTTPServerConnectionDelegate):
        def start_request(
            self, server_conn: object, request_conn: Any
        ) -> HTTPMessageDelegate:
            return Message(request_conn)

        def on_close(self, server_conn: object) -> None:
            events.append("close")

    with serve(App(), chunk_size=1000) as st, connect(st.port) as s:
        s.sendall(
            b"PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n" + b"y" * 5000
        )
        code, headers, body = read_response(s)
        assert code == 204 and body == b"" and "Transfer-Encoding" not in headers
    assert wait_for(lambda: "close" in events)
    assert events == ["headers PUT /x", "finish 5000", "close"]


def test_close_all_connections() -> None:
    with serve() as st:
        socks = [connect(st.port) for _ in range(3)]
        for s in socks[:2]:
            s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            read_response(s)
        assert wait_for(lambda: len(st.server._connections) == 3)  # type: ignore[union-attr]
        st.call(st.server.close_all_connections)  # type: ignore[union-attr]
        for s in socks:
            assert read_until_close(s) == (b"", True)
            s.close()


def test_cancelling_the_connection_task_sends_the_answer_then_closes() -> None:
    # The handler runs in its connection's Task. Cancelling that Task lets the
    # handler answer, then the connection closes and the Task ends cancelled
    # (the cancellation is not swallowed).
    tasks: list[asyncio.Task[Any]] = []

    async def app(request: HTTPServerRequest) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.append(task)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            body = b"cancelled"
            request.connection.write_headers(  # type: ignore[union-attr]
                ResponseStartLine("HTTP/1.1", 503, "Service Unavailable"),
                HTTPHeaders({"Content-Length": str(len(body))}),
                body,
            )
            request.connection.finish()  # type: ignore[union-attr]
            raise

    with serve(app) as st, connect(st.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert wait_for(lambda: bool(tasks))
        st.call(tasks[0].cancel)
        code, _, body = read_response(s)
        assert (code, body) == (503, b"cancelled")
        assert read_until_close(s) == (b"", True)
        assert wait_for(lambda: st.call(tasks[0].done))
        assert st.call(tasks[0].cancelled)
        assert wait_for(lambda: not st.server._connections)  # type: ignore[union-attr]


def test_close_all_connections_with_a_handler_suspended() -> None:
    # close_all_connections cancels the suspended handler's Task; the caller
    # is not itself cancelled by that, and returns once the loop has ended.
    started = threading.Event()

    async def app(request: HTTPServerRequest) -> None:
        started.set()
        await asyncio.Event().wait()

    with serve(app) as st, connect(st.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert started.wait(5)

        async def close_all() -> str:
            await st.server.close_all_connections()  # type: ignore[union-attr]
            return "returned"

        assert st.call(close_all) == "returned"
        assert not st.server._connections  # type: ignore[union-attr]
        assert read_until_close(s) == (b"", True)


def test_graceful_drain() -> None:
    release = threading.Event()

    async def slow_app(request: HTTPServerRequest) -> None:
        while not release.is_set():
            await asyncio.sleep(0.01)
        echo_app(request)

    with serve(slow_app) as st:
        busy = connect(st.port)
        idle = connect(st.port)
        idle.sendall(b"GET /first HTTP/1.1\r\nHost: a\r\n\r\n")
        release.set()
        read_response(idle)
        release.clear()
        busy.sendall(b"GET /busy HTTP/1.1\r\nHost: a\r\n\r\n")
        assert wait_for(lambda: len(st.requests) == 2)
        fut = asyncio.run_coroutine_threadsafe(st.server.drain(timeout=5), st.loop)  # type: ignore[union-attr]
        # The idle keep-alive connection is closed at once ...
        assert read_until_close(idle) == (b"", True)
        # ... new connections are refused ...
        assert wait_for(lambda: _refused(st.port))
        # ... and the in-flight request still gets its full response, then a close.
        release.set()
        code, headers, body = read_response(busy)
        assert (code, body, headers["Connection"]) == (200, b"GET /busy 0", "close")
        assert read_until_close(busy) == (b"", True)
        fut.result(5)
        busy.close()
        idle.close()


def test_drain_before_a_consolidated_flush_still_sends_the_answer() -> None:
    # A keep-alive answer goes out with the rest of the loop iteration's
    # answers (flush consolidation).  A drain that reaches the connection
    # before that flush must send the answer, then close.
    servers: list[Any] = []

    def drain_connections() -> None:
        for conn in list(servers[0]._connections):
            assert conn._corking  # the answer is still held back
            conn.drain()

    def app(request: HTTPServerRequest) -> None:
        echo_app(request)
        asyncio.get_running_loop().call_soon(drain_connections)

    with serve(app) as st, connect(st.port) as s:
        servers.append(st.server)
        s.sendall(b"GET /last HTTP/1.1\r\nHost: a\r\n\r\n")
        code, _, body = read_response(s)
        assert (code, body) == (200, b"GET /last 0")
        assert read_until_close(s) == (b"", True)


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def test_drain_deadline_cuts_off_stuck_requests() -> None:
    async def stuck_app(request: HTTPServerRequest) -> None:
        await asyncio.sleep(30)

    with serve(stuck_app) as st, connect(st.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert wait_for(lambda: len(st.requests) == 1)
        start = time.monotonic()
        st.call(lambda: st.server.drain(timeout=0.3))  # type: ignore[union-attr]
        assert time.monotonic() - start < 3
        assert read_until_close(s) == (b"", True)


def test_unix_socket(tmp_path: Any) -> None:
    from whirlwind.netutil import bind_unix_socket

    path = str(tmp_path / "http.sock")
    with serve(json_app) as st:

        async def add() -> None:
            st.server.add_socket(bind_unix_socket(path))  # type: ignore[union-attr]

        st.call(add)
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(path)
            s.sendall(b"GET /u HTTP/1.0\r\n\r\n")
            data, _ = read_until_close(s)
        assert json.loads(data.partition(b"\r\n\r\n")[2])["remote_ip"] == "0.0.0.0"


def test_httprequest_alias_and_configurable() -> None:
    assert HTTPRequest is HTTPServerRequest
    assert HTTPServer.configurable_base() is HTTPServer


@pytest.fixture
def many_requests_server() -> Iterator[Any]:
    with serve() as st:
        yield st


def test_many_sequential_keep_alive_requests(many_requests_server: Any) -> None:
    with connect(many_requests_server.port) as s:
        for i in range(300):
            s.sendall(b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % i)
            assert read_response(s)[2] == b"GET /%d 0" % i


def test_inline_handlers_keep_their_own_context_and_task_semantics() -> None:
    import contextvars
    import sys

    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")

    async def app(request: HTTPServerRequest) -> None:
        seen = var.get()
        var.set(request.path)  # must not leak into the next request
        outcome = "no-timeout-api"
        if sys.version_info >= (3, 11):
            # Entered before the handler first suspends: it must cancel the
            # task that runs the handler, whichever that is.
            try:
                async with asyncio.timeout(0.05):
                    await asyncio.sleep(5)
                outcome = "not-timed-out"
            except TimeoutError:
                outcome = "timed-out"
        await asyncio.sleep(0.01)  # suspend: the rest runs in the same context
        assert var.get() == request.path
        body = f"{seen} {outcome}".encode()
        request.connection.write_headers(  # type: ignore[union-attr]
            ResponseStartLine("HTTP/1.1", 200, "OK"),
            HTTPHeaders({"Content-Length": str(len(body))}),
            body,
        )
        request.connection.finish()  # type: ignore[union-attr]

    expected = "timed-out" if sys.version_info >= (3, 11) else "no-timeout-api"
    with serve(app) as st, connect(st.port) as s:
        for path in (b"/one", b"/two"):
            s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: a\r\n\r\n")
            code, _, body = read_response(s)
            assert (code, body) == (200, f"unset {expected}".encode())


def _hi(request: HTTPServerRequest) -> None:
    assert request.connection is not None
    request.connection.write_headers(
        ResponseStartLine("HTTP/1.1", 200, "OK"),
        HTTPHeaders({"Content-Length": "2"}),
        b"hi",
    )
    request.connection.finish()


def test_closed_connections_leave_no_reference_cycles() -> None:
    # Reference counting alone must free a served and closed connection: a
    # failed read's exception refers to the reading frames, which must not
    # hold its Future (that would be a cycle kept until the collector runs).
    import gc

    from whirlwind.loop import new_event_loop

    async def serve_once() -> None:
        server = HTTPServer(_hi)
        sock = socket.create_server(("127.0.0.1", 0))
        sock.setblocking(False)
        server.add_sockets([sock])
        port = sock.getsockname()[1]

        def client() -> None:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
                for _ in range(2):
                    c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    got = b""
                    while not got.endswith(b"hi"):
                        got += c.recv(1000)

        await asyncio.get_running_loop().run_in_executor(None, client)
        await asyncio.sleep(0.05)  # the server sees the close
        server.stop()
        await server.close_all_connections()

    async def main() -> list[str]:
        await serve_once()  # warm-up: caches and the executor are not garbage
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            await serve_once()
            gc.collect()
            return sorted({type(o).__name__ for o in gc.garbage})
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()

    loop = new_event_loop()
    try:
        garbage = loop.run_until_complete(main())
    finally:
        loop.close()
    assert "HTTP1ServerConnection" not in garbage, garbage
    assert "HTTP1Connection" not in garbage, garbage
