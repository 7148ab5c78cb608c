"""Tests for whirlwind.httputil: headers, start lines, forms, cookies, helpers."""

from __future__ import annotations

import copy
import datetime
import pickle
import time
import tracemalloc

import pytest

from whirlwind.httputil import (
    HTTPFile,
    HTTPHeaders,
    HTTPInputError,
    HTTPServerRequest,
    ParseBodyConfig,
    ParseMultipartConfig,
    ParseUrlEncodedConfig,
    RequestStartLine,
    ResponseStartLine,
    _encode_header,
    _get_content_range,
    _parse_header,
    _parse_request_range,
    encode_username_password,
    format_timestamp,
    parse_body_arguments,
    parse_cookie,
    parse_multipart_form_data,
    parse_request_start_line,
    parse_response_start_line,
    qs_to_qsl,
    responses,
    split_host_and_port,
    url_concat,
)

# -- HTTPHeaders ---------------------------------------------------------------


def test_headers_case_insensitive_multi() -> None:
    h = HTTPHeaders({"content-TYPE": "text/html"})
    assert list(h) == ["Content-Type"]
    h.add("set-cookie", "a=1")
    h.add("SET-COOKIE", "b=2")
    assert h["Set-Cookie"] == "a=1,b=2"
    assert h.get_list("set-cookie") == ["a=1", "b=2"]
    assert sorted(h.get_all()) == [
        ("Content-Type", "text/html"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
    ]
    h.add("Set-Cookie", "c=3")  # the joined cache is refreshed
    assert h["set-cookie"] == "a=1,b=2,c=3"
    h["Set-Cookie"] = "only"
    assert h.get_list("Set-Cookie") == ["only"]
    assert "content-type" in h and "x" not in h and 3 not in h
    assert h.get("X-Missing", "d") == "d"
    del h["CONTENT-type"]
    assert "Content-Type" not in h and len(h) == 1
    with pytest.raises(KeyError):
        del h["Content-Type"]
    assert h.get_list("nope") == []


def test_headers_constructors_and_copies() -> None:
    h = HTTPHeaders([("A", "1")], B="2")
    h.add("A", "3")
    assert sorted(h.get_all()) == [("A", "1"), ("A", "3"), ("B", "2")]
    for other in (h.copy(), copy.copy(h), copy.deepcopy(h), HTTPHeaders(h)):
        assert sorted(other.get_all()) == sorted(h.get_all())
        assert other.get_list("A") is not h.get_list("A")
        other.add("A", "4")
        assert h.get_list("A") == ["1", "3"]
    u = pickle.loads(pickle.dumps(h))
    assert sorted(u.get_all()) == sorted(h.get_all())
    assert u["a"] == "1,3"
    assert HTTPHeaders.parse(str(h)) == h
    assert h.setdefault("C", "x") == "x" and h.setdefault("c", "y") == "x"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("A: b\r\nC:d\r\n", [("A", "b"), ("C", "d")]),
        ("A: b\nC: d\n", [("A", "b"), ("C", "d")]),  # bare LF lines are allowed
        ("A:  \t b \t \r\n", [("A", "b")]),
        ("A:\r\n", [("A", "")]),
        ("A: x\u00a0\r\n", [("A", "x\u00a0")]),  # only SP/HTAB are stripped
        ("A: b:c\r\n", [("A", "b:c")]),
        ("A: 1\r\nA: 2\r\n", [("A", "1"), ("A", "2")]),
        ("A: \xe9\r\n", [("A", "\xe9")]),
        ("X-Weird!#$%&'*+.^_`|~: v\r\n", [("X-Weird!#$%&'*+.^_`|~", "v")]),
    ],
)
def test_headers_parse_valid(text: str, expected: list[tuple[str, str]]) -> None:
    assert list(HTTPHeaders.parse(text).get_all()) == expected


