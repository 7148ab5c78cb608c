"""HTTP utilities shared by the server and the client: headers, requests,
start lines, bodies, cookies.

Contents:

* `HTTPHeaders`: a case-insensitive multi-dict with ``Http-Header-Case`` names.
* `HTTPServerRequest`: one request as seen by an application.
* `HTTPServerConnectionDelegate`, `HTTPMessageDelegate`, `HTTPConnection`: the
  interfaces between connections and applications.
* `RequestStartLine` / `parse_request_start_line`, `ResponseStartLine` /
  `parse_response_start_line`.
* `parse_body_arguments`, `parse_multipart_form_data`, `HTTPFile`, and the
  limits they obey: `ParseBodyConfig` (`ParseMultipartConfig`,
  `ParseUrlEncodedConfig`), set globally with `set_parse_body_config`.
* `url_concat`, `format_timestamp`, `split_host_and_port`, `parse_cookie`,
  `qs_to_qsl`, `encode_username_password`, `responses`.
* `HTTPInputError` (bad input from a peer), `HTTPOutputError` (bad output from
  the application).

Theory of operation (parsing): every parser in this module runs in time linear
in its input.  Validation is done with one precompiled regular expression per
block whose character classes cannot backtrack (no nested or adjacent
overlapping quantifiers), and splitting is done with ``str.split``/``find``.
Repeated headers are appended to a list and joined once, on first read.
Header parameters are split by a tokenizer whose every alternative consumes at
least one character and never fails part-way, so an unterminated quote cannot
make it rescan.  Every count that an attacker controls (form fields, query
arguments, multipart parts, part header size) has a limit with a default.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime
import re
import time
import unicodedata
from collections.abc import Awaitable, Iterable, Mapping
from ssl import SSLError
from typing import TYPE_CHECKING, Any, AnyStr
from urllib.parse import parse_qsl, unquote_to_bytes, urlencode, urlparse, urlunparse

# Heads, start lines and errors live in a private module (size); every name
# stays reachable as ``httputil.X``.
from whirlwind._httputil_head import (  # noqa: F401
    _ABNF,
    _CACHE_MAX,
    _REQUEST_LINES,
    _VALID_HOSTS,
    HTTP_WHITESPACE,
    HTTPHeaders,
    HTTPInputError,
    HTTPOutputError,
    RequestStartLine,
    ResponseStartLine,
    parse_request_start_line,
    parse_response_start_line,
    responses,
)
from whirlwind.util import ObjectDict

if TYPE_CHECKING:
    from asyncio import Future

__all__ = [
    "HTTPConnection",
    "HTTPFile",
    "HTTPHeaders",
    "HTTPInputError",
    "HTTPMessageDelegate",
    "HTTPOutputError",
    "HTTPServerConnectionDelegate",
    "HTTPServerRequest",
    "ParseBodyConfig",
    "ParseMultipartConfig",
    "ParseUrlEncodedConfig",
    "RequestStartLine",
    "ResponseStartLine",
    "encode_username_password",
    "format_timestamp",
    "parse_body_arguments",
    "parse_cookie",
    "parse_multipart_form_data",
    "parse_request_start_line",
    "parse_response_start_line",
    "qs_to_qsl",
    "responses",
    "set_parse_body_config",
    "split_host_and_port",
    "url_concat",
]


# ---------------------------------------------------------------------------
# Body-parsing limits


@dataclasses.dataclass
class ParseMultipartConfig:
    """Limits for ``multipart/form-data`` bodies.

    :arg enabled: False rejects every multipart body.
    :arg max_parts: the most parts accepted in one body.
    :arg max_part_header_size: the most bytes in one part's header block.
    """

    enabled: bool = True
    max_parts: int = 100
    max_part_header_size: int = 10 * 1024


@dataclasses.dataclass
class ParseUrlEncodedConfig:
    """Limits for ``application/x-www-form-urlencoded`` bodies and query strings.

    :arg max_arguments: the most ``name=value`` fields accepted.
    """

    max_arguments: int = 1000


@dataclasses.dataclass
class ParseBodyConfig:
    """All the body-parsing limits: ``multipart`` and ``urlencoded``."""

    multipart: ParseMultipartConfig = dataclasses.field(
        default_factory=ParseMultipartConfig
    )
    urlencoded: ParseUrlEncodedConfig = dataclasses.field(
        default_factory=ParseUrlEncodedConfig
    )


_DEFAULT_PARSE_BODY_CONFIG = ParseBodyConfig()


def set_parse_body_config(config: ParseBodyConfig) -> None:
    """Replace the process-wide default `ParseBodyConfig`."""
    global _DEFAULT_PARSE_BODY_CONFIG
    _DEFAULT_PARSE_BODY_CONFIG = config


def _parse_qs_bytes(
    qs: str | bytes, keep_blank_values: bool = True, max_num_fields: int | None = None
) -> dict[str, list[bytes]]:
    # Like urllib.parse.parse_qs, but values stay bytes (names are latin-1
    # text); one split, one unquote per field: linear.
    if isinstance(qs, str):
        qs = qs.encode("latin1")
    result: dict[str, list[bytes]] = {}
    if not qs:
        return result
    if max_num_fields is not None and qs.count(b"&") + 1 > max_num_fields:
        raise ValueError("Max number of fields exceeded")
    for field in qs.split(b"&"):
        if not field:
            continue
        name, _, value = field.partition(b"=")
        if value or keep_blank_values:
            key = unquote_to_bytes(name.replace(b"+", b" ")).decode("latin1")
            val = unquote_to_bytes(value.replace(b"+", b" "))
            lst = result.get(key)
            if lst is None:
                result[key] = [val]
            else:
                lst.append(val)
    return result


# ---------------------------------------------------------------------------
# Requests


class HTTPServerRequest:
    """One HTTP request received by a server.

    Attributes: ``method``, ``uri``, ``path``, ``query``, ``version``,
    ``headers`` (`HTTPHeaders`), ``body`` (bytes), ``remote_ip``,
    ``protocol`` (``"http"``/``"https"``), ``host``, ``host_name``,
    ``arguments`` / ``query_arguments`` / ``body_arguments`` (name -> list of
    bytes), ``files`` (name -> list of `HTTPFile`), ``cookies``,
    ``connection`` and ``server_connection``.

    Query arguments, ``host_name`` and cookies are parsed on first use; the
    number of query arguments is checked at once (`ParseUrlEncodedConfig`).

    Construct with ``start_line=RequestStartLine(...)``; the older
    ``method``/``uri``/``version``/``host`` keywords are still accepted.
    """

    # __dict__ stays available so applications may attach their own fields.
    # Fields that start as None and are filled in on first use are class
    # attributes instead of slots: a new request skips storing them, and the
    # instance dict is only made for the requests that use them.
    __slots__ = (
        "method",
        "uri",
        "version",
        "headers",
        "body",
        "remote_ip",
        "protocol",
        "host",
        "connection",
        "server_connection",
        "_start_time",
        "path",
        "query",
        "_body_future",
        "__dict__",
        "__weakref__",
    )

    _host_name: str | None = None
    _finish_time: float | None = None
    _arguments: dict[str, list[bytes]] | None = None
    _query_arguments: dict[str, list[bytes]] | None = None
    _cookies: Any = None
    _files: dict[str, list[HTTPFile]] | None = None
    _body_arguments: dict[str, list[bytes]] | None = None

    def __init__(
        self,
        method: str | None = None,
        uri: str | None = None,
        version: str = "HTTP/1.0",
        headers: HTTPHeaders | None = None,
        body: bytes | None = None,
        host: str | None = None,
        files: dict[str, list[HTTPFile]] | None = None,
        connection: HTTPConnection | None = None,
        start_line: RequestStartLine | None = None,
        server_connection: object | None = None,
    ) -> None:
        if start_line is not None:
            method, uri, version = start_line
        self.method = method or "GET"
        self.uri = uri or "/"
        self.version = version
        self.headers = headers if headers is not None else HTTPHeaders()
        if host is not None:
            self.headers["Host"] = host
        self.body = body or b""
        context = getattr(connection, "context", None)
        self.remote_ip: str | None = getattr(context, "remote_ip", None)
        self.protocol: str = getattr(context, "protocol", "http")
        headers = self.headers
        h: Any = (
            headers._d.get("Host")
            if headers.__class__ is HTTPHeaders
            else headers.get("Host")
        )
        if h.__class__ is list:
            h = ",".join(h)  # type: ignore[arg-type]
        if h is None:
            if self.version != "HTTP/1.0":
                raise HTTPInputError("Missing Host header")
            h = "127.0.0.1"
        elif h not in _VALID_HOSTS:
            if "," in h or not _ABNF.host.fullmatch(h):
                # A comma means several Host headers (or a proxy that merged
                # them): ambiguous, so refused as RFC 9112 section 3.2 asks.
                raise HTTPInputError(f"Invalid Host header: {h!r}")
            if len(_VALID_HOSTS) < _CACHE_MAX:
                _VALID_HOSTS.add(h)
        self.host: str = h
        if files:
            self._files = files
        self.connection = connection
        self.server_connection = server_connection
        self._start_time = time.time()
        self.path, _, self.query = self.uri.partition("?")
        limit = _DEFAULT_PARSE_BODY_CONFIG.urlencoded.max_arguments
        if self.query and self.query.count("&") >= limit:
            raise HTTPInputError("Invalid query string: Max number of fields exceeded")

    @property
    def files(self) -> dict[str, list[HTTPFile]]:
        """Uploaded files by form field name (made on first use)."""
        files = self._files
        if files is None:
            files = self._files = {}
        return files

    @files.setter
    def files(self, value: dict[str, list[HTTPFile]]) -> None:
        self._files = value

    @property
    def body_arguments(self) -> dict[str, list[bytes]]:
        """Arguments from the body only (made on first use)."""
        args = self._body_arguments
        if args is None:
            args = self._body_arguments = {}
        return args

    @body_arguments.setter
    def body_arguments(self, value: dict[str, list[bytes]]) -> None:
        self._body_arguments = value

    @property
    def host_name(self) -> str:
        """``host`` without its port, lower-cased."""
        if self._host_name is None:
            self._host_name = split_host_and_port(self.host.lower())[0]
        return self._host_name

    @host_name.setter
    def host_name(self, value: str) -> None:
        self._host_name = value

    @property
    def query_arguments(self) -> dict[str, list[bytes]]:
        """Arguments from the query string only."""
        if self._query_arguments is None:
            try:
                self._query_arguments = _parse_qs_bytes(self.query)
            except Exception as e:
                raise HTTPInputError(f"Invalid query string: {e}") from e
        return self._query_arguments

    @query_arguments.setter
    def query_arguments(self, value: dict[str, list[bytes]]) -> None:
        self._query_arguments = value

    @property
    def arguments(self) -> dict[str, list[bytes]]:
        """Query and body arguments together (name -> list of bytes)."""
        if self._arguments is None:
            self._arguments = {k: list(v) for k, v in self.query_arguments.items()}
            for k, v in (self._body_arguments or {}).items():
                self._arguments.setdefault(k, []).extend(v)
        return self._arguments

    @arguments.setter
    def arguments(self, value: dict[str, list[bytes]]) -> None:
        self._arguments = value

    @property
    def cookies(self) -> dict[str, Any]:
        """The ``Cookie`` header as a dict of `http.cookies.Morsel` objects."""
        if self._cookies is None:
            import http.cookies

            jar: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
            raw = self.headers.get("Cookie")
            if raw is not None:
                for k, v in parse_cookie(raw).items():
                    try:
                        jar[k] = v
                    except http.cookies.CookieError:
                        pass  # a name SimpleCookie refuses; browsers send those
            self._cookies = jar
        return self._cookies  # type: ignore[no-any-return]

    def full_url(self) -> str:
        """Reconstruct the full URL of this request."""
        return self.protocol + "://" + self.host + self.uri

    def request_time(self) -> float:
        """Seconds this request took (so far, if it is still running)."""
        if self._finish_time is None:
            return time.time() - self._start_time
        return self._finish_time - self._start_time

    def get_ssl_certificate(
        self, binary_form: bool = False
    ) -> None | dict[str, Any] | bytes:
        """The client's TLS certificate (a dict, or DER bytes), or None."""
        try:
            if self.connection is None:
                return None
            sock = self.connection.stream.socket  # type: ignore[attr-defined]
            return sock.getpeercert(binary_form=binary_form)  # type: ignore[no-any-return]
        except (SSLError, AttributeError, ValueError):
            return None

    def _parse_body(self) -> None:
        parse_body_arguments(
            self.headers.get("Content-Type", ""),
            self.body,
            self.body_arguments,
            self.files,
            self.headers,
        )
        if self._arguments is not None:
            for k, v in self.body_arguments.items():
                self._arguments.setdefault(k, []).extend(v)

    def __repr__(self) -> str:
        attrs = ("protocol", "host", "method", "uri", "version", "remote_ip")
        args = ", ".join([f"{n}={getattr(self, n)!r}" for n in attrs])
        return f"{self.__class__.__name__}({args})"


