"""A non-blocking, single-threaded HTTP/1.x server.

Contents:

* `HTTPServer`: a `.TCPServer` that speaks HTTP/1.x to a request callback
  (an `.HTTPServerConnectionDelegate` such as ``web.Application``, or a plain
  callable taking an `.HTTPServerRequest`), with ``close_all_connections``
  and a graceful `HTTPServer.drain`.
* ``HTTPRequest``: an alias of `.HTTPServerRequest`.

Typical use::

    async def handle(request):
        body = b"Hello"
        request.connection.write_headers(
            ResponseStartLine("HTTP/1.1", 200, "OK"),
            HTTPHeaders({"Content-Length": str(len(body))}),
            body,
        )
        request.connection.finish()

    server = HTTPServer(handle)
    server.listen(8888)

A plain callable may be a coroutine function: the connection awaits it in its
own task before reading the next request (a whirlwind extension; Tornado
ignores the return value).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, cast

from whirlwind import httputil
from whirlwind.http1connection import HTTP1ConnectionParameters, HTTP1ServerConnection
from whirlwind.iostream import IOStream, SSLIOStream
from whirlwind.tcpserver import TCPServer
from whirlwind.util import Configurable

__all__ = ["HTTPRequest", "HTTPServer"]

_RequestCallback = Callable[[httputil.HTTPServerRequest], Any]


class HTTPServer(TCPServer, Configurable, httputil.HTTPServerConnectionDelegate):
    r"""An HTTP/1.x server.

    :arg request_callback: an `.HTTPServerConnectionDelegate` (for example a
        ``web.Application``) or a callable receiving each
        `.HTTPServerRequest`; the callable answers through
        ``request.connection`` and may be a coroutine function.
    :arg no_keep_alive: close every connection after one request.
    :arg xheaders: take the client address and scheme from ``X-Real-Ip`` /
        ``X-Forwarded-For`` and ``X-Scheme`` / ``X-Forwarded-Proto`` (only
        behind a trusted reverse proxy).
    :arg trusted_downstream: proxy addresses skipped when reading
        ``X-Forwarded-For`` from the right.
    :arg ssl_options: an `ssl.SSLContext` (or a dict of `ssl.wrap_socket`
        arguments) to serve HTTPS.
    :arg protocol: force ``request.protocol`` (``"http"`` or ``"https"``).
    :arg decompress_request: decode ``Content-Encoding: gzip`` bodies.
    :arg chunk_size: body bytes delivered per ``data_received`` call.
    :arg max_header_size: the most bytes in a request head (431 beyond).
    :arg idle_connection_timeout: seconds an idle connection or an
        incomplete head may wait (default 3600).
    :arg body_timeout: seconds allowed to read a body.
    :arg max_body_size: the largest body accepted (413 beyond).
    :arg max_buffer_size: the stream's read buffer limit.
    """

    _cb_kind: tuple[Any, bool] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Configurable.__new__ already called initialize().
        pass

    def initialize(  # type: ignore[override]
        self,
        request_callback: httputil.HTTPServerConnectionDelegate | _RequestCallback,
        no_keep_alive: bool = False,
        xheaders: bool = False,
        ssl_options: dict[str, Any] | ssl.SSLContext | None = None,
        protocol: str | None = None,
        decompress_request: bool = False,
        chunk_size: int | None = None,
        max_header_size: int | None = None,
        idle_connection_timeout: float | None = None,
        body_timeout: float | None = None,
        max_body_size: int | None = None,
        max_buffer_size: int | None = None,
        trusted_downstream: list[str] | None = None,
    ) -> None:
        self.request_callback = request_callback
        self._cb_kind = None
        self.xheaders = xheaders
        self.protocol = protocol
        self.conn_params = HTTP1ConnectionParameters(
            decompress=decompress_request,
            chunk_size=chunk_size,
            max_header_size=max_header_size,
            header_timeout=idle_connection_timeout or 3600,
            max_body_size=max_body_size,
            body_timeout=body_timeout,
            no_keep_alive=no_keep_alive,
        )
        TCPServer.__init__(
            self,
            ssl_options=ssl_options,
            max_buffer_size=max_buffer_size,
            read_chunk_size=chunk_size,
        )
        self._connections: set[HTTP1ServerConnection] = set()
        self._all_closed: asyncio.Event | None = None
        self.trusted_downstream = trusted_downstream

    @classmethod
    def configurable_base(cls) -> type[Configurable]:
        return HTTPServer

    @classmethod
    def configurable_default(cls) -> type[Configurable]:
        return HTTPServer

    async def close_all_connections(self) -> None:
        """Close every open connection and wait until each has finished.

        Usually called after `~.TCPServer.stop`.
        """
        while self._connections:
            conn = next(iter(self._connections))
            await conn.close()

    async def drain(self, timeout: float = 30.0) -> None:
        """Shut down gracefully.

        Stop accepting connections, close idle keep-alive connections at
        once, let requests in progress finish (their responses carry
        ``Connection: close``), and after ``timeout`` seconds close whatever
        is still open.
        """
        self.stop()
        for conn in list(self._connections):
            conn.drain()
        if self._connections:
            self._all_closed = asyncio.Event()
            try:
                await asyncio.wait_for(self._all_closed.wait(), timeout)
            except asyncio.TimeoutError:
                pass
        await self.close_all_connections()

    def handle_stream(self, stream: IOStream, address: Any) -> None:
        context = _HTTPRequestContext(
            stream, address, self.protocol, self.trusted_downstream
        )
        conn = HTTP1ServerConnection(stream, self.conn_params, context)
        self._connections.add(conn)
        conn.start_serving(self)

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        cb = self.request_callback
        # isinstance against an ABC costs a Python-level call: remember the
        # answer for the callback we saw last.
        known = self._cb_kind
        if known is None or known[0] is not cb:
            known = self._cb_kind = (
                cb,
                isinstance(cb, httputil.HTTPServerConnectionDelegate),
            )
        if known[1]:
            delegate = cb.start_request(server_conn, request_conn)  # type: ignore[union-attr]
        else:
            # _CallableAdapter(cb, request_conn) without an __init__ frame.
            delegate = _new_adapter(_CallableAdapter)
            delegate.connection = request_conn
            delegate.request_callback = cb  # type: ignore[assignment]
            delegate.request = None
            delegate._chunks = None
        if self.xheaders:
            delegate = _ProxyAdapter(delegate, request_conn)
        return delegate

    def on_close(self, server_conn: object) -> None:
        self._connections.discard(cast(HTTP1ServerConnection, server_conn))
        cb = self.request_callback
        if isinstance(cb, httputil.HTTPServerConnectionDelegate):
            cb.on_close(server_conn)
        if not self._connections and self._all_closed is not None:
            self._all_closed.set()


_new_adapter = object.__new__


class _CallableAdapter(httputil.HTTPMessageDelegate):
    """Buffers the body, then calls a plain request callback."""

    __slots__ = ("connection", "request_callback", "request", "_chunks")

    def __init__(
        self, request_callback: _RequestCallback, request_conn: httputil.HTTPConnection
    ) -> None:
        # (HTTPServer.start_request sets these fields directly.)
        self.connection = request_conn
        self.request_callback = request_callback
        self.request: httputil.HTTPServerRequest | None = None
        self._chunks: list[bytes] | None = None

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        # HTTPServerRequest(connection=, start_line=, headers=), positionally:
        # a call with keywords costs a dict per request.
        self.request = httputil.HTTPServerRequest(
            None,
            None,
            "HTTP/1.0",
            headers,
            None,
            None,
            None,
            self.connection,
            start_line,  # type: ignore[arg-type]
        )
        return None

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        if self._chunks is None:
            self._chunks = [chunk]
        else:
            self._chunks.append(chunk)
        return None

    def finish(self) -> Any:
        request = self.request
        assert request is not None
        chunks = self._chunks
        if chunks:
            request.body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            request._parse_body()
        result = self.request_callback(request)
        if result is not None and hasattr(result, "__await__"):
            return result
        return None

    def on_connection_close(self) -> None:
        self._chunks = None


def _is_valid_ip(ip: str) -> bool:
    if not ip or "\x00" in ip:
        return False
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        return False
    return True


class _HTTPRequestContext:
    """Per-connection facts a request needs: peer address and scheme."""

    def __init__(
        self,
        stream: IOStream,
        address: Any,
        protocol: str | None,
        trusted_downstream: list[str] | None = None,
    ) -> None:
        self.address = address
        sock = stream.socket
        self.address_family = sock.family if sock is not None else None
        if (
            self.address_family in (socket.AF_INET, socket.AF_INET6)
            and address is not None
        ):
            self.remote_ip = address[0]
        else:
            # Unix sockets have no meaningful peer address.
            self.remote_ip = "0.0.0.0"
        if protocol:
            self.protocol = protocol
        elif isinstance(stream, SSLIOStream):
            self.protocol = "https"
        else:
            self.protocol = "http"
        self._orig_remote_ip = self.remote_ip
        self._orig_protocol = self.protocol
        self.trusted_downstream = set(trusted_downstream or [])

    def __str__(self) -> str:
        if self.address_family in (socket.AF_INET, socket.AF_INET6):
            return str(self.remote_ip)
        if isinstance(self.address, bytes):
            return self.address.decode("latin1")
        return str(self.address)

    def _apply_xheaders(self, headers: httputil.HTTPHeaders) -> None:
        """Take ``remote_ip``/``protocol`` from proxy headers (this request only)."""
        ip = self.remote_ip
        forwarded = headers.get("X-Forwarded-For")
        if forwarded is not None:
            # The right-most address not belonging to a trusted proxy.
            for cand in reversed(forwarded.split(",")):
                ip = cand.strip()
                if ip not in self.trusted_downstream:
                    break
        ip = headers.get("X-Real-Ip", ip)
        if _is_valid_ip(ip):
            self.remote_ip = ip
        proto = headers.get("X-Scheme", headers.get("X-Forwarded-Proto", self.protocol))
        if proto:
            proto = proto.split(",")[-1].strip()
        if proto in ("http", "https"):
            self.protocol = proto

    def _unapply_xheaders(self) -> None:
        self.remote_ip = self._orig_remote_ip
        self.protocol = self._orig_protocol


class _ProxyAdapter(httputil.HTTPMessageDelegate):
    """Applies X-headers for one request around another delegate."""

    def __init__(
        self,
        delegate: httputil.HTTPMessageDelegate,
        request_conn: httputil.HTTPConnection,
    ) -> None:
        self.connection = request_conn
        self.delegate = delegate

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        self.connection.context._apply_xheaders(headers)  # type: ignore[attr-defined]
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        return self.delegate.data_received(chunk)

    def finish(self) -> Any:
        # The request copied remote_ip/protocol when it was created, so the
        # context can be restored before an inline handler runs.
        try:
            return self.delegate.finish()
        finally:
            self._cleanup()

    def on_connection_close(self) -> None:
        try:
            self.delegate.on_connection_close()
        finally:
            self._cleanup()

    def _cleanup(self) -> None:
        self.connection.context._unapply_xheaders()  # type: ignore[attr-defined]


HTTPRequest = httputil.HTTPServerRequest