@pytest.mark.parametrize(
    "text",
    [
        "A: b\r\n c\r\n",  # obs-fold
        "A: b\r\n\tc\r\n",  # obs-fold with a tab
        "A : b\r\n",  # whitespace before the colon
        "A\t: b\r\n",
        " A: b\r\n",
        "A: b\rC: d\r\n",  # bare CR
        "A: b\r",
        "A: b\x00c\r\n",  # NUL
        "A: b\x7f\r\n",
        "A: b\x0bc\r\n",
        "A\x00: b\r\n",
        "A(: b\r\n",  # not a token
        "\xe9: b\r\n",
        ": b\r\n",  # empty name
        "no colon here\r\n",
        "A: \u0100\r\n",  # not a latin-1 byte
    ],
)
def test_headers_parse_rejects(text: str) -> None:
    with pytest.raises(HTTPInputError):
        HTTPHeaders.parse(text)


def test_headers_every_byte_in_value() -> None:
    for c in range(256):
        text = f"Foo: bar{chr(c)}baz\r\n"
        if c == 9 or (c >= 0x20 and c != 0x7F):
            assert HTTPHeaders.parse(text)["Foo"] == f"bar{chr(c)}baz"
        else:
            with pytest.raises(HTTPInputError):
                HTTPHeaders.parse(text)


@pytest.mark.parametrize("name", ["", "a b", "a\tb", "a\nb", "a\x00b", "a ", " a", "é"])
def test_headers_add_rejects_bad_names(name: str) -> None:
    with pytest.raises(HTTPInputError):
        HTTPHeaders().add(name, "v")


@pytest.mark.parametrize("value", ["a\r\nB: c", "a\nb", "a\rb", "a\x00"])
def test_headers_add_rejects_bad_values(value: str) -> None:
    with pytest.raises(HTTPInputError):
        HTTPHeaders().add("A", value)


def test_headers_multipart_mode_allows_utf8_text() -> None:
    h = HTTPHeaders.parse("A: \u6d4b\r\n", _chars_are_bytes=False)
    assert h["A"] == "\u6d4b"
    with pytest.raises(HTTPInputError):
        HTTPHeaders.parse("A: \u6d4b\x00\r\n", _chars_are_bytes=False)


def test_headers_parse_line() -> None:
    h = HTTPHeaders()
    h.parse_line("A: b\r\n")
    h.parse_line("C: d")
    h.parse_line("\r\n")
    assert list(h.get_all()) == [("A", "b"), ("C", "d")]


def test_headers_repeated_large_is_linear() -> None:
    # 200k repeated lines: a quadratic join would run for minutes.
    h = HTTPHeaders.parse("X: a\r\n" * 200_000)
    assert len(h.get_list("x")) == 200_000
    assert len(h["X"]) == 2 * 200_000 - 1
    h2 = HTTPHeaders()
    for _ in range(200_000):
        h2.add("X", "b")
        assert "X" in h2
    assert len(h2.get_list("X")) == 200_000


