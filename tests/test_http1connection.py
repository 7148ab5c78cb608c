"""Tests for whirlwind.http1connection over real sockets.

Hostile requests live in tests/corpus/<name>.<status>.http: each is sent raw
to a server and must get exactly that status line, then a clean close
(EOF, not a reset), and must never reach the application.  Status 000 would
mean "closed without a response".
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._http_support import (
    ServerThread,
    connect,
    read_response,
    read_until_close,
    serve,
    wait_for,
)
from whirlwind.http1connection import (
    HTTP1Connection,
    HTTP1ConnectionParameters,
    http_date,
    is_transfer_encoding_chunked,
    parse_hex_int,
    parse_int,
)
from whirlwind.httputil import (
    HTTPHeaders,
    HTTPInputError,
    HTTPMessageDelegate,
    HTTPServerRequest,
    RequestStartLine,
    ResponseStartLine,
)
from whirlwind.iostream import IOStream
from whirlwind.loop import new_event_loop

CORPUS = sorted((Path(__file__).parent / "corpus").glob("*.http"))


@pytest.fixture(scope="module")
def strict_server() -> Iterator[ServerThread]:
    with serve(max_body_size=1024, max_header_size=8192) as st:
        yield st


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_corpus(strict_server: ServerThread, path: Path) -> None:
    expected = int(path.stem.rsplit(".", 1)[1])
    before = len(strict_server.requests)
    with connect(strict_server.port) as s:
        s.sendall(path.read_bytes())
        data, clean = read_until_close(s)
    if expected == 0:
        assert data == b""
    else:
        assert data.startswith(b"HTTP/1.1 %d " % expected), data[:80]
        assert data.endswith(b"\r\n\r\n")
        assert clean, "connection was reset instead of closed"
    assert len(strict_server.requests) == before, "bad request reached the app"


@pytest.mark.parametrize("path", CORPUS[:12], ids=[p.stem for p in CORPUS[:12]])
def test_corpus_byte_at_a_time(strict_server: ServerThread, path: Path) -> None:
    # The same verdict when the request trickles in one byte per write.
    expected = int(path.stem.rsplit(".", 1)[1])
    with connect(strict_server.port) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for b in path.read_bytes():
            try:
                s.send(bytes([b]))
            except OSError:
                break
        data, clean = read_until_close(s)
    assert data.startswith(b"HTTP/1.1 %d " % expected) if expected else data == b""


def test_valid_requests_after_corpus_still_served(strict_server: ServerThread) -> None:
    with connect(strict_server.port) as s:
        s.sendall(b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
        code, headers, body = read_response(s)
    assert (code, body) == (200, b"GET /ok 0")
    assert "Date" in headers


# -- well-formed framing ------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, body_len",
    [
        (b"Content-Length: 5\r\n\r\nhello", 5),
        (b"Content-Length: 0\r\n\r\n", 0),
        (b"Content-Length: 007\r\n\r\nabcdefg", 7),
        (b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 5),
        (b"Transfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 5),
        (b"Transfer-Encoding: \tchunked \r\n\r\n5\r\nhello\r\n0\r\n\r\n", 5),
        (
            b"Transfer-Encoding: chunked\r\n\r\nA;name=val\r\n0123456789\r\n0\r\n\r\n",
            10,
        ),
        (b"Transfer-Encoding: chunked\r\n\r\n5 ;x\r\nhello\r\n0\r\n\r\n", 5),
        (
            b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n",
            5,
        ),
        (b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0),
    ],
)
def test_request_bodies(raw: bytes, body_len: int) -> None:
    with serve() as st, connect(st.port) as s:
        s.sendall(b"POST /b HTTP/1.1\r\nHost: a\r\n" + raw)
        code, _, body = read_response(s)
        assert (code, body) == (200, b"POST /b %d" % body_len)
        # The connection stays usable afterwards.
        s.sendall(b"GET /again HTTP/1.1\r\nHost: a\r\n\r\n")
        assert read_response(s)[2] == b"GET /again 0"


def test_trailers_are_parsed() -> None:
    seen: list[HTTPHeaders | None] = []

    def app(request: HTTPServerRequest) -> None:
        seen.append(request.connection.trailers)  # type: ignore[union-attr]
        from tests._http_support import echo_app

        echo_app(request)

    with serve(app) as st, connect(st.port) as s:
        s.sendall(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n0\r\nX-Checksum: 42\r\nX-Other: y\r\n\r\n"
        )
        assert read_response(s)[0] == 200
    assert seen[0] is not None and seen[0]["X-Checksum"] == "42"


def test_lf_only_head_and_leading_blank_lines() -> None:
    with serve() as st, connect(st.port) as s:
        s.sendall(b"\r\n\r\nGET /lf HTTP/1.0\nX: y\n\n")
        code, _, body = read_response(s)
        assert (code, body) == (200, b"GET /lf 0")


def test_pipelined_responses_in_order() -> None:
    with serve() as st, connect(st.port) as s:
        s.sendall(
            b"".join(b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % i for i in range(50))
        )
        for i in range(50):
            assert read_response(s)[2] == b"GET /%d 0" % i


def test_each_request_gets_its_own_connection_object() -> None:
    # Per-request state starts from class-level defaults: nothing one
    # request sets may show through on the next one of the same connection.
    conns: list[HTTP1Connection] = []

    def app(request: HTTPServerRequest) -> None:
        conn = request.connection
        assert isinstance(conn, HTTP1Connection)
        conns.append(conn)
        body = f"{request.method} {request.path} {request.body!r}".encode()
        conn.write_headers(
            ResponseStartLine("HTTP/1.1", 200, "OK"),
            HTTPHeaders({"Content-Length": str(len(body))}),
            body if request.method != "HEAD" else None,
        )
        conn.finish()

    with serve(app) as st, connect(st.port) as s:
        s.sendall(
            b"HEAD /a HTTP/1.1\r\nHost: a\r\n\r\n"
            b"POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz"
            b"GET /c HTTP/1.1\r\nHost: a\r\n\r\n"
        )
        data = b""
        while data.count(b"HTTP/1.1 200") < 3 or not data.endswith(b"b''"):
            chunk = s.recv(65536)
            assert chunk
            data += chunk
    # The HEAD answer has its Content-Length but no body.
    heads = data.split(b"HTTP/1.1 200 OK\r\n")[1:]
    assert heads[0].endswith(b"\r\n\r\n") and b"Content-Length: 11" in heads[0]
    assert heads[1].endswith(b"POST /b b'xyz'") and heads[2].endswith(b"GET /c b''")
    assert len({id(c) for c in conns}) == 3
    assert conns[0].context is conns[1].context is conns[2].context
    assert [c._request_start_line.method for c in conns] == ["HEAD", "POST", "GET"]  # type: ignore[union-attr]
    assert conns[1]._body_pending and not conns[2]._body_pending
    assert all(c._write_finished and c._read_finished for c in conns)


def test_pipelining_waits_for_a_reader() -> None:
    # A peer that pipelines many requests without reading: the server stops
    # producing responses when the socket is full instead of buffering them.
    big = b"x" * 200_000

    def app(request: HTTPServerRequest) -> None:
        conn = request.connection
        conn.write_headers(  # type: ignore[union-attr]
            ResponseStartLine("HTTP/1.1", 200, "OK"),
            HTTPHeaders({"Content-Length": str(len(big))}),
            big,
        )
        conn.finish()  # type: ignore[union-attr]

    with serve(app) as st, connect(st.port) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        try:
            s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n" * 200)
        except OSError:
            pass
        time.sleep(0.5)
        handled = len(st.requests)
        assert handled < 200
        # Reading drains everything, in order, all complete.
        for _ in range(200):
            assert len(read_response(s)[2]) == len(big)
        assert len(st.requests) == 200


def test_keep_alive_rules() -> None:
    cases = [
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", True, None),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", False, "close"),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, Close\r\n\r\n",
            False,
            "close",
        ),
        (b"GET / HTTP/1.0\r\n\r\n", False, None),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", True, "Keep-Alive"),
        (b"POST / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", False, None),
    ]
    with serve() as st:
        for raw, kept, header in cases:
            with connect(st.port) as s:
                s.sendall(raw)
                code, headers, _ = read_response(s)
                assert code == 200
                assert headers.get("Connection") == header, raw
                s.settimeout(0.3)
                data, clean = read_until_close(s)
                assert data == b""
                assert clean is not kept, raw


def test_no_keep_alive_option() -> None:
    with serve(no_keep_alive=True) as st, connect(st.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert read_response(s)[1]["Connection"] == "close"
        assert read_until_close(s) == (b"", True)


def test_100_continue() -> None:
    with serve() as st, connect(st.port) as s:
        s.sendall(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(b"data")
        assert read_response(s)[2] == b"POST / 4"


def test_head_timeout_closes_slowloris() -> None:
    with serve(idle_connection_timeout=0.3) as st, connect(st.port) as s:
        start = time.monotonic()
        closed = False
        for b in b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"a" * 200:
            try:
                s.send(bytes([b]))
            except OSError:
                closed = True
                break
            s.settimeout(0.05)
            try:
                if s.recv(10) == b"":
                    closed = True
                    break
            except TimeoutError:
                pass
            except ConnectionResetError:  # unread bytes: the close is a reset
                closed = True
                break
        assert closed
        assert time.monotonic() - start < 5
        assert st.requests == []


def test_idle_keep_alive_connection_closed() -> None:
    with serve(idle_connection_timeout=0.2) as st, connect(st.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        read_response(s)
        s.settimeout(5)
        assert read_until_close(s) == (b"", True)


def test_body_timeout_closes() -> None:
    with serve(body_timeout=0.3) as st, connect(st.port) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc")
        s.settimeout(5)
        assert read_until_close(s) == (b"", True)
        assert st.requests == []


def test_gzip_request_decompressed() -> None:
    payload = b"a=1&b=" + b"z" * 5000
    with serve(decompress_request=True) as st, connect(st.port) as s:
        body = gzip.compress(payload)
        s.sendall(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Encoding: gzip\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n\r\n%b" % (len(body), body)
        )
        assert read_response(s)[2] == b"POST / %d" % len(payload)
    req = st.requests[0]
    assert req.headers["X-Consumed-Content-Encoding"] == "gzip"
    assert "Content-Encoding" not in req.headers
    assert req.body_arguments["b"] == [b"z" * 5000]


@pytest.mark.parametrize(
    "body, status",
    [
        (gzip.compress(b"\0" * (8 << 20)), 413),  # bomb: 8 MiB from ~8 KiB
        (gzip.compress(b"a=1") + b"\0", 400),
        (gzip.compress(b"a=1")[:-3], 400),
        (b"not gzip at all", 400),
    ],
    ids=["bomb", "trailing-garbage", "truncated", "garbage"],
)
def test_gzip_request_rejected(body: bytes, status: int) -> None:
    with (
        serve(decompress_request=True, max_body_size=1 << 20) as st,
        connect(st.port) as s,
    ):
        s.sendall(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Encoding: gzip\r\n"
            b"Content-Length: %d\r\n\r\n%b" % (len(body), body)
        )
        data, clean = read_until_close(s)
        assert data.startswith(b"HTTP/1.1 %d " % status)
        assert st.requests == []


def test_concatenated_gzip_members() -> None:
    body = gzip.compress(b"abc") + gzip.compress(b"def")
    with serve(decompress_request=True) as st, connect(st.port) as s:
        s.sendall(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Encoding: gzip\r\n"
            b"Content-Length: %d\r\n\r\n%b" % (len(body), body)
        )
        read_response(s)
    assert st.requests[0].body == b"abcdef"


# -- response side --------------------------------------------------------------------


def _respond(
    request: HTTPServerRequest, headers: HTTPHeaders, reason: str = "OK"
) -> None:
    conn = request.connection
    assert conn is not None
    try:
        conn.write_headers(ResponseStartLine("HTTP/1.1", 200, reason), headers, b"body")
    except ValueError:
        conn.write_headers(
            ResponseStartLine("HTTP/1.1", 500, "Injection Refused"),
            HTTPHeaders({"Content-Length": "0"}),
        )
    conn.finish()


@pytest.mark.parametrize(
    "headers, reason",
    [
        ({"X-A": "a\r\nSet-Cookie: evil=1"}, "OK"),
        ({"X-A": "a\nb"}, "OK"),
        ({"X-A": "a\rb"}, "OK"),
        ({"X-A\r\nEvil": "b"}, "OK"),
        ({"X-A": "ok"}, "OK\r\nSet-Cookie: evil=1"),
        ({"X-A": "ok"}, "OK\n"),
        ({"X-A": "a\x00b"}, "OK"),
        ({"X-A": "caf\u20ac"}, "OK"),
        ({"X-\u0100": "b"}, "OK"),
    ],
)
def test_response_injection_refused(headers: dict[str, str], reason: str) -> None:
    def app(request: HTTPServerRequest) -> None:
        h = HTTPHeaders()
        for k, v in headers.items():
            h[k] = v
        h["Content-Length"] = "4"
        _respond(request, h, reason)

    with serve(app) as st, connect(st.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        code, resp_headers, body = read_response(s)
    # Nothing from the refused head went out; the fallback answer did.
    assert code == 500 and body == b""
    assert "Set-Cookie" not in resp_headers and "X-A" not in resp_headers


def test_response_head_bytes_exact() -> None:
    # Repeated fields, latin-1 text and non-str values go out byte for byte.
    def app(request: HTTPServerRequest) -> None:
        h = HTTPHeaders({"Content-Length": "4", "X-Latin": "caf\xe9"})
        h.add("Set-Cookie", "a=1")
        h.add("Set-Cookie", "b=2")
        h["X-Num"] = 7  # type: ignore[assignment]
        h["X-Bytes"] = b"raw\xff"  # type: ignore[assignment]
        request.connection.write_headers(  # type: ignore[union-attr]
            ResponseStartLine("HTTP/1.1", 200, "OK"), h, b"body"
        )
        request.connection.finish()  # type: ignore[union-attr]

    with serve(app) as st, connect(st.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        data = b""
        while not data.endswith(b"body"):
            chunk = s.recv(65536)
            assert chunk
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK" and body == b"body"
    assert lines[1:3] == [b"Content-Length: 4", b"X-Latin: caf\xe9"]
    assert lines[3:7] == [
        b"Set-Cookie: a=1",
        b"Set-Cookie: b=2",
        b"X-Num: 7",
        b"X-Bytes: raw\xff",
    ]
    assert lines[7].startswith(b"Date: ") and len(lines) == 8


def test_chunked_response_with_trailers() -> None:
    def app(request: HTTPServerRequest) -> None:
        conn = request.connection
        assert isinstance(conn, HTTP1Connection)
        conn.write_headers(
            ResponseStartLine("HTTP/1.1", 200, "OK"), HTTPHeaders(), b"ab"
        )
        conn.write(b"cd")
        conn.finish(trailers=HTTPHeaders({"X-Sum": "4"}))

    with serve(app) as st, connect(st.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        raw = b""
        while not raw.endswith(b"X-Sum: 4\r\n\r\n"):
            raw += s.recv(4096)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head
    assert body == b"2\r\nab\r\n2\r\ncd\r\n0\r\nX-Sum: 4\r\n\r\n"


def test_content_length_mismatch_on_output() -> None:
    errors: list[Exception] = []

    def app(request: HTTPServerRequest) -> None:
        conn = request.connection
        assert conn is not None
        conn.write_headers(
            ResponseStartLine("HTTP/1.1", 200, "OK"),
            HTTPHeaders({"Content-Length": "2"}),
        )
        try:
            conn.write(b"abc")
        except Exception as e:
            errors.append(e)

    with serve(app) as st, connect(st.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        read_until_close(s)
    assert errors and "more data than Content-Length" in str(errors[0])


def test_async_handler_runs_inline_and_sees_close() -> None:
    closed = asyncio.Event

    events: list[str] = []

    async def app(request: HTTPServerRequest) -> None:
        conn = request.connection
        assert conn is not None
        conn.set_close_callback(lambda: events.append("closed"))  # type: ignore[attr-defined]
        events.append("start")
        await asyncio.sleep(5)
        events.append("never")

    del closed
    with serve(app) as st:
        with connect(st.port) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            assert wait_for(lambda: events == ["start"])
        assert wait_for(lambda: "closed" in events)
        assert "never" not in events


# -- client side ----------------------------------------------------------------------


class _Collect(HTTPMessageDelegate):
    def __init__(self) -> None:
        self.start_line: ResponseStartLine | None = None
        self.headers: HTTPHeaders | None = None
        self.chunks: list[bytes] = []
        self.finished = 0
        self.closed = 0

    def headers_received(self, start_line, headers):  # type: ignore[no-untyped-def]
        self.start_line = start_line
        self.headers = headers

    def data_received(self, chunk):  # type: ignore[no-untyped-def]
        self.chunks.append(chunk)

    def finish(self):  # type: ignore[no-untyped-def]
        self.finished += 1

    def on_connection_close(self):  # type: ignore[no-untyped-def]
        self.closed += 1


def _client_exchange(
    response: bytes, method: str = "GET", **params: object
) -> tuple[bool, _Collect, bytes]:
    """Send a request with HTTP1Connection to a raw socket server that answers ``response``."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    got: list[bytes] = []

    async def main() -> tuple[bool, _Collect]:
        loop = asyncio.get_running_loop()
        listener.setblocking(False)
        sock = socket.socket()
        stream = IOStream(sock)
        accept = loop.sock_accept(listener)
        await stream.connect(("127.0.0.1", port))
        peer, _ = await accept
        conn = HTTP1Connection(stream, True, HTTP1ConnectionParameters(**params))  # type: ignore[arg-type]
        conn.write_headers(
            RequestStartLine(method, "/x", "HTTP/1.1"), HTTPHeaders({"Host": "h"})
        )
        conn.finish()
        peer.setblocking(True)
        peer.settimeout(5)
        got.append(await loop.run_in_executor(None, peer.recv, 4096))
        await loop.run_in_executor(None, peer.sendall, response)
        peer.close()
        d = _Collect()
        ok = await conn.read_response(d)
        stream.close()
        return ok, d

    loop = new_event_loop()
    try:
        ok, d = loop.run_until_complete(main())
    finally:
        loop.close()
        listener.close()
    return ok, d, got[0]


