"""`Application`, its router and message delegate, output transforms and the
small built-in handlers of `whirlwind.web`.

Contents:

* `Application`: the routing table, settings, UI modules/methods, transforms,
  ``listen``, ``reverse_url`` and the access log.
* `_ApplicationRouter`, `_HandlerDelegate`: route to a `RequestHandler` class
  and feed it the request (see below).
* `OutputTransform`, `GZipContentEncoding`.
* `RedirectHandler`, `ErrorHandler`, `FallbackHandler`.

Theory of operation: one request
--------------------------------

`Application.start_request` hands the HTTP connection one `_AppDelegate` per
request (bound with `functools.partial`, so no method frame). When the head
arrives it builds the `HTTPServerRequest` (``httputil._server_request``) and
routes it itself: a per-application cache maps a path seen before to its
route (handler class and kwargs; only routes without path arguments, at
most `_ROUTE_CACHE_MAX`), otherwise `_ApplicationRouter._route` scans the
rules while each is a plain path regex routed to a `RequestHandler` class
(a pure function of the path, so its answer can be cached). The cache is
emptied by ``add_rules``/``add_handlers`` and when the rule list's length
changes; host rules, other rule kinds and subclasses that override
``find_handler``/``get_handler_delegate`` route the generic way, through
`Application.find_handler` and the delegate it returns (``inner``).

Body chunks are kept as a list (joined once). When the message is complete
the delegate creates the handler (``_web_handler._new_handler``) and calls
its ``_execute`` inline: a plain ``def`` handler has written its whole
response before ``finish()`` returns to the connection. When the handler
must wait (``async def``), the rest is returned from ``finish()`` and
whirlwind's HTTP connection awaits it in its own task: no Task per request
at all. (``Application.__call__`` and streamed bodies, which start at
``headers_received``, schedule the rest as a Task instead.)
``@stream_request_body`` handlers start at ``headers_received``, and the
connection waits for their ``prepare()`` before feeding the body.

Settings the request path consults (template/static cache resets,
``log_function``) are read once into `_RequestFlags`, kept on the settings
dict (`_Settings`) until it changes. Whether the access log is enabled is
read from the logger's own level cache, which logging empties on every
level change.
"""

from __future__ import annotations

import asyncio
import re
import socket
import string
import types
import urllib.parse
import zlib
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from inspect import isclass
from typing import Any, NamedTuple

from whirlwind import httputil
from whirlwind._web_decorators import _scheme_and_netloc
from whirlwind._web_handler import HTTPError, RequestHandler, _new_handler
from whirlwind._web_render import TemplateModule, UIModule, _linkify, _xsrf_form_html
from whirlwind._web_static import StaticFileHandler
from whirlwind.httputil import _server_request
from whirlwind.log import access_log
from whirlwind.routing import (
    AnyMatches,
    DefaultHostMatches,
    HostMatches,
    PathMatches,
    ReversibleRouter,
    ReversibleRuleRouter,
    Rule,
    _RuleList,
    _unquote_or_none,
)

__all__ = [
    "Application",
    "OutputTransform",
    "GZipContentEncoding",
    "RedirectHandler",
    "ErrorHandler",
    "FallbackHandler",
]


class OutputTransform:
    """Rewrites a response on its way out (e.g. compression).

    One instance is created per request; the first chunk comes with the
    status and headers, later ones alone. ``finishing`` is True for the last.
    """

    def __init__(self, request: httputil.HTTPServerRequest) -> None:
        pass

    def transform_first_chunk(
        self,
        status_code: int,
        headers: httputil.HTTPHeaders,
        chunk: bytes,
        finishing: bool,
    ) -> tuple[int, httputil.HTTPHeaders, bytes]:
        return status_code, headers, chunk

    def transform_chunk(self, chunk: bytes, finishing: bool) -> bytes:
        return chunk


