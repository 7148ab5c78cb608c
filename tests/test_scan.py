"""The C delimiter scanner (ww_scan.h) against a pure-Python reference.

The reference rescans the whole buffer after every chunk (obviously right,
quadratic); the C scanner resumes at its cursor.  They must agree after every
chunk for every way of cutting the input.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whirlwind._core import _scan_blank_line, _scan_delim

MISS = -1
TOO_LONG = -2


def reference(buf: bytes, delim: bytes, limit: int) -> int:
    """Bytes to consume, MISS, or TOO_LONG (Tornado's max_bytes rules)."""
    i = buf.find(delim)
    if i >= 0:
        end = i + len(delim)
        return TOO_LONG if 0 <= limit < end else end
    if 0 <= limit < len(buf):
        return TOO_LONG
    return MISS


def feed(chunks: list[bytes], delim: bytes, limit: int = -1) -> list[int]:
    """Results of the C scanner after each chunk, stopping at the first hit."""
    buf = b""
    cursor = 0
    out = []
    for chunk in chunks:
        buf += chunk
        r, cursor = _scan_delim(buf, delim, cursor, limit)
        assert 0 <= cursor <= len(buf)
        out.append(r)
        if r != MISS:
            break
    return out


def feed_reference(chunks: list[bytes], delim: bytes, limit: int = -1) -> list[int]:
    buf = b""
    out = []
    for chunk in chunks:
        buf += chunk
        r = reference(buf, delim, limit)
        out.append(r)
        if r != MISS:
            break
    return out


def split_every(data: bytes, n: int) -> list[bytes]:
    return [data[i : i + n] for i in range(0, len(data), n)] or [b""]


TABLE = [
    # (data, delimiter, expected bytes to consume or MISS)
    (b"GET / HTTP/1.1\r\n\r\n", b"\r\n\r\n", 18),
    (b"line\n", b"\n", 5),
    (b"line\nrest of it", b"\n", 5),
    (b"no delimiter here", b"\r\n", MISS),
    (b"", b"\r\n", MISS),
    (b"\r\n", b"\r\n", 2),
    (b"aaaab", b"aab", 5),
    (b"abababac", b"ababac", 8),
    (b"\r\r\n", b"\r\n", 3),
    (b"x\r\n\r\ny\r\n\r\n", b"\r\n\r\n", 5),
    (b"--boundary--tail", b"--boundary--", 12),
]


@pytest.mark.parametrize(("data", "delim", "expected"), TABLE)
def test_table_whole(data: bytes, delim: bytes, expected: int) -> None:
    assert feed([data], delim) == [expected]


@pytest.mark.parametrize(("data", "delim", "expected"), TABLE)
def test_table_byte_at_a_time(data: bytes, delim: bytes, expected: int) -> None:
    results = feed(split_every(data, 1), delim)
    assert results[-1] == expected
    assert results == feed_reference(split_every(data, 1), delim)


@pytest.mark.parametrize(("data", "delim", "expected"), TABLE)
def test_table_with_trailing_bytes(data: bytes, delim: bytes, expected: int) -> None:
    # Bytes after the first delimiter never change where the read ends.
    assert feed([data + b"trailing" + delim], delim)[-1] == (
        expected if expected != MISS else len(data) + len(b"trailing") + len(delim)
    )


def test_delimiter_split_across_chunks() -> None:
    delim = b"\r\n\r\n"
    data = b"x" * 100 + delim + b"after"
    for cut in range(95, 106):
        chunks = [data[:cut], data[cut:]]
        assert feed(chunks, delim)[-1] == 104
    # split into three pieces inside the delimiter
    assert feed([b"x" * 10 + b"\r", b"\n\r", b"\nz"], delim) == [MISS, MISS, 14]


def test_cursor_never_rewinds_and_never_skips() -> None:
    delim = b"abc"
    buf = b""
    cursor = 0
    for piece in [b"xxa", b"b", b"xab", b"c"]:
        buf += piece
        r, new = _scan_delim(buf, delim, cursor)
        assert new >= cursor
        cursor = new
    assert r == len(buf)


def test_max_bytes() -> None:
    assert feed([b"abc\n"], b"\n", limit=4) == [4]
    assert feed([b"abcd\n"], b"\n", limit=4) == [TOO_LONG]
    assert feed([b"abcdef"], b"\n", limit=4) == [TOO_LONG]
    assert feed([b"abcd"], b"\n", limit=4) == [MISS]
    # a flood without delimiter stops at the limit, not at the end of data
    assert feed([b"a" * 10_000], b"\r\n", limit=100) == [TOO_LONG]
    # delimiter straddling the limit
    assert feed([b"abc\r\n"], b"\r\n", limit=4) == [TOO_LONG]
    assert feed([b"ab\r\n"], b"\r\n", limit=4) == [4]


def test_linear_cursor_progress_on_long_line() -> None:
    # Byte-at-a-time over a long line: each step examines O(len(delim)) new
    # bytes, visible as a cursor that trails the buffer end by < len(delim).
    delim = b"\r\n\r\n"
    buf = b""
    cursor = 0
    for _ in range(2000):
        buf += b"y"
        r, cursor = _scan_delim(buf, delim, cursor)
        assert r == MISS
        assert len(buf) - cursor < len(delim)


alphabet = st.sampled_from([b"a", b"b", b"\r", b"\n"])


@settings(max_examples=300, deadline=None)
@given(
    data=st.lists(alphabet, max_size=60).map(b"".join),
    delim=st.lists(alphabet, min_size=1, max_size=4).map(b"".join),
    cuts=st.lists(st.integers(min_value=0, max_value=60), max_size=8),
    limit=st.one_of(st.just(-1), st.integers(min_value=0, max_value=64)),
)
def test_matches_reference_for_any_chunking(
    data: bytes, delim: bytes, cuts: list[int], limit: int
) -> None:
    points = sorted({c for c in cuts if c <= len(data)} | {len(data)})
    chunks = []
    prev = 0
    for p in points:
        chunks.append(data[prev:p])
        prev = p
    assert feed(chunks, delim, limit) == feed_reference(chunks, delim, limit)
    # byte-at-a-time agrees too
    single = split_every(data, 1)
    assert feed(single, delim, limit) == feed_reference(single, delim, limit)


# ---- the HTTP head end (ww_scan_blank_line) against Python's re ----------

HEAD_END = re.compile(b"\r?\n\r?\n")
HEAD_END_LF = re.compile(b"\n\r?\n")


def reference_blank(buf: bytes, limit: int) -> int:
    m = HEAD_END.search(buf)
    m2 = HEAD_END_LF.search(buf)
    assert (m is None) == (m2 is None)
    if m is not None:
        assert m2 is not None and m.end() == m2.end()
        return TOO_LONG if 0 <= limit < m.end() else m.end()
    return TOO_LONG if 0 <= limit < len(buf) else MISS


def feed_blank(chunks: list[bytes], limit: int = -1) -> list[int]:
    buf = b""
    cursor = 0
    out = []
    for chunk in chunks:
        buf += chunk
        r, cursor = _scan_blank_line(buf, cursor, limit)
        assert 0 <= cursor <= len(buf)
        out.append(r)
        if r != MISS:
            break
    return out


def feed_blank_reference(chunks: list[bytes], limit: int = -1) -> list[int]:
    buf = b""
    out = []
    for chunk in chunks:
        buf += chunk
        r = reference_blank(buf, limit)
        out.append(r)
        if r != MISS:
            break
    return out


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody", 27),
        (b"GET / HTTP/1.0\n\nbody", 16),
        (b"a\r\n\nb", 4),
        (b"a\n\r\nb", 4),
        (b"a\r\r\n\r\n", 6),
        (b"a\n\r\r\n\n", 6),
        (b"no end\r\n", MISS),
        (b"\n\n", 2),
    ],
)
def test_blank_line_table(data: bytes, expected: int) -> None:
    assert feed_blank([data]) == [expected]
    assert feed_blank(split_every(data, 1))[-1] == expected


@settings(max_examples=400, deadline=None)
@given(
    data=st.lists(st.sampled_from([b"a", b"\r", b"\n"]), max_size=40).map(b"".join),
    cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=6),
    limit=st.one_of(st.just(-1), st.integers(min_value=0, max_value=44)),
)
def test_blank_line_matches_re(data: bytes, cuts: list[int], limit: int) -> None:
    points = sorted({c for c in cuts if c <= len(data)} | {len(data)})
    chunks = []
    prev = 0
    for p in points:
        chunks.append(data[prev:p])
        prev = p
    assert feed_blank(chunks, limit) == feed_blank_reference(chunks, limit)
    single = split_every(data, 1)
    assert feed_blank(single, limit) == feed_blank_reference(single, limit)