_new_request = object.__new__


def _server_request(
    connection: HTTPConnection,
    server_connection: object,
    start_line: RequestStartLine,
    headers: HTTPHeaders,
) -> HTTPServerRequest:
    """The `HTTPServerRequest` for a request a server connection has read:
    the same object ``HTTPServerRequest(connection=..., start_line=...,
    headers=..., server_connection=...)`` builds, without the keyword
    constructor's generic branches (applications call this per request)."""
    r: HTTPServerRequest = _new_request(HTTPServerRequest)
    method, uri, version = start_line
    r.method = method
    r.uri = uri
    r.version = version
    r.headers = headers
    r.body = b""
    try:
        context: Any = connection.context  # type: ignore[attr-defined]
        r.remote_ip = context.remote_ip
        r.protocol = context.protocol
    except AttributeError:
        context = getattr(connection, "context", None)
        r.remote_ip = getattr(context, "remote_ip", None)
        r.protocol = getattr(context, "protocol", "http")
    h: Any = (
        headers._d.get("Host")
        if headers.__class__ is HTTPHeaders
        else headers.get("Host")
    )
    if h.__class__ is list:
        h = ",".join(h)  # several Host lines: refused below
    if h not in _VALID_HOSTS:
        if h is None:
            if version != "HTTP/1.0":
                raise HTTPInputError("Missing Host header")
            h = "127.0.0.1"
        elif "," in h or not _ABNF.host.fullmatch(h):
            raise HTTPInputError(f"Invalid Host header: {h!r}")
        elif len(_VALID_HOSTS) < _CACHE_MAX:
            _VALID_HOSTS.add(h)
    r.host = h
    r.connection = connection
    r.server_connection = server_connection
    r._start_time = time.time()
    path, _, query = uri.partition("?")
    r.path = path
    r.query = query
    if (
        query
        and query.count("&") >= _DEFAULT_PARSE_BODY_CONFIG.urlencoded.max_arguments
    ):
        raise HTTPInputError("Invalid query string: Max number of fields exceeded")
    return r