class GZipContentEncoding(OutputTransform):
    """Gzips textual responses for clients that accept it
    (``compress_response=True``). Always adds ``Vary: Accept-Encoding``.

    Small complete responses (under `MIN_LENGTH` bytes) are left alone, as are
    responses that already carry a Content-Encoding.
    """

    CONTENT_TYPES = {
        "application/javascript",
        "application/x-javascript",
        "application/xml",
        "application/atom+xml",
        "application/json",
        "application/xhtml+xml",
        "image/svg+xml",
    }
    GZIP_LEVEL = 6
    MIN_LENGTH = 1024

    def __init__(self, request: httputil.HTTPServerRequest) -> None:
        self._gzipping = "gzip" in request.headers.get("Accept-Encoding", "")
        self._compressor: Any = None

    def _compressible_type(self, ctype: str) -> bool:
        return ctype.startswith("text/") or ctype in self.CONTENT_TYPES

    def transform_first_chunk(
        self,
        status_code: int,
        headers: httputil.HTTPHeaders,
        chunk: bytes,
        finishing: bool,
    ) -> tuple[int, httputil.HTTPHeaders, bytes]:
        if "Vary" in headers:
            headers["Vary"] += ", Accept-Encoding"
        else:
            headers["Vary"] = "Accept-Encoding"
        if self._gzipping:
            ctype = headers.get("Content-Type", "").split(";")[0]
            self._gzipping = (
                self._compressible_type(ctype)
                and (not finishing or len(chunk) >= self.MIN_LENGTH)
                and "Content-Encoding" not in headers
            )
        if self._gzipping:
            headers["Content-Encoding"] = "gzip"
            # wbits 16+15: a gzip container (header and CRC trailer).
            self._compressor = zlib.compressobj(self.GZIP_LEVEL, zlib.DEFLATED, 31)
            chunk = self.transform_chunk(chunk, finishing)
            if "Content-Length" in headers:
                if finishing:
                    headers["Content-Length"] = str(len(chunk))
                else:
                    del headers["Content-Length"]
        return status_code, headers, chunk

    def transform_chunk(self, chunk: bytes, finishing: bool) -> bytes:
        if self._gzipping:
            c = self._compressor
            chunk = c.compress(chunk) + c.flush(
                zlib.Z_FINISH if finishing else zlib.Z_SYNC_FLUSH
            )
        return chunk


