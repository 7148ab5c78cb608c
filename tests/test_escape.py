"""Tests for whirlwind.escape: tables of inputs and expected outputs."""

from __future__ import annotations

import json
import random
import re
import urllib.parse
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whirlwind import _core, escape
from whirlwind.escape import (
    json_decode,
    json_encode,
    linkify,
    native_str,
    parse_qs_bytes,
    recursive_unicode,
    squeeze,
    to_basestring,
    to_unicode,
    url_escape,
    url_unescape,
    utf8,
    xhtml_escape,
    xhtml_unescape,
)

ESCAPE_CASES: list[tuple[str | bytes, str]] = [
    ("plain text", "plain text"),
    ("<b>", "&lt;b&gt;"),
    ("a & b", "a &amp; b"),
    ("&amp;", "&amp;amp;"),
    ("\"quoted\" 'single'", "&quot;quoted&quot; &#x27;single&#x27;"),
    ("<>&\"'", "&lt;&gt;&amp;&quot;&#x27;"),
    ("caf\u00e9 <\u00e9>", "caf\u00e9 &lt;\u00e9&gt;"),
    (b"<\xc3\xa9>", "&lt;\u00e9&gt;"),
    ("", ""),
]


@pytest.mark.parametrize(("raw", "escaped"), ESCAPE_CASES)
def test_xhtml_escape_table(raw: str | bytes, escaped: str) -> None:
    result = xhtml_escape(raw)
    assert type(result) is str
    assert result == escaped
    assert xhtml_unescape(escaped) == to_unicode(raw)
    assert xhtml_unescape(utf8(escaped)) == to_unicode(raw)


@pytest.mark.parametrize(
    ("escaped", "plain"),
    [
        ("x&#32;y", "x y"),
        ("x&#x20;y", "x y"),
        ("x&#X41;y", "xAy"),
        ("x&#xabc;y", "x\u0abcy"),
        ("x&eacute;y", "x\u00e9y"),
        ("x&#xyz;y", "x&#xyz;y"),
        ("x&#;y", "x&#;y"),
        ("x&nosuchentity;y", "x&nosuchentity;y"),
    ],
)
def test_xhtml_unescape_references(escaped: str, plain: str) -> None:
    assert xhtml_unescape(escaped) == plain


def test_xhtml_escape_rejects_non_strings() -> None:
    with pytest.raises(TypeError):
        xhtml_escape(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    ["</script>", {"a": "</b>", "c": [1, 2.5, None, True]}, "caf\u00e9", [], "x</y</z"],
)
def test_json_encode_never_emits_close_tag(value: Any) -> None:
    encoded = json_encode(value)
    assert "</" not in encoded
    assert json_decode(encoded) == value
    assert json.loads(encoded) == value


def test_json_decode_bytes_and_str() -> None:
    assert json_decode(b'"caf\xc3\xa9"') == "caf\u00e9"
    assert json_decode('{"a": [1]}') == {"a": [1]}
    with pytest.raises(ValueError):
        json_decode("{not json")


@pytest.mark.parametrize(
    ("raw", "plus", "escaped"),
    [
        ("a b/c", True, "a+b%2Fc"),
        ("a b/c", False, "a%20b/c"),
        ("+ #%", True, "%2B+%23%25"),
        ("+ #%", False, "%2B%20%23%25"),
        ("\u00e9", True, "%C3%A9"),
        ("\u00e9".encode(), True, "%C3%A9"),
        ("\u00e9".encode("latin-1"), True, "%E9"),
        ("safe-_.~", True, "safe-_.~"),
    ],
)
def test_url_escape_table(raw: str | bytes, plus: bool, escaped: str) -> None:
    assert url_escape(raw, plus=plus) == escaped


@pytest.mark.parametrize(
    ("escaped", "encoding", "plus", "expected"),
    [
        ("%C3%A9", "utf-8", True, "\u00e9"),
        ("%C3%A9", "latin-1", True, "\u00c3\u00a9"),
        ("%C3%A9", None, True, b"\xc3\xa9"),
        ("%2B+%23%25", "utf-8", True, "+ #%"),
        ("%2B+%23%25", "utf-8", False, "++#%"),
        ("%2B+%23%25", None, True, b"+ #%"),
        ("%2B%20%23%25", None, False, b"+ #%"),
        ("100%", None, False, b"100%"),
        ("%zz%4", None, False, b"%zz%4"),
    ],
)
def test_url_unescape_table(
    escaped: str, encoding: str | None, plus: bool, expected: str | bytes
) -> None:
    assert url_unescape(escaped, encoding, plus=plus) == expected
    assert url_unescape(escaped.encode("ascii"), encoding, plus=plus) == expected


