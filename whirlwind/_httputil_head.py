"""HTTP heads: `HTTPHeaders`, start lines and their parsers, the input and
output errors (the private half of `whirlwind.httputil`, which re-exports
every public name defined here).

Theory of operation: every parser here runs in time linear in its input.
Validation is one precompiled regular expression per block whose character
classes cannot backtrack; splitting uses ``str.split``/``find``. Repeated
headers are appended to a list and joined once, on first read. Valid request
lines and Host values are remembered in bounded caches, so a server that sees
the same few again and again skips the regexes.
"""

from __future__ import annotations

import collections.abc
import http.client
import re
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

#: Status code -> reason phrase, as in `http.client.responses`.
responses: dict[int, str] = dict(http.client.responses)

# Whitespace that HTTP strips around field values (RFC 9110 "OWS").
HTTP_WHITESPACE = " \t"

# Characters never allowed in a header value: controls other than HTAB.
_FORBIDDEN_HEADER_CHARS_RE = re.compile(r"[\x00-\x08\x0A-\x1F\x7F]")

_TCHAR = r"!#$%&'*+\-.^_`|~0-9A-Za-z"


class _ABNF:
    """A few RFC 9110/9112/3986 rules as compiled patterns (private).

    Each pattern is a run of one character class, or a fixed sequence of
    such runs separated by literals the classes exclude, so matching is
    linear.
    """

    VCHAR = re.compile(r"[\x21-\x7E]")
    obs_text = re.compile(r"[\x80-\xFF]")
    tchar = re.compile(rf"[{_TCHAR}]")
    token = re.compile(rf"[{_TCHAR}]+")
    field_name = token
    method = token
    # A field value without leading/trailing whitespace (may be empty).
    field_value = re.compile(
        r"(?:[\x21-\x7E\x80-\xFF](?:[\x21-\x7E\x80-\xFF\t ]*[\x21-\x7E\x80-\xFF])?)?"
    )
    reason_phrase = re.compile(r"[\t \x21-\x7E\x80-\xFF]+")
    request_target = re.compile(r"[\x21-\x7E\x80-\xFF]+")
    HTTP_version = re.compile(r"HTTP/[0-9]\.[0-9]")
    request_line = re.compile(
        rf"([{_TCHAR}]+) ([\x21-\x7E\x80-\xFF]+) (HTTP/[0-9]\.[0-9])"
    )
    status_code = re.compile(r"[0-9]{3}")
    status_line = re.compile(
        r"(HTTP/[0-9]\.[0-9]) ([0-9]{3})(?: ([\t \x21-\x7E\x80-\xFF]*))?"
    )
    # Host: RFC 3986 reg-name / IP literal characters, plus an optional port.
    # Square brackets and colons are accepted anywhere (IPv6 literals).
    host = re.compile(r"[A-Za-z0-9\-._~!$&'()*+;=%\[\]:]*")


# One search over a whole header block finds any byte that may not appear in
# a head: controls other than HTAB/LF, a CR not followed by LF, and (for
# headers that are bytes decoded as latin-1) anything above U+00FF.
_BAD_HEAD_CHARS_BYTES = re.compile(
    r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]|\r(?!\n)|[^\x00-\xFF]"
)
_BAD_HEAD_CHARS_TEXT = re.compile(r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]|\r(?!\n)")
_TOKEN_FULL = _ABNF.token.fullmatch

# Bounded cache of raw header name -> normalised name.  Only valid names are
# stored, so a hit also means "already validated".
_NORMALIZED: dict[str, str] = {}
_NORMALIZED_MAX = 2000


def _normalize_header(name: str) -> str:
    """Return ``name`` in ``Http-Header-Case`` (``content-TYPE`` -> ``Content-Type``)."""
    norm = _NORMALIZED.get(name)
    if norm is None:
        norm = "-".join([w.capitalize() for w in name.split("-")])
        if len(_NORMALIZED) < _NORMALIZED_MAX and _TOKEN_FULL(name):
            _NORMALIZED[name] = norm
    return norm


def _checked_name(name: str) -> str:
    """Validate a header name (an RFC 9110 token) and return it normalised."""
    norm = _NORMALIZED.get(name)
    if norm is not None:
        return norm
    if not _TOKEN_FULL(name):
        raise HTTPInputError(f"Invalid header name {name!r}")
    return _normalize_header(name)