class _ApplicationRouter(ReversibleRuleRouter):
    """The application's rule router: RequestHandler classes become
    `_HandlerDelegate` objects; nested rule lists become nested routers."""

    def __init__(
        self, application: Application, rules: _RuleList | None = None
    ) -> None:
        if not isinstance(application, Application):
            raise TypeError("_ApplicationRouter needs an Application")
        self.application = application
        super().__init__(rules)

    def process_rule(self, rule: Rule) -> Rule:
        rule = super().process_rule(rule)
        if isinstance(rule.target, (list, tuple)):
            rule.target = _ApplicationRouter(self.application, rule.target)  # type: ignore[arg-type]
        return rule

    def add_rules(self, rules: _RuleList) -> None:
        super().add_rules(rules)
        # Routes remembered by path may now resolve differently.
        routes = getattr(self.application, "_routes", None)
        if routes:
            routes.clear()

    def _route(self, path: str) -> _Route | None:
        """Routes ``path`` for the application's own delegate (`_AppDelegate`):
        the first matching rule, provided every rule up to it is a path
        regex routed to a `RequestHandler` class (a pure function of the
        path). None when another kind of rule comes first, or none matches:
        the caller then routes the generic way."""
        for rule in self.rules:
            matcher = rule.matcher
            target = rule.target
            if not (
                type(matcher) is PathMatches
                and isinstance(target, type)
                and issubclass(target, RequestHandler)
            ):
                return None
            m = matcher._match(path)
            if m is None:
                continue
            if not matcher.regex.groups:
                return _Route(target, rule.target_kwargs, (), None)
            if matcher._named:
                kw = {str(k): _unquote_or_none(v) for k, v in m.groupdict().items()}
                return _Route(target, rule.target_kwargs, (), kw)
            args = tuple([_unquote_or_none(v) for v in m.groups()])
            return _Route(target, rule.target_kwargs, args, None)  # type: ignore[arg-type]
        return None

    def find_handler(
        self, request: httputil.HTTPServerRequest, **kwargs: Any
    ) -> httputil.HTTPMessageDelegate | None:
        # Fast path for the common rule, a path regex routed to a handler
        # class: one compiled-regex call per rule, and no parameter dicts for
        # routes without groups. Other rules take the generic route.
        path = request.path
        for rule in self.rules:
            matcher = rule.matcher
            target = rule.target
            if (
                type(matcher) is PathMatches
                and isinstance(target, type)  # inspect.isclass, without a call
                and issubclass(target, RequestHandler)
            ):
                m = matcher._match(path)
                if m is None:
                    continue
                args: list[bytes | None] | None = None
                kw: dict[str, bytes | None] | None = None
                if matcher.regex.groups:
                    if matcher._named:
                        kw = {
                            str(k): _unquote_or_none(v)
                            for k, v in m.groupdict().items()
                        }
                    else:
                        args = [_unquote_or_none(v) for v in m.groups()]
                app = self.application
                if type(app).get_handler_delegate is _base_get_handler_delegate:
                    return _HandlerDelegate(
                        app,
                        request,
                        target,
                        rule.target_kwargs,
                        args,  # type: ignore[arg-type]
                        kw,  # type: ignore[arg-type]
                    )
                return app.get_handler_delegate(
                    request,
                    target,
                    rule.target_kwargs,
                    args,  # type: ignore[arg-type]
                    kw,  # type: ignore[arg-type]
                )
            params = matcher.match(request)
            if params is None:
                continue
            if rule.target_kwargs:
                params["target_kwargs"] = rule.target_kwargs
            delegate = self.get_target_delegate(target, request, **params)
            if delegate is not None:
                return delegate
        return None

    def get_target_delegate(
        self, target: Any, request: httputil.HTTPServerRequest, **target_params: Any
    ) -> httputil.HTTPMessageDelegate | None:
        if isclass(target) and issubclass(target, RequestHandler):
            return self.application.get_handler_delegate(
                request, target, **target_params
            )
        return super().get_target_delegate(target, request, **target_params)


class _Route(NamedTuple):
    """Where `_ApplicationRouter._route` sends a path."""

    handler_class: type[RequestHandler]
    kwargs: dict[str, Any]
    args: tuple[bytes, ...]
    kw: dict[str, bytes | None] | None


# Shared by every request of an application without output transforms.
_NO_TRANSFORMS: Any = ()

# Routes of paths seen before, per application: bounded (paths that carry
# ids would otherwise fill it), and only routes without path arguments.
_ROUTE_CACHE_MAX = 1024