# ---------------------------------------------------------------------------
# Interfaces between connections and applications


class HTTPServerConnectionDelegate:
    """What a server calls: `start_request` per request, `on_close` per connection."""

    def start_request(
        self, server_conn: object, request_conn: HTTPConnection
    ) -> HTTPMessageDelegate:
        """Return the `HTTPMessageDelegate` for a new request on ``server_conn``."""
        raise NotImplementedError()

    def on_close(self, server_conn: object) -> None:
        """Called once ``server_conn`` (seen in `start_request`) has closed."""


class HTTPMessageDelegate:
    """Receives one HTTP message: its head, its body pieces, its end."""

    def headers_received(
        self,
        start_line: RequestStartLine | ResponseStartLine,
        headers: HTTPHeaders,
    ) -> Awaitable[None] | None:
        """The start line and headers arrived.  An awaitable result delays the body."""

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        """A piece of the body arrived.  An awaitable result is flow control."""

    def finish(self) -> Awaitable[None] | None:
        """The whole message arrived.

        whirlwind extension: on a server, a coroutine returned here is run
        by the connection itself (inline until it first suspends, then as a
        Task), so a handler costs no Task when it completes at once.
        """
        return None

    def on_connection_close(self) -> None:
        """The connection closed before `finish` (called instead of it)."""


