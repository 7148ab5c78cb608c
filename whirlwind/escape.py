"""Escaping and unescaping for HTML, JSON and URLs, plus a few string helpers.

Contents:

* `xhtml_escape`, `xhtml_unescape`: HTML/XML text and attribute values.
* `json_encode` (never emits ``</``), `json_decode`.
* `url_escape`, `url_unescape`, `parse_qs_bytes`: percent-encoding.
* `utf8`, `to_unicode` (alias `native_str`, `to_basestring`), `recursive_unicode`.
* `squeeze`, `linkify`.

Every function accepts both `str` and `bytes` where that makes sense and has a
precise return type, unlike some of their standard-library counterparts.
"""

from __future__ import annotations

import html
import json
import re
import urllib.parse
from collections.abc import Callable, Container
from typing import Any, overload

__all__ = [
    "json_decode",
    "json_encode",
    "linkify",
    "native_str",
    "parse_qs_bytes",
    "recursive_unicode",
    "squeeze",
    "to_basestring",
    "to_unicode",
    "url_escape",
    "url_unescape",
    "utf8",
    "xhtml_escape",
    "xhtml_unescape",
]

# The five characters that are special in HTML text or quoted attributes.
# `&#x27;` matches what `html.escape` produces for the single quote.
_HTML_SPECIALS = (
    ("&", "&amp;"),
    ("<", "&lt;"),
    (">", "&gt;"),
    ('"', "&quot;"),
    ("'", "&#x27;"),
)


def _py_escape_str(text: str) -> str:
    # Pure-Python `_escape_str`. Most values rendered into pages contain
    # none of the specials, and five substring tests are cheaper than five `replace` calls (or a regex), so
    # test first. `&` must be replaced first so we don't re-escape entities.
    if "&" in text or "<" in text or ">" in text or '"' in text or "'" in text:
        return (
            text.replace("&", "&amp;")
            .replace("<", "&lt;")
            .replace(">", "&gt;")
            .replace('"', "&quot;")
            .replace("'", "&#x27;")
        )
    return text


def _py_escape_any(value: Any, _str: type[str] = str) -> str:
    """`xhtml_escape` for any value, as templates apply it to `{{ }}`.

    Same result as ``xhtml_escape(str(value))`` (bytes decoded as UTF-8)
    with the string tests inlined; ints and floats skip escaping entirely.
    The reference for the compiled `whirlwind._core.escape_html`, and the
    fallback without it.
    """
    cls = type(value)
    text: str
    if cls is _str:
        text = value
    elif cls is int or cls is float:
        return _str(value)  # digits, sign, '.', 'e', 'inf', 'nan': nothing to escape
    elif isinstance(value, (bytes, str)):
        text = value.decode("utf-8") if isinstance(value, bytes) else value
    else:
        text = _str(value)
    return _py_escape_str(text)


# The escape every `{{ }}` of a template runs: compiled when the extension
# is built (a scan of the str's storage, no copy when nothing changes). The
# compiled function also takes str, which makes it `_escape_str` too.
_escape_any: Callable[[Any], str]
_escape_str: Callable[[str], str]
try:
    from whirlwind._core import escape_html as _c_escape_html
except ImportError:  # a source tree without the extension
    _escape_any = _py_escape_any
    _escape_str = _py_escape_str
else:
    _escape_any = _escape_str = _c_escape_html


def xhtml_escape(value: str | bytes) -> str:
    """Escape ``value`` for use in HTML or XML text and quoted attributes.

    The characters ``& < > " '`` become entities (the quote is ``&#x27;``).
    `bytes` are decoded as UTF-8 first; the result is always `str`.
    """
    if type(value) is not str:
        value = to_unicode(value)
        if value is None:  # to_unicode lets None through; we don't
            raise TypeError("xhtml_escape() expects str or bytes, not None")
    return _escape_str(value)


def xhtml_unescape(value: str | bytes) -> str:
    """Replace HTML character references in ``value`` by the characters they
    stand for, following the HTML5 rules of `html.unescape`. Always returns `str`.
    """
    return html.unescape(to_unicode(value))