class _Settings(dict):  # type: ignore[type-arg]
    """``Application.settings``: a dict that remembers the few values the
    request path consults (`_RequestFlags`) until it is changed."""

    __slots__ = ("_flags",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._flags: _RequestFlags | None = None

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._flags = None

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._flags = None

    def __ior__(self, other: Any) -> _Settings:  # type: ignore[override,misc]
        super().__ior__(other)
        self._flags = None
        return self

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self._flags = None

    def setdefault(self, key: str, default: Any = None) -> Any:
        self._flags = None
        return super().setdefault(key, default)

    def pop(self, *args: Any) -> Any:
        self._flags = None
        return super().pop(*args)

    def popitem(self) -> tuple[Any, Any]:
        self._flags = None
        return super().popitem()

    def clear(self) -> None:
        super().clear()
        self._flags = None

    def __reduce__(self) -> Any:
        return (_Settings, (dict(self),))


class _RequestFlags(NamedTuple):
    """What each request needs from the settings."""

    reset_templates: bool  # compiled_template_cache=False
    reset_static: Any  # the static handler class when static_hash_cache=False
    log_function: Any


def _request_flags(settings: dict[str, Any]) -> _RequestFlags:
    flags = _RequestFlags(
        not settings.get("compiled_template_cache", True),
        None
        if settings.get("static_hash_cache", True)
        else settings.get("static_handler_class", StaticFileHandler),
        settings.get("log_function"),
    )
    if type(settings) is _Settings:
        settings._flags = flags
    return flags


def _ui_items(setting: Any) -> Iterator[tuple[str, Any]]:
    """The ``(name, value)`` pairs of a ``ui_methods``/``ui_modules`` setting:
    a module, a dict, or a list of either (nested lists too)."""
    if isinstance(setting, types.ModuleType):
        yield from [(n, getattr(setting, n)) for n in dir(setting)]
    elif isinstance(setting, list):
        for item in setting:
            yield from _ui_items(item)
    else:
        yield from setting.items()


class Application(ReversibleRouter):
    """A web application: routes plus settings.

    ::

        app = Application([
            (r"/", MainHandler),
            url(r"/story/([0-9]+)", StoryHandler, dict(db=db), name="story"),
        ], cookie_secret="...", template_path="templates")
        app.listen(8888)

    Each rule is ``(regex, handler_class[, kwargs[, name]])``, a `URLSpec`, a
    `Rule`, or a nested list/router. Keyword arguments become ``settings``
    (readable by handlers as ``self.settings``); the documented ones change
    behaviour, and any others are the application's own.
    """

    def __init__(
        self,
        handlers: _RuleList | None = None,
        default_host: str | None = None,
        transforms: list[type[OutputTransform]] | None = None,
        **settings: Any,
    ) -> None:
        if transforms is None:
            self.transforms: list[type[OutputTransform]] = []
            if settings.get("compress_response") or settings.get("gzip"):
                self.transforms.append(GZipContentEncoding)
        else:
            self.transforms = transforms
        self.default_host = default_host
        settings = _Settings(settings)
        self.settings: dict[str, Any] = settings
        self._routes: dict[str, _Route] = {}
        self._routes_len = 0
        self.ui_modules: dict[str, type[UIModule]] = {
            "linkify": _linkify,
            "xsrf_form_html": _xsrf_form_html,
            "Template": TemplateModule,
        }
        self.ui_methods: dict[str, Callable[..., str]] = {}
        self._load_ui_modules(settings.get("ui_modules", {}))
        self._load_ui_methods(settings.get("ui_methods", {}))
        if settings.get("static_path"):
            handlers = list(handlers or [])
            prefix = settings.get("static_url_prefix", "/static/")
            static_class = settings.get("static_handler_class", StaticFileHandler)
            static_args = settings.get("static_handler_args", {})
            static_args["path"] = settings["static_path"]
            for pattern in (
                re.escape(prefix) + "(.*)",
                r"/(favicon\.ico)",
                r"/(robots\.txt)",
            ):
                handlers.insert(0, (pattern, static_class, static_args))
        if settings.get("debug"):
            settings.setdefault("autoreload", True)
            settings.setdefault("compiled_template_cache", False)
            settings.setdefault("static_hash_cache", False)
            settings.setdefault("serve_traceback", True)
        self.wildcard_router = _ApplicationRouter(self, handlers)
        self.default_router = _ApplicationRouter(
            self, [Rule(AnyMatches(), self.wildcard_router)]
        )
        cls = type(self)
        # Requests take the fused delegate and the route cache unless a
        # subclass changed how routing works.
        self._direct_routing = (
            cls.find_handler is Application.find_handler
            and cls.get_handler_delegate is _base_get_handler_delegate
        )
        if cls.start_request is Application.start_request:
            # One C-level call per request instead of a method frame.
            self.start_request = partial(_AppDelegate, self)  # type: ignore[method-assign]
        if settings.get("autoreload"):
            from whirlwind import autoreload

            autoreload.start()

    def listen(
        self,
        port: int,
        address: str | None = None,
        *,
        family: socket.AddressFamily = socket.AF_UNSPEC,
        backlog: int | None = None,
        flags: int | None = None,
        reuse_port: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Starts an `HTTPServer` for this application on ``port``.

        Extra keyword arguments go to the `HTTPServer` (e.g. ``xheaders``,
        ``max_body_size``). Returns the server; the IOLoop must be running
        (or be started) for it to serve.
        """
        from whirlwind.httpserver import HTTPServer

        server = HTTPServer(self, **kwargs)
        listen_kwargs: dict[str, Any] = {
            "address": address,
            "family": family,
            "flags": flags,
            "reuse_port": reuse_port,
        }
        if backlog is not None:
            listen_kwargs["backlog"] = backlog
        server.listen(port, **listen_kwargs)
        return server

    def add_handlers(self, host_pattern: str, host_handlers: _RuleList) -> None:
        """Adds rules that apply only to hosts matching ``host_pattern``.

        Host rules are tried in the order added, before the wildcard rules.
        """
        matcher = HostMatches(host_pattern)
        self.default_router.rules.insert(
            -1, Rule(matcher, _ApplicationRouter(self, host_handlers))
        )
        self._routes.clear()
        if self.default_host is not None:
            self.wildcard_router.add_rules(
                [(DefaultHostMatches(self, matcher.host_pattern), host_handlers)]
            )

    def add_transform(self, transform_class: type[OutputTransform]) -> None:
        """Appends an `OutputTransform` class applied to every response."""
        self.transforms.append(transform_class)

    def _load_ui_methods(self, methods: Any) -> None:
        for name, fn in _ui_items(methods):
            if not name.startswith("_") and callable(fn) and name[0].lower() == name[0]:
                self.ui_methods[name] = fn

    def _load_ui_modules(self, modules: Any) -> None:
        for name, cls in _ui_items(modules):
            if isclass(cls) and issubclass(cls, UIModule):
                self.ui_modules[name] = cls

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        return _AppDelegate(self, server_conn, request_conn)

    def __call__(self, request: httputil.HTTPServerRequest) -> Awaitable[None] | None:
        """Handles a complete request (the plain-callable server interface)."""
        return self.find_handler(request).execute()

    def find_handler(
        self, request: httputil.HTTPServerRequest, **kwargs: Any
    ) -> _HandlerDelegate:
        rules = self.default_router.rules
        if len(rules) == 1 and rules[0].target is self.wildcard_router:
            # No host-specific handlers: skip the catch-all host level.
            route = self.wildcard_router.find_handler(request)
        else:
            route = self.default_router.find_handler(request)
        if route is not None:
            return route  # type: ignore[return-value]
        settings = self.settings
        if settings.get("default_handler_class"):
            return self.get_handler_delegate(
                request,
                settings["default_handler_class"],
                settings.get("default_handler_args", {}),
            )
        return self.get_handler_delegate(request, ErrorHandler, {"status_code": 404})

    def get_handler_delegate(
        self,
        request: httputil.HTTPServerRequest,
        target_class: type[RequestHandler],
        target_kwargs: dict[str, Any] | None = None,
        path_args: list[bytes] | None = None,
        path_kwargs: dict[str, bytes] | None = None,
    ) -> _HandlerDelegate:
        """Builds the delegate that runs ``target_class`` for ``request``."""
        return _HandlerDelegate(
            self, request, target_class, target_kwargs, path_args, path_kwargs
        )

    def reverse_url(self, name: str, *args: Any) -> str:
        """The URL of the handler named ``name``, with ``args`` filling its
        groups (URL-escaped). Raises KeyError for an unknown name."""
        url = self.default_router.reverse_url(name, *args)
        if url is None:
            raise KeyError(f"{name} not found in named urls")
        return url

    def log_request(self, handler: RequestHandler) -> None:
        """Writes the access log line: INFO below 400, WARNING for 4xx, ERROR
        for 5xx. The ``log_function`` setting replaces it."""
        settings = self.settings
        flags = (
            settings._flags if settings.__class__ is _Settings else None  # type: ignore[attr-defined]
        ) or _request_flags(settings)
        if flags.log_function is not None:
            flags.log_function(handler)
            return
        status = (
            handler._status_code
            if type(handler).get_status is _base_get_status
            else handler.get_status()
        )
        level = 20 if status < 400 else 30 if status < 500 else 40
        # Skip formatting entirely when nobody listens (the common benchmark
        # case). logging keeps the answer per logger and level and empties
        # that cache on every level change or disable(): read it directly.
        enabled = _access_enabled.get(level)
        if enabled is None:
            enabled = access_log.isEnabledFor(level)
        if enabled:
            log = (
                access_log.info
                if level == 20
                else access_log.warning
                if level == 30
                else access_log.error
            )
            log(
                "%d %s %.2fms",
                status,
                handler._request_summary(),
                1000.0 * handler.request.request_time(),
            )


# Routing builds _HandlerDelegate directly unless a subclass overrides this.
_base_get_handler_delegate = Application.get_handler_delegate
_base_get_status = RequestHandler.get_status
# logging's per-logger cache of isEnabledFor answers (level -> bool), cleared
# in place whenever levels change; an empty dict when logging has none.
_cache: Any = getattr(access_log, "_cache", None)
_access_enabled: dict[int, bool] = _cache if type(_cache) is dict else {}
del _cache

# Tasks for requests that must wait; held here so they are not collected
# while suspended.
_running: set[asyncio.Future[Any]] = set()


def _task_done(task: asyncio.Future[Any]) -> None:
    _running.discard(task)
    if not task.cancelled():
        task.result()  # re-raises into the loop's handler if something escaped


class _HandlerDelegate(httputil.HTTPMessageDelegate):
    """Feeds one request to a new handler instance (see the module docstring)."""

    __slots__ = (
        "application",
        "connection",
        "request",
        "handler_class",
        "handler_kwargs",
        "path_args",
        "path_kwargs",
        "chunks",
        "stream_request_body",
        "handler",
    )

    def __init__(
        self,
        application: Application,
        request: httputil.HTTPServerRequest,
        handler_class: type[RequestHandler],
        handler_kwargs: dict[str, Any] | None,
        path_args: list[bytes] | None,
        path_kwargs: dict[str, bytes] | None,
    ) -> None:
        self.application = application
        self.connection = request.connection
        self.request = request
        self.handler_class = handler_class
        self.handler_kwargs = handler_kwargs or {}
        self.path_args = path_args or []
        self.path_kwargs = path_kwargs or {}
        self.chunks: list[bytes] | None = []
        self.stream_request_body = handler_class._stream_request_body
        self.handler: RequestHandler | None = None

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        if self.stream_request_body:
            self.request._body_future = asyncio.get_running_loop().create_future()  # type: ignore[attr-defined]
            return self.execute()
        return None

    def data_received(self, data: bytes) -> Awaitable[None] | None:
        if self.stream_request_body:
            assert self.handler is not None
            return self.handler.data_received(data)
        if self.chunks is not None:
            self.chunks.append(data)
        return None

    def finish(self) -> Awaitable[None] | None:  # type: ignore[override]
        if self.stream_request_body:
            fut = self.request._body_future  # type: ignore[attr-defined]
            if not fut.done():
                fut.set_result(None)
            return None
        chunks = self.chunks or ()
        self.request.body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        # whirlwind's HTTP/1 connection awaits what finish() returns inside its
        # own task, so an async handler needs no Task of its own.
        return self._start(inline=True)

    def on_connection_close(self) -> None:
        if self.stream_request_body:
            if self.handler is not None:
                self.handler.on_connection_close()
        else:
            self.chunks = None

    def execute(self) -> Awaitable[None] | None:
        """Runs the handler; returns the future a streaming handler's
        ``prepare()`` resolves (None otherwise)."""
        self._start(inline=False)
        return self.handler._prepared_future  # type: ignore[union-attr]

    def _start(self, inline: bool) -> Awaitable[None] | None:
        """Creates the handler and runs it inline as far as it goes. The
        remainder, if any, is returned (``inline``) or scheduled as a Task."""
        app = self.application
        settings = app.settings
        if not settings.get("compiled_template_cache", True):
            with RequestHandler._template_loader_lock:
                for loader in RequestHandler._template_loaders.values():
                    loader.reset()
        if not settings.get("static_hash_cache", True):
            settings.get("static_handler_class", StaticFileHandler).reset()
        handler = self.handler = self.handler_class(
            app, self.request, **self.handler_kwargs
        )
        transforms = [t(self.request) for t in app.transforms] if app.transforms else []
        if self.stream_request_body:
            handler._prepared_future = asyncio.get_running_loop().create_future()
        rest = handler._execute(transforms, *self.path_args, **self.path_kwargs)
        if rest is None or inline:
            return rest
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            # e.g. under a WSGI server: nothing could ever resume the handler.
            # Close the unstarted remainder and the coroutine it would await.
            frame = getattr(rest, "cr_frame", None)
            pending = frame.f_locals.get("pending") if frame is not None else None
            rest.close()  # type: ignore[attr-defined]
            close = getattr(pending, "close", None)
            if close is not None:
                close()
            raise RuntimeError(
                f"{self.handler_class.__name__} did not finish synchronously "
                "and no event loop is running"
            ) from None
        task: asyncio.Future[Any] = loop.create_task(rest)  # type: ignore[arg-type]
        _running.add(task)
        task.add_done_callback(_task_done)
        return None


class _AppDelegate(_HandlerDelegate):
    """The one delegate per request that `Application.start_request` hands
    the HTTP connection: it builds the request, routes it itself (through
    the per-application route cache) and runs the handler, instead of a
    routing delegate that creates a `_HandlerDelegate`. Applications whose
    routing a subclass changed, host rules, and rules that are not plain
    path-to-handler routes go through `Application.find_handler` and the
    delegate it returns (``inner``)."""

    __slots__ = ("server_conn", "inner", "route")

    def __init__(
        self,
        application: Application,
        server_conn: object,
        connection: httputil.HTTPConnection,
    ) -> None:
        self.application = application
        self.server_conn = server_conn
        self.connection = connection
        self.inner: httputil.HTTPMessageDelegate | None = None
        self.handler = None
        self.chunks = None
        # Read by on_connection_close even when headers_received failed.
        self.stream_request_body = False

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        app = self.application
        request = self.request = _server_request(
            self.connection,  # type: ignore[arg-type]
            self.server_conn,
            start_line,  # type: ignore[arg-type]
            headers,
        )
        route = None
        if app._direct_routing:
            rules = app.default_router.rules
            wildcard = app.wildcard_router
            if len(rules) == 1 and rules[0].target is wildcard:
                routes = app._routes
                n = len(wildcard.rules)
                if n != app._routes_len:
                    # The rule list was changed in place: forget it all.
                    routes.clear()
                    app._routes_len = n
                path = request.path
                route = routes.get(path)
                if route is None:
                    route = wildcard._route(path)
                    if (
                        route is not None
                        and not route.args
                        and route.kw is None
                        and len(routes) < _ROUTE_CACHE_MAX
                    ):
                        routes[path] = route
        if route is None:
            inner = self.inner = app.find_handler(request)
            return inner.headers_received(start_line, headers)
        cls = route[0]
        if cls._stream_request_body:
            # Rare: fill in what the inherited execute() reads.
            self.handler_class = cls
            self.handler_kwargs = route.kwargs
            self.path_args = route.args  # type: ignore[assignment]
            self.path_kwargs = route.kw or {}  # type: ignore[assignment]
            self.stream_request_body = True
            request._body_future = asyncio.get_running_loop().create_future()  # type: ignore[attr-defined]
            return self.execute()
        self.route = route
        return None

    def data_received(self, data: bytes) -> Awaitable[None] | None:
        inner = self.inner
        if inner is not None:
            return inner.data_received(data)
        if self.stream_request_body:
            assert self.handler is not None
            return self.handler.data_received(data)
        chunks = self.chunks
        if chunks is None:
            self.chunks = [data]
        else:
            chunks.append(data)
        return None

    def finish(self) -> Awaitable[None] | None:  # type: ignore[override]
        inner = self.inner
        if inner is not None:
            return inner.finish()
        if self.stream_request_body:
            fut = self.request._body_future  # type: ignore[attr-defined]
            if not fut.done():
                fut.set_result(None)
            return None
        request = self.request
        chunks = self.chunks
        if chunks:
            request.body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        app = self.application
        settings = app.settings
        flags = (
            settings._flags if settings.__class__ is _Settings else None  # type: ignore[attr-defined]
        ) or _request_flags(settings)
        if flags.reset_templates:
            with RequestHandler._template_loader_lock:
                for loader in RequestHandler._template_loaders.values():
                    loader.reset()
        if flags.reset_static is not None:
            flags.reset_static.reset()
        cls, kwargs, args, kw = self.route
        handler = self.handler = _new_handler(cls, app, request, kwargs)
        transforms = app.transforms
        # whirlwind's HTTP/1 connection awaits what finish() returns inside
        # its own task, so an async handler needs no Task of its own.
        if kw is None:
            return handler._execute(
                [t(request) for t in transforms] if transforms else _NO_TRANSFORMS,
                *args,
            )
        return handler._execute(
            [t(request) for t in transforms] if transforms else _NO_TRANSFORMS,
            *args,
            **kw,  # type: ignore[arg-type]
        )

    def on_connection_close(self) -> None:
        inner = self.inner
        if inner is not None:
            inner.on_connection_close()
        elif self.stream_request_body:
            if self.handler is not None:
                self.handler.on_connection_close()
        else:
            self.chunks = None


class ErrorHandler(RequestHandler):
    """Answers every request with ``status_code`` (the 404 of unknown URLs)."""

    def initialize(self, status_code: int) -> None:
        self.set_status(status_code)

    def prepare(self) -> None:
        raise HTTPError(self._status_code)

    def check_xsrf_cookie(self) -> None:
        # Unknown URLs should get their 404, not an XSRF 403.
        pass

    def check_trusted_origin(self, origin: str) -> bool:
        return True


_FORBIDDEN_URL_CHARS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class RedirectHandler(RequestHandler):
    """Redirects every GET to ``url`` (301 unless ``permanent=False``).

    ``url`` may hold `str.format` fields filled from the path groups, e.g.
    ``(r"/pictures/(.*)", RedirectHandler, {"url": "/photos/{0}"})``. The
    request's query string is carried over. A substitution may not change
    the URL's scheme or host (400): that would make an open redirect.
    """

    def initialize(self, url: str, permanent: bool = True) -> None:
        self._url = url
        self._permanent = permanent

    def get(self, *args: Any, **kwargs: Any) -> None:
        target = self._url.format(*args, **kwargs)
        prefix = ""
        substituted = False
        for literal, field, _, _ in string.Formatter().parse(self._url):
            prefix += literal
            if field is not None:
                substituted = True
                break
        try:
            if self.request.query_arguments:
                target = _append_query(target, self.request.query_arguments)
            scheme, netloc = _scheme_and_netloc(prefix)
            same = _scheme_and_netloc(target) == (scheme, netloc)
            if substituted and scheme in ("http", "https") and not netloc:
                # "http:{0}" lets the substitution choose the host.
                same = False
        except ValueError:
            same = False
        if not same:
            raise HTTPError(400, "Redirect URL cannot change the scheme or netloc")
        if _FORBIDDEN_URL_CHARS.search(target):
            raise HTTPError(400, "Redirect URL contains invalid characters")
        self.redirect(target, permanent=self._permanent)


def _append_query(url: str, arguments: dict[str, list[bytes]]) -> str:
    pairs = [(k, v) for k, values in arguments.items() for v in values]
    parts = urllib.parse.urlparse(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    merged = urllib.parse.urlencode(query + pairs)  # type: ignore[operator]
    return urllib.parse.urlunparse(parts._replace(query=merged))


class FallbackHandler(RequestHandler):
    """Hands the request to another server callable (e.g. a WSGIContainer)::

    (r".*", FallbackHandler, dict(fallback=wsgi_app))
    """

    def initialize(
        self, fallback: Callable[[httputil.HTTPServerRequest], None]
    ) -> None:
        self.fallback = fallback

    def prepare(self) -> None:
        self.fallback(self.request)
        self._finished = True
        self.on_finish()