def test_headers_parse_memory_budget() -> None:
    data = "".join(f"X{i}: b\r\n" for i in range(8000))
    tracemalloc.start()
    try:
        HTTPHeaders.parse(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 40 * len(data)


# -- start lines ----------------------------------------------------------------


def test_request_start_line_valid() -> None:
    assert parse_request_start_line("GET /a?b=c HTTP/1.1") == RequestStartLine(
        "GET", "/a?b=c", "HTTP/1.1"
    )
    assert parse_request_start_line("M-SEARCH * HTTP/1.0").method == "M-SEARCH"
    assert parse_request_start_line("GET /\xe9 HTTP/1.1").path == "/\xe9"
    # Parsed lines are remembered: asking again gives the same answer.
    for _ in range(3):
        assert parse_request_start_line("GET /a?b=c HTTP/1.1") == RequestStartLine(
            "GET", "/a?b=c", "HTTP/1.1"
        )
    with pytest.raises(HTTPInputError):
        parse_request_start_line("GET /a?b=c HTTP/1.1 ")


@pytest.mark.parametrize(
    "line",
    [
        "asdf",
        "GET / HTTP/1.1x",
        "GET / HTTP/2.0",
        "GET / HTTP/1",
        "GET / http/1.1",
        "GET / HTTP/1.\u0661",  # Arabic-Indic digit
        "GET  / HTTP/1.1",
        "GET /  HTTP/1.1",
        "GET / HTTP/1.1 ",
        " GET / HTTP/1.1",
        "GE T / HTTP/1.1",
        "GET\t/ HTTP/1.1",
        "G(ET / HTTP/1.1",
        "G\xe9T / HTTP/1.1",
        "GET /a\x00b HTTP/1.1",
        "GET /a\x7fb HTTP/1.1",
        "GET /a\rb HTTP/1.1",
        "GET",
        "",
    ],
)
def test_request_start_line_rejects(line: str) -> None:
    with pytest.raises(HTTPInputError):
        parse_request_start_line(line)


def test_response_start_line() -> None:
    assert parse_response_start_line("HTTP/1.1 200 OK") == ResponseStartLine(
        "HTTP/1.1", 200, "OK"
    )
    assert parse_response_start_line("HTTP/1.0 404 Not Found").reason == "Not Found"
    assert parse_response_start_line("HTTP/1.1 204 ").reason == ""
    assert parse_response_start_line("HTTP/1.1 204").reason == ""
    for bad in ["HTTP/1.1 2000 OK", "HTTP/2.0 200 OK", "HTTP/1.1 200 O\rK", "xx"]:
        with pytest.raises(HTTPInputError):
            parse_response_start_line(bad)


# -- requests ------------------------------------------------------------------


def _req(
    uri: str = "/", version: str = "HTTP/1.1", **headers: str
) -> HTTPServerRequest:
    h = HTTPHeaders()
    for k, v in headers.items():
        h.add(k.replace("_", "-"), v)
    return HTTPServerRequest(
        start_line=RequestStartLine("GET", uri, version), headers=h
    )


def test_request_basics() -> None:
    r = _req("/p/a?x=1&y=2&x=3", Host="Example.COM:8080", Cookie="a=b; c=d")
    assert (r.method, r.path, r.query, r.version) == (
        "GET",
        "/p/a",
        "x=1&y=2&x=3",
        "HTTP/1.1",
    )
    assert r.host == "Example.COM:8080" and r.host_name == "example.com"
    assert r.arguments == {"x": [b"1", b"3"], "y": [b"2"]}
    assert r.query_arguments == {"x": [b"1", b"3"], "y": [b"2"]}
    assert r.arguments is not r.query_arguments
    assert r.body == b"" and isinstance(r.body, bytes)
    assert r.cookies["a"].value == "b" and r.cookies["c"].value == "d"
    assert r.full_url() == "http://Example.COM:8080/p/a?x=1&y=2&x=3"
    assert r.request_time() >= 0
    assert r.get_ssl_certificate() is None
    assert "Cookie" not in repr(r)
    r.custom = 1  # type: ignore[attr-defined]
    assert r.custom == 1  # type: ignore[attr-defined]


def test_request_host_rules() -> None:
    assert _req(version="HTTP/1.0").host == "127.0.0.1"
    with pytest.raises(HTTPInputError, match="Missing Host"):
        _req()
    for bad in ["foo bar", "a,b", "a\tb", "a/b", "a@b"]:
        with pytest.raises(HTTPInputError, match="Invalid Host"):
            _req(Host=bad)
    with pytest.raises(HTTPInputError):
        h = HTTPHeaders()
        h.add("Host", "a")
        h.add("Host", "b")
        HTTPServerRequest(
            start_line=RequestStartLine("GET", "/", "HTTP/1.1"), headers=h
        )
    assert _req(Host="[::1]:80").host_name == "[::1]"


def test_request_legacy_constructor() -> None:
    r = HTTPServerRequest(method="POST", uri="/x?a=b", host="h")
    assert (r.method, r.path, r.host, r.arguments) == ("POST", "/x", "h", {"a": [b"b"]})


def test_request_query_argument_limit() -> None:
    n = ParseUrlEncodedConfig().max_arguments
    ok = _req("/?" + "&".join(f"a={i}" for i in range(n)), Host="h")
    assert len(ok.arguments["a"]) == n
    with pytest.raises(HTTPInputError, match="Max number of fields"):
        _req("/?" + "&".join(f"a={i}" for i in range(n + 1)), Host="h")


def test_request_parse_body_merges_arguments() -> None:
    h = HTTPHeaders({"Host": "h", "Content-Type": "application/x-www-form-urlencoded"})
    r = HTTPServerRequest(
        start_line=RequestStartLine("POST", "/?a=1", "HTTP/1.1"),
        headers=h,
        body=b"a=2&b=3",
    )
    r._parse_body()
    assert r.arguments == {"a": [b"1", b"2"], "b": [b"3"]}
    assert r.body_arguments == {"a": [b"2"], "b": [b"3"]}
    assert r.query_arguments == {"a": [b"1"]}


def test_request_bad_cookie_names_dropped() -> None:
    r = _req(Host="h", Cookie="a=b; bad name=c; $x=y; ok=1")
    assert set(r.cookies) >= {"a", "ok"} and "bad name" not in r.cookies


# -- forms ---------------------------------------------------------------------


def _mp(*parts: bytes, boundary: bytes = b"1234") -> bytes:
    sep = b"--" + boundary + b"\r\n"
    return b"".join([sep + p + b"\r\n" for p in parts]) + b"--" + boundary + b"--\r\n"


def _parse_mp(
    body: bytes, config: ParseMultipartConfig | None = None, boundary: bytes = b"1234"
) -> tuple[dict[str, list[bytes]], dict[str, list[HTTPFile]]]:
    args: dict[str, list[bytes]] = {}
    files: dict[str, list[HTTPFile]] = {}
    parse_multipart_form_data(boundary, body, args, files, config=config)
    return args, files


def test_multipart_fields_and_files() -> None:
    body = _mp(
        b'Content-Disposition: form-data; name="a"\r\n\r\nvalue',
        b'Content-Disposition: form-data; name="f"; filename="x.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nFoo\r\nBar",
        b"Content-Disposition: form-data; name=f; filename=y.bin\r\n\r\n",
        'Content-Disposition: form-data; name="g"; filename="\u6d4b.txt"\r\n\r\nz'.encode(),
        b'Content-Disposition: form-data; name="h"; filename="a.txt"; '
        b"filename*=UTF-8''%C3%A1b.txt\r\n\r\nq",
    )
    args, files = _parse_mp(body)
    assert args == {"a": [b"value"]}
    assert files["f"][0].filename == "x.txt"
    assert files["f"][0]["body"] == b"Foo\r\nBar"
    assert files["f"][0].content_type == "text/plain"
    assert files["f"][1].content_type == "application/unknown"
    assert files["g"][0].filename == "\u6d4b.txt"
    assert files["h"][0].filename == "\u00e1b.txt"
    args2, files2 = _parse_mp(body, boundary=b'"1234"')
    assert args2 == args and files2.keys() == files.keys()


@pytest.mark.parametrize(
    "filename",
    ["a;b.txt", 'a"b.txt', 'a";b.txt', 'a;"b.txt', "a\\b.txt", "a b", "a\tb"],
)
def test_multipart_special_filenames(filename: str) -> None:
    quoted = filename.replace("\\", "\\\\").replace('"', '\\"')
    body = _mp(
        f'Content-Disposition: form-data; name="f"; filename="{quoted}"\r\n\r\nx'.encode()
    )
    assert _parse_mp(body)[1]["f"][0].filename == filename


@pytest.mark.parametrize(
    "body",
    [
        b"no boundary at all",
        _mp(b"\r\nno headers"),
        _mp(b"Content-Disposition: invalid; name=a\r\n\r\nx"),
        _mp(b"Content-Disposition: form-data; filename=a\r\n\r\nx"),
        _mp(b'Content-Disposition: form-data; name="a\rb"\r\n\r\nx'),
        _mp(b'Content-Disposition: form-data; name="a\x00b"\r\n\r\nx'),
        _mp(b"Content-Disposition: form-data;\r\n name=a\r\n\r\nx"),
        _mp(b"Content-Disposition: form-data; name=\xff\r\n\r\nx"),
        b'--1234\r\nContent-Disposition: form-data; name="a"\r\n\r\nx--1234--',
    ],
)
def test_multipart_rejects(body: bytes) -> None:
    with pytest.raises(HTTPInputError):
        args, files = _parse_mp(body)


def test_multipart_nothing_added_on_error() -> None:
    body = _mp(
        b'Content-Disposition: form-data; name="a"\r\n\r\nok',
        b"Content-Disposition: bogus\r\n\r\nx",
    )
    args: dict[str, list[bytes]] = {}
    files: dict[str, list[HTTPFile]] = {}
    with pytest.raises(HTTPInputError):
        parse_multipart_form_data(b"1234", body, args, files)
    assert args == {} and files == {}


def test_multipart_limits() -> None:
    part = b'Content-Disposition: form-data; name="a"\r\n\r\nx'
    args, _ = _parse_mp(_mp(*[part] * 100))
    assert len(args["a"]) == 100
    with pytest.raises(HTTPInputError, match="too many parts"):
        _parse_mp(_mp(*[part] * 101))
    with pytest.raises(HTTPInputError, match="too many parts"):
        _parse_mp(_mp(part), ParseMultipartConfig(max_parts=0))
    with pytest.raises(HTTPInputError, match="header too large"):
        _parse_mp(_mp(part), ParseMultipartConfig(max_part_header_size=10))
    with pytest.raises(HTTPInputError, match="disabled"):
        _parse_mp(_mp(part), ParseMultipartConfig(enabled=False))
    # A huge number of parts is cut off after max_parts + 1 splits.
    _, _ = _parse_mp(_mp(part), ParseMultipartConfig(max_parts=1))
    with pytest.raises(HTTPInputError):
        _parse_mp(_mp(*[part] * 200_000))


def test_multipart_hostile_params_linear() -> None:
    # Semicolons inside an unterminated quote, and many escaped quotes:
    # quadratic parameter splitting would not finish in the test timeout.
    n = 300_000
    for junk in [b'x="' + b";" * n, b'x="' + b'\\";' * n, b"x=" + b'";' * n]:
        body = _mp(b"Content-Disposition: form-data; " + junk + b'; name="a"\r\n\r\nv')
        cfg = ParseMultipartConfig(max_part_header_size=len(body))
        try:
            _parse_mp(body, cfg)
        except HTTPInputError:
            pass


def test_parse_body_arguments() -> None:
    args: dict[str, list[bytes]] = {}
    files: dict[str, list[HTTPFile]] = {}
    parse_body_arguments(
        "application/x-www-form-urlencoded", b"a=1&b=%C3%A9&a=+3&e=", args, files
    )
    assert args == {"a": [b"1", b" 3"], "b": ["é".encode()], "e": [b""]}
    args = {}
    parse_body_arguments(
        "multipart/form-data; boundary=1234",
        _mp(b'Content-Disposition: form-data; name="m"\r\n\r\nv'),
        args,
        files,
    )
    assert args == {"m": [b"v"]}
    parse_body_arguments("text/plain", b"a=1", args, files)  # ignored
    assert args == {"m": [b"v"]}


@pytest.mark.parametrize(
    "ctype, body, headers",
    [
        ("application/x-www-form-urlencoded", b"a=1&" * 1001, None),
        ("multipart/form-dataxyz; boundary=1", b"--1--", None),
        ("multipart/form-data", b"--1--", None),
        ("multipart/form-data; boundary=", b"----", None),
        ("application/x-www-form-urlencoded", b"a=1", {"Content-Encoding": "gzip"}),
        ("multipart/form-data; boundary=1", b"--1--", {"Content-Encoding": "gzip"}),
    ],
)
def test_parse_body_arguments_rejects(
    ctype: str, body: bytes, headers: dict[str, str] | None
) -> None:
    with pytest.raises(HTTPInputError):
        parse_body_arguments(
            ctype, body, {}, {}, HTTPHeaders(headers) if headers else None
        )


def test_parse_body_config_argument_limit() -> None:
    cfg = ParseBodyConfig(urlencoded=ParseUrlEncodedConfig(max_arguments=2))
    args: dict[str, list[bytes]] = {}
    parse_body_arguments(
        "application/x-www-form-urlencoded", b"a=1&b=2", args, {}, config=cfg
    )
    with pytest.raises(HTTPInputError, match="Max number of fields"):
        parse_body_arguments(
            "application/x-www-form-urlencoded", b"a=1&b=2&c=3", args, {}, config=cfg
        )


# -- header parameters -----------------------------------------------------------


@pytest.mark.parametrize(
    "line, key, params",
    [
        ("text/html", "text/html", {}),
        ("text/html; charset=UTF-8", "text/html", {"charset": "UTF-8"}),
        ('a; B="x;y"; c=d', "a", {"b": "x;y", "c": "d"}),
        ('a; n="a\\"b\\\\c"', "a", {"n": 'a"b\\c'}),
        ("a; f*=utf-8''T%C3%A4st", "a", {"f": "T\u00e4st"}),
        (
            "permessage-deflate; client_no_context_takeover",
            "permessage-deflate",
            {"client_no_context_takeover": None},
        ),
        ('a; x="unterminated; y=1', "a", {"x": '"unterminated; y=1'}),
        ("a;;; b=1 ;", "a", {"b": "1"}),
    ],
)
def test_parse_header(line: str, key: str, params: dict[str, str]) -> None:
    assert _parse_header(line) == (key, params)


def test_encode_header() -> None:
    assert _encode_header("a", {}) == "a"
    assert _encode_header("p", {"z": "1", "b": None}) == "p; b; z=1"
    assert _parse_header(_encode_header("p", {"z": "1", "b": None})) == (
        "p",
        {"z": "1", "b": None},
    )


def test_parse_header_memory_budget() -> None:
    header = "form-data" + "; a=b" * 10_000
    tracemalloc.start()
    try:
        _parse_header(header)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 60 * len(header)


# -- cookies ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("chips=ahoy; vienna=finger", {"chips": "ahoy", "vienna": "finger"}),
        ("keebler=E=mc2", {"keebler": "E=mc2"}),
        ("a=b; h=i; a=c", {"a": "c", "h": "i"}),
        ("abc=def; unnamed; lang=en", {"abc": "def", "": "unnamed", "lang": "en"}),
        ("  =  b  ;  ;  =  ;   c  =  ;  ", {"": "b", "c": ""}),
        ('a="b=\\""', {"a": 'b="'}),
        ('a="b=\\042"', {"a": 'b="'}),
        ('a="b=\\377"', {"a": "b=\xff"}),
        ('a="b=\\400"', {"a": "b=400"}),
        ('a="b=\\\\042"', {"a": "b=\\042"}),
        ("saint=Andr\u00e9", {"saint": "Andr\u00e9"}),
        ("", {}),
    ],
)
def test_parse_cookie(raw: str, expected: dict[str, str]) -> None:
    assert parse_cookie(raw) == expected