def _make_fast_encoder() -> Any:
    """The C encoder behind ``json.dumps(value)``, made once: ``dumps`` builds
    a new one per call. Without the circular-reference bookkeeping (a cycle
    ends in RecursionError, which `json_encode` turns back into dumps'
    ValueError). None when the C accelerator is missing or does not give
    exactly what ``dumps`` gives."""
    try:
        from json.encoder import (  # type: ignore[attr-defined]
            c_make_encoder,
            encode_basestring_ascii,
        )

        if c_make_encoder is None:
            return None
        default = json.JSONEncoder().default
        enc = c_make_encoder(
            None, default, encode_basestring_ascii, None, ": ", ", ", False, False, True
        )
        sample = {"a": [1, 2.5, float("nan"), None, True], "\u00e9": {"x": "</"}}
        if "".join(enc(sample, 0)) != json.dumps(sample):
            return None
        return enc  # type: ignore[no-any-return]
    except Exception:
        return None


_fast_encoder: Any = _make_fast_encoder()


def json_encode(value: Any) -> str:
    """Serialize ``value`` to JSON text.

    The output never contains ``</``: it is written ``<\\/``, which JSON
    readers decode to the same string, so the text can be placed inside an
    HTML ``<script>`` element without closing it early.
    """
    enc = _fast_encoder
    if enc is not None and (value.__class__ is dict or value.__class__ is list):
        try:
            text = "".join(enc(value, 0))
        except RecursionError:
            text = json.dumps(value)  # raises "Circular reference detected"
    else:
        text = json.dumps(value)
    return text.replace("</", "<\\/")


def json_decode(value: str | bytes) -> Any:
    """Parse JSON text given as `str` or UTF-8 (or UTF-16/32) `bytes`."""
    return json.loads(value)


_CONTROL_RUN = re.compile(r"[\x00-\x20]+")


def squeeze(value: str) -> str:
    """Collapse every run of whitespace and control characters to one space
    and strip both ends."""
    return _CONTROL_RUN.sub(" ", value).strip()


def url_escape(value: str | bytes, plus: bool = True) -> str:
    """Percent-encode ``value`` (UTF-8 for `str`, bytes taken as they are).

    With ``plus`` (the default, suited to query strings and forms), a space
    becomes ``+`` and ``/`` is encoded. With ``plus=False`` (suited to URL
    paths) a space becomes ``%20`` and ``/`` is kept.
    """
    if plus:
        return urllib.parse.quote_plus(value)
    return urllib.parse.quote(value)


@overload
def url_unescape(value: str | bytes, encoding: None, plus: bool = True) -> bytes: ...
@overload
def url_unescape(
    value: str | bytes, encoding: str = "utf-8", plus: bool = True
) -> str: ...
def url_unescape(
    value: str | bytes, encoding: str | None = "utf-8", plus: bool = True
) -> str | bytes:
    """Decode a percent-encoded ``value`` (`str` or `bytes`).

    With an ``encoding`` the result is `str` decoded with it; with
    ``encoding=None`` the raw `bytes` are returned. With ``plus`` (the
    default) a ``+`` means a space, as in query strings; a literal plus must
    then be written ``%2B``.
    """
    if encoding is None:
        raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        if plus:
            raw = raw.replace(b"+", b" ")
        return _unquote_to_bytes(raw)
    text = to_unicode(value)
    if plus:
        return urllib.parse.unquote_plus(text, encoding=encoding)
    return urllib.parse.unquote(text, encoding=encoding)


# Percent-decoding strategy: one C-level regex substitution over the whole
# input, where each well-formed escape is looked up in a table of all 484
# spellings (upper and lower case hex digits). Malformed escapes (`%`, `%z1`)
# don't match and pass through unchanged, as in urllib. The standard library
# instead splits the input at every `%`, allocating an object per escape,
# which makes large form bodies cost many times their size in memory.
_HEX = "0123456789abcdefABCDEF"
_ESCAPE_TABLE: dict[bytes, bytes] = {
    f"%{a}{b}".encode("ascii"): bytes([int(a + b, 16)]) for a in _HEX for b in _HEX
}
_ESCAPE_RE = re.compile(rb"%[0-9a-fA-F]{2}")
_UNQUOTE_WINDOW = 1 << 15


