"""WebSockets (RFC 6455): a server handler and a client, with permessage-deflate.

Contents:

* `WebSocketHandler`: a `.RequestHandler` that upgrades the request.
* `websocket_connect` and `WebSocketClientConnection`: the client.
* `WebSocketProtocol`, `WebSocketProtocol13`: the framing state machine
  (in the private module ``_websocket_protocol``, which also explains how
  frames are parsed, limited and closed).
* `WebSocketError`, `WebSocketClosedError`.

Theory of operation (handshakes):

* Server.  `WebSocketHandler.get` checks ``Upgrade``, ``Connection``, the
  origin (same-origin unless `~WebSocketHandler.check_origin` allows
  more), the version (426 when not 13) and the key; a refused upgrade also
  closes the connection, so bytes a client sent after its handshake are
  never read as another HTTP request.  On success the handler takes the
  stream from the HTTP layer (``detach``), writes ``101`` itself, runs
  ``open`` and then the protocol's receive loop, inside the connection's
  own task.
* Client.  `WebSocketClientConnection` is the plain HTTP client's
  connection class with a different ending: on a ``101`` whose
  ``Sec-WebSocket-Accept``, extension and subprotocol check out, it
  detaches the stream and runs the receive loop; anything else fails
  `websocket_connect`'s Future.  Messages wait in a queue of at most two
  for `~WebSocketClientConnection.read_message`; past that the receive
  loop pauses, so a slow reader pushes back on the server through TCP.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from whirlwind import httpclient, httputil, simple_httpclient
from whirlwind._web_handler import RequestHandler
from whirlwind._websocket_protocol import (
    _DEFAULT_MAX_MESSAGE_SIZE,
    WebSocketClosedError,
    WebSocketError,
    WebSocketProtocol,
    WebSocketProtocol13,
    _accept_value,
    _DecompressTooLargeError,
    _header_tokens,
    _parse_extensions,
    _PerMessageDeflateCompressor,
    _PerMessageDeflateDecompressor,
    _websocket_mask,
    _WebSocketParams,
)
from whirlwind.escape import utf8
from whirlwind.iostream import StreamClosedError
from whirlwind.netutil import Resolver
from whirlwind.tcpclient import TCPClient

__all__ = [
    "WebSocketHandler",
    "WebSocketProtocol",
    "WebSocketProtocol13",
    "WebSocketClientConnection",
    "websocket_connect",
    "WebSocketError",
    "WebSocketClosedError",
]

app_log = logging.getLogger("whirlwind.application")
gen_log = logging.getLogger("whirlwind.general")

# Internal names that tests and extensions reach for, importable from here.
_reexported = (
    _DecompressTooLargeError,
    _PerMessageDeflateCompressor,
    _PerMessageDeflateDecompressor,
    _websocket_mask,
)


class WebSocketHandler(RequestHandler):
    """A request handler that speaks the websocket protocol.

    Override `open`, `on_message` and `on_close`; send with
    `write_message`; end with `close`.  `on_message` may be a coroutine: the
    next message is not read until it finishes.  Cross-origin connections
    are refused unless `check_origin` allows them.

    Application settings: ``websocket_ping_interval``,
    ``websocket_ping_timeout``, ``websocket_max_message_size`` (10 MiB).
    """

    def __init__(
        self,
        application: Any,
        request: httputil.HTTPServerRequest,
        **kwargs: Any,
    ) -> None:
        super().__init__(application, request, **kwargs)
        self.ws_connection: WebSocketProtocol13 | None = None
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._on_close_called = False

    async def get(self, *args: Any, **kwargs: Any) -> None:
        self.open_args = args
        self.open_kwargs = kwargs
        headers = self.request.headers
        if headers.get("Upgrade", "").lower() != "websocket":
            self._refuse(400, 'Can "Upgrade" only to "WebSocket".')
            return
        if "upgrade" not in _header_tokens(headers.get("Connection", "")):
            self._refuse(400, '"Connection" must be "Upgrade".')
            return
        # Browsers do not apply the same-origin policy to websockets, so
        # the origin check is always on here (after prepare(), which may
        # authenticate).
        error = self._check_cross_origin(self.check_origin)
        if error is not None:
            self._refuse(403, "Cross origin websockets not allowed")
            gen_log.debug("origin refused: %s", error)
            return
        protocol = self.get_websocket_protocol()
        if protocol is None:
            self._close_after_response()
            self.set_status(426, "Upgrade Required")
            self.set_header("Sec-WebSocket-Version", "13")
            return
        self.ws_connection = protocol
        await protocol.accept_connection(self)

    def _refuse(self, status: int, message: str) -> None:
        self._close_after_response()
        self.set_status(status)
        self.finish(message)
        gen_log.debug(message)

    def _close_after_response(self) -> None:
        # A refused upgrade ends the connection: a client (or a proxy that
        # assumed success) may already be sending frames, which must never
        # be read as the next HTTP request (upgrade smuggling).
        conn = self.request.connection
        if hasattr(conn, "_disconnect_on_finish"):
            setattr(conn, "_disconnect_on_finish", True)  # noqa: B010

    @property
    def ping_interval(self) -> float | None:
        """Seconds between pings (``websocket_ping_interval``); None: off."""
        return self.settings.get("websocket_ping_interval", None)

    @property
    def ping_timeout(self) -> float | None:
        """Seconds to wait for a pong (``websocket_ping_timeout``)."""
        return self.settings.get("websocket_ping_timeout", None)

    @property
    def max_message_size(self) -> int:
        """Largest message accepted (``websocket_max_message_size``)."""
        return self.settings.get(  # type: ignore[no-any-return]
            "websocket_max_message_size", _DEFAULT_MAX_MESSAGE_SIZE
        )

    def write_message(
        self, message: str | bytes | dict[str, Any], binary: bool = False
    ) -> asyncio.Future[None]:
        """Send a message: text for `str`, JSON for a dict, binary for
        bytes with ``binary=True``.  Returns a Future resolved once the
        frame was handed to the kernel (await it for flow control).

        Raises `WebSocketClosedError` if the connection is closed.
        """
        conn = self.ws_connection
        if conn is None or conn.is_closing():
            raise WebSocketClosedError()
        return conn.write_message(message, binary=binary)

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        """Pick one of the client's subprotocols (default: none)."""
        return None

    @property
    def selected_subprotocol(self) -> str | None:
        """The subprotocol chosen by `select_subprotocol`."""
        assert self.ws_connection is not None
        return self.ws_connection.selected_subprotocol

    def get_compression_options(self) -> dict[str, Any] | None:
        """Return a dict to allow permessage-deflate (keys
        ``compression_level`` and ``mem_level``), None to refuse it."""
        return None

    def open(self, *args: str, **kwargs: str) -> Awaitable[None] | None:
        """Called when the connection opens, with the route's groups."""
        return None

    def on_message(self, message: str | bytes) -> Awaitable[None] | None:
        """Called with each message; must be overridden."""
        raise NotImplementedError

    def ping(self, data: str | bytes = b"") -> None:
        """Send a ping (at most 125 bytes of data)."""
        data = utf8(data)
        if self.ws_connection is None or self.ws_connection.is_closing():
            raise WebSocketClosedError()
        self.ws_connection.write_ping(data)

    def on_pong(self, data: bytes) -> None:
        """Called when a pong arrives."""

    def on_ping(self, data: bytes) -> None:
        """Called when a ping arrives (the pong is sent already)."""

    def on_close(self) -> None:
        """Called once when the connection is closed; see `close_code`."""

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Start the closing handshake (``code`` e.g. 1000, ``reason`` text)."""
        if self.ws_connection is not None:
            self.ws_connection.close(code, reason)
            self.ws_connection = None

    def check_origin(self, origin: str) -> bool:
        """Whether a cross-origin connection from ``origin`` may proceed.

        Same-origin connections (Origin's host equals Host) are always
        accepted; by default, others are accepted only when listed in the
        ``trusted_origins`` setting.  Override to allow more.
        """
        return self.check_trusted_origin(origin)

    def set_nodelay(self, value: bool) -> None:
        """Turn Nagle's algorithm off (True) for small latency-critical messages."""
        assert self.ws_connection is not None
        self.ws_connection.set_nodelay(value)

    def on_connection_close(self) -> None:
        if self.ws_connection is not None:
            self.ws_connection.on_connection_close()
            self.ws_connection = None
        if not self._on_close_called:
            self._on_close_called = True
            self.on_close()
            self._break_cycles()

    def on_ws_connection_close(
        self, close_code: int | None = None, close_reason: str | None = None
    ) -> None:
        self.close_code = close_code
        self.close_reason = close_reason
        self.on_connection_close()

    def get_websocket_protocol(self) -> WebSocketProtocol13 | None:
        """The protocol object for this request's version, None if unsupported."""
        version = self.request.headers.get("Sec-WebSocket-Version")
        if version in ("7", "8", "13"):
            params = _WebSocketParams(
                ping_interval=self.ping_interval,
                ping_timeout=self.ping_timeout,
                max_message_size=self.max_message_size,
                compression_options=self.get_compression_options(),
            )
            return WebSocketProtocol13(self, False, params)
        return None

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        if self._finished:
            # After the upgrade there is no HTTP response left to send.
            if self.ws_connection is not None:
                self.ws_connection._abort()
            return
        super().send_error(status_code, **kwargs)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        super().log_exception(typ, value, tb)


class WebSocketClientConnection(simple_httpclient._HTTPConnection):
    """A client websocket; create it with `websocket_connect`.

    Read with `read_message` (or pass ``on_message_callback``), send with
    `write_message`, end with `close`.
    """

    def __init__(
        self,
        request: Any,
        on_message_callback: Callable[[str | bytes | None], None] | None = None,
        compression_options: dict[str, Any] | None = None,
        ping_interval: float | None = None,
        ping_timeout: float | None = None,
        max_message_size: int = _DEFAULT_MAX_MESSAGE_SIZE,
        subprotocols: list[str] | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        loop = asyncio.get_event_loop()
        self.connect_future: asyncio.Future[WebSocketClientConnection] = (
            loop.create_future()
        )
        self._queue: collections.deque[str | bytes | None] = collections.deque()
        self._read_waiter: asyncio.Future[str | bytes | None] | None = None
        self._put_waiter: asyncio.Future[None] | None = None
        self._on_message_callback = on_message_callback
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._subprotocols = list(subprotocols or ())
        self._compression_offered = compression_options is not None
        self.params = _WebSocketParams(
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            max_message_size=max_message_size,
            compression_options=compression_options,
        )
        self.protocol: WebSocketProtocol13 | None = None
        self._ws_closed = False
        self.key = base64.b64encode(os.urandom(16))
        scheme, sep, rest = request.url.partition(":")
        scheme = {"ws": "http", "wss": "https"}.get(scheme.lower(), scheme)
        request.url = scheme + sep + rest
        request.headers.update(
            {
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Key": self.key.decode("ascii"),
                "Sec-WebSocket-Version": "13",
            }
        )
        if self._subprotocols:
            request.headers["Sec-WebSocket-Protocol"] = ",".join(self._subprotocols)
        if self._compression_offered:
            request.headers["Sec-WebSocket-Extensions"] = (
                "permessage-deflate; client_max_window_bits"
            )
        self.tcp_client = TCPClient(resolver=resolver)
        super().__init__(
            None,
            request,
            lambda: None,
            self._on_http_response,
            104857600,
            self.tcp_client,
            65536,
            104857600,
        )

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Start the closing handshake; `read_message` then returns None."""
        if self.protocol is not None:
            self.protocol.close(code, reason)
        elif not self.connect_future.done():
            self.connect_future.set_exception(WebSocketClosedError())
            if self.stream is not None:
                self.stream.close()

    def on_connection_close(self) -> None:
        # The stream closed before the upgrade completed.
        if not self.connect_future.done():
            self.connect_future.set_exception(StreamClosedError())
        super().on_connection_close()
        self._on_message(None)
        self.tcp_client.close()

    def on_ws_connection_close(
        self, close_code: int | None = None, close_reason: str | None = None
    ) -> None:
        self.close_code = close_code
        self.close_reason = close_reason
        self._ws_closed = True
        self._on_message(None)
        self.tcp_client.close()

    def _on_http_response(self, response: httpclient.HTTPResponse) -> None:
        if not self.connect_future.done():
            if response.error:
                self.connect_future.set_exception(response.error)
            else:
                self.connect_future.set_exception(
                    WebSocketError("Non-websocket response")
                )
        self.tcp_client.close()

    async def headers_received(
        self,
        start_line: httputil.ResponseStartLine | httputil.RequestStartLine,
        headers: httputil.HTTPHeaders,
    ) -> None:
        assert isinstance(start_line, httputil.ResponseStartLine)
        if start_line.code != 101:
            await super().headers_received(start_line, headers)
            return
        self.code = start_line.code
        self.reason = start_line.reason
        self.headers = headers
        self._remove_timeout()
        protocol = WebSocketProtocol13(self, True, self.params)
        try:
            self._check_response(headers, protocol)
        except WebSocketError as e:
            self.final_callback = None
            if not self.connect_future.done():
                self.connect_future.set_exception(e)
            assert self.connection is not None
            self.connection.close()
            self.tcp_client.close()
            return
        self.final_callback = None
        self._release()
        assert self.connection is not None
        stream = self.connection.detach()
        # The HTTP exchange is over; keep _after_response off the stream.
        self.connection = None
        self.stream = stream
        protocol.stream = stream
        self.protocol = protocol
        stream.set_close_callback(protocol.on_connection_close)
        protocol.start_pinging()
        self.connect_future.set_result(self)
        await protocol._receive_loop()

    def _check_response(
        self, headers: httputil.HTTPHeaders, protocol: WebSocketProtocol13
    ) -> None:
        if headers.get("Upgrade", "").lower() != "websocket":
            raise WebSocketError("missing or bad Upgrade header")
        if "upgrade" not in _header_tokens(headers.get("Connection", "")):
            raise WebSocketError("missing or bad Connection header")
        if headers.get("Sec-WebSocket-Accept") != _accept_value(self.key):
            raise WebSocketError("bad Sec-WebSocket-Accept")
        ext_header = headers.get("Sec-WebSocket-Extensions")
        if ext_header:
            exts = _parse_extensions(ext_header)
            if (
                len(exts) != 1
                or exts[0][0] != "permessage-deflate"
                or not self._compression_offered
            ):
                raise WebSocketError(f"unsupported extension {ext_header!r}")
            try:
                protocol._setup_compression("client", exts[0][1])
            except ValueError as e:
                raise WebSocketError(str(e)) from None
        chosen = headers.get("Sec-WebSocket-Protocol")
        if chosen is not None:
            if chosen not in self._subprotocols:
                raise WebSocketError(f"unrequested subprotocol {chosen!r}")
            protocol.selected_subprotocol = chosen

    def write_message(
        self, message: str | bytes | dict[str, Any], binary: bool = False
    ) -> asyncio.Future[None]:
        """Send a message; see `WebSocketHandler.write_message`."""
        protocol = self.protocol
        if protocol is None or protocol.is_closing():
            raise WebSocketClosedError()
        return protocol.write_message(message, binary=binary)

    def read_message(
        self, callback: Callable[[asyncio.Future[Any]], None] | None = None
    ) -> asyncio.Future[str | bytes | None]:
        """The next message; None once the connection is closed.

        With the classic ``callback``, it is called with the Future.
        """
        loop = asyncio.get_event_loop()
        fut: asyncio.Future[str | bytes | None] = loop.create_future()
        if self._queue:
            fut.set_result(self._queue.popleft())
            waiter = self._put_waiter
            if waiter is not None and len(self._queue) <= 1:
                self._put_waiter = None
                if not waiter.done():
                    waiter.set_result(None)
        elif self._ws_closed:
            fut.set_result(None)
        else:
            self._read_waiter = fut
        if callback is not None:
            fut.add_done_callback(callback)
        return fut

    def on_message(self, message: str | bytes) -> Awaitable[None] | None:
        return self._on_message(message)

    def _on_message(self, message: str | bytes | None) -> Awaitable[None] | None:
        if self._on_message_callback is not None:
            if message is not None or not getattr(self, "_none_sent", False):
                self._none_sent = message is None
                self._on_message_callback(message)
            return None
        waiter = self._read_waiter
        if waiter is not None and not waiter.done():
            self._read_waiter = None
            waiter.set_result(message)
            return None
        if message is None and (self._queue and self._queue[-1] is None):
            return None
        self._queue.append(message)
        if message is not None and len(self._queue) > 1:
            # The reader is behind: stop reading frames until it catches up.
            self._put_waiter = asyncio.get_event_loop().create_future()
            return self._put_waiter
        return None

    def ping(self, data: bytes = b"") -> None:
        """Send a ping (at most 125 bytes)."""
        data = utf8(data)
        if self.protocol is None or self.protocol.is_closing():
            raise WebSocketClosedError()
        self.protocol.write_ping(data)

    def on_pong(self, data: bytes) -> None:
        pass

    def on_ping(self, data: bytes) -> None:
        pass

    def get_websocket_protocol(self) -> WebSocketProtocol13 | None:
        return self.protocol

    @property
    def selected_subprotocol(self) -> str | None:
        """The subprotocol the server chose, if any."""
        return self.protocol.selected_subprotocol if self.protocol else None

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        app_log.error("Uncaught exception %s", value, exc_info=(typ, value, tb))


def websocket_connect(
    url: str | httpclient.HTTPRequest,
    callback: Callable[[asyncio.Future[WebSocketClientConnection]], None] | None = None,
    connect_timeout: float | None = None,
    on_message_callback: Callable[[str | bytes | None], None] | None = None,
    compression_options: dict[str, Any] | None = None,
    ping_interval: float | None = None,
    ping_timeout: float | None = None,
    max_message_size: int = _DEFAULT_MAX_MESSAGE_SIZE,
    subprotocols: list[str] | None = None,
    resolver: Resolver | None = None,
) -> asyncio.Future[WebSocketClientConnection]:
    """Open a client websocket to ``url`` (``ws://`` or ``wss://``, or an
    `.HTTPRequest`); resolves to a `WebSocketClientConnection`.

    ``on_message_callback`` receives each message (None at close) instead
    of `~WebSocketClientConnection.read_message`.  ``compression_options``
    (a dict, possibly empty) offers permessage-deflate.  The classic
    ``callback`` is called with the Future.
    """
    if isinstance(url, httpclient.HTTPRequest):
        request = url
        if connect_timeout is not None:
            request.connect_timeout = connect_timeout
        request.headers = httputil.HTTPHeaders(request.headers)
    else:
        request = httpclient.HTTPRequest(url, connect_timeout=connect_timeout)
    request.follow_redirects = False
    proxy = httpclient._RequestProxy(request, httpclient.HTTPRequest._DEFAULTS)
    conn = WebSocketClientConnection(
        proxy,
        on_message_callback=on_message_callback,
        compression_options=compression_options,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        max_message_size=max_message_size,
        subprotocols=subprotocols,
        resolver=resolver,
    )
    if callback is not None:
        conn.connect_future.add_done_callback(callback)
    return conn.connect_future