def test_parse_cookie_hostile_is_linear() -> None:
    n = 1_000_000
    for enc in ("\\\\", "\\134"):
        value = parse_cookie('a="b=' + enc * n + '"')["a"]
        assert len(value) == n + 2
    many = parse_cookie("".join(f"{i}=;" for i in range(100_000)))
    assert len(many) == 100_000


# -- helpers -----------------------------------------------------------------------


def test_url_concat() -> None:
    assert url_concat("http://h/p", {"c": "d"}) == "http://h/p?c=d"
    assert url_concat("http://h/p?a=b", {"c": "d"}) == "http://h/p?a=b&c=d"
    assert url_concat("http://h/p?", [("c", "d")]) == "http://h/p?c=d"
    assert url_concat("http://h/p?a=b&", [("c", "d")]) == "http://h/p?a=b&c=d"
    assert url_concat("http://h/p?a=", [("c", "d d")]) == "http://h/p?a=&c=d+d"
    assert url_concat("http://h/p#f", {"c": "d"}) == "http://h/p?c=d#f"
    assert url_concat("http://h/p?a=1", (("a", "2"),)) == "http://h/p?a=1&a=2"
    assert url_concat("http://h/p", None) == "http://h/p"
    assert url_concat("http://h/p", []) == "http://h/p"
    with pytest.raises(TypeError):
        url_concat("http://h/p", "a=b")  # type: ignore[arg-type]