def _replace_escape(
    match: re.Match[bytes], _table: dict[bytes, bytes] = _ESCAPE_TABLE
) -> bytes:
    return _table[match[0]]


def _unquote_to_bytes(data: bytes) -> bytes:
    """Percent-decode ``data`` exactly like `urllib.parse.unquote_to_bytes`,
    without an allocation per escape sequence."""
    if b"%" not in data:
        return data
    size = len(data)
    if size <= _UNQUOTE_WINDOW:
        return _ESCAPE_RE.sub(_replace_escape, data)
    # `re.sub` keeps about 90 bytes of bookkeeping per substitution until it
    # joins its result, so decode in windows to bound the peak. A window
    # never ends inside an escape: if one of its last two bytes is `%`, it
    # ends just before that `%` instead.
    out = []
    start = 0
    while start < size:
        end = start + _UNQUOTE_WINDOW
        if end < size:
            cut = data.rfind(b"%", end - 2, end)
            if cut > start:
                end = cut
        out.append(_ESCAPE_RE.sub(_replace_escape, data[start:end]))
        start = end
    return b"".join(out)


def parse_qs_bytes(
    qs: str | bytes,
    keep_blank_values: bool = False,
    strict_parsing: bool = False,
    *,
    max_num_fields: int | None = None,
) -> dict[str, list[bytes]]:
    """Parse a query string into ``{name: [value, ...]}`` with `bytes` values.

    Like `urllib.parse.parse_qs`, but values stay undecoded `bytes`; names
    are decoded as latin-1 (they are nearly always ASCII). ``+`` means a space.
    Raises `ValueError` for more than ``max_num_fields`` fields, and, with
    ``strict_parsing``, for empty fields or fields without ``=``.
    """
    data = qs.encode("latin-1") if isinstance(qs, str) else qs
    result: dict[str, list[bytes]] = {}
    if not data:
        return result
    if max_num_fields is not None and data.count(b"&") + 1 > max_num_fields:
        raise ValueError("Max number of fields exceeded")
    for field in data.split(b"&"):
        if not field:
            if strict_parsing:
                raise ValueError(f"bad query field: {field!r}")
            continue
        name, eq, raw = field.partition(b"=")
        if not eq and strict_parsing:
            raise ValueError(f"bad query field: {field!r}")
        if not raw and not keep_blank_values:
            continue
        key = _unquote_to_bytes(name.replace(b"+", b" ")).decode("latin-1")
        item = _unquote_to_bytes(raw.replace(b"+", b" "))
        bucket = result.get(key)
        if bucket is None:
            result[key] = [item]
        else:
            bucket.append(item)
    return result


@overload
def utf8(value: bytes) -> bytes: ...
@overload
def utf8(value: str) -> bytes: ...
@overload
def utf8(value: None) -> None: ...
def utf8(value: str | bytes | None) -> bytes | None:
    """Return ``value`` as UTF-8 `bytes`; `bytes` and None pass through.

    Anything else raises `TypeError`.
    """
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"Expected bytes, unicode, or None; got {type(value)!r}")