class HTTPHeaders(collections.abc.MutableMapping[str, str]):
    """A case-insensitive dictionary of HTTP headers that keeps every value.

    Names are stored in ``Http-Header-Case``.  ``h[name]`` returns the values
    of a repeated header joined by commas; `add` appends a value, `get_list`
    returns them all, and `get_all` yields every ``(name, value)`` pair.

    >>> h = HTTPHeaders({"content-type": "text/plain"})
    >>> h.add("set-cookie", "a=1"); h.add("Set-Cookie", "b=2")
    >>> h["SET-COOKIE"], h.get_list("set-cookie")
    ('a=1,b=2', ['a=1', 'b=2'])
    """

    # _d maps a normalised name to its value: the value itself when the
    # header occurs once (the common case, no list allocated), a list of
    # values when repeated.
    # _joined caches the comma-joined value of repeated headers.
    # whirlwind._core.parse_head (csrc/whirlwind/httphead.pyx) builds
    # instances by filling these two slots directly: keep it in step.
    __slots__ = ("_d", "_joined")

    def __init__(self, *args: Any, **kwargs: str) -> None:
        self._d: dict[str, str | list[str]] = {}
        self._joined: dict[str, str] = {}
        if len(args) == 1 and not kwargs:
            arg = args[0]
            if arg.__class__ is dict:
                # The common HTTPHeaders({...}): no MutableMapping.update.
                d = self._d
                for k, v in arg.items():
                    d[_NORMALIZED.get(k) or _normalize_header(k)] = v
                return
            if isinstance(arg, HTTPHeaders):
                for k, v in arg._d.items():
                    self._d[k] = list(v) if v.__class__ is list else v
                return
        if args or kwargs:
            self.update(*args, **kwargs)

    # -- multi-value API ---------------------------------------------------

    def add(self, name: str, value: str) -> None:
        """Append a value for ``name``, keeping earlier ones.

        Raises `HTTPInputError` if the name is not a token or the value holds
        control characters (CR, LF, NUL, ...).
        """
        norm = _checked_name(name)
        if _FORBIDDEN_HEADER_CHARS_RE.search(value):
            raise HTTPInputError(f"Invalid header value {value!r}")
        self._add(norm, value)

    def _add(self, norm: str, value: str) -> None:
        d = self._d
        old = d.get(norm)
        if old is None:
            d[norm] = value
        elif old.__class__ is list:
            old.append(value)
            self._joined.pop(norm, None)
        else:
            d[norm] = [old, value]  # type: ignore[list-item]
            self._joined.pop(norm, None)

    def get_list(self, name: str) -> list[str]:
        """Return every value of ``name`` (an empty list if absent)."""
        v = self._d.get(_normalize_header(name))
        if v is None:
            return []
        if v.__class__ is list:
            return v
        return [v]  # type: ignore[list-item]

    def get_all(self) -> Iterable[tuple[str, str]]:
        """Yield every ``(name, value)`` pair; repeated names come once per value."""
        for name, v in self._d.items():
            if v.__class__ is list:
                for value in v:
                    yield name, value
            else:
                yield name, v  # type: ignore[misc]

    def parse_line(self, line: str) -> None:
        """Add one ``Name: value`` line (a trailing CRLF or LF is allowed)."""
        if line.endswith("\n"):
            line = line[:-2] if line.endswith("\r\n") else line[:-1]
        if line:
            self._parse_block(line, _BAD_HEAD_CHARS_BYTES)

    @classmethod
    def parse(cls, headers: str, *, _chars_are_bytes: bool = True) -> HTTPHeaders:
        """Parse a header block (lines separated by CRLF or LF).

        Strict: a bare CR, a control character, an obs-fold continuation
        line, whitespace before the colon or a name that is not a token
        raises `HTTPInputError`.  With ``_chars_are_bytes`` (the default),
        the text is bytes decoded as latin-1 and characters above U+00FF are
        rejected too; multipart part headers pass False to allow UTF-8 text.
        """
        h = cls()
        h._parse_block(
            headers, _BAD_HEAD_CHARS_BYTES if _chars_are_bytes else _BAD_HEAD_CHARS_TEXT
        )
        return h

    def _parse_block(self, text: str, bad: re.Pattern[str]) -> None:
        m = bad.search(text)
        if m is not None:
            raise HTTPInputError(f"Invalid header value {_line_at(text, m.start())!r}")
        add = self._add
        for line in text.split("\n"):
            if line.endswith("\r"):
                line = line[:-1]
            if not line:
                continue
            if line[0] in HTTP_WHITESPACE:
                raise HTTPInputError(
                    "header line cannot start with whitespace, folding not supported"
                )
            name, sep, value = line.partition(":")
            if not sep:
                raise HTTPInputError("no colon in header line")
            add(_checked_name(name), value.strip(HTTP_WHITESPACE))

    # -- MutableMapping ----------------------------------------------------

    def __setitem__(self, name: str, value: str) -> None:
        norm = _normalize_header(name)
        self._d[norm] = value
        self._joined.pop(norm, None)

    def __getitem__(self, name: str) -> str:
        norm = _normalize_header(name)
        v = self._d[norm]
        if v.__class__ is not list:
            return v  # type: ignore[return-value]
        joined = self._joined.get(norm)
        if joined is None:
            joined = self._joined[norm] = ",".join(v)
        return joined

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _normalize_header(name) in self._d

    def get(self, name: str, default: Any = None) -> Any:
        norm = _normalize_header(name)
        if norm in self._d:
            return self[norm]
        return default

    def __delitem__(self, name: str) -> None:
        norm = _normalize_header(name)
        del self._d[norm]
        self._joined.pop(norm, None)

    def __len__(self) -> int:
        return len(self._d)

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def copy(self) -> HTTPHeaders:
        """Return a copy whose value lists are not shared with this one."""
        return HTTPHeaders(self)

    __copy__ = copy

    def __getstate__(self) -> dict[str, Any]:
        return {"d": self._d}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._d = state["d"]
        self._joined = {}

    def __str__(self) -> str:
        return "".join([f"{n}: {v}\n" for n, v in self.get_all()])

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({dict(self)!r})"


