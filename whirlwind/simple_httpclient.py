"""The default `.AsyncHTTPClient`: HTTP/1.1 over whirlwind streams, no dependencies.

Contents:

* `SimpleAsyncHTTPClient`: queues requests beyond ``max_clients``, follows
  redirects, decodes gzip (bounded by ``max_body_size``), supports Basic
  auth, TLS, ``body_producer``, ``streaming_callback``, ``header_callback``
  and ``expect_100_continue``, and keeps connections alive for reuse (at
  most ``max_idle_per_host`` idle connections per origin, each idle at most
  ``idle_timeout`` seconds).  Proxies are not supported.
* `HTTPTimeoutError`, `HTTPStreamClosedError`: the 599 errors.

Theory of operation: each request is one `_HTTPConnection` coroutine.  It
takes an idle connection for the request's origin (scheme, host, port and
TLS settings) from the pool, or opens one with `.TCPClient`, writes the
request with an `.HTTP1Connection` and reads the answer into itself (it is
the `.HTTPMessageDelegate`).  When the answer allows keep-alive and was read
completely the stream goes back to the pool; otherwise it is closed.  A
request that fails on a reused connection before any answer arrived (the
server closed it meanwhile) is retried once on a fresh connection.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import copy
import functools
import socket
import ssl
import sys
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from io import BytesIO
from typing import Any

from whirlwind import httputil, version
from whirlwind.http1connection import HTTP1Connection, HTTP1ConnectionParameters
from whirlwind.httpclient import (
    AsyncHTTPClient,
    HTTPClientError,
    HTTPRequest,
    HTTPResponse,
    _RequestProxy,
)
from whirlwind.iostream import IOStream, StreamClosedError
from whirlwind.log import gen_log
from whirlwind.netutil import OverrideResolver, Resolver, is_valid_ip
from whirlwind.tcpclient import TCPClient

__all__ = ["HTTPStreamClosedError", "HTTPTimeoutError", "SimpleAsyncHTTPClient"]

_USER_AGENT = f"whirlwind/{version}"
_SUPPORTED_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}
)


class HTTPTimeoutError(HTTPClientError):
    """A request timed out (code 599)."""

    def __init__(self, message: str) -> None:
        super().__init__(599, message=message)

    def __str__(self) -> str:
        return self.message or "Timeout"


class HTTPStreamClosedError(HTTPClientError):
    """The connection closed before the response was complete (code 599)."""

    def __init__(self, message: str) -> None:
        super().__init__(599, message=message)

    def __str__(self) -> str:
        return self.message or "Stream closed"


class SimpleAsyncHTTPClient(AsyncHTTPClient):
    """An HTTP/1.1 client on whirlwind's streams.

    :arg max_clients: requests in progress at once; more are queued (the
        wait counts against their timeouts).
    :arg hostname_mapping: host name -> address overrides (tests, staging).
    :arg max_buffer_size: the stream read buffer limit (default 100 MiB).
    :arg resolver: a `.Resolver` to use.
    :arg defaults: default `.HTTPRequest` arguments.
    :arg max_header_size: the largest response head.
    :arg max_body_size: the largest response body, after decompression.
    :arg max_idle_per_host: idle keep-alive connections kept per origin
        (default ``max_clients``, so a full batch of concurrent requests
        finds its connections again).
    :arg idle_timeout: seconds an idle connection may wait for reuse.
    """

    def initialize(  # type: ignore[override]
        self,
        max_clients: int = 10,
        hostname_mapping: dict[str, str] | None = None,
        max_buffer_size: int = 104857600,
        resolver: Resolver | None = None,
        defaults: dict[str, Any] | None = None,
        max_header_size: int | None = None,
        max_body_size: int | None = None,
        max_idle_per_host: int | None = None,
        idle_timeout: float = 30.0,
    ) -> None:
        super().initialize(defaults=defaults)
        self.max_clients = max_clients
        self.queue: collections.deque[
            tuple[object, HTTPRequest, Callable[[HTTPResponse], None]]
        ] = collections.deque()
        self.active: dict[
            object, tuple[HTTPRequest, Callable[[HTTPResponse], None]]
        ] = {}
        self.waiting: dict[
            object, tuple[HTTPRequest, Callable[[HTTPResponse], None], Any]
        ] = {}
        self.max_buffer_size = max_buffer_size
        self.max_header_size = max_header_size
        self.max_body_size = max_body_size
        self.max_idle_per_host = (
            max_clients if max_idle_per_host is None else max_idle_per_host
        )
        self.idle_timeout = idle_timeout
        # origin key -> idle streams with the loop time they became idle.
        self._idle: dict[tuple[Any, ...], list[tuple[IOStream, float]]] = {}
        if resolver:
            self.resolver = resolver
            self.own_resolver = False
        else:
            self.resolver = Resolver()
            self.own_resolver = True
        if hostname_mapping is not None:
            self.resolver = OverrideResolver(
                resolver=self.resolver, mapping=hostname_mapping
            )
        self.tcp_client = TCPClient(resolver=self.resolver)

    def close(self) -> None:
        super().close()
        for streams in self._idle.values():
            for stream, _ in streams:
                stream.close()
        self._idle.clear()
        if self.own_resolver:
            self.resolver.close()
        self.tcp_client.close()

    def fetch_impl(
        self, request: HTTPRequest, callback: Callable[[HTTPResponse], None]
    ) -> None:
        key = object()
        if not self.queue and len(self.active) < self.max_clients:
            # A free slot and nobody waiting: start at once, skipping the
            # queue and the queue timeout.
            self.active[key] = (request, callback)
            self._handle_request(
                request, functools.partial(self._release_fetch, key), callback
            )
            return
        self.queue.append((key, request, callback))
        timeout_handle = None
        if len(self.active) >= self.max_clients:
            timeout = _first_timeout(request)
            if timeout:
                timeout_handle = self.io_loop.call_later(
                    timeout,
                    functools.partial(self._on_timeout, key, "in request queue"),
                )
        self.waiting[key] = (request, callback, timeout_handle)
        self._process_queue()
        if self.queue:
            gen_log.debug(
                "max_clients limit reached, request queued. %d active, %d queued requests.",
                len(self.active),
                len(self.queue),
            )

    def _process_queue(self) -> None:
        while self.queue and len(self.active) < self.max_clients:
            key, request, callback = self.queue.popleft()
            if key not in self.waiting:
                continue
            self._remove_timeout(key)
            self.active[key] = (request, callback)
            release_callback = functools.partial(self._release_fetch, key)
            self._handle_request(request, release_callback, callback)

    def _connection_class(self) -> type:
        return _HTTPConnection

    def _handle_request(
        self,
        request: HTTPRequest,
        release_callback: Callable[[], None],
        final_callback: Callable[[HTTPResponse], None],
    ) -> None:
        self._connection_class()(
            self,
            request,
            release_callback,
            final_callback,
            self.max_buffer_size,
            self.tcp_client,
            self.max_header_size,
            self.max_body_size,
        )

    def _release_fetch(self, key: object) -> None:
        del self.active[key]
        self._process_queue()

    def _remove_timeout(self, key: object) -> None:
        if key in self.waiting:
            _, _, timeout_handle = self.waiting.pop(key)
            if timeout_handle is not None:
                self.io_loop.remove_timeout(timeout_handle)

    def _on_timeout(self, key: object, info: str | None = None) -> None:
        request, callback, _ = self.waiting[key]
        self.queue.remove((key, request, callback))
        error_message = f"Timeout {info}" if info else "Timeout"
        response = HTTPResponse(
            request,
            599,
            error=HTTPTimeoutError(error_message),
            request_time=self.io_loop.time() - request.start_time,
        )
        self.io_loop.add_callback(callback, response)
        del self.waiting[key]

    # -- connection pool ------------------------------------------------------

    def _checkout(self, origin: tuple[Any, ...]) -> IOStream | None:
        streams = self._idle.get(origin)
        now = self.io_loop.time()
        while streams:
            stream, since = streams.pop()
            if (
                not stream.closed()
                and now - since < self.idle_timeout
                and not stream._read_buffer_size  # unsolicited bytes: unusable
            ):
                stream.set_close_callback(None)
                return stream
            stream.close()
        return None

    def _checkin(self, origin: tuple[Any, ...], stream: IOStream) -> None:
        if self._closed or stream.closed():
            stream.close()
            return
        streams = self._idle.setdefault(origin, [])
        if len(streams) >= self.max_idle_per_host:
            stream.close()
            return
        entry = (stream, self.io_loop.time())
        streams.append(entry)

        def forget() -> None:
            # The server closed an idle connection.
            if entry in streams:
                streams.remove(entry)

        # With a close callback set the stream keeps reading, so a server
        # that closes an idle connection is noticed at once.
        stream.set_close_callback(forget)


class _HTTPConnection(httputil.HTTPMessageDelegate):
    def __init__(
        self,
        client: SimpleAsyncHTTPClient | None,
        request: HTTPRequest,
        release_callback: Callable[[], None],
        final_callback: Callable[[HTTPResponse], None],
        max_buffer_size: int,
        tcp_client: TCPClient,
        max_header_size: int | None,
        max_body_size: int | None,
    ) -> None:
        self.io_loop = client.io_loop if client is not None else None
        self._loop = loop = asyncio.get_event_loop()
        self.start_time = loop.time()
        self.start_wall_time = time.time()
        self.client = client
        self.request = request
        self.release_callback: Callable[[], None] | None = release_callback
        self.final_callback: Callable[[HTTPResponse], None] | None = final_callback
        self.max_buffer_size = max_buffer_size
        self.tcp_client = tcp_client
        self.max_header_size = max_header_size
        self.max_body_size = max_body_size
        self.code: int | None = None
        self.reason: str | None = None
        self.headers: httputil.HTTPHeaders | None = None
        self.chunks: list[bytes] = []
        self.stream: IOStream | None = None
        self.connection: HTTP1Connection | None = None
        self._timeout: asyncio.TimerHandle | None = None
        self._origin: tuple[Any, ...] = ()
        self._reused = False
        self._got_headers = False
        self._redirecting = False  # set by headers_received
        self._attempt = 0
        loop.create_task(self.run())

    # -- request ---------------------------------------------------------------

    async def run(self) -> None:
        try:
            await self._run()
        except Exception:
            if not self._handle_exception(*sys.exc_info()):
                # Logged here rather than by a done callback on every task.
                gen_log.error("Error in HTTP client request", exc_info=True)

    async def _run(self) -> None:
        request = self.request
        self.parsed = parsed = urllib.parse.urlsplit(request.url)
        host, port = _host_and_port(parsed.scheme, parsed.netloc, request.url)
        self.parsed_hostname = host
        if (
            request.method not in _SUPPORTED_METHODS
            and not request.allow_nonstandard_methods
        ):
            raise KeyError(f"unknown method {request.method}")
        for key in (
            "proxy_host",
            "proxy_port",
            "proxy_username",
            "proxy_password",
            "proxy_auth_mode",
        ):
            if getattr(request, key, None):
                raise NotImplementedError(f"{key} not supported")
        self._origin = (
            self.parsed.scheme,
            host,
            port,
            request.validate_cert,
            request.ca_certs,
            request.client_cert,
            request.client_key,
            request.ssl_options is None,
            request.allow_ipv6,
            request.network_interface,
        )
        timeout = _first_timeout(request)
        if request.request_timeout:
            self._timeout = self._loop.call_at(
                self.start_time + request.request_timeout,
                functools.partial(self._on_timeout, "during request"),
            )
        stream = None
        if self.client is not None and request.ssl_options is None:
            stream = self.client._checkout(self._origin)
        self._reused = stream is not None
        if stream is None:
            ssl_options = self._get_ssl_options(self.parsed.scheme)
            stream = await self._connect(host, port, ssl_options, timeout)
            if stream is None:
                return
        await self._exchange(stream)

    async def _connect(
        self, host: str, port: int, ssl_options: Any, timeout: float
    ) -> IOStream | None:
        request = self.request
        af = socket.AF_INET if request.allow_ipv6 is False else socket.AF_UNSPEC
        source_ip = None
        if request.network_interface:
            if not is_valid_ip(request.network_interface):
                raise ValueError(
                    "Unrecognized IPv4 or IPv6 address for network_interface, "
                    f"got {request.network_interface!r}"
                )
            source_ip = request.network_interface
        loop = self._loop
        try:
            stream = await self.tcp_client.connect(
                host,
                port,
                af=af,
                ssl_options=ssl_options,
                max_buffer_size=self.max_buffer_size,
                source_ip=source_ip,
                timeout=(self.start_time + timeout - loop.time()) if timeout else None,
            )
        except asyncio.TimeoutError as e:
            raise HTTPTimeoutError(str(e) or "Timeout while connecting") from None
        if self.final_callback is None:
            # Timed out while connecting.
            stream.close()
            return None
        # Requests go out in a few writes (head, body): never wait for
        # Nagle's algorithm.  Set once per connection; reused ones keep it.
        stream.set_nodelay(True)
        return stream

    async def _exchange(self, stream: IOStream) -> None:
        request = self.request
        self.stream = stream
        stream.set_close_callback(self.on_connection_close)
        headers = request.headers
        # Headers this client sets under their normalised names go straight
        # into HTTPHeaders' dict (no name normalising per fetch).
        hd = headers._d if headers.__class__ is httputil.HTTPHeaders else headers
        if "Host" not in hd:
            netloc = self.parsed.netloc
            hd["Host"] = netloc.rpartition("@")[2] if "@" in netloc else netloc
        username, password = None, None
        if "@" in self.parsed.netloc and self.parsed.username is not None:
            username = urllib.parse.unquote(self.parsed.username)
            password = urllib.parse.unquote(self.parsed.password or "")
        elif request.auth_username is not None:
            username = request.auth_username
            password = request.auth_password or ""
        if username is not None:
            assert password is not None
            if request.auth_mode not in (None, "basic"):
                raise ValueError(f"unsupported auth_mode {request.auth_mode}")
            token = base64.b64encode(
                httputil.encode_username_password(username, password)
            )
            headers["Authorization"] = "Basic " + token.decode("ascii")
        if request.user_agent:
            headers["User-Agent"] = request.user_agent
        elif "User-Agent" not in hd:
            hd["User-Agent"] = _USER_AGENT
        if not request.allow_nonstandard_methods:
            body_expected = request.method in ("POST", "PATCH", "PUT")
            body_present = request.body is not None or request.body_producer is not None
            if body_expected != body_present:
                raise ValueError(
                    "Body must {}be None for method {} (unless "
                    "allow_nonstandard_methods is true)".format(
                        "not " if body_expected else "", request.method
                    )
                )
        if request.expect_100_continue:
            headers["Expect"] = "100-continue"
        if request.body is not None:
            headers["Content-Length"] = str(len(request.body))
        if request.method == "POST" and "Content-Type" not in headers:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if request.decompress_response:
            if hd.get("Accept-Encoding") != "gzip":
                headers["Accept-Encoding"] = "gzip"
        path = (self.parsed.path or "/") + (
            ("?" + self.parsed.query) if self.parsed.query else ""
        )
        self.connection = conn = HTTP1Connection(
            stream,
            True,
            _params(
                self.max_header_size,
                self.max_body_size,
                bool(request.decompress_response),
                # A buffered body is joined whole anyway: read it in big
                # pieces (a body up to 1 MiB is one read_bytes, delivered as
                # one bytes object that is never copied again).  Streaming
                # callbacks keep the usual 64 KiB pieces.
                _BUFFERED_CHUNK
                if request.streaming_callback is None
                and self.max_buffer_size >= 2 * _BUFFERED_CHUNK
                else _STREAMING_CHUNK,
            ),
            None,
        )
        conn.write_headers(httputil.RequestStartLine(request.method, path, ""), headers)
        attempt = self._attempt
        if request.expect_100_continue:
            ok = await conn.read_response(self)
        elif request.body_producer is None:
            # The common case inline: no producer coroutine to wait for.
            if request.body is not None:
                conn.write(request.body)
            conn.finish()
            ok = await conn.read_response(self)
        else:
            ok = await self._write_body(True)
        if attempt == self._attempt:  # not superseded by a retry
            self._after_response(ok)

    async def _write_body(self, start_read: bool) -> bool:
        conn = self.connection
        assert conn is not None
        request = self.request
        if request.body is not None:
            conn.write(request.body)
        elif request.body_producer is not None:
            fut = request.body_producer(conn.write)
            if fut is not None:
                await fut
        conn.finish()
        if start_read:
            return await conn.read_response(self)
        return False

    def _after_response(self, ok: bool) -> None:
        stream = self.stream
        conn = self.connection
        if stream is None or conn is None:
            return
        if self.final_callback is not None:
            # read_response ended without finishing us: the stream closed.
            self._retry_or_fail(HTTPStreamClosedError("Connection closed"))
            return
        if (
            ok
            and self.client is not None
            and not conn._disconnect_on_finish
            and not stream.closed()
            and self.request.ssl_options is None
            and self.headers is not None
            and "close" not in self.headers.get("Connection", "").lower()
        ):
            stream.set_close_callback(None)
            self.client._checkin(self._origin, stream)
        else:
            stream.close()

    def _retry_or_fail(self, error: BaseException) -> None:
        if self._reused and not self._got_headers and self.final_callback is not None:
            # The idle connection died under us: one more try on a new one.
            self._reused = False
            self._attempt += 1
            if self.stream is not None:
                self.stream.set_close_callback(None)
                self.stream.close()
            self.stream = None
            self.connection = None
            self.request.headers = httputil.HTTPHeaders(self.request.headers)
            task = asyncio.ensure_future(self._fresh_attempt())
            task.add_done_callback(_log_task_error)
            return
        self._handle_exception(type(error), error, None)

    async def _fresh_attempt(self) -> None:
        try:
            ssl_options = self._get_ssl_options(self.parsed.scheme)
            timeout = _first_timeout(self.request)
            _, host, port = self._origin[:3]
            stream = await self._connect(host, port, ssl_options, timeout)
            if stream is not None:
                await self._exchange(stream)
        except Exception:
            if not self._handle_exception(*sys.exc_info()):
                raise

    def _get_ssl_options(self, scheme: str) -> None | dict[str, Any] | ssl.SSLContext:
        if scheme != "https":
            return None
        request = self.request
        if request.ssl_options is not None:
            return request.ssl_options
        return _client_context(
            bool(request.validate_cert),
            request.ca_certs,
            request.client_cert,
            request.client_key,
        )

    # -- completion ------------------------------------------------------------

    def _on_timeout(self, info: str | None = None) -> None:
        self._timeout = None
        message = f"Timeout {info}" if info else "Timeout"
        if self.final_callback is not None:
            self._handle_exception(HTTPTimeoutError, HTTPTimeoutError(message), None)

    def _remove_timeout(self) -> None:
        if self._timeout is not None:
            self._timeout.cancel()
            self._timeout = None

    def _release(self) -> None:
        if self.release_callback is not None:
            release_callback = self.release_callback
            self.release_callback = None
            release_callback()

    def _run_callback(self, response: HTTPResponse) -> None:
        self._release()
        if self.final_callback is not None:
            final_callback = self.final_callback
            self.final_callback = None
            # Called directly, not on the next loop iteration: the client's
            # callback only resolves the fetch Future (whose waiter runs
            # later anyway) or schedules a classic callback, so a hop through
            # the ready queue would only cost one more loop iteration.
            final_callback(response)

    def _handle_exception(self, typ: Any, value: BaseException | None, tb: Any) -> bool:
        if self.final_callback is not None:
            self._remove_timeout()
            if isinstance(value, StreamClosedError):
                value = value.real_error or HTTPStreamClosedError("Stream closed")
            self._run_callback(
                HTTPResponse(
                    self.request,
                    599,
                    error=value,
                    request_time=self._loop.time() - self.start_time,
                    start_time=self.start_wall_time,
                )
            )
            if self.stream is not None:
                self.stream.close()
            return True
        # The request already finished (a timeout fired, say): a late
        # connect timeout or stream error has nobody left to tell.
        return isinstance(value, (StreamClosedError, HTTPTimeoutError))

    # -- HTTPMessageDelegate ---------------------------------------------------

    async def headers_received(
        self,
        first_line: httputil.ResponseStartLine | httputil.RequestStartLine,
        headers: httputil.HTTPHeaders,
    ) -> None:
        assert isinstance(first_line, httputil.ResponseStartLine)
        self._got_headers = True
        if self.request.expect_100_continue and first_line.code == 100:
            await self._write_body(False)
            return
        self.code = first_line.code
        self.reason = first_line.reason
        self.headers = headers
        self._redirecting = self._should_follow_redirect()
        if self._redirecting:
            return
        if self.request.header_callback is not None:
            self.request.header_callback("{} {} {}\r\n".format(*first_line))
            for k, v in headers.get_all():
                self.request.header_callback(f"{k}: {v}\r\n")
            self.request.header_callback("\r\n")

    def _should_follow_redirect(self) -> bool:
        if self.request.follow_redirects:
            assert self.request.max_redirects is not None
            return (
                self.code in (301, 302, 303, 307, 308)
                and self.request.max_redirects > 0
                and self.headers is not None
                and self.headers.get("Location") is not None
            )
        return False

    def finish(self) -> None:
        assert self.code is not None
        self._remove_timeout()
        original_request = (
            getattr(self.request, "original_request", None) or self.request
        )
        if self._redirecting:
            self._redirect(original_request)
            return
        if self.request.streaming_callback:
            buffer = BytesIO()
        else:
            buffer = BytesIO(b"".join(self.chunks))
        response = HTTPResponse(
            original_request,
            self.code,
            reason=self.reason,
            headers=self.headers,
            request_time=self._loop.time() - self.start_time,
            start_time=self.start_wall_time,
            buffer=buffer,
            effective_url=self.request.url,
        )
        self._run_callback(response)

    def _redirect(self, original_request: HTTPRequest) -> None:
        assert isinstance(self.request, _RequestProxy) and self.headers is not None
        new_request = copy.copy(self.request.request)
        new_request.url = urllib.parse.urljoin(
            self.request.url, self.headers["Location"]
        )
        new_request.headers = self.request.headers.copy()
        old = urllib.parse.urlsplit(original_request.url)
        new = urllib.parse.urlsplit(new_request.url)
        if old.scheme != new.scheme or old.netloc != new.netloc:
            # Credentials never follow a redirect to another origin.
            new_request.auth_username = None
            new_request.auth_password = None
            if "@" in new.netloc:
                hostname = new.hostname or ""
                netloc = f"{hostname}:{new.port}" if new.port is not None else hostname
                new = new._replace(netloc=netloc)
            new_request.url = urllib.parse.urlunsplit(new)
            for h in ("Authorization", "Cookie"):
                new_request.headers.pop(h, None)
        assert self.request.max_redirects is not None
        new_request.max_redirects = self.request.max_redirects - 1
        new_request.headers.pop("Host", None)
        if (self.code == 303 and self.request.method != "HEAD") or (
            self.code in (301, 302) and self.request.method == "POST"
        ):
            new_request.method = "GET"
            new_request.body = None
            new_request.body_producer = None
            for h in (
                "Content-Length",
                "Content-Type",
                "Content-Encoding",
                "Transfer-Encoding",
            ):
                new_request.headers.pop(h, None)
        new_request.original_request = original_request  # type: ignore[attr-defined]
        final_callback = self.final_callback
        assert final_callback is not None
        self.final_callback = None
        self._release()
        assert self.client is not None
        fut = self.client.fetch(new_request, raise_error=False)
        start_time = self.start_time

        def on_redirect_done(f: asyncio.Future[HTTPResponse]) -> None:
            try:
                response = f.result()
            except Exception as e:
                response = HTTPResponse(
                    new_request,
                    599,
                    error=e,
                    request_time=asyncio.get_event_loop().time() - start_time,
                    start_time=self.start_wall_time,
                )
            final_callback(response)

        fut.add_done_callback(on_redirect_done)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        if self._redirecting:
            return None
        if self.request.streaming_callback is not None:
            return self.request.streaming_callback(chunk)
        self.chunks.append(chunk)
        return None

    def on_connection_close(self) -> None:
        # The stream's close callback, and the delegate method called when the
        # connection closes mid-response.
        if self.final_callback is not None:
            error = self.stream.error if self.stream is not None else None
            if isinstance(error, Exception) and not isinstance(
                error, StreamClosedError
            ):
                self._handle_exception(type(error), error, None)
            else:
                self._retry_or_fail(HTTPStreamClosedError("Connection closed"))


def _first_timeout(request: HTTPRequest) -> float:
    # The smaller of connect_timeout and request_timeout, ignoring unset
    # (None or 0) ones; 0 when both are unset.
    a = request.connect_timeout
    b = request.request_timeout
    if a and b:
        return a if a < b else b
    return a or b or 0


# (scheme, netloc) -> (host, port): parsing the origin of the same few
# servers again on every fetch is wasted work.  Bounded; cleared when full.
_ORIGINS: dict[tuple[str, str], tuple[str, int]] = {}


def _host_and_port(scheme: str, netloc: str, url: str) -> tuple[str, int]:
    key = (scheme, netloc)
    found = _ORIGINS.get(key)
    if found is not None:
        return found
    if scheme not in ("http", "https"):
        raise ValueError(f"Unsupported url scheme: {url}")
    if "@" in netloc:
        netloc = netloc.rpartition("@")[2]
    host, port = httputil.split_host_and_port(netloc)
    if port is None:
        port = 443 if scheme == "https" else 80
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if len(_ORIGINS) >= 256:
        _ORIGINS.clear()
    _ORIGINS[key] = (host, port)
    return host, port


_STREAMING_CHUNK = 65536
# Not larger: a gzip body is decompressed this much at a time, and a bomb
# must hit max_body_size before it can pile up much past it.
_BUFFERED_CHUNK = 1 << 20


@functools.lru_cache(maxsize=64)
def _params(
    max_header_size: int | None,
    max_body_size: int | None,
    decompress: bool,
    chunk_size: int,
) -> HTTP1ConnectionParameters:
    # Never mutated by HTTP1Connection: one per distinct setting is shared.
    return HTTP1ConnectionParameters(
        max_header_size=max_header_size,
        max_body_size=max_body_size,
        decompress=decompress,
        chunk_size=chunk_size,
    )


@functools.lru_cache(maxsize=16)
def _client_context(
    validate_cert: bool,
    ca_certs: str | None,
    client_cert: str | None,
    client_key: str | None,
) -> ssl.SSLContext:
    # Building a context loads the CA store (tens of milliseconds), so
    # requests with the same TLS settings share one.
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_certs)
    if not validate_cert:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if client_cert is not None:
        ctx.load_cert_chain(client_cert, client_key)
    ctx.options |= ssl.OP_NO_COMPRESSION
    return ctx


def _log_task_error(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        gen_log.error("Error in HTTP client request", exc_info=fut.exception())


if __name__ == "__main__":
    AsyncHTTPClient.configure(SimpleAsyncHTTPClient)
    from whirlwind.httpclient import main

    main()
