"""`RequestHandler`'s core: output, flush/finish, errors and execution.

Contents:

* `RequestHandler` (with the argument, cookie and render mixins of
  ``_web_arguments``, ``_web_cookies`` and ``_web_render``), `HTTPError`,
  `Finish`, `MissingArgumentError`.

Theory of operation: executing a request
----------------------------------------

`RequestHandler._execute` runs the request *inline* on the caller's stack:
method check, body parsing, path arguments, XSRF/cross-origin checks,
``prepare()``, the HTTP method, and the automatic ``finish()``. As long as
every step returns None (plain ``def`` methods) no Task, Future or extra
coroutine is created. The first step that returns an awaitable (an
``async def`` prepare or method, a streaming body still arriving) hands the
rest of the work to the coroutine `RequestHandler._resume`, which `_execute`
returns to the caller to run as a Task.

Errors from any step go to `_handle_request_exception`, which logs and calls
`send_error`; `Finish` ends the request normally.

Classic ``@asynchronous`` methods (see ``_web_decorators``) keep the request
open after they return, until ``finish()``.

The response head is written once, by the first `flush` (or `finish`), with
a status line object cached per (code, reason) and a ``Date`` value cached
per second.

Per-request economy: an application builds handlers with `_new_handler`,
which fills in fields instead of running ``__init__``/``clear`` when the
class keeps the base ones; state that starts equal for every handler
(status, flags) is a class attribute until the handler changes it. Which
hooks a class keeps as the base class defines them (``prepare``,
``on_finish``, the Etag methods, flush/_log) is recorded once per class
(`_hook_flags`), so the request path calls only hooks that do something.
The connection's close callback is registered only once a request outlives
the inline ``_execute`` (`RequestHandler._watch_close`): nothing can close
the connection under a handler that is still running synchronously.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import functools
import hashlib
import re
import time
import traceback
import types
from collections.abc import Awaitable, Callable
from typing import Any

import whirlwind
from whirlwind import httputil, iostream
from whirlwind._web_arguments import _CONTROL_CHARS, _ArgumentsMixin
from whirlwind._web_cookies import _CookieMixin
from whirlwind._web_errors import Finish, HTTPError, MissingArgumentError
from whirlwind._web_render import _RenderMixin
from whirlwind.escape import json_encode, utf8, xhtml_escape
from whirlwind.log import app_log, gen_log

__all__ = ["RequestHandler", "HTTPError", "Finish", "MissingArgumentError"]

_SERVER = "WhirlwindServer/" + whirlwind.version
_HTML = "text/html; charset=UTF-8"
_JSON = "application/json; charset=UTF-8"

# Header values may hold tab, printable ASCII and obs-text; never CR, LF or NUL.
_VALID_HEADER_VALUE = re.compile(r"[\x09\x20-\x7e\x80-\xff]*")
# RFC 9112 reason-phrase: HTAB / SP / VCHAR / obs-text.
_VALID_REASON = re.compile(r"[\t \x21-\x7e\x80-\xff]*")
_ETAG_LIST = re.compile(rb'\*|(?:W/)?"[^"]*"')
# Methods that never change state: no XSRF/cross-origin checks.
_SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))
# Handler method names, without a str.lower() per request.
_METHOD_NAMES = {
    m: m.lower() for m in ("GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS")
}

_responses: dict[int, str] = httputil.responses
_sha1 = hashlib.sha1

# Default Etags of small bodies, by body: most responses of a service repeat
# (a hello page, a health check), and a SHA-1 of a few bytes costs more than a
# dict lookup. Bounded: emptied when full.
_etags: dict[bytes, str] = {}
_ETAG_CACHE_BODY = 512
_ETAG_CACHE_SIZE = 256
# Larger bodies (a rendered page) keep the last body of each length and its
# Etag: a repeated page costs one memcmp instead of a SHA-1 and a hexdigest,
# a changing one a failed comparison (bodies of one length that differ
# usually differ early). Bounded to _ETAG_SLOTS * _ETAG_SLOT_BODY bytes.
_etag_slots: dict[int, tuple[bytes, str]] = {}
_ETAG_SLOT_BODY = 32768
_ETAG_SLOTS = 64


# -- cached per-response values -------------------------------------------------

_date_cache: tuple[int, str] = (0, "")
_time = time.time


def _http_date() -> str:
    """The ``Date`` header value, formatted at most once per second."""
    global _date_cache
    now = int(time.time())
    cached = _date_cache
    if cached[0] != now:
        cached = (now, email.utils.formatdate(now, usegmt=True))
        _date_cache = cached
    return cached[1]


_start_lines: dict[tuple[int, str], httputil.ResponseStartLine] = {}


def _default_headers() -> httputil.HTTPHeaders:
    """A response's headers before the handler sets any: Server, Content-Type, Date."""
    if _PRENORMALIZED_HEADERS:
        # The names are already in canonical case: fill the mapping directly
        # instead of normalising three constant names per request.
        headers = _new_headers(httputil.HTTPHeaders)
        now = int(_time())
        date = _date_cache
        headers._d = {
            "Server": _SERVER,
            "Content-Type": _HTML,
            "Date": date[1] if date[0] == now else _http_date(),
        }
        headers._joined = {}
        return headers
    headers = httputil.HTTPHeaders()
    headers["Server"] = _SERVER
    headers["Content-Type"] = _HTML
    headers["Date"] = _http_date()
    return headers