class HTTPConnection:
    """How an application writes its response (or a client its request)."""

    def write_headers(
        self,
        start_line: RequestStartLine | ResponseStartLine,
        headers: HTTPHeaders,
        chunk: bytes | None = None,
    ) -> Future[None]:
        """Write the head, and ``chunk`` as the first body data in the same write."""
        raise NotImplementedError()

    def write(self, chunk: bytes) -> Future[None]:
        """Write body data; the Future resolves when it has been flushed."""
        raise NotImplementedError()

    def finish(self) -> None:
        """Mark the end of the body."""
        raise NotImplementedError()


# ---------------------------------------------------------------------------
# URLs, files, forms


def url_concat(
    url: str,
    args: None | dict[str, str] | list[tuple[str, str]] | tuple[tuple[str, str], ...],
) -> str:
    """Append ``args`` (a dict or a sequence of pairs) to ``url``'s query.

    >>> url_concat("http://h/p?a=1", [("b", "2"), ("b", "3")])
    'http://h/p?a=1&b=2&b=3'
    """
    if args is None:
        return url
    if isinstance(args, dict):
        extra: Iterable[tuple[str, str]] = args.items()
    elif isinstance(args, (list, tuple)):
        extra = args
    else:
        raise TypeError(
            f"'args' parameter should be dict, list or tuple. Not {type(args)}"
        )
    parts = urlparse(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query.extend(extra)
    return urlunparse(parts._replace(query=urlencode(query)))


class HTTPFile(ObjectDict):
    """An uploaded file: ``filename``, ``body`` (bytes), ``content_type``.

    Readable as attributes or as dict keys.
    """

    filename: str
    body: bytes
    content_type: str


def _int_or_none(val: str) -> int | None:
    val = val.strip()
    if not val:
        return None
    if not (val.isascii() and val.isdigit()):
        raise ValueError(val)
    return int(val)


def _parse_request_range(range_header: str) -> tuple[int | None, int | None] | None:
    """Parse a single ``bytes=a-b`` range into slice indexes, or None.

    >>> _parse_request_range("bytes=1-2"), _parse_request_range("bytes=-6")
    ((1, 3), (-6, None))
    """
    unit, _, value = range_header.partition("=")
    if unit.strip() != "bytes":
        return None
    start_s, _, end_s = value.strip().partition("-")
    try:
        start = _int_or_none(start_s)
        end = _int_or_none(end_s)
    except ValueError:
        return None
    if end is not None:
        if start is None:
            if end != 0:
                start, end = -end, None
        else:
            end += 1
    return start, end


def _get_content_range(start: int | None, end: int | None, total: int) -> str:
    """``Content-Range`` value for slice indexes over ``total`` bytes."""
    start = start or 0
    end = (end or total) - 1
    return f"bytes {start}-{end}/{total}"


def parse_body_arguments(
    content_type: str,
    body: bytes,
    arguments: dict[str, list[bytes]],
    files: dict[str, list[HTTPFile]],
    headers: HTTPHeaders | None = None,
    *,
    config: ParseBodyConfig | None = None,
) -> None:
    """Parse a urlencoded or multipart form body into ``arguments`` and ``files``.

    Other content types are ignored.  Malformed bodies, bodies over the
    `ParseBodyConfig` limits and compressed form bodies raise `HTTPInputError`.
    """
    if config is None:
        config = _DEFAULT_PARSE_BODY_CONFIG
    if content_type.startswith("application/x-www-form-urlencoded"):
        if headers is not None and "Content-Encoding" in headers:
            raise HTTPInputError(
                f"Unsupported Content-Encoding: {headers['Content-Encoding']}"
            )
        try:
            parsed = _parse_qs_bytes(
                body,
                keep_blank_values=True,
                max_num_fields=config.urlencoded.max_arguments,
            )
        except Exception as e:
            raise HTTPInputError(f"Invalid x-www-form-urlencoded body: {e}") from e
        for name, values in parsed.items():
            arguments.setdefault(name, []).extend(values)
    elif content_type.startswith("multipart/form-data"):
        if headers is not None and "Content-Encoding" in headers:
            raise HTTPInputError(
                f"Unsupported Content-Encoding: {headers['Content-Encoding']}"
            )
        ctype, params = _parse_header(content_type)
        if ctype != "multipart/form-data":
            raise HTTPInputError("Invalid multipart/form-data: invalid content type")
        boundary = params.get("boundary")
        if not boundary:
            raise HTTPInputError("Invalid multipart/form-data: boundary not found")
        try:
            parse_multipart_form_data(
                boundary.encode("utf-8"),
                body,
                arguments,
                files,
                config=config.multipart,
            )
        except HTTPInputError as e:
            raise HTTPInputError(f"Invalid multipart/form-data: {e}") from e


def parse_multipart_form_data(
    boundary: bytes,
    data: bytes,
    arguments: dict[str, list[bytes]],
    files: dict[str, list[HTTPFile]],
    *,
    config: ParseMultipartConfig | None = None,
) -> None:
    """Parse a ``multipart/form-data`` body delimited by ``boundary``.

    Fields go to ``arguments``, parts with a filename to ``files``.  Nothing
    is added unless the whole body is valid.  Limits come from ``config``
    (default: the global `ParseBodyConfig`).
    """
    if config is None:
        config = _DEFAULT_PARSE_BODY_CONFIG.multipart
    if not config.enabled:
        raise HTTPInputError("multipart/form-data parsing is disabled")
    if len(boundary) >= 2 and boundary[:1] == b'"' and boundary[-1:] == b'"':
        boundary = boundary[1:-1]
    if not boundary:
        raise HTTPInputError("empty multipart boundary")
    final = data.rfind(b"--" + boundary + b"--")
    if final == -1:
        raise HTTPInputError("no final boundary found")
    # At most max_parts + 1 splits: the preamble, then the parts.
    pieces = data[:final].split(b"--" + boundary + b"\r\n", config.max_parts + 1)
    if len(pieces) - 1 > config.max_parts:
        raise HTTPInputError("multipart/form-data has too many parts")
    new_args: list[tuple[str, bytes]] = []
    new_files: list[tuple[str, HTTPFile]] = []
    for part in pieces[1:]:
        eoh = part.find(b"\r\n\r\n")
        if eoh == -1:
            raise HTTPInputError("multipart/form-data missing headers")
        if eoh > config.max_part_header_size:
            raise HTTPInputError("multipart/form-data part header too large")
        try:
            head_text = part[:eoh].decode("utf-8")
        except UnicodeDecodeError as e:
            raise HTTPInputError("multipart/form-data part header not UTF-8") from e
        headers = HTTPHeaders.parse(head_text, _chars_are_bytes=False)
        disposition, params = _parse_header(headers.get("Content-Disposition", ""))
        if disposition != "form-data" or not part.endswith(b"\r\n"):
            raise HTTPInputError("Invalid multipart/form-data")
        name = params.get("name")
        if not name:
            raise HTTPInputError("multipart/form-data missing name")
        value = part[eoh + 4 : -2]
        filename = params.get("filename")
        if filename:
            ctype = headers.get("Content-Type", "application/unknown")
            new_files.append(
                (name, HTTPFile(filename=filename, body=value, content_type=ctype))
            )
        else:
            new_args.append((name, value))
    for name, value in new_args:
        arguments.setdefault(name, []).append(value)
    for name, f in new_files:
        files.setdefault(name, []).append(f)


# ---------------------------------------------------------------------------
# Header parameters (Content-Type, Content-Disposition, Sec-WebSocket-Extensions)

# Tokenizer for "key; a=b; c="x;y"": every alternative consumes at least one
# character and cannot fail part-way (an unterminated quote runs to the end),
# so the scan is linear whatever the input.
_PARAM_PIECE = re.compile(r'[^;"]+|"(?:[^"\\]|\\.)*"?|\\|;', re.DOTALL)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)