def test_unquote_matches_stdlib_on_random_input() -> None:
    rng = random.Random(6)
    alphabet = b"%%%%%0123456789abcdefABCDEFxyz=\r\n+ "
    samples = [b"", b"%", b"a%", b"%%41", b"=%41=", bytes(range(256))]
    samples += [
        bytes(rng.choice(alphabet) for _ in range(rng.randrange(200)))
        for _ in range(300)
    ]
    # Longer than the decoding window, with escapes straddling its edges.
    samples += [b"%41" * 40_000, b"x%41" * 30_000, b"%" * 70_000 + b"%41"]
    for data in samples:
        assert escape._unquote_to_bytes(data) == urllib.parse.unquote_to_bytes(data)


def test_parse_qs_bytes() -> None:
    assert parse_qs_bytes(b"a=1&b=%41+%2B&a=2&&c&d=", keep_blank_values=True) == {
        "a": [b"1", b"2"],
        "b": [b"A +"],
        "c": [b""],
        "d": [b""],
    }
    assert parse_qs_bytes(b"a=1&b=%41+%2B&a=2&&c&d=") == {
        "a": [b"1", b"2"],
        "b": [b"A +"],
    }
    assert parse_qs_bytes("%E9=%E9") == {"\u00e9": [b"\xe9"]}
    assert parse_qs_bytes(b"v=%FF%00") == {"v": [b"\xff\x00"]}
    assert parse_qs_bytes(b"") == {}
    with pytest.raises(ValueError):
        parse_qs_bytes(b"a=1&&b=2", strict_parsing=True)
    with pytest.raises(ValueError):
        parse_qs_bytes(b"a", strict_parsing=True)
    with pytest.raises(ValueError):
        parse_qs_bytes(b"a=1&b=2", max_num_fields=1)
    assert parse_qs_bytes(b"a=1&b=2", max_num_fields=2) == {"a": [b"1"], "b": [b"2"]}


def test_utf8_and_to_unicode() -> None:
    assert utf8("\u00e9") == b"\xc3\xa9"
    assert utf8(b"\xff") == b"\xff"
    assert utf8(None) is None
    assert to_unicode(b"\xc3\xa9") == "\u00e9"
    assert to_unicode("x") == "x"
    assert to_unicode(None) is None
    assert native_str is to_unicode and to_basestring is to_unicode
    with pytest.raises(TypeError):
        utf8(1)  # type: ignore[call-overload]
    with pytest.raises(TypeError):
        to_unicode(1.5)  # type: ignore[call-overload]
    with pytest.raises(UnicodeDecodeError):
        to_unicode(b"\xff")


def test_recursive_unicode() -> None:
    data = {b"k": [b"a", (b"b", 1)], "s": b"\xc3\xa9"}
    assert recursive_unicode(data) == {"k": ["a", ("b", 1)], "s": "\u00e9"}
    assert recursive_unicode(b"x") == "x"
    assert recursive_unicode(5) == 5


def test_squeeze() -> None:
    assert squeeze("  many \t\n  spaces\r\nhere ") == "many spaces here"
    assert squeeze("x\x00\x01y") == "x y"
    assert squeeze("") == ""


def _external(href: str) -> str:
    if href.startswith("http://www.inside.example"):
        return 'class="internal"'
    return '   rel="nofollow" class="external"  '