@overload
def to_unicode(value: str) -> str: ...
@overload
def to_unicode(value: bytes) -> str: ...
@overload
def to_unicode(value: None) -> None: ...
def to_unicode(value: str | bytes | None) -> str | None:
    """Return ``value`` as `str`, decoding `bytes` as UTF-8; `str` and None
    pass through. Anything else raises `TypeError`."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8")
    raise TypeError(f"Expected bytes, unicode, or None; got {type(value)!r}")


# Historical names: `_unicode` dodged the Python 2 builtin; `native_str` and
# `to_basestring` named the Python 2/3 "native" string type, which is now str.
_unicode = to_unicode
native_str = to_unicode
to_basestring = to_unicode


def recursive_unicode(obj: Any) -> Any:
    """Return a copy of ``obj`` with every `bytes` inside dicts (keys and
    values), lists and tuples decoded as UTF-8. Other objects are returned
    unchanged."""
    if isinstance(obj, bytes):
        return obj.decode("utf-8")
    if isinstance(obj, dict):
        return {recursive_unicode(k): recursive_unicode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [recursive_unicode(item) for item in obj]
    if isinstance(obj, tuple):
        return tuple(recursive_unicode(item) for item in obj)
    return obj


# URL recognition for `linkify`, applied to text that is already HTML-escaped.
#
# A link starts with `scheme:` plus one to three slashes, or with `www.`, and
# continues with one or more "segments". A segment is either a run of visible
# characters that ends in a character that cannot end a URL (trailing dots,
# commas, quotes and the like stay outside the link), or a balanced pair of
# parentheses. Inside a run, the only entities allowed are `&amp;` and
# `&quot;`, so escaped `<`/`>` end the link. Every quantified piece is
# anchored by a distinct final character, which keeps backtracking linear on
# inputs such as "http://x/a(((((..." or "http://x/a......", the inputs that
# make naive URL regexes take exponential time.
_URL_UNIT = r"(?:[^\s&()]|&amp;|&quot;)"
_URL_LAST = r"[^\s!\"#$%&'()*+,.:;<=>?@\[\]^`{|}~]"
_URL_RE = re.compile(
    r"\b("
    r"(?:([\w-]+):(/{1,3})|www[.])"
    rf"(?:{_URL_UNIT}*{_URL_LAST}|\({_URL_UNIT}*\))+"
    r")"
)

_SHORTEN_LIMIT = 30


def _shorten_url(url: str, proto: str | None, slashes: str | None) -> str:
    # Keep the host and the first few characters of the first path segment,
    # then cap the whole thing; the caller appends "..." when it changed.
    prefix_len = len(proto) + 1 + len(slashes or "") if proto else 0
    host, sep, path = url[prefix_len:].partition("/")
    if sep:
        stub = path.split("/", 1)[0][:8].split("?")[0].split(".")[0]
        url = url[:prefix_len] + host + "/" + stub
    if len(url) > _SHORTEN_LIMIT * 1.5:
        url = url[:_SHORTEN_LIMIT]
    return url


def linkify(
    text: str | bytes,
    shorten: bool = False,
    extra_params: str | Callable[[str], str] = "",
    require_protocol: bool = False,
    permitted_protocols: Container[str] = ("http", "https"),
) -> str:
    """HTML-escape ``text`` and turn the URLs in it into ``<a href>`` links.

    :arg shorten: shorten long URLs in the link text (the full URL goes in a
        ``title`` attribute).
    :arg extra_params: extra attributes for each ``<a>`` tag, as a string
        such as ``'rel="nofollow"'``, or a callable that takes the link's URL
        and returns that string.
    :arg require_protocol: only link URLs that have a scheme; by default
        ``www.example.com`` becomes a link to ``http://www.example.com``.
    :arg permitted_protocols: the schemes that may become links. Never add
        ``javascript`` or ``data``.
    """
    fixed_params = ""
    if extra_params and not callable(extra_params):
        fixed_params = " " + extra_params.strip()

    def make_link(match: re.Match[str]) -> str:
        url, proto, slashes = match.group(1, 2, 3)
        if proto is None:
            if require_protocol:
                return url
            href = "http://" + url
        elif proto not in permitted_protocols:
            return url
        else:
            href = url
        if callable(extra_params):
            params = " " + extra_params(href).strip()
        else:
            params = fixed_params
        if shorten and len(url) > _SHORTEN_LIMIT:
            short = _shorten_url(url, proto, slashes)
            if short != url:
                # Don't cut an entity such as `&amp;` in half.
                amp = short.rfind("&")
                if amp > _SHORTEN_LIMIT - 5:
                    short = short[:amp]
                short += "..."
                if len(short) < len(url):
                    params += f' title="{href}"'
                    url = short
        return f'<a href="{href}"{params}>{url}</a>'

    return _URL_RE.sub(make_link, xhtml_escape(text))