def _split_params(s: str) -> list[str]:
    out: list[str] = []
    cur: list[str] = []
    for m in _PARAM_PIECE.finditer(s):
        piece = m.group()
        if piece == ";":
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(piece)
    out.append("".join(cur).strip())
    return out


def _unquote_param(value: str) -> str:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return _QUOTED_PAIR.sub(r"\1", value[1:-1])
    return value


def _decode_rfc5987(value: str) -> str | None:
    # charset'language'percent-encoded (RFC 5987 / RFC 8187).
    charset, q1, rest = value.partition("'")
    _lang, q2, encoded = rest.partition("'")
    if not (q1 and q2):
        return None
    try:
        return unquote_to_bytes(encoded).decode(charset or "us-ascii")
    except (LookupError, UnicodeDecodeError):
        return None


def _parse_header(line: str) -> tuple[str, dict[str, str]]:
    r"""Split a ``Content-Type``-like value into its main value and parameters.

    Parameter names are lower-cased; quoted values are unescaped; ``name*=``
    values (RFC 5987) are decoded and replace ``name``.  A parameter without
    ``=`` (``client_no_context_takeover``) maps to None, as `_encode_header`
    writes it.  Linear in ``len(line)``.

    >>> _parse_header('form-data; name="a\\"b"; filename*=utf-8\'\'%C3%A9')
    ('form-data', {'name': 'a"b', 'filename': 'é'})
    """
    pieces = _split_params(line)
    key = pieces[0]
    pdict: dict[str, Any] = {}
    extended: dict[str, str] = {}
    for p in pieces[1:]:
        if not p:
            continue
        name, eq, value = p.partition("=")
        name = name.strip().lower()
        if not eq:
            pdict[name] = None
            continue
        value = value.strip()
        if name.endswith("*"):
            decoded = _decode_rfc5987(_unquote_param(value))
            if decoded is not None:
                extended[name[:-1]] = decoded
                continue
        pdict[name] = _unquote_param(value)
    pdict.update(extended)
    return key, pdict


