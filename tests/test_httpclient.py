"""Tests for whirlwind.httpclient and simple_httpclient against real servers:
Python's http.server in a thread, whirlwind's own HTTPServer, raw sockets."""

from __future__ import annotations

import asyncio
import base64
import gzip
import http.server
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests._http_support import run_async, serve
from whirlwind.httpclient import (
    AsyncHTTPClient,
    HTTPClient,
    HTTPClientError,
    HTTPError,
    HTTPRequest,
    HTTPResponse,
)
from whirlwind.httputil import HTTPHeaders, HTTPServerRequest, ResponseStartLine
from whirlwind.iostream import UnsatisfiableReadError
from whirlwind.loop import new_event_loop
from whirlwind.simple_httpclient import (
    HTTPStreamClosedError,
    HTTPTimeoutError,
    SimpleAsyncHTTPClient,
)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections: set[int] = set()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(
        self, code: int, body: bytes, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _echo(self) -> None:
        _Handler.connections.add(id(self.connection))
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.headers.get("Transfer-Encoding") == "chunked":
            while True:
                size = int(self.rfile.readline().strip(), 16)
                body += self.rfile.read(size)
                self.rfile.readline()
                if size == 0:
                    break
        path = self.path
        if path.startswith("/redirect"):
            code, _, target = path[len("/redirect/") :].partition("/")
            self._send(
                int(code),
                b"moving",
                {
                    "Location": "/" + target.replace("!", "://", 1)
                    if "!" in target
                    else "/" + target
                },
            )
            return
        if path.startswith("/abs-redirect"):
            self._send(302, b"", {"Location": path.split("?to=")[1]})
            return
        if path == "/gzip":
            self._send(200, gzip.compress(b"z" * 100_000), {"Content-Encoding": "gzip"})
            return
        if path == "/bomb":
            self._send(
                200, gzip.compress(b"\0" * (4 << 20)), {"Content-Encoding": "gzip"}
            )
            return
        if path == "/slow":
            time.sleep(1.5)
        if path == "/404":
            self._send(404, b"nope")
            return
        if path == "/big-head":
            self._send(200, b"ok", {"X-Filler": "a" * 5000})
            return
        info = {
            "method": self.command,
            "path": path,
            "body": body.decode("latin1"),
            "headers": {k: v for k, v in self.headers.items()},
        }
        self._send(200, json.dumps(info).encode(), {"Content-Type": "application/json"})

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _echo


@pytest.fixture(scope="module")
def pyserver() -> Iterator[str]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


run = run_async


async def _fetch(
    url: str, client_kwargs: dict[str, Any] | None = None, **kwargs: Any
) -> HTTPResponse:
    client = AsyncHTTPClient(force_instance=True, **(client_kwargs or {}))
    try:
        return await client.fetch(url, **kwargs)  # type: ignore[no-any-return]
    finally:
        client.close()


def test_get_post_and_headers(pyserver: str) -> None:
    async def main() -> None:
        client = AsyncHTTPClient()
        assert isinstance(client, SimpleAsyncHTTPClient)
        assert AsyncHTTPClient() is client  # one per loop
        r = await client.fetch(pyserver + "/a?x=1")
        info = json.loads(r.body)
        assert (r.code, info["method"], info["path"]) == (200, "GET", "/a?x=1")
        assert info["headers"]["User-Agent"].startswith("whirlwind/")
        assert info["headers"]["Accept-Encoding"] == "gzip"
        assert r.headers["Content-Type"] == "application/json"
        assert r.effective_url == pyserver + "/a?x=1" and r.request_time is not None
        r = await client.fetch(
            pyserver + "/p", method="POST", body="k=\u00e9", headers={"X-A": "1"}
        )
        info = json.loads(r.body)
        assert info["body"] == "k=\xc3\xa9"
        assert info["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
        assert info["headers"]["X-A"] == "1"
        client.close()

    run(main())


def test_keep_alive_reuses_connections(pyserver: str) -> None:
    async def main() -> None:
        client = AsyncHTTPClient(force_instance=True)
        _Handler.connections.clear()
        for _ in range(5):
            await client.fetch(pyserver + "/k")
        assert len(_Handler.connections) == 1
        client.close()

    run(main())


def test_basic_auth_and_redirect_rules(pyserver: str) -> None:
    async def main() -> None:
        r = await _fetch(pyserver + "/auth", auth_username="foo", auth_password="bar")
        token = base64.b64encode(b"foo:bar").decode()
        assert json.loads(r.body)["headers"]["Authorization"] == "Basic " + token
        # Same origin: credentials kept; 303 and 301/302-after-POST become GET.
        for code, method in [
            (301, "GET"),
            (302, "GET"),
            (303, "GET"),
            (307, "POST"),
            (308, "POST"),
        ]:
            r = await _fetch(
                f"{pyserver}/redirect/{code}/target",
                method="POST",
                body="data",
                headers={"Cookie": "c=1"},
                auth_username="u",
                auth_password="p",
            )
            info = json.loads(r.body)
            assert (info["method"], info["path"]) == (method, "/target"), code
            assert info["body"] == ("data" if method == "POST" else "")
            assert (
                "Authorization" in info["headers"]
                and info["headers"]["Cookie"] == "c=1"
            )
            assert r.effective_url == pyserver + "/target"
        # Another origin (127.0.0.1 vs localhost): Authorization and Cookie dropped.
        other = pyserver.replace("127.0.0.1", "localhost")
        r = await _fetch(
            f"{pyserver}/abs-redirect?to={other}/elsewhere",
            headers={"Cookie": "c=1"},
            auth_username="u",
            auth_password="p",
        )
        headers = json.loads(r.body)["headers"]
        assert "Authorization" not in headers and "Cookie" not in headers
        # follow_redirects=False and max_redirects.
        r = await _fetch(
            f"{pyserver}/redirect/302/x", follow_redirects=False, raise_error=False
        )
        assert r.code == 302 and r.headers["Location"] == "/x"
        r = await _fetch(
            f"{pyserver}/redirect/302/redirect/302/x",
            max_redirects=1,
            raise_error=False,
        )
        assert r.code == 302

    run(main())


def test_errors_and_raise_error(pyserver: str) -> None:
    async def main() -> None:
        with pytest.raises(HTTPClientError) as info:
            await _fetch(pyserver + "/404")
        assert info.value.code == 404 and info.value.response is not None
        assert info.value.response.body == b"nope"
        assert HTTPError is HTTPClientError
        r = await _fetch(pyserver + "/404", raise_error=False)
        assert r.code == 404 and isinstance(r.error, HTTPClientError)
        with pytest.raises(HTTPClientError):
            r.rethrow()
        with pytest.raises(HTTPTimeoutError) as t:
            await _fetch(pyserver + "/slow", request_timeout=0.2)
        assert t.value.code == 599
        # Connection refused: a network error, raised even with raise_error=False.
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        with pytest.raises(OSError):
            await _fetch(f"http://127.0.0.1:{port}/", raise_error=False)
        with pytest.raises(ValueError):
            await _fetch(pyserver + "/", method="POST")  # body required
        with pytest.raises(ValueError):
            await _fetch("ftp://example.com/")

    run(main())


def test_classic_callback(pyserver: str) -> None:
    got: list[HTTPResponse] = []

    async def main() -> None:
        client = AsyncHTTPClient(force_instance=True)
        client.fetch(pyserver + "/cb", got.append)
        client.fetch(
            HTTPRequest(pyserver + "/404", method="POST", body=json.dumps({"key": "value"}),
                        headers={"Content-type": "application/json"},
                        auth_username="foo", auth_password="bar", validate_cert=False),
            callback=got.append,
        )  # fmt: skip
        for _ in range(200):
            if len(got) == 2:
                break
            await asyncio.sleep(0.01)
        client.close()

    run(main())
    by_code = {r.code: r for r in got}
    assert by_code[200].error is None
    assert isinstance(by_code[404].error, HTTPClientError)  # not raised


def test_gzip_and_bounded_decompression(pyserver: str) -> None:
    async def main() -> None:
        r = await _fetch(pyserver + "/gzip")
        assert r.body == b"z" * 100_000
        assert r.headers["X-Consumed-Content-Encoding"] == "gzip"
        r = await _fetch(pyserver + "/gzip", decompress_response=False)
        assert gzip.decompress(r.body) == b"z" * 100_000
        client = AsyncHTTPClient(force_instance=True, max_body_size=1 << 20)
        with pytest.raises(HTTPStreamClosedError):
            await client.fetch(pyserver + "/bomb")
        client.close()

    run(main())


def test_streaming_and_header_callbacks(pyserver: str) -> None:
    chunks: list[bytes] = []
    lines: list[str] = []

    async def main() -> None:
        r = await _fetch(
            pyserver + "/gzip",
            streaming_callback=chunks.append,
            header_callback=lines.append,
        )
        assert r.body == b""

    run(main())
    assert b"".join(chunks) == b"z" * 100_000
    assert lines[0].startswith("HTTP/1.1 200") and lines[-1] == "\r\n"


def test_body_producer_and_100_continue() -> None:
    async def producer(write: Any) -> None:
        for part in (b"ab", b"cd"):
            await write(part)

    with serve() as st:
        url = f"http://127.0.0.1:{st.port}/up"

        async def main() -> None:
            r = await _fetch(url, method="PUT", body_producer=producer)
            assert r.body == b"PUT /up 4"
            r = await _fetch(
                url, method="PUT", body=b"x" * 1000, expect_100_continue=True
            )
            assert r.body == b"PUT /up 1000"

        run(main())
    assert st.requests[0].headers["Transfer-Encoding"] == "chunked"


def test_max_clients_queues(pyserver: str) -> None:
    async def main() -> None:
        client = AsyncHTTPClient(force_instance=True, max_clients=2)
        start = time.monotonic()
        rs = await asyncio.gather(
            *[client.fetch(pyserver + f"/q{i}") for i in range(6)]
        )
        assert [json.loads(r.body)["path"] for r in rs] == [f"/q{i}" for i in range(6)]
        assert time.monotonic() - start < 5
        client.close()

    run(main())


def test_reused_connection_closed_by_server_is_retried() -> None:
    def app(request: HTTPServerRequest) -> None:
        conn = request.connection
        assert conn is not None
        conn.write_headers(
            ResponseStartLine("HTTP/1.1", 200, "OK"),
            HTTPHeaders({"Content-Length": "2"}),
            b"ok",
        )
        conn.finish()

    with serve(app, idle_connection_timeout=0.1) as st:
        url = f"http://127.0.0.1:{st.port}/"

        async def main() -> None:
            client = AsyncHTTPClient(force_instance=True)
            assert (await client.fetch(url)).body == b"ok"
            await asyncio.sleep(1.5)  # the server drops the idle connection
            assert (await client.fetch(url)).body == b"ok"
            client.close()

        run(main())


def test_server_closing_mid_response() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve_once() -> None:
        c, _ = listener.accept()
        c.recv(4096)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
        c.close()

    t = threading.Thread(target=serve_once, daemon=True)
    t.start()
    with pytest.raises(HTTPStreamClosedError):
        run(_fetch(f"http://127.0.0.1:{port}/"))
    t.join(5)
    listener.close()


def test_blocking_client(pyserver: str) -> None:
    client = HTTPClient()
    try:
        r = client.fetch(pyserver + "/blocking")
        assert json.loads(r.body)["path"] == "/blocking"
        with pytest.raises(HTTPClientError):
            client.fetch(pyserver + "/404")
        assert client.fetch(pyserver + "/404", raise_error=False).code == 404
    finally:
        client.close()


def test_command_line(pyserver: str) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "whirlwind.httpclient",
            "--print_headers",
            pyserver + "/cli",
        ],
        capture_output=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    assert b"Content-Type: application/json" in out.stdout
    assert b'"path": "/cli"' in out.stdout


def test_request_object() -> None:
    r = HTTPRequest("http://h/", headers={"a": "b"}, body="\u00e9", if_modified_since=1)
    assert r.body == b"\xc3\xa9"
    assert r.headers["If-Modified-Since"] == "Thu, 01 Jan 1970 00:00:01 GMT"
    r.headers = None  # type: ignore[assignment]
    assert r.headers == {}
    resp = HTTPResponse(r, 500)
    assert isinstance(resp.error, HTTPClientError) and resp.body == b""
    assert str(resp.error) == "HTTP 500: Internal Server Error"


def test_tls_client_validates(cert: tuple[str, str]) -> None:
    import ssl

    certfile, key = cert
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certfile, key)
    with serve(ssl_options=ctx) as st:
        url = f"https://127.0.0.1:{st.port}/t"

        async def main() -> None:
            with pytest.raises(ssl.SSLError):
                await _fetch(url)  # self-signed: refused by default
            assert (await _fetch(url, ca_certs=certfile)).body == b"GET /t 0"
            assert (await _fetch(url, validate_cert=False)).body == b"GET /t 0"

        run(main())