def test_format_timestamp() -> None:
    ts = 1359312200.503611
    expected = "Sun, 27 Jan 2013 18:43:20 GMT"
    assert format_timestamp(ts) == expected
    assert format_timestamp(int(ts)) == expected
    assert format_timestamp(time.gmtime(ts)) == expected
    assert format_timestamp(tuple(time.gmtime(ts))) == expected
    aware = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
    assert format_timestamp(aware) == expected
    assert format_timestamp(aware.replace(tzinfo=None)) == expected
    minus4 = datetime.timezone(datetime.timedelta(hours=-4))
    assert format_timestamp(datetime.datetime.fromtimestamp(ts, minus4)) == expected
    with pytest.raises(TypeError):
        format_timestamp("now")  # type: ignore[arg-type]


def test_split_host_and_port() -> None:
    assert split_host_and_port("example.com:80") == ("example.com", 80)
    assert split_host_and_port("example.com") == ("example.com", None)
    assert split_host_and_port("[::1]:8080") == ("[::1]", 8080)
    assert split_host_and_port("[::1]") == ("[::1]", None)
    assert split_host_and_port(":80") == (":80", None)
    assert split_host_and_port("h:\u0661") == ("h:\u0661", None)


def test_range_helpers() -> None:
    assert _parse_request_range("bytes=1-2") == (1, 3)
    assert _parse_request_range("bytes=6-") == (6, None)
    assert _parse_request_range("bytes=-6") == (-6, None)
    assert _parse_request_range("bytes=-0") == (None, 0)
    assert _parse_request_range("bytes=") == (None, None)
    assert _parse_request_range("foo=42") is None
    assert _parse_request_range("bytes=1-2,6-10") is None
    assert _parse_request_range("bytes=+1-2") is None
    assert _get_content_range(None, 1, 4) == "bytes 0-0/4"
    assert _get_content_range(1, 3, 4) == "bytes 1-2/4"
    assert _get_content_range(None, None, 4) == "bytes 0-3/4"