LINKIFY_CASES: list[tuple[str | bytes, dict[str, Any], str]] = [
    (
        "see http://a.example/!",
        {},
        'see <a href="http://a.example/">http://a.example/</a>!',
    ),
    (
        "http://a.example/q?x=1&y=2",
        {},
        '<a href="http://a.example/q?x=1&amp;y=2">http://a.example/q?x=1&amp;y=2</a>',
    ),
    (
        "http://a.example/end.",
        {},
        '<a href="http://a.example/end">http://a.example/end</a>.',
    ),
    (
        "http://a.example/x" + "." * 40,
        {},
        '<a href="http://a.example/x">http://a.example/x</a>' + "." * 40,
    ),
    (
        "http://a.example/w(" + "a" * 40,
        {},
        '<a href="http://a.example/w">http://a.example/w</a>(' + "a" * 40,
    ),
    (
        "(see http://a.example/wiki_(page))",
        {},
        '(see <a href="http://a.example/wiki_(page)">http://a.example/wiki_(page)</a>)',
    ),
    (
        "<http://a.example/p>",
        {},
        '&lt;<a href="http://a.example/p">http://a.example/p</a>&gt;',
    ),
    (
        "http://user:pw@a.example:8080",
        {},
        '<a href="http://user:pw@a.example:8080">http://user:pw@a.example:8080</a>',
    ),
    (
        "http://\u27a1.ws/\u4a39",
        {},
        '<a href="http://\u27a1.ws/\u4a39">http://\u27a1.ws/\u4a39</a>',
    ),
    (
        b"go www.a.example now",
        {},
        'go <a href="http://www.a.example">www.a.example</a> now',
    ),
    ("go www.a.example now", {"require_protocol": True}, "go www.a.example now"),
    ("ftp://a.example/f", {}, "ftp://a.example/f"),
    (
        "ftp://a.example/f",
        {"permitted_protocols": ["ftp"]},
        '<a href="ftp://a.example/f">ftp://a.example/f</a>',
    ),
    (
        "rdar:/1234",
        {"permitted_protocols": {"rdar"}},
        '<a href="rdar:/1234">rdar:/1234</a>',
    ),
    ("javascript:alert(1)", {}, "javascript:alert(1)"),
    (
        "www.outside.example",
        {"extra_params": 'rel="nofollow"'},
        '<a href="http://www.outside.example" rel="nofollow">www.outside.example</a>',
    ),
    (
        "www.outside.example and www.inside.example/x",
        {"extra_params": _external},
        '<a href="http://www.outside.example" rel="nofollow" class="external">'
        "www.outside.example</a> and "
        '<a href="http://www.inside.example/x" class="internal">www.inside.example/x</a>',
    ),
    (
        "A http://reallylong.example/link/that/exceedsthelimit.html",
        {"shorten": True},
        'A <a href="http://reallylong.example/link/that/exceedsthelimit.html"'
        ' title="http://reallylong.example/link/that/exceedsthelimit.html">'
        "http://reallylong.example/link...</a>",
    ),
    (
        "http://averyveryverylongdomainnameindeed.example/x!",
        {"shorten": True},
        '<a href="http://averyveryverylongdomainnameindeed.example/x"'
        ' title="http://averyveryverylongdomainnameindeed.example/x">'
        "http://averyveryverylongdomain...</a>!",
    ),
    (
        "http://short.example/",
        {"shorten": True},
        '<a href="http://short.example/">http://short.example/</a>',
    ),
]


@pytest.mark.parametrize(("text", "kwargs", "html"), LINKIFY_CASES)
def test_linkify_table(text: str | bytes, kwargs: dict[str, Any], html: str) -> None:
    assert linkify(text, **kwargs) == html


def test_linkify_pathological_inputs_stay_fast_enough_to_finish() -> None:
    # These made earlier URL regexes backtrack exponentially; here they must
    # simply complete and produce a link for the well-formed prefix.
    for tail in ("(" * 2000, "." * 5000, "&" * 3000, "((((a)" * 500):
        result = linkify("http://x.example/a" + tail)
        assert result.startswith('<a href="http://x.example/a')


class _Text(str):
    pass


class _Obj:
    def __str__(self) -> str:
        return "<obj & 'co'>"


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "<a href=\"x\">'&'</a>",
        "",
        _Text("<sub>"),
        b"<\xc3\xa9>",
        0,
        -17,
        10**30,
        2.5,
        float("inf"),
        True,
        None,
        ["<x>", 1],
        _Obj(),
    ],
)
def test_escape_any_matches_xhtml_escape_of_str(value: Any) -> None:
    # The fused escaper used by templates must agree with the public one.
    text = value.decode("utf-8") if isinstance(value, bytes) else str(value)
    assert escape._escape_any(value) == xhtml_escape(text)
    assert type(escape._escape_any(value)) in (str, _Text)


