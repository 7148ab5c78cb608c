"""Decorators for `whirlwind.web` handlers, and the classic ``@asynchronous``.

Contents:

* `stream_request_body`, `asynchronous`, `authenticated`, `removeslash`,
  `addslash`.
* URL helpers shared by the redirecting code (``_is_protocol_relative``,
  ``_scheme_and_netloc``): they judge URLs the way browsers read them.

Theory of operation: ``@asynchronous``
--------------------------------------

The decorated method runs with a context variable naming its handler. Every
callback it schedules (``IOLoop.add_callback``/``call_later``/``add_future``,
asyncio's ``call_soon``...) captures the current `contextvars` context, so
the variable travels with the whole callback chain. When such a callback
raises, the loop reports it from inside that context through the
application logger ("Exception in callback ..."); `_AsyncCallbackRouter`, a
logging filter on that logger (and asyncio's), hands the exception to the
handler's ``_handle_request_exception`` instead, which answers with the
exception's status. Exceptions from finished handlers are left to the log.
(The logger must therefore not be silenced above ERROR, or the record, and
with it the routing, never happens.)
The request stays open until ``finish()``: ``_auto_finish`` is turned off.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import re
import threading
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from whirlwind._web_handler import HTTPError, RequestHandler
from whirlwind.log import app_log

__all__ = [
    "stream_request_body",
    "asynchronous",
    "authenticated",
    "removeslash",
    "addslash",
]

# -- @asynchronous support ----------------------------------------------------------

_async_handler: contextvars.ContextVar[RequestHandler | None] = contextvars.ContextVar(
    "whirlwind_async_handler", default=None
)


class _AsyncCallbackRouter(logging.Filter):
    """Routes an exception from a callback of an ``@asynchronous`` request to
    its handler, instead of letting the loop only log it.

    The IOLoop (and asyncio) log such exceptions from inside the callback's
    own context, where `_async_handler` names the handler that scheduled it.
    """

    def __init__(self) -> None:
        super().__init__()
        self._busy = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        exc_info = record.exc_info
        if not exc_info or exc_info[1] is None:
            return True
        msg = record.msg
        if not (isinstance(msg, str) and msg.startswith("Exception in callback")):
            return True  # only the loop's report of an escaped exception
        handler = _async_handler.get()
        if handler is None or handler._finished or getattr(self._busy, "on", False):
            return True
        exc = exc_info[1]
        if not isinstance(exc, Exception):
            return True
        self._busy.on = True
        try:
            handler._handle_request_exception(exc)
        except Exception:
            return True
        finally:
            self._busy.on = False
        return False


_callback_router = _AsyncCallbackRouter()
app_log.addFilter(_callback_router)
logging.getLogger("asyncio").addFilter(_callback_router)


# -- decorators ------------------------------------------------------------------------

_HandlerT = TypeVar("_HandlerT", bound=type[RequestHandler])
_Method = Callable[..., Awaitable[None] | None]


def stream_request_body(cls: _HandlerT) -> _HandlerT:
    """Class decorator: deliver the request body in pieces to ``data_received``.

    ``prepare`` runs once the headers are in (it may change
    ``self.request.connection.set_max_body_size``); the HTTP method runs after
    the whole body has been received.
    """
    if not (isinstance(cls, type) and issubclass(cls, RequestHandler)):
        raise TypeError(f"expected subclass of RequestHandler, got {cls!r}")
    cls._stream_request_body = True
    return cls


def _has_stream_request_body(cls: type[RequestHandler]) -> bool:
    if not (isinstance(cls, type) and issubclass(cls, RequestHandler)):
        raise TypeError(f"expected subclass of RequestHandler, got {cls!r}")
    return cls._stream_request_body


def asynchronous(method: _Method) -> _Method:
    """Classic decorator: the request stays open after the method returns,
    until ``self.finish()`` is called (typically from a callback).

    An exception raised in a callback scheduled by the method ends the
    request with that exception's status. If the method returns an
    awaitable, the request finishes when it completes.
    """

    @functools.wraps(method)
    def wrapper(
        self: RequestHandler, *args: Any, **kwargs: Any
    ) -> Awaitable[None] | None:
        self._auto_finish = False
        token = _async_handler.set(self)
        try:
            result = method(self, *args, **kwargs)
        finally:
            _async_handler.reset(token)
        if result is None:
            return None
        return _finish_after(self, result)

    return wrapper


async def _finish_after(handler: RequestHandler, result: Awaitable[Any]) -> None:
    await result
    if not handler._finished:
        handler.finish()


def authenticated(method: _Method) -> _Method:
    """Requires a logged-in user (`RequestHandler.current_user`).

    Anonymous GET/HEAD requests are redirected to `get_login_url` with a
    ``next`` argument; other methods get 403.
    """

    @functools.wraps(method)
    def wrapper(
        self: RequestHandler, *args: Any, **kwargs: Any
    ) -> Awaitable[None] | None:
        if not self.current_user:
            if self.request.method in ("GET", "HEAD"):
                url = self.get_login_url()
                if "?" not in url:
                    if urllib.parse.urlsplit(url).scheme:
                        next_url = self.request.full_url()
                    else:
                        next_url = self.request.uri
                    url += "?" + urlencode({"next": next_url})
                self.redirect(url)
                return None
            raise HTTPError(403)
        return method(self, *args, **kwargs)

    return wrapper


def _normalize_url_like_browser(url: str) -> str:
    # Browsers drop leading/trailing C0 controls and spaces, ignore tab/CR/LF
    # anywhere and read "\" as "/"; judge URLs the way they will be followed.
    url = url.strip("".join(chr(i) for i in range(33)))
    url = url.replace("\t", "").replace("\n", "").replace("\r", "")
    return url.replace("\\", "/")


def _is_protocol_relative(url: str) -> bool:
    return _normalize_url_like_browser(url).startswith("//")


def _scheme_and_netloc(url: str) -> tuple[str, str]:
    url = re.sub("^//+", "//", _normalize_url_like_browser(url))
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _redirect_permanently(handler: RequestHandler, path: str) -> None:
    """The redirect of `removeslash`/`addslash`: to ``path`` plus the query."""
    if _is_protocol_relative(path):
        raise HTTPError(403, "cannot redirect path with two initial slashes")
    query = handler.request.query
    handler.redirect(path + "?" + query if query else path, permanent=True)


def removeslash(method: _Method) -> _Method:
    """Redirects ``/path/`` to ``/path`` (GET/HEAD; other methods get 404).

    Use with a route like ``r"/path/*"``.
    """

    @functools.wraps(method)
    def wrapper(
        self: RequestHandler, *args: Any, **kwargs: Any
    ) -> Awaitable[None] | None:
        path = self.request.path
        if path.endswith("/"):
            if self.request.method not in ("GET", "HEAD"):
                raise HTTPError(404)
            uri = path.rstrip("/")
            if uri:  # "" (the path was all slashes) is never protocol-relative
                _redirect_permanently(self, uri)
                return None
        return method(self, *args, **kwargs)

    return wrapper


def addslash(method: _Method) -> _Method:
    """Redirects ``/path`` to ``/path/`` (GET/HEAD; other methods get 404).

    Use with a route like ``r"/path/?"``.
    """

    @functools.wraps(method)
    def wrapper(
        self: RequestHandler, *args: Any, **kwargs: Any
    ) -> Awaitable[None] | None:
        path = self.request.path
        if not path.endswith("/"):
            if self.request.method not in ("GET", "HEAD"):
                raise HTTPError(404)
            _redirect_permanently(self, path + "/")
            return None
        return method(self, *args, **kwargs)

    return wrapper
