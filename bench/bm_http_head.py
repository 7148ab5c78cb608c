"""HTTP/1 request head parsing: whirlwind's compiled reader vs its Python
reference vs Tornado 6.

What is measured: turning one typical browser request head (request line + 8
header fields, 437 bytes, as the stream hands it over) into a parsed request
line and a headers object.

* whirlwind:        ``_core.parse_head`` + ``httputil.parse_request_start_line``
* whirlwind-python: ``http1connection._parse_head`` (the Python reference,
  i.e. the previous server path) + ``parse_request_start_line``
* tornado:          what Tornado's HTTP1Connection does: decode, split off the
  start line, ``tornado.httputil.HTTPHeaders.parse`` +
  ``parse_request_start_line``

and finding the end of that head in a buffer (``find_end``): the C scan
behind ``read_http_head`` vs the regex search ``\\n\\r?\\n`` that
``read_until_regex`` ran before (and that Tornado runs with ``\\r?\\n\\r?\\n``).

Run:  python bench/bm_http_head.py --fast [-o out.json]
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pyperf

HEAD = (
    b"GET /index.html?q=1 HTTP/1.1\r\n"
    b"Host: localhost:8888\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 "
    b"Firefox/128.0\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    b"Accept-Language: en-US,en;q=0.5\r\n"
    b"Accept-Encoding: gzip, deflate, br, zstd\r\n"
    b"Connection: keep-alive\r\n"
    b"Cookie: session=abc123def456; theme=dark; _ga=GA1.1.123456789.1700000000\r\n"
    b"Upgrade-Insecure-Requests: 1\r\n"
    b"\r\n"
)


def _whirlwind() -> Callable[[bytes], Any]:
    from whirlwind._core import parse_head
    from whirlwind.httputil import parse_request_start_line

    def parse(data: bytes) -> Any:
        line, headers = parse_head(data, 100)
        return parse_request_start_line(line), headers

    return parse


def _whirlwind_python() -> Callable[[bytes], Any]:
    from whirlwind.http1connection import _parse_head
    from whirlwind.httputil import parse_request_start_line

    def parse(data: bytes) -> Any:
        line, headers = _parse_head(data, 100)
        return parse_request_start_line(line), headers

    return parse


def _tornado() -> Callable[[bytes], Any]:
    from tornado.httputil import HTTPHeaders, parse_request_start_line

    def parse(data: bytes) -> Any:
        # tornado/http1connection.py HTTP1Connection._parse_headers, in short
        text = data.decode("latin1").lstrip("\r\n")
        eol = text.find("\n")
        start_line = text[:eol].rstrip("\r")
        headers = HTTPHeaders.parse(text[eol:])
        return parse_request_start_line(start_line), headers

    return parse


def _find_end_c() -> Callable[[bytes], Any]:
    from whirlwind._core import _find_head_end

    return lambda data: _find_head_end(data, 0, 65536)


def _find_end_re(pattern: bytes) -> Callable[[bytes], Any]:
    search = re.compile(pattern).search
    return lambda data: search(data).end()  # type: ignore[union-attr]


PARSERS: dict[str, Callable[[], Callable[[bytes], Any]]] = {
    "whirlwind": _whirlwind,
    "whirlwind-python": _whirlwind_python,
    "tornado": _tornado,
}
FINDERS: dict[str, Callable[[], Callable[[bytes], Any]]] = {
    "whirlwind-c": _find_end_c,
    "regex-lf": lambda: _find_end_re(b"\n\r?\n"),
    "tornado-regex": lambda: _find_end_re(b"\r?\n\r?\n"),
}


def _check() -> None:
    # Every parser must agree before anything is timed.
    results = []
    for make in PARSERS.values():
        start, headers = make()(HEAD)
        results.append((tuple(start), sorted(headers.get_all())))
    assert all(r == results[0] for r in results), results
    assert len(results[0][1]) == 8
    for make in FINDERS.values():
        r = make()(HEAD)
        assert (r[0] if isinstance(r, tuple) else r) == len(HEAD), r


def _timer(fn: Callable[[bytes], Any]) -> Callable[[int], float]:
    def run(loops: int) -> float:
        data = HEAD
        t0 = time.perf_counter()
        for _ in range(loops):
            fn(data)
        return time.perf_counter() - t0

    return run


def main() -> None:
    runner = pyperf.Runner()
    _check()
    for name, make in PARSERS.items():
        runner.bench_time_func(f"parse_head-{name}", _timer(make()))
    for name, make in FINDERS.items():
        runner.bench_time_func(f"find_end-{name}", _timer(make()))


if __name__ == "__main__":
    main()