# Properties, checked against the standard library as a reference.

_QS_PIECES = st.sampled_from(
    [b"%", b"=", b"&", b"+", b"a", b"2", b"5", b"F", b"f", b"z", b"\r", b"\n"]
    + [b" ", b"\x00", b"\xff", b"%41", b"%3d", b"%25", b"%e9", b"%%", b"%4"]
)
_QS = st.lists(_QS_PIECES, max_size=40).map(b"".join)


@settings(deadline=None)
@given(st.text(), st.booleans())
def test_url_escape_round_trips(text: str, plus: bool) -> None:
    escaped = url_escape(text, plus=plus)
    assert escaped.isascii()
    assert url_unescape(escaped, plus=plus) == text
    assert url_unescape(escaped, None, plus=plus) == text.encode("utf-8")


@settings(deadline=None)
@given(st.binary(), st.booleans())
def test_url_escape_bytes_round_trips(data: bytes, plus: bool) -> None:
    assert url_unescape(url_escape(data, plus=plus), None, plus=plus) == data


@settings(deadline=None)
@given(st.text())
def test_xhtml_escape_round_trips(text: str) -> None:
    escaped = xhtml_escape(text)
    assert not any(c in escaped for c in "<>\"'")
    assert xhtml_unescape(escaped) == text
    assert escape._escape_any(text) == escaped


@settings(deadline=None)
@given(_QS)
def test_unquote_to_bytes_matches_stdlib(data: bytes) -> None:
    assert escape._unquote_to_bytes(data) == urllib.parse.unquote_to_bytes(data)


@settings(deadline=None)
@given(_QS, st.booleans(), st.booleans())
def test_parse_qs_bytes_matches_stdlib(data: bytes, keep: bool, strict: bool) -> None:
    def outcome(func: Any) -> Any:
        try:
            return func()
        except ValueError:
            return ValueError

    def reference() -> dict[str, list[bytes]]:
        parsed = urllib.parse.parse_qs(
            data.decode("latin-1"), keep, strict, encoding="latin-1"
        )
        return {k: [v.encode("latin-1") for v in vs] for k, vs in parsed.items()}

    # An empty string is no fields at all (Python 3.10's strict mode
    # called it a bad field; 3.11 and later agree with us).
    expected = outcome(reference) if data else {}
    assert outcome(lambda: parse_qs_bytes(data, keep, strict)) == expected


@settings(deadline=None)
@given(st.text())
def test_linkify_output_has_no_raw_markup_from_input(text: str) -> None:
    linked = linkify(text, shorten=True)
    # Only tags linkify made itself: removing them leaves escaped text.
    stripped = re.sub(r'<a href="[^"<>]*"( title="[^"<>]*")?>|</a>', "", linked)
    assert "<" not in stripped and ">" not in stripped


@pytest.mark.parametrize(
    "value",
    [
        {"message": "Hello, world!"},
        {"n": [1, -2, 3.25, 1e300, float("inf"), float("-inf")], "e": {}},
        [{"caf\u00e9": "\u2028</x>"}, [], [[None]], False],
        {1: "int key", 2.5: "float key", None: "none key", False: "bool key"},
    ],
)
def test_json_encode_matches_json_dumps(value: Any) -> None:
    assert json_encode(value) == json.dumps(value).replace("</", "<\\/")


def test_json_encode_errors_match_json_dumps() -> None:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    with pytest.raises(ValueError, match="Circular reference"):
        json_encode(loop)
    items: list[Any] = []
    items.append(items)
    with pytest.raises(ValueError, match="Circular reference"):
        json_encode(items)
    with pytest.raises(TypeError, match="not JSON serializable"):
        json_encode({"x": object()})
    with pytest.raises(TypeError, match="keys must be"):
        json_encode({(1, 2): "tuple key"})


# The compiled escape (whirlwind._core.escape_html) against its Python
# reference, escape._py_escape_any: same value, same type, and the very
# input object back when there is nothing to escape.

