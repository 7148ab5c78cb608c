"""The compiled HTTP/1 head reader and writer: parse_head, read_http_head, format_head.

parse_head is checked against a table and, with Hypothesis, against the
Python reference (whirlwind.http1connection._parse_head): the same start
line and fields, or the same verdict (400 or 431).  read_http_head is
checked through real socket pairs: whole heads, heads trickling in a byte at
a time, pipelined heads with bodies and blank lines between them, and the
max_bytes limit.  format_head is checked against its Python reference
(whirlwind._http1support._format_head) with Hypothesis: the same bytes, or
both refuse.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests._http_support import connect, read_response, serve
from tests.conftest import Runner
from whirlwind._core import (
    HeaderFieldCountError,
    _find_head_end,
    _http_date_at,
    format_head,
    http_date,
    parse_head,
)
from whirlwind._http1support import _format_head
from whirlwind.http1connection import _parse_head
from whirlwind.httputil import HTTPHeaders, HTTPInputError, format_timestamp
from whirlwind.iostream import IOStream, StreamClosedError, UnsatisfiableReadError

Verdict = tuple[str, dict[str, Any]] | str


def compiled(data: bytes, max_count: int = 100) -> Verdict:
    try:
        line, headers = parse_head(data, max_count)
    except HeaderFieldCountError:
        return "431"
    except HTTPInputError:
        return "400"
    assert type(headers) is HTTPHeaders
    return line, dict(headers._d)


def reference(data: bytes, max_count: int = 100) -> Verdict:
    try:
        line, headers = _parse_head(data, max_count)
    except HTTPInputError as e:
        return str(getattr(e, "code", 400))
    return line, dict(headers._d)


# -- parse_head: table -------------------------------------------------------------

GET = b"GET / HTTP/1.1\r\n"
TABLE: list[tuple[bytes, Verdict]] = [
    (GET + b"\r\n", ("GET / HTTP/1.1", {})),
    (b"GET / HTTP/1.1\n\n", ("GET / HTTP/1.1", {})),
    (b"GET / HTTP/1.1\n\r\n", ("GET / HTTP/1.1", {})),
    (b"\r\n\r\n\nGET / HTTP/1.1\r\n\r\n", ("GET / HTTP/1.1", {})),
    (
        GET + b"Host: a\r\nACCEPT: */*\r\n\r\n",
        (GET[:-2].decode(), {"Host": "a", "Accept": "*/*"}),
    ),
    (GET + b"x-custom-NAME:v\n\n", ("GET / HTTP/1.1", {"X-Custom-Name": "v"})),
    (GET + b"--a-b: 1\r\n\r\n", ("GET / HTTP/1.1", {"--A-B": "1"})),
    (GET + b"A:  \t spaced \t \r\n\r\n", ("GET / HTTP/1.1", {"A": "spaced"})),
    (
        GET + b"A: in\tside : colon\r\n\r\n",
        ("GET / HTTP/1.1", {"A": "in\tside : colon"}),
    ),
    (GET + b"A:\r\n\r\n", ("GET / HTTP/1.1", {"A": ""})),
    (GET + b"A: caf\xe9\r\n\r\n", ("GET / HTTP/1.1", {"A": "caf\xe9"})),
    (GET + b"A: 1\r\na: 2\r\nA: 3\r\n\r\n", ("GET / HTTP/1.1", {"A": ["1", "2", "3"]})),
    (
        GET + b"!#$%&'*+-.^_`|~09: t\r\n\r\n",
        ("GET / HTTP/1.1", {"!#$%&'*+-.^_`|~09": "t"}),
    ),
    # the start line is returned unchecked (parse_request_start_line judges it)
    (b"GET  /\tHTTP/9\r\n\r\n", ("GET  /\tHTTP/9", {})),
    (b"GET / HTTP/1.1\r\r\n\r\n", ("GET / HTTP/1.1\r", {})),
    (
        b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n",
        ("HTTP/1.1 200 OK", {"Set-Cookie": ["a=1", "b=2"]}),
    ),
    # malformed fields: 400
    (GET + b"A : b\r\n\r\n", "400"),
    (GET + b"A\t: b\r\n\r\n", "400"),
    (GET + b": b\r\n\r\n", "400"),
    (GET + b"A(b): c\r\n\r\n", "400"),
    (GET + b"A/b: c\r\n\r\n", "400"),
    (GET + b"caf\xe9: c\r\n\r\n", "400"),
    (GET + b"no colon\r\n\r\n", "400"),
    (GET + b"A: b\r\n folded\r\n\r\n", "400"),
    (GET + b"A: b\r\n\tfolded\r\n\r\n", "400"),
    (GET + b"A: b\x00c\r\n\r\n", "400"),
    (GET + b"A\x00: b\r\n\r\n", "400"),
    (GET + b"A: b\rc\r\n\r\n", "400"),
    (GET + b"A: b\r\r\n\r\n", "400"),
    (GET + b"A: b\x7f\r\n\r\n", "400"),
    (GET + b"A: b\x0b\r\n\r\n", "400"),
    (GET + b"A: b\r\n\r\r\n", "400"),
    (GET + b"A: b\r\n\r", "400"),
]


@pytest.mark.parametrize(("data", "expected"), TABLE)
def test_parse_head_table(data: bytes, expected: Verdict) -> None:
    assert compiled(data) == expected
    assert reference(data) == expected


def test_parse_head_field_count() -> None:
    head = GET + b"A: 1\r\n" * 5 + b"\r\n"
    assert compiled(head, 5) == ("GET / HTTP/1.1", {"A": ["1"] * 5})
    assert compiled(head, 4) == reference(head, 4) == "431"
    # The count wins over a malformed field, as in the reference.
    bad = GET + b"A : 1\r\n" * 5 + b"\r\n"
    assert compiled(bad, 4) == reference(bad, 4) == "431"
    assert compiled(bad, 5) == reference(bad, 5) == "400"


def test_parse_head_messages_name_the_line() -> None:
    with pytest.raises(HTTPInputError, match="no colon"):
        parse_head(GET + b"nocolon\r\n\r\n", 10)
    with pytest.raises(HTTPInputError, match="folding"):
        parse_head(GET + b"A: b\r\n c\r\n\r\n", 10)
    with pytest.raises(HTTPInputError, match=re.escape("'A: b\\x00")):
        parse_head(GET + b"A: b\x00\r\n\r\n", 10)
    with pytest.raises(HTTPInputError, match=re.escape("'B : 2")):
        parse_head(GET + b"A: 1\r\n\r\n\nB : 2\r\n", 10)


def test_parse_head_names_are_shared_strings() -> None:
    _, h1 = parse_head(GET + b"content-type: a\r\nX-Rare-Thing: b\r\n\r\n", 10)
    _, h2 = parse_head(GET + b"Content-Type: a\r\nx-rare-thing: b\r\n\r\n", 10)
    k1, k2 = list(h1._d), list(h2._d)
    assert k1 == k2 == ["Content-Type", "X-Rare-Thing"]
    assert k1[0] is k2[0]  # common names come from one table
    h1["x-rare-thing"] = "c"
    assert h1.get_list("X-RARE-THING") == ["c"] and h2["X-Rare-Thing"] == "b"
    h2.add("content-type", "z")
    assert h2["Content-Type"] == "a,z"


# -- parse_head vs the Python reference --------------------------------------------

_TCHARS = (
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)
# Clean alphabets, plus rare bad characters: most heads are valid or have
# one defect, so both verdicts and every field rule get exercised.
_NAME_OK = st.text(st.sampled_from(list(_TCHARS)), min_size=1, max_size=12)
_NAME_BAD = st.sampled_from([" ", "\t", "(", "\x00", "\xe9", "@", "/", ""])
_VALUE_OK = st.text(st.sampled_from(list('abc XYZ;=,"/:\t\xe9\xff')), max_size=20)
_VALUE_BAD = st.sampled_from(["\x00", "\r", "\x7f", "\x1b", "\x0b", "\x08"])
_EOL_OK = st.sampled_from(["\r\n", "\r\n", "\n"])
_EOL_BAD = st.sampled_from(["\r", "\r\r\n", ""])


@st.composite
def _line(draw: st.DrawFn, bad: bool) -> str:
    name = draw(_NAME_OK)
    sep = ":"
    value = draw(_VALUE_OK)
    if bad:
        where = draw(st.integers(0, 3))
        if where == 0:
            return draw(st.sampled_from([" folded", "\tfolded", "nocolon", "\r", ""]))
        if where == 1:
            i = draw(st.integers(0, len(name)))
            name = name[:i] + draw(_NAME_BAD) + name[i:]
        elif where == 2:
            sep = draw(st.sampled_from([" :", "\t:", "::", ""]))
        else:
            i = draw(st.integers(0, len(value)))
            value = value[:i] + draw(_VALUE_BAD) + value[i:]
    return name + sep + value


@st.composite
def _head(draw: st.DrawFn) -> bytes:
    lead = draw(st.sampled_from(["", "", "\r\n", "\n", "\r\n\r\n", "\r"]))
    start = draw(
        st.sampled_from(
            ["GET / HTTP/1.1", "HTTP/1.1 200 OK", "POST /x?y HTTP/1.0", "x\x00 y\r"]
        )
    )
    parts = [lead, start, draw(_EOL_OK)]
    for _ in range(draw(st.integers(0, 8))):
        bad = draw(st.integers(0, 15)) == 0
        parts.append(draw(_line(bad)))
        bad = draw(st.integers(0, 25)) == 0
        parts.append(draw(_EOL_BAD if bad else _EOL_OK))
    parts.append(draw(st.sampled_from(["\r\n", "\n", "", "\r"])))
    return "".join(parts).encode("latin1")


_MAX_COUNT = st.one_of(st.just(100), st.integers(0, 9))


@settings(max_examples=600, deadline=None)
@given(_head(), _MAX_COUNT)
def test_parse_head_matches_reference(data: bytes, max_count: int) -> None:
    assert compiled(data, max_count) == reference(data, max_count)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=60), st.integers(0, 4))
def test_parse_head_matches_reference_on_bytes(data: bytes, max_count: int) -> None:
    assert compiled(data, max_count) == reference(data, max_count)


# -- format_head: the compiled head writer against its Python reference -----------


def format_compiled(first: bytes, fields: dict[str, Any], tail: bytes | None) -> Any:
    try:
        out = format_head(first, fields, tail)
    except ValueError:
        return "refused"
    return out if out is not None else "declined"


def format_reference(first: bytes, fields: dict[str, Any], tail: bytes | None) -> Any:
    try:
        return _format_head(first, fields, tail)
    except ValueError:
        return "refused"


def test_format_head_table() -> None:
    first = b"HTTP/1.1 200 OK\r\n"
    assert format_head(first, {}, None) == first + b"\r\n"
    assert format_head(first, {}, b"xy") == first + b"\r\nxy"
    assert (
        format_head(first, {"A": "1", "B": ["x", "y"], "C": []}, b"!")
        == first + b"A: 1\r\nB: x\r\nB: y\r\n\r\n!"
    )
    assert format_head(first, {"X": "caf\xe9"}, None) == first + b"X: caf\xe9\r\n\r\n"
    # Not plain str: declined (the caller formats those in Python).
    for fields in ({"A": 1}, {"A": ["x", b"y"]}, {"A": b"x"}):
        assert format_head(first, fields, None) is None
    for fields in (
        {"A": "x\ry"},
        {"A": "x\ny"},
        {"A": "x\x00y"},
        {"A\n": "x"},
        {"A": ["ok", "x\r\nB: evil"]},
        {"A": "\u0100"},
        {"\u20ac": "x"},
    ):
        with pytest.raises(ValueError):
            format_head(first, fields, None)
        with pytest.raises(ValueError):
            _format_head(first, fields, None)


_TEXT = st.text(
    alphabet=st.sampled_from(list("aZ-: \t\r\n\x00\x7f\xe9\xff\u0100\u20ac")),
    max_size=6,
)
_VALUE = st.one_of(_TEXT, st.lists(_TEXT, max_size=3))


@settings(max_examples=500, deadline=None)
@given(
    st.dictionaries(_TEXT, _VALUE, max_size=5),
    st.one_of(st.none(), st.binary(max_size=8)),
)
def test_format_head_matches_reference(
    fields: dict[str, Any], tail: bytes | None
) -> None:
    first = b"HTTP/1.1 200 OK\r\n"
    assert format_compiled(first, fields, tail) == format_reference(first, fields, tail)


# -- the Date header --------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(st.integers(-(10**10), 253402300799))
def test_http_date_matches_format_timestamp(t: int) -> None:
    assert _http_date_at(t) == format_timestamp(t)


def test_http_date_is_now() -> None:
    before = int(time.time())
    value = http_date()
    after = int(time.time())
    assert value in {format_timestamp(t) for t in range(before, after + 1)}
    assert http_date() is http_date() or http_date() != value  # cached per second


# -- the resumable head-end scan ---------------------------------------------------

_END = re.compile(b"\n\r?\n")
# Map random bytes onto the interesting ones: CR, LF and "a".
_SQUASH = bytes(b"\r\na"[i % 3] for i in range(256))


def _scan_reference(buf: bytes, limit: int) -> int:
    m = _END.search(buf)
    if m is not None:
        return -2 if 0 <= limit < m.end() else m.end()
    return -2 if 0 <= limit < len(buf) else -1


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.binary(min_size=1, max_size=6).map(lambda b: b.translate(_SQUASH)),
        max_size=12,
    ),
    st.integers(-1, 40),
)
def test_find_head_end_resumes(chunks: list[bytes], limit: int) -> None:
    # Fed chunk by chunk with its cursor, the scan agrees after every chunk
    # with a regex over everything received so far.
    buf = b""
    cursor = 0
    for chunk in chunks:
        buf += chunk
        r, cursor = _find_head_end(buf, cursor, limit)
        assert 0 <= cursor <= len(buf)
        assert r == _scan_reference(buf, limit), (buf, limit)
        if r != -1:
            break


# -- read_http_head over real sockets ----------------------------------------------


async def _pair(**kwargs: Any) -> tuple[IOStream, IOStream]:
    a, b = socket.socketpair()
    return IOStream(a, **kwargs), IOStream(b, **kwargs)


HEAD1 = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"
HEAD2 = b"GET /b HTTP/1.1\nHost: x\n\n"


def test_read_http_head_buffered_is_done_at_once(run: Runner) -> None:
    async def main() -> None:
        a, b = await _pair()
        # One write: the first read receives all of it in one recv.
        await a.write(b"\r\n" + HEAD1 + b"hello" + b"\r\n" + HEAD2 + b"GET /c HT")
        assert await b.read_http_head(1000) == HEAD1
        f = b.read_bytes(5)
        assert f.done() and f.result() == b"hello"
        f = b.read_http_head(1000)
        assert f.done() and f.result() == HEAD2  # the CRLF before it is dropped
        f = b.read_http_head(1000)
        assert not f.done()
        await a.write(b"TP/1.1\r\n\r\ntail")
        assert await f == b"GET /c HTTP/1.1\r\n\r\n"
        assert await b.read_bytes(4) == b"tail"
        a.close()
        b.close()

    run(main())


async def _armed_pair() -> tuple[IOStream, IOStream]:
    # After a first read, read interest stays armed: later data is buffered
    # without a pending read, which is what take_http_head looks at.
    a, b = await _pair()
    await a.write(b"!")
    assert await b.read_bytes(1) == b"!"
    return a, b


async def _fill(a: IOStream, b: IOStream, data: bytes) -> None:
    # Send data and wait until b has buffered all of it.
    want = b._read_buffer_size + len(data)
    await a.write(data)
    for _ in range(5000):
        if b._read_buffer_size >= want:
            return
        await asyncio.sleep(0.001 if _ > 100 else 0)
    raise AssertionError("data never arrived")


def test_take_http_head(run: Runner) -> None:
    async def main() -> None:
        a, b = await _armed_pair()
        assert b.take_http_head(1000, 100) is None  # empty buffer
        await _fill(a, b, b"\r\n" + HEAD1 + b"hello" + b"\r\n" + HEAD2 + b"GET /c HT")
        # Blank lines before a head are skipped; the head is split in place.
        line, headers = b.take_http_head(1000, 100)
        assert line == "POST /a HTTP/1.1"
        assert dict(headers._d) == {"Host": "x", "Content-Length": "5"}
        assert await b.read_bytes(5) == b"hello"
        line, headers = b.take_http_head(1000, 100)
        assert line == "GET /b HTTP/1.1" and dict(headers._d) == {"Host": "x"}
        # An incomplete head: None, and nothing consumed.
        size = b._read_buffer_size
        assert b.take_http_head(1000, 100) is None
        assert b._read_buffer_size == size
        # With a read pending, take_http_head stays out of its way.
        f = b.read_http_head(1000)
        assert b.take_http_head(1000, 100) is None
        await a.write(b"TP/1.1\r\n\r\n")
        assert await f == b"GET /c HTTP/1.1\r\n\r\n"
        a.close()
        b.close()

    run(main())


def test_take_http_head_limits(run: Runner) -> None:
    async def main() -> None:
        a, b = await _armed_pair()
        big = GET + b"X: " + b"a" * 200 + b"\r\n\r\n"
        many = GET + b"".join(b"H%d: v\r\n" % i for i in range(5)) + b"\r\n"
        bad = GET + b"A: b\x00c\r\n\r\n"
        await _fill(a, b, many + bad + b"\r\n" + big)
        # Too many fields: parse_head's verdict, and the head is consumed.
        with pytest.raises(HeaderFieldCountError):
            b.take_http_head(1000, 4)
        # A malformed field: HTTPInputError, the head consumed as well.
        with pytest.raises(HTTPInputError):
            b.take_http_head(1000, 100)
        assert b._read_buffer_size == 2 + len(big)
        # A head longer than max_bytes is left for read_http_head to report.
        assert b.take_http_head(50, 100) is None
        assert b._read_buffer_size == 2 + len(big)
        with pytest.raises(UnsatisfiableReadError):
            await b.read_http_head(50)
        # Within the limit it is taken (the blank line counts against it).
        line, _ = b.take_http_head(len(big) + 2, 100)
        assert line == "GET / HTTP/1.1"
        await _fill(a, b, b"\r\n\r\n")
        assert b.take_http_head(1000, 100) is None  # only blank lines
        a.close()
        b.close()

    run(main())


@pytest.mark.parametrize("data", [HEAD1, HEAD2, b"\r\n\n" + HEAD1, GET + b"A: b\n\r\n"])
def test_read_http_head_byte_at_a_time(run: Runner, data: bytes) -> None:
    async def main() -> None:
        a, b = await _pair()
        f = b.read_http_head(1000)
        for i in range(len(data) - 1):
            await a.write(data[i : i + 1])
            # Wait until the reader saw it (read or skipped as a blank line).
            for _ in range(2000):
                await asyncio.sleep(0)
                if b._read_buffer_size >= len(data[: i + 1].lstrip(b"\r\n")):
                    break
            assert not f.done()
        await a.write(data[-1:] + b"NEXT")
        assert await f == data.lstrip(b"\r\n")
        assert await b.read_bytes(4) == b"NEXT"
        a.close()
        b.close()

    run(main())


def _head_table() -> list[tuple[bytes, Verdict]]:
    # The table entries that are one complete head, as a stream delivers it.
    out = []
    for data, expected in TABLE:
        m = _END.search(data)
        if m is not None and m.end() == len(data) and data.lstrip(b"\r\n"):
            out.append((data, expected))
    return out


@pytest.mark.parametrize(("data", "expected"), _head_table())
def test_read_http_head_table(run: Runner, data: bytes, expected: Verdict) -> None:
    # Each head read whole and then a byte at a time, with the start of a
    # pipelined request behind it; the bytes read give the table's verdict.
    async def main() -> None:
        a, b = await _pair()
        await a.write(data + b"GET /next")
        head = await b.read_http_head(1000)
        assert head == data.lstrip(b"\r\n")
        assert compiled(head) == expected
        f = b.read_http_head(1000)
        for i in range(len(data)):
            assert not f.done()
            await a.write(data[i : i + 1])
            await asyncio.sleep(0)
        assert await f == b"GET /next" + data
        a.close()
        b.close()

    run(main())


def test_read_http_head_max_bytes(run: Runner) -> None:
    async def main() -> None:
        a, b = await _pair()
        await a.write(HEAD1)
        assert await b.read_http_head(len(HEAD1)) == HEAD1
        # One byte too many: the read fails but the stream stays open, so
        # that the HTTP layer can still write its 431.
        f = b.read_http_head(len(HEAD2) - 1)
        await a.write(HEAD2)
        with pytest.raises(UnsatisfiableReadError):
            await f
        assert not b.closed()
        await b.write(b"431")
        assert await a.read_bytes(3) == b"431"
        a.close()
        b.close()

        # Blank lines in front count against the limit (found inline here).
        a, b = await _pair()
        await a.write(b"\r\n" * 10 + HEAD2)
        await asyncio.sleep(0.05)
        with pytest.raises(UnsatisfiableReadError):
            await b.read_http_head(len(HEAD2) + 10)
        assert not b.closed()
        a.close()
        b.close()

    run(main())


def test_read_http_head_eof(run: Runner) -> None:
    async def main() -> None:
        a, b = await _pair()
        f = b.read_http_head(1000)
        await a.write(b"\r\nGET / HTTP/1.1\r\nHost: x\r\n")
        a.close()
        with pytest.raises(StreamClosedError):
            await f

    run(main())


# -- through the server ------------------------------------------------------------


def test_server_pipelined_heads_with_blank_lines() -> None:
    with serve() as st_, connect(st_.port) as s:
        s.sendall(
            b"GET /1 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\n\r\n"
            b"\r\n\r\nGET /2 HTTP/1.1\nHost: h\ncontent-type: t/u\n\n"
        )
        assert read_response(s)[0] == 200
        assert read_response(s)[0] == 200
    first, second = st_.requests[-2:]
    assert first.path == "/1" and first.headers.get_list("X-A") == ["1", "2"]
    assert second.path == "/2" and second.headers["Content-Type"] == "t/u"