def test_response_head_over_max_header_size_fails_the_fetch(pyserver: str) -> None:
    # The response head does not fit: the connection is dropped and the fetch
    # fails with the stream's error (as in Tornado 6, raise_error=False only
    # turns HTTP status errors into responses), never with a made-up status.
    with pytest.raises(UnsatisfiableReadError, match="1024 bytes"):
        run(
            _fetch(
                pyserver + "/big-head",
                client_kwargs={"max_header_size": 1024},
                raise_error=False,
            )
        )
    ok = run(_fetch(pyserver + "/big-head", raise_error=False))
    assert ok.code == 200 and ok.body == b"ok"


def _cyclic_garbage(fn: Any) -> list[str]:
    """Run ``fn`` with the collector off; return the types of cyclic garbage it left."""
    import gc

    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        fn()
        gc.collect()
        names = sorted({type(o).__name__ for o in gc.garbage})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    return names


def test_fetch_leaves_no_reference_cycles(pyserver: str) -> None:
    # Reference counting alone must free the connection objects of a fetch
    # (Tornado's circlerefs test asks the same): cycles make a busy client
    # hold memory until the cyclic collector runs.
    async def main() -> None:
        client = AsyncHTTPClient(force_instance=True)
        for path in ("/a", "/b"):
            r = await client.fetch(pyserver + path)
            assert r.code == 200
        client.close()

    def fetch_twice() -> None:
        loop = new_event_loop()
        try:
            loop.run_until_complete(main())
        finally:
            loop.close()

    fetch_twice()  # warm-up: module-level caches are not garbage
    garbage = _cyclic_garbage(fetch_twice)
    assert "HTTP1Connection" not in garbage, garbage
    assert "_HTTPConnection" not in garbage, garbage