def _start_line(code: int, reason: str) -> httputil.ResponseStartLine:
    """A shared `ResponseStartLine` per (code, reason), so the HTTP layer can
    keep its encoded form; bounded because reasons may be custom."""
    key = (code, reason)
    line = _start_lines.get(key)
    if line is None:
        line = httputil.ResponseStartLine("", code, reason)
        if len(_start_lines) < 512:
            _start_lines[key] = line
    return line


# httputil.HTTPHeaders keeps canonical name -> value in ``_d`` (plus a cache of
# joined repeated values in ``_joined``); when that layout is present the
# default response headers are built without per-name normalisation.
_PRENORMALIZED_HEADERS = getattr(httputil.HTTPHeaders, "__slots__", None) == (
    "_d",
    "_joined",
)
_new_headers = object.__new__


def _format_header_date(value: datetime.datetime) -> str:
    if value.tzinfo is None:
        ts = value.replace(tzinfo=datetime.timezone.utc).timestamp()
    else:
        ts = value.timestamp()
    return email.utils.formatdate(ts, usegmt=True)


# -- the handler ---------------------------------------------------------------------

_HeaderTypes = str | bytes | int | datetime.datetime


class RequestHandler(_ArgumentsMixin, _RenderMixin, _CookieMixin):
    """Base class for HTTP request handlers.

    Subclasses implement ``get``/``post``/... (plain or ``async def``); path
    groups of the matching route arrive as arguments. One instance serves one
    request.
    """

    SUPPORTED_METHODS: tuple[str, ...] = (
        "GET",
        "HEAD",
        "POST",
        "DELETE",
        "PATCH",
        "PUT",
        "OPTIONS",
    )
    _stream_request_body = False
    _remove_control_chars_regex = _CONTROL_CHARS
    _VALID_HEADER_CHARS = _VALID_HEADER_VALUE

    # Set by _execute; the shared empty default serves handlers that finish
    # before it (and applications without transforms, which share it too).
    _transforms: list[Any] = ()  # type: ignore[assignment]
    path_args: list[str]
    path_kwargs: dict[str, str]

    # Defaults every new handler starts with, read from the class until the
    # instance sets its own (the per-request constructor skips the stores).
    _headers_written = False
    _finished = False
    _auto_finish = True
    _prepared_future: asyncio.Future[None] | None = None
    _status_code = 200
    _reason = "OK"
    # Whether the connection's close callback points at this handler (it is
    # registered only once the request outlives the inline call).
    _close_watched = False
    # The ui namespace, set on first use; read without touching ``__dict__``,
    # which would make CPython build one per handler.
    _ui: Any = None
    # Whether `_new_handler` may build instances of this class without
    # calling ``__init__`` (see `__init_subclass__`).
    _plain_new = True

    # Whether finish() may use the base Etag and flush/log/cleanup steps
    # inline (see `_hook_flags`).
    _default_etag = True
    _plain_finish = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _hook_flags(cls)

    def __init__(
        self,
        application: Any,
        request: httputil.HTTPServerRequest,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.application = application
        self.request = request
        self._headers_written = False
        self._finished = False
        self._auto_finish = True
        self._prepared_future: asyncio.Future[None] | None = None
        self._transforms = []
        self.clear()
        assert request.connection is not None
        request.connection.set_close_callback(self.on_connection_close)  # type: ignore[attr-defined]
        self._close_watched = True
        self.initialize(**kwargs)

    def _initialize(self) -> None:
        pass

    initialize: Callable[..., None] = _initialize
    """Hook for per-request setup; receives the route's keyword arguments."""

    @property
    def settings(self) -> dict[str, Any]:
        """The application's settings (``self.application.settings``)."""
        return self.application.settings  # type: ignore[no-any-return]

    def _unimplemented_method(self, *args: Any, **kwargs: Any) -> None:
        raise HTTPError(405)

    head: Callable[..., Awaitable[None] | None] = _unimplemented_method
    get: Callable[..., Awaitable[None] | None] = _unimplemented_method
    post: Callable[..., Awaitable[None] | None] = _unimplemented_method
    delete: Callable[..., Awaitable[None] | None] = _unimplemented_method
    patch: Callable[..., Awaitable[None] | None] = _unimplemented_method
    put: Callable[..., Awaitable[None] | None] = _unimplemented_method
    options: Callable[..., Awaitable[None] | None] = _unimplemented_method

    def prepare(self) -> Awaitable[None] | None:
        """Called before the HTTP method; may be ``async``. Finishing here
        (e.g. a redirect) skips the method."""
        return None

    def on_finish(self) -> None:
        """Called after the response is sent (cleanup, metrics)."""

    def on_connection_close(self) -> None:
        """Called when the client closes the connection mid-request (long polls).

        The default fails a pending streamed body with `StreamClosedError`.
        """
        if self._stream_request_body:
            fut = getattr(self.request, "_body_future", None)
            if fut is not None and not fut.done():
                fut.set_exception(iostream.StreamClosedError())
                fut.exception()  # retrieved: nobody may be waiting on it

    # -- output state -------------------------------------------------------------

    def clear(self) -> None:
        """Resets headers, status and the output buffer to their defaults."""
        self._headers = _default_headers()
        self.set_default_headers()
        self._write_buffer: list[bytes] = []
        self._status_code = 200
        self._reason = "OK"

    def set_default_headers(self) -> None:
        """Hook to set headers on every response, including error responses."""

    def set_status(self, status_code: int, reason: str | None = None) -> None:
        """Sets the status code (and reason phrase, which must be a valid
        HTTP reason; an unsafe one becomes ``Unknown``)."""
        self._status_code = status_code
        if reason is not None:
            if "<" in reason or not _VALID_REASON.fullmatch(reason):
                # The reason reaches the default error page and the status line.
                reason = "Unknown"
            self._reason = reason
        else:
            self._reason = _responses.get(status_code, "Unknown")

    def get_status(self) -> int:
        """The response status code."""
        return self._status_code

    def set_header(self, name: str, value: _HeaderTypes) -> None:
        """Sets a response header (str, bytes, int or datetime value; CR/LF refused)."""
        self._headers[name] = self._convert_header_value(value)

    def add_header(self, name: str, value: _HeaderTypes) -> None:
        """Adds a response header, keeping earlier values of the same name."""
        self._headers.add(name, self._convert_header_value(value))

    def clear_header(self, name: str) -> None:
        """Removes a response header (including defaults such as Content-Type)."""
        if name in self._headers:
            del self._headers[name]

    def _convert_header_value(self, value: _HeaderTypes) -> str:
        if isinstance(value, str):
            text = value
        elif isinstance(value, bytes):
            text = value.decode("latin1")
        elif isinstance(value, bool):
            raise TypeError(f"Unsupported header value {value!r}")
        elif isinstance(value, int):
            return str(value)
        elif isinstance(value, datetime.datetime):
            return _format_header_date(value)
        else:
            raise TypeError(f"Unsupported header value {value!r}")
        if _VALID_HEADER_VALUE.fullmatch(text) is None:
            # CR/LF would let a value start new headers (response splitting).
            raise ValueError(f"Unsafe header value {text!r}")
        return text

    # -- output ----------------------------------------------------------------------

    def redirect(
        self, url: str, permanent: bool = False, status: int | None = None
    ) -> None:
        """Redirects to ``url`` (302, or 301 if ``permanent``, or ``status``)."""
        if self._headers_written:
            raise Exception("Cannot redirect after headers have been written")
        if status is None:
            status = 301 if permanent else 302
        elif not (isinstance(status, int) and 300 <= status <= 399):
            raise ValueError(f"redirect status must be 3xx, got {status!r}")
        self.set_status(status)
        self.set_header("Location", utf8(url))
        self.finish()

    def write(self, chunk: str | bytes | dict[str, Any]) -> None:
        """Buffers ``chunk`` for the response body.

        A dict is sent as JSON with ``Content-Type: application/json``. Lists
        are refused: a top-level JSON array could be read cross-site by old
        browsers.
        """
        if self._finished:
            raise RuntimeError("Cannot write() after finish()")
        cls = chunk.__class__
        if cls is str:
            self._write_buffer.append(chunk.encode("utf-8"))  # type: ignore[union-attr]
            return
        if cls is bytes or isinstance(chunk, bytes):
            self._write_buffer.append(chunk)  # type: ignore[arg-type]
            return
        if isinstance(chunk, str):
            self._write_buffer.append(chunk.encode("utf-8"))
            return
        if isinstance(chunk, dict):
            if _PRENORMALIZED_HEADERS and type(self).set_header is _base_set_header:
                headers = self._headers
                headers._d["Content-Type"] = _JSON
                headers._joined.pop("Content-Type", None)
            else:
                self.set_header("Content-Type", _JSON)
            self._write_buffer.append(json_encode(chunk).encode("utf-8"))
            return
        message = "write() only accepts bytes, unicode, and dict objects"
        if isinstance(chunk, list):
            message += ". Lists not accepted for security reasons"
        raise TypeError(message)

    def flush(
        self, include_footers: bool = False, callback: Callable[[], Any] | None = None
    ) -> asyncio.Future[None]:
        """Sends the buffered output; the first flush sends the head too.

        Returns a Future that resolves when the data is handed to the socket
        (await it for flow control). The classic ``callback`` is called then
        too.
        """
        fut = self._flush(include_footers)
        if callback is not None:
            if fut is None:
                asyncio.get_running_loop().call_soon(callback)
            else:
                fut.add_done_callback(lambda f: callback())
        return fut

    def _flush(self, include_footers: bool) -> asyncio.Future[None]:
        conn = self.request.connection
        assert conn is not None
        buf = self._write_buffer
        chunk = buf[0] if len(buf) == 1 else b"".join(buf)
        self._write_buffer = []
        if not self._headers_written:
            self._headers_written = True
            for transform in self._transforms:
                self._status_code, self._headers, chunk = (
                    transform.transform_first_chunk(
                        self._status_code, self._headers, chunk, include_footers
                    )
                )
            if self.request.method == "HEAD":
                chunk = b""
            jar = self._new_cookie
            if jar:
                for morsel in jar.values():
                    self.add_header("Set-Cookie", morsel.OutputString(None))
            code = self._status_code
            reason = self._reason
            line = _start_lines.get((code, reason)) or _start_line(code, reason)
            return conn.write_headers(line, self._headers, chunk)
        for transform in self._transforms:
            chunk = transform.transform_chunk(chunk, include_footers)
        if self.request.method != "HEAD":
            return conn.write(chunk)
        done: asyncio.Future[None] = asyncio.get_event_loop().create_future()
        done.set_result(None)
        return done

    def _should_not_send_content(self, status_code: int) -> bool:
        return status_code in (204, 304) or 100 <= status_code < 200

    def finish(self, chunk: str | bytes | dict[str, Any] | None = None) -> Any:
        """Ends the response (writing ``chunk`` first, if given).

        For a 200 GET/HEAD without an Etag, one is computed from the body and
        a matching ``If-None-Match`` turns the response into a 304.
        Returns the Future of the final flush.
        """
        if self._finished:
            raise RuntimeError("finish() called twice")
        if chunk is not None:
            if chunk.__class__ is bytes and type(self).write is _base_write:
                self._write_buffer.append(chunk)  # write()'s bytes case
            else:
                self.write(chunk)
        if not self._headers_written:
            headers = self._headers
            # Canonical names can be looked up in the raw mapping directly.
            names: Any = headers._d if _PRENORMALIZED_HEADERS else headers
            size = -1  # the body's length, once known
            if (
                self._status_code == 200
                and self.request.method in ("GET", "HEAD")
                and "Etag" not in names
            ):
                if _PRENORMALIZED_HEADERS and type(self)._default_etag:
                    # The default Etag, without four method calls; a request
                    # without If-None-Match cannot turn into a 304.
                    buf = self._write_buffer
                    if len(buf) > 1:
                        buf[:] = [b"".join(buf)]
                    body = buf[0] if buf else b""
                    size = len(body)
                    if size <= _ETAG_CACHE_BODY:
                        etag = _etags.get(body)
                        if etag is None:
                            etag = f'"{_sha1(body).hexdigest()}"'
                            if len(_etags) >= _ETAG_CACHE_SIZE:
                                _etags.clear()
                            _etags[body] = etag
                    elif size <= _ETAG_SLOT_BODY:
                        slot = _etag_slots.get(size)
                        if slot is not None and slot[0] == body:
                            etag = slot[1]
                        else:
                            etag = f'"{_sha1(body).hexdigest()}"'
                            if slot is None and len(_etag_slots) >= _ETAG_SLOTS:
                                _etag_slots.clear()
                            _etag_slots[size] = (body, etag)
                    else:
                        etag = f'"{_sha1(body).hexdigest()}"'
                    names["Etag"] = etag
                    rh = self.request.headers
                    check = (
                        rh.__class__ is not httputil.HTTPHeaders
                        or "If-None-Match" in rh._d
                    )
                else:
                    self.set_etag_header()
                    check = True
                if check and self.check_etag_header():
                    self._write_buffer = []
                    self.set_status(304)
            code = self._status_code
            if code in (204, 304) or 100 <= code < 200:  # no content allowed
                if self._write_buffer:
                    raise RuntimeError(
                        f"Cannot send body with status code HTTP{self._status_code}"
                    )
                self._clear_representation_headers()
            elif "Content-Length" not in names:
                if size < 0:
                    size = 0
                    for part in self._write_buffer:
                        size += len(part)
                names["Content-Length"] = str(size)
        conn = self.request.connection
        assert conn is not None
        if self._close_watched:
            conn.set_close_callback(None)  # type: ignore[attr-defined]
        if type(self)._plain_finish:
            # The base flush/_log/on_finish/_break_cycles, inline.
            if (
                self._headers_written
                or self._transforms
                or self._new_cookie is not None
            ):
                future = self._flush(True)
            else:
                # The whole response in one write_headers: _flush's first
                # branch without transforms or cookies.
                self._headers_written = True
                buf = self._write_buffer
                self._write_buffer = []
                code = self._status_code
                reason = self._reason
                future = conn.write_headers(
                    _start_lines.get((code, reason)) or _start_line(code, reason),
                    self._headers,
                    b""
                    if self.request.method == "HEAD"
                    else buf[0]
                    if len(buf) == 1
                    else b"".join(buf),
                )
            conn.finish()
            self.application.log_request(self)
            self._finished = True
            if self._ui is not None:
                self._ui = None  # the ui namespace refers back to the handler
            return future
        future = self.flush(include_footers=True)
        conn.finish()
        self._log()
        self._finished = True
        self.on_finish()
        self._break_cycles()
        return future

    def detach(self) -> iostream.IOStream:
        """Takes over the connection's stream (e.g. for a protocol upgrade);
        the handler then writes nothing more through HTTP."""
        self._finished = True
        return self.request.connection.detach()  # type: ignore[union-attr,no-any-return]

    def _break_cycles(self) -> None:
        # The ui namespace refers back to the handler; drop it when done.
        self._ui = None

    def _clear_representation_headers(self) -> None:
        for name in ("Content-Encoding", "Content-Language", "Content-Type"):
            self.clear_header(name)

    def async_callback(
        self, callback: Callable[..., Any] | None, *args: Any, **kwargs: Any
    ) -> Callable[..., Any] | None:
        """Classic helper: wraps ``callback`` (with ``args``) so an exception
        it raises ends this request with an error page instead of escaping
        to the loop."""
        if callback is None:
            return None
        if args or kwargs:
            callback = functools.partial(callback, *args, **kwargs)
        fn = callback

        def wrapper(*a: Any, **kw: Any) -> Any:
            try:
                return fn(*a, **kw)
            except Exception as e:
                if self._finished:
                    raise
                self._handle_exception_safely(e)
                return None

        return wrapper

    # -- errors ------------------------------------------------------------------------

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        """Sends an error page for ``status_code`` through `write_error`.

        ``exc_info`` in kwargs carries the exception that caused it. Once
        headers have been sent this can only cut the response short.
        """
        if self._headers_written:
            gen_log.error("Cannot send error response after headers written")
            if not self._finished:
                try:
                    self.finish()
                except Exception:
                    gen_log.error("Failed to flush partial response", exc_info=True)
            return
        self.clear()
        reason = kwargs.get("reason")
        if "exc_info" in kwargs:
            exc = kwargs["exc_info"][1]
            if isinstance(exc, HTTPError) and exc.reason:
                reason = exc.reason
        self.set_status(status_code, reason=reason)
        try:
            if status_code != 304:
                self.write_error(status_code, **kwargs)
        except Exception:
            app_log.error("Uncaught exception in write_error", exc_info=True)
        if not self._finished:
            self.finish()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Writes the error page. Override for custom pages.

        The default is a minimal HTML page, or the traceback as text/plain when
        the ``serve_traceback`` setting (or ``debug``) is on.
        """
        if self._should_not_send_content(status_code):
            self.finish()
        elif self.settings.get("serve_traceback") and "exc_info" in kwargs:
            self.set_header("Content-Type", "text/plain")
            for line in traceback.format_exception(*kwargs["exc_info"]):
                self.write(line)
            self.finish()
        else:
            message = xhtml_escape(self._reason)
            self.finish(
                f"<html><title>{status_code}: {message}</title>"
                f"<body>{status_code}: {message}</body></html>"
            )

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, Finish):
            if not self._finished:
                self.finish(*e.args)
            return
        try:
            self.log_exception(type(e), e, e.__traceback__)
        except Exception:
            app_log.error("Error in exception logger", exc_info=True)
        if self._finished:
            # Too late for an error page; the exception has been logged.
            return
        exc_info = (type(e), e, e.__traceback__)
        if isinstance(e, HTTPError):
            self.send_error(e.status_code, exc_info=exc_info)
        elif isinstance(e, httputil.HTTPInputError):
            # Malformed input found late, e.g. while lazily parsing arguments.
            self.send_error(400, exc_info=exc_info)
        else:
            self.send_error(500, exc_info=exc_info)

    def log_exception(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        """Logs an exception from a request: `HTTPError` with a log message as a
        warning (no traceback), anything else as an error with traceback."""
        if isinstance(value, HTTPError):
            message = value.get_message()
            if message:
                gen_log.warning(
                    "%d %s: %s", value.status_code, self._request_summary(), message
                )
        elif isinstance(value, httputil.HTTPInputError):
            gen_log.warning("400 %s: %s", self._request_summary(), value)
        else:
            app_log.error(
                "Uncaught exception %s\n%r",
                self._request_summary(),
                self.request,
                exc_info=(typ, value, tb),  # type: ignore[arg-type]
            )

    def _log(self) -> None:
        self.application.log_request(self)

    def _request_summary(self) -> str:
        r = self.request
        return f"{r.method} {r.uri} ({r.remote_ip})"

    # -- misc ---------------------------------------------------------------------------

    def require_setting(self, name: str, feature: str = "this feature") -> None:
        """Raises if the application setting ``name`` is missing or empty."""
        if not self.application.settings.get(name):
            raise Exception(
                f"You must define the '{name}' setting in your application to use {feature}"
            )

    def reverse_url(self, name: str, *args: Any) -> str:
        """`Application.reverse_url`."""
        return self.application.reverse_url(name, *args)  # type: ignore[no-any-return]

    def compute_etag(self) -> str | None:
        """The response's Etag: a SHA-1 of the buffered body by default.
        Return None to send no Etag."""
        buf = self._write_buffer
        if len(buf) > 1:
            buf[:] = [b"".join(buf)]
        digest = hashlib.sha1(buf[0] if buf else b"").hexdigest()
        return f'"{digest}"'

    def set_etag_header(self) -> None:
        """Sets ``Etag`` from `compute_etag` (unless it returns None)."""
        etag = self.compute_etag()
        if etag is not None:
            self.set_header("Etag", etag)

    def check_etag_header(self) -> bool:
        """Whether the request's ``If-None-Match`` matches our Etag (weak
        comparison; ``*`` matches anything)."""
        inm = self.request.headers.get("If-None-Match")
        if not inm:
            return False
        ours = utf8(self._headers.get("Etag", ""))
        if not ours:
            return False
        tags = _ETAG_LIST.findall(utf8(inm))
        if not tags:
            return False
        if tags[0] == b"*":
            return True
        ours = ours[2:] if ours.startswith(b"W/") else ours
        for tag in tags:
            if (tag[2:] if tag.startswith(b"W/") else tag) == ours:
                return True
        return False

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        """With `stream_request_body`, receives each piece of the body."""
        raise NotImplementedError()

    # -- execution (see the module docstring) ------------------------------------------

    def _execute(
        self, transforms: list[Any], *args: bytes, **kwargs: bytes
    ) -> Awaitable[None] | None:
        """Runs the request inline; returns an awaitable for the rest when a
        step must wait, else None (the request is then complete)."""
        self._transforms = transforms
        try:
            request = self.request
            if request.method not in self.SUPPORTED_METHODS:
                raise HTTPError(405)
            if not self._stream_request_body and request.body:
                try:
                    request._parse_body()
                except httputil.HTTPInputError as e:
                    raise HTTPError(400, f"Invalid body: {e}") from e
            if args:
                decode = self.decode_argument
                self.path_args = [decode(a) for a in args]
            else:
                self.path_args = []
            if kwargs:
                decode = self.decode_argument
                self.path_kwargs = {k: decode(v, name=k) for k, v in kwargs.items()}
            else:
                self.path_kwargs = {}
            if request.method not in _SAFE_METHODS:
                self._cross_origin_protection()
            if type(self).prepare is not _base_prepare:
                result = self.prepare()
                if result is not None:
                    return self._resume(result, _AFTER_PREPARE)
            if self._prepared_future is not None:
                self._set_prepared()
            if self._finished:
                return None
            if self._stream_request_body:
                return self._resume(request._body_future, _AFTER_BODY)  # type: ignore[attr-defined]
            method = request.method
            result = getattr(self, _METHOD_NAMES.get(method) or method.lower())(
                *self.path_args, **self.path_kwargs
            )
            if result is not None:
                return self._resume(result, _AFTER_METHOD)
            if not self._finished:
                if self._auto_finish:
                    self.finish()
                else:
                    # Finished later (e.g. from a callback): watch the peer.
                    self._watch_close()
        except Exception as e:
            self._handle_exception_safely(e)
            if self._prepared_future is not None:
                self._set_prepared()
        return None

    async def _resume(self, pending: Awaitable[Any] | None, stage: int) -> None:
        """The asynchronous remainder of `_execute`, from ``stage`` on."""
        if not self._close_watched:
            self._watch_close()
        try:
            if stage == _AFTER_PREPARE:
                await pending  # type: ignore[misc]
                self._set_prepared()
                if self._finished:
                    return
                if self._stream_request_body:
                    pending, stage = self.request._body_future, _AFTER_BODY  # type: ignore[attr-defined]
                else:
                    stage = _CALL_METHOD
            if stage == _AFTER_BODY:
                try:
                    await pending  # type: ignore[misc]
                except iostream.StreamClosedError:
                    return
                stage = _CALL_METHOD
            if stage == _CALL_METHOD:
                pending = getattr(self, self.request.method.lower())(
                    *self.path_args, **self.path_kwargs
                )
            if pending is not None:
                await pending
            if self._auto_finish and not self._finished:
                self.finish()
        except asyncio.CancelledError as e:
            task = asyncio.current_task()
            cancelling = getattr(task, "cancelling", None)
            if cancelling is not None and cancelling():
                # The request itself is being cancelled (e.g. server shutdown).
                if not self._finished:
                    try:
                        self.send_error(500)
                    except Exception:
                        app_log.error("Exception in exception handler", exc_info=True)
                raise
            self._handle_exception_safely(e)
        except Exception as e:
            self._handle_exception_safely(e)
        finally:
            if self._prepared_future is not None:
                self._set_prepared()

    def _watch_close(self) -> None:
        """Routes the connection's close callback to `on_connection_close`
        (needed only once the request outlives the inline `_execute`)."""
        conn = self.request.connection
        if conn is not None and not self._finished:
            conn.set_close_callback(self.on_connection_close)  # type: ignore[attr-defined]
            self._close_watched = True

    def _set_prepared(self) -> None:
        fut = self._prepared_future
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _handle_exception_safely(self, e: BaseException) -> None:
        try:
            self._handle_request_exception(e)
        except Exception:
            app_log.error("Exception in exception handler", exc_info=True)


# _resume stages: what was awaited last, or what to do next.
_AFTER_PREPARE = 0
_AFTER_BODY = 1
_CALL_METHOD = 2
_AFTER_METHOD = 3

# Base hooks the request path skips calling when a class keeps them.
_base_set_default_headers = RequestHandler.set_default_headers
_base_initialize = RequestHandler._initialize
_new_handler_object = object.__new__


def _new_handler(
    cls: type[RequestHandler],
    application: Any,
    request: httputil.HTTPServerRequest,
    kwargs: dict[str, Any],
) -> RequestHandler:
    """``cls(application, request, **kwargs)``, built field by field when the
    class keeps the base ``__init__`` and ``clear`` (``_plain_new``): the
    defaults come from class attributes, the base hooks are not called, and
    the close callback is registered only if the request outlives
    ``_execute`` (see `RequestHandler._watch_close`)."""
    if not (cls._plain_new and _PRENORMALIZED_HEADERS):
        return cls(application, request, **kwargs)
    self: RequestHandler = _new_handler_object(cls)
    self.application = application
    self.request = request
    self._headers = _default_headers()
    self._write_buffer = []
    if cls.set_default_headers is not _base_set_default_headers:
        self.set_default_headers()
    if kwargs or cls.initialize is not _base_initialize:
        self.initialize(**kwargs)
    return self


_base_prepare = RequestHandler.prepare
_base_write = RequestHandler.write
_base_set_header = RequestHandler.set_header


def _hook_flags(cls: type[RequestHandler]) -> None:
    """Records on a handler class which overridable steps it keeps as the
    base class defines them, so the request path can skip their calls.
    Computed when the class is created (hooks are overridden by
    subclassing; replacing them on an existing class is not seen)."""
    base = RequestHandler
    mro = cls.__mro__
    cls._plain_new = (
        cls.__init__ is base.__init__
        and cls.clear is base.clear
        and not any("__init__" in k.__dict__ for k in mro[mro.index(base) + 1 : -1])
    )
    cls._default_etag = (
        cls.set_etag_header is base.set_etag_header
        and cls.compute_etag is base.compute_etag
        and cls.check_etag_header is base.check_etag_header
    )
    cls._plain_finish = (
        cls.flush is base.flush
        and cls._flush is base._flush
        and cls._log is base._log
        and cls.on_finish is base.on_finish
        and cls._break_cycles is base._break_cycles
    )