_SPECIALS = st.sampled_from("&<>\"'")
# Every plane (Latin-1, BMP, astral; lone surrogates too, which templates
# meet in "surrogateescape"d text), with the five specials frequent, so
# that all three storage kinds are scanned with and without replacements.
_HTML_TEXT = st.text(
    st.one_of(_SPECIALS, st.characters(), st.characters(max_codepoint=255))
)


class _Markup(str):
    pass


class _Stringy:
    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


class _SubStringy:
    def __str__(self) -> str:
        return _Markup("clean")


class _OddBytes(bytes):
    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return "decoded <by> the subclass"


class _BadStr:
    def __str__(self) -> str:
        raise RuntimeError("no text")


def _agree(value: Any) -> str:
    compiled = _core.escape_html(value)
    reference = escape._py_escape_any(value)
    assert compiled == reference
    assert type(compiled) is type(reference)
    return compiled


def test_escape_is_compiled_in_this_build() -> None:
    # Templates bind escape._escape_any; with the extension built it must be
    # the compiled function, and so must the str escape behind xhtml_escape.
    assert escape._escape_any is _core.escape_html
    assert escape._escape_str is _core.escape_html


@settings(deadline=None, max_examples=300)
@given(_HTML_TEXT)
def test_compiled_escape_matches_python_on_text(text: str) -> None:
    result = _agree(text)
    if not any(c in text for c in "&<>\"'"):
        assert result is text
    else:
        assert result is not text
        assert xhtml_unescape(result) == text
    assert escape._py_escape_str(text) == result
    if not any("\ud800" <= c <= "\udfff" for c in text):  # UTF-8 can't carry these
        assert _core.escape_html(text.encode("utf-8")) == result


@settings(deadline=None)
@given(_HTML_TEXT)
def test_compiled_escape_matches_python_on_str_subclasses(text: str) -> None:
    value = _Markup(text)
    result = _agree(value)
    if not any(c in text for c in "&<>\"'"):
        assert result is value
    else:
        assert type(result) is str


@settings(deadline=None)
@given(st.one_of(st.integers(), st.floats(allow_nan=True), st.booleans()))
def test_compiled_escape_matches_python_on_numbers(value: float) -> None:
    assert _agree(value) == str(value)


@settings(deadline=None)
@given(st.binary())
def test_compiled_escape_matches_python_on_bytes(data: bytes) -> None:
    try:
        expected = escape._py_escape_any(data)
    except UnicodeDecodeError as exc:
        with pytest.raises(UnicodeDecodeError) as info:
            _core.escape_html(data)
        assert info.value.start == exc.start and info.value.reason == exc.reason
    else:
        assert _core.escape_html(data) == expected


@settings(deadline=None)
@given(_HTML_TEXT)
def test_compiled_escape_matches_python_on_objects(text: str) -> None:
    _agree(_Stringy(text))
    _agree([text, 1])


@pytest.mark.parametrize(
    "value",
    [
        None,
        object,
        _SubStringy(),
        _OddBytes(b"raw"),
        float("nan"),
        float("-inf"),
        -(10**40),
        "\udcff<\udc80",  # lone surrogates, as "surrogateescape" makes them
        "\U0010ffff&\U00010000",
        "x" * 100_000 + "<" + "\u0100" * 3,
        "<" * 50_000,
        "",
    ],
)
def test_compiled_escape_matches_python_on_edge_values(value: Any) -> None:
    _agree(value)


def test_compiled_escape_returns_str_subclass_from_str_unchanged() -> None:
    value = _SubStringy()
    result = _core.escape_html(value)
    assert type(result) is _Markup and result == "clean"


def test_compiled_escape_propagates_str_errors() -> None:
    with pytest.raises(RuntimeError, match="no text"):
        _core.escape_html(_BadStr())
    with pytest.raises(RuntimeError, match="no text"):
        escape._py_escape_any(_BadStr())


def test_xhtml_escape_rejects_none() -> None:
    with pytest.raises(TypeError):
        xhtml_escape(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0, 1, 9, 10, 255, 1023, 1024, -1, 2**63, -(2**63)])
def test_compiled_escape_small_int_cache_gives_str_of_int(value: int) -> None:
    # The first call fills the cache of small ints' text, the second reads it.
    assert _core.escape_html(value) == str(value)
    assert _core.escape_html(value) == str(value)
    assert type(_core.escape_html(value)) is str