def test_misc_helpers() -> None:
    assert sorted(qs_to_qsl({"a": ["1", "3"], "b": ["2"]})) == [
        ("a", "1"),
        ("a", "3"),
        ("b", "2"),
    ]
    assert encode_username_password("u", "p") == b"u:p"
    assert encode_username_password("e\u0301", b"\xff") == "\u00e9".encode() + b":\xff"
    assert responses[404] == "Not Found"
    f = HTTPFile(filename="a", body=b"b", content_type="c")
    assert f.filename == f["filename"] == "a"
    with pytest.raises(AttributeError):
        f.missing  # noqa: B018


# -- property: parse(format(headers)) round-trips ----------------------------------

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_token = st.text(
    alphabet="!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFXYZ",
    min_size=1,
    max_size=12,
)
_value = st.text(
    alphabet=st.characters(
        min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"
    ),
    max_size=20,
).map(lambda v: v.strip(" \t"))


@given(
    st.lists(st.tuples(_token, _value), max_size=20), st.sampled_from(["\r\n", "\n"])
)
def test_headers_roundtrip_property(pairs: list[tuple[str, str]], eol: str) -> None:
    text = "".join(f"{n}: {v}{eol}" for n, v in pairs)
    parsed = HTTPHeaders.parse(text)
    # Reference: a plain list of (normalised name, value), grouped by name in
    # first-seen order, as get_all() promises.
    groups: dict[str, list[str]] = {}
    for n, v in pairs:
        norm = "-".join(w.capitalize() for w in n.split("-"))
        groups.setdefault(norm, []).append(v)
    assert list(parsed.get_all()) == [(n, v) for n, vs in groups.items() for v in vs]
    for n, vs in groups.items():
        assert parsed[n.lower()] == ",".join(vs)


@given(st.text(alphabet=st.characters(max_codepoint=0xFF), max_size=60))
def test_headers_parse_never_crashes(text: str) -> None:
    # Any input either parses or raises HTTPInputError: never another error.
    try:
        h = HTTPHeaders.parse(text)
    except HTTPInputError:
        return
    for name, value in h.get_all():
        assert "\r" not in value and "\n" not in value and "\x00" not in value
        assert ":" not in name


def test_request_lazy_fields_behave_like_attributes() -> None:
    r = _req("/p?q=1", Host="Example.COM:80")
    assert r.files == {} and r.files is r.files
    assert r.body_arguments == {} and r.body_arguments is r.body_arguments
    r.files = {"f": []}
    r.body_arguments = {"b": [b"1"]}
    assert r.files == {"f": []} and r.arguments == {"q": [b"1"], "b": [b"1"]}
    assert r.host_name == "example.com"
    r.host_name = "other"
    assert r.host_name == "other"
    assert r.request_time() >= 0.0
    other = _req("/", Host="h")
    assert other.files == {} and other.files is not r.files
    assert other.arguments == {} and other.query_arguments == {}
    given = HTTPServerRequest(uri="/", host="h", files={"x": []})
    assert given.files == {"x": []}