def _line_at(text: str, pos: int) -> str:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return text[start : end if end >= 0 else len(text)]


class HTTPInputError(Exception):
    """Malformed HTTP input from a peer (request or response)."""


class HTTPOutputError(Exception):
    """HTTP output that the application may not send (bad header, wrong length)."""


# ---------------------------------------------------------------------------
# Start lines


class RequestStartLine(NamedTuple):
    """``(method, path, version)`` of an HTTP/1.x request line."""

    method: str
    path: str
    version: str


class ResponseStartLine(NamedTuple):
    """``(version, code, reason)`` of an HTTP/1.x status line."""

    version: str
    code: int
    reason: str


_request_line_match = _ABNF.request_line.fullmatch
_status_line_match = _ABNF.status_line.fullmatch


def parse_request_start_line(line: str) -> RequestStartLine:
    """Parse ``METHOD target HTTP/1.x`` strictly.

    The method must be a token, the separators single spaces, the target
    free of controls and spaces, and the version ``HTTP/1.<digit>``.

    >>> parse_request_start_line("GET /x?y=1 HTTP/1.1")
    RequestStartLine(method='GET', path='/x?y=1', version='HTTP/1.1')
    """
    parsed = _REQUEST_LINES.get(line)
    if parsed is not None:
        return parsed
    m = _request_line_match(line)
    if m is None:
        raise HTTPInputError("Malformed HTTP request line")
    method, path, version = m.groups()
    if not version.startswith("HTTP/1."):
        raise HTTPInputError(f"Unexpected HTTP version {version!r}")
    parsed = RequestStartLine(method, path, version)
    if len(_REQUEST_LINES) < _CACHE_MAX and len(line) <= 256:
        _REQUEST_LINES[line] = parsed
    return parsed


# Valid request lines and Host values seen before (a server sees the same few
# again and again): a hit skips the regex.  Bounded; only valid input is
# stored, and RequestStartLine is immutable, so sharing one is safe.
_CACHE_MAX = 1000
_REQUEST_LINES: dict[str, RequestStartLine] = {}
_VALID_HOSTS: set[str] = set()


def parse_response_start_line(line: str) -> ResponseStartLine:
    """Parse ``HTTP/1.x NNN reason`` (the reason may be empty or missing).

    >>> parse_response_start_line("HTTP/1.1 404 Not Found")
    ResponseStartLine(version='HTTP/1.1', code=404, reason='Not Found')
    """
    m = _status_line_match(line)
    if m is None:
        raise HTTPInputError("Error parsing response start line")
    version, code, reason = m.groups()
    if not version.startswith("HTTP/1."):
        raise HTTPInputError(f"Unexpected HTTP version {version!r}")
    return ResponseStartLine(version, int(code), reason or "")


# Users meet these as ``whirlwind.httputil.X`` (reprs, pickles, docs).
for _cls in (
    HTTPHeaders,
    HTTPInputError,
    HTTPOutputError,
    RequestStartLine,
    ResponseStartLine,
):
    _cls.__module__ = "whirlwind.httputil"
del _cls