def test_client_reads_responses() -> None:
    ok, d, sent = _client_exchange(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
    assert sent == b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n"
    assert d.start_line == ResponseStartLine("HTTP/1.1", 200, "OK")
    assert b"".join(d.chunks) == b"hello" and d.finished == 1 and d.closed == 0

    _, d, _ = _client_exchange(b"HTTP/1.0 200 OK\r\n\r\nuntil close")
    assert b"".join(d.chunks) == b"until close"

    _, d, _ = _client_exchange(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n"
    )
    assert b"".join(d.chunks) == b"abc" and d.finished == 1

    _, d, _ = _client_exchange(b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok")
    assert b"".join(d.chunks) == b"ok"

    _, d, _ = _client_exchange(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "HEAD"
    )
    assert d.chunks == [] and d.finished == 1

    body = gzip.compress(b"x" * 1000)
    _, d, _ = _client_exchange(
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%b"
        % (len(body), body),
        decompress=True,
    )
    assert b"".join(d.chunks) == b"x" * 1000


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        b"HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\nabc",
        b"HTTP/1.1 100 Continue\r\nContent-Length: 3\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n" * 11,
        b"HTTP/2 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_client_rejects_bad_responses(response: bytes) -> None:
    ok, d, _ = _client_exchange(response)
    assert ok is False
    assert d.finished == 0 and d.closed == 1


def test_client_request_line_injection_refused() -> None:
    async def main() -> None:
        a, b = socket.socketpair()
        stream = IOStream(a)
        conn = HTTP1Connection(stream, True)
        with pytest.raises(ValueError):
            conn.write_headers(
                RequestStartLine("GET", "/x HTTP/1.1\r\nEvil: 1\r\n", "HTTP/1.1"),
                HTTPHeaders(),
            )
        with pytest.raises(ValueError):
            conn.write_headers(
                RequestStartLine("GET", "/", "HTTP/1.1"),
                HTTPHeaders({"A": "b\r\nc: d"}),
            )
        stream.close()
        b.setblocking(False)
        try:
            assert b.recv(100) == b""
        except BlockingIOError:
            pytest.fail("something was written")
        b.close()

    loop = new_event_loop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()


# -- helpers -----------------------------------------------------------------------------


def test_parse_helpers() -> None:
    assert parse_int("0012") == 12
    assert parse_hex_int("fF") == 255
    for bad in ["+1", "-1", "1_0", " 1", "", "\u0661"]:
        with pytest.raises(ValueError):
            parse_int(bad)
    for bad in ["0x1", "+f", "f_f", "g"]:
        with pytest.raises(ValueError):
            parse_hex_int(bad)
    assert is_transfer_encoding_chunked(HTTPHeaders({"Transfer-Encoding": "chunked"}))
    assert not is_transfer_encoding_chunked(HTTPHeaders())
    with pytest.raises(HTTPInputError):
        is_transfer_encoding_chunked(HTTPHeaders({"Transfer-Encoding": "gzip"}))
    assert http_date().endswith(" GMT") and len(http_date()) == 29


def test_zlib_sanity_for_bomb_case() -> None:
    # The bomb case above really is small on the wire and huge inflated.
    body = gzip.compress(b"\0" * (8 << 20))
    assert len(body) < 20_000
    assert len(zlib.decompress(body, 16 + zlib.MAX_WBITS)) == 8 << 20


def test_http10_chunked_is_served_then_closed() -> None:
    # RFC 9112 section 6.1: Transfer-Encoding in HTTP/1.0 is processed, then
    # the connection is closed even when keep-alive was asked for.
    with serve() as st, connect(st.port) as s:
        s.sendall(
            b"POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n0\r\n\r\n"
        )
        code, headers, body = read_response(s)
        assert (code, body) == (200, b"POST / 3")
        assert "Connection" not in headers
        assert read_until_close(s) == (b"", True)


def test_early_response_before_body_closes() -> None:
    # Answering before reading a declared body: the reply says close, and the
    # unread body never gets parsed as a request.
    class Early:
        def start_request(
            self, server_conn: object, conn: HTTP1Connection
        ) -> HTTPMessageDelegate:
            class D(HTTPMessageDelegate):
                def headers_received(self, start_line, headers):  # type: ignore[no-untyped-def]
                    conn.write_headers(
                        ResponseStartLine("HTTP/1.1", 413, "Too Big"),
                        HTTPHeaders({"Content-Length": "0"}),
                    )
                    conn.finish()

            return D()

        def on_close(self, server_conn: object) -> None:
            pass

    from whirlwind.httputil import HTTPServerConnectionDelegate

    class App(Early, HTTPServerConnectionDelegate):  # type: ignore[misc]
        pass

    with serve(App()) as st, connect(st.port) as s:
        s.sendall(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 60\r\n\r\n"
            b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
        )
        code, headers, _ = read_response(s)
        assert (code, headers["Connection"]) == (413, "close")
        data, _ = read_until_close(s)
        assert b"smuggled" not in data and data == b""


def test_mutated_requests_never_crash_the_server() -> None:
    # Seeded byte mutations of valid requests: every answer is a well-formed
    # status line or a silent close, nothing is logged above INFO, and the
    # server keeps serving.
    import logging
    import random

    errors: list[logging.LogRecord] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno > logging.INFO:
                errors.append(record)

    handler = Catch()
    loggers = [
        logging.getLogger(n) for n in ("whirlwind.general", "whirlwind.application")
    ]
    for lg in loggers:
        lg.addHandler(handler)
    seeds = [
        b"GET /a?b=c HTTP/1.1\r\nHost: a\r\nCookie: x=1\r\n\r\n",
        b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
        b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\nT: 1\r\n\r\n",
        b"POST /m HTTP/1.1\r\nHost: a\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        b"Content-Length: 52\r\n\r\n--b\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--b--",
    ]
    alphabet = b'\r\n\x00 \t:;,"\\-0123456789abcdefxX\x7f\xff'
    rng = random.Random(1234)
    statuses: list[int] = []
    try:
        with serve(max_body_size=4096) as st:
            for _ in range(150):
                data = bytearray(rng.choice(seeds))
                for _ in range(rng.randint(1, 4)):
                    pos = rng.randrange(len(data))
                    op = rng.random()
                    if op < 0.4:
                        data[pos] = rng.choice(alphabet)
                    elif op < 0.7:
                        data.insert(pos, rng.choice(alphabet))
                    else:
                        del data[pos]
                with connect(st.port, timeout=2) as s:
                    s.sendall(bytes(data))
                    # Half-close: an incomplete request ends at once.
                    s.shutdown(socket.SHUT_WR)
                    out, _ = read_until_close(s)
                if out:
                    assert out[:9] == b"HTTP/1.1 " and out[9:12].isdigit(), out[:40]
                    statuses.append(int(out[9:12]))
            with connect(st.port) as s:
                s.sendall(b"GET /still-alive HTTP/1.1\r\nHost: a\r\n\r\n")
                assert read_response(s)[2] == b"GET /still-alive 0"
    finally:
        for lg in loggers:
            lg.removeHandler(handler)
    assert errors == [], [r.getMessage() for r in errors[:3]]
    # The mutations exercise both paths: rejections and accepted requests.
    assert 400 in statuses and 200 in statuses