def _encode_header(key: str, pdict: dict[str, Any]) -> str:
    """Inverse of `_parse_header`: ``key; a=b; flag`` (parameters sorted)."""
    if not pdict:
        return key
    out = [key]
    for k, v in sorted(pdict.items()):
        out.append(k if v is None else f"{k}={v}")
    return "; ".join(out)


# ---------------------------------------------------------------------------
# Small helpers

_WEEKDAYS = "Mon Tue Wed Thu Fri Sat Sun".split()
_MONTHS = " Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(" ")


def format_timestamp(
    ts: int | float | tuple[int, ...] | time.struct_time | datetime.datetime,
) -> str:
    """Format a time as an HTTP date (``Sun, 27 Jan 2013 18:43:20 GMT``).

    Accepts a POSIX timestamp, a UTC time tuple or `time.struct_time`, or a
    `datetime.datetime` (naive ones are taken as UTC).
    """
    if isinstance(ts, (int, float)):
        secs = ts
    elif isinstance(ts, (tuple, time.struct_time)):
        secs = calendar.timegm(ts)
    elif isinstance(ts, datetime.datetime):
        secs = calendar.timegm(ts.utctimetuple())
    else:
        raise TypeError(f"unknown timestamp type: {ts!r}")
    t = time.gmtime(secs)
    return (
        f"{_WEEKDAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


def encode_username_password(username: str | bytes, password: str | bytes) -> bytes:
    """``username:password`` as UTF-8 bytes (text is NFC-normalised first)."""
    if isinstance(username, str):
        username = unicodedata.normalize("NFC", username).encode("utf-8")
    if isinstance(password, str):
        password = unicodedata.normalize("NFC", password).encode("utf-8")
    return username + b":" + password


def split_host_and_port(netloc: str) -> tuple[str, int | None]:
    """Split ``host:port`` into ``(host, port)``; port is None when absent.

    >>> split_host_and_port("[::1]:8080"), split_host_and_port("example.com")
    (('[::1]', 8080), ('example.com', None))
    """
    host, sep, port = netloc.rpartition(":")
    if sep and host and port.isascii() and port.isdigit():
        return host, int(port)
    return netloc, None


def qs_to_qsl(qs: Mapping[str, list[AnyStr]]) -> Iterable[tuple[str, AnyStr]]:
    """Turn a `urllib.parse.parse_qs` result back into ``(name, value)`` pairs."""
    for k, vs in qs.items():
        for v in vs:
            yield k, v


_COOKIE_ESCAPE = re.compile(r"\\(?:([0-3][0-7][0-7])|(.))", re.DOTALL)


def _cookie_unescape(m: re.Match[str]) -> str:
    octal = m.group(1)
    return chr(int(octal, 8)) if octal else m.group(2)


def _unquote_cookie(s: str) -> str:
    # A quoted value loses its quotes and its backslash escapes (\" \\ \ooo);
    # one regex substitution, so linear.
    if len(s) < 2 or s[0] != '"' or s[-1] != '"':
        return s
    return _COOKIE_ESCAPE.sub(_cookie_unescape, s[1:-1])


def parse_cookie(cookie: str) -> dict[str, str]:
    """Parse a ``Cookie`` request header the way browsers write it.

    Every ``;`` separates (even inside quotes); a piece without ``=`` is a
    value with an empty name; the last of repeated names wins.  Linear.
    """
    out: dict[str, str] = {}
    for chunk in cookie.split(";"):
        key, eq, val = chunk.partition("=")
        if not eq:
            key, val = "", key
        key = key.strip()
        val = val.strip()
        if key or val:
            out[key] = _unquote_cookie(val)
    return out
