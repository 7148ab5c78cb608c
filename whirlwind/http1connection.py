"""HTTP/1.x over an `.IOStream`, for servers and clients.

Contents:

* `HTTP1ConnectionParameters`: limits and timeouts.
* `HTTP1Connection`: one request/response exchange (an `.HTTPConnection`);
  ``read_response`` reads a message, ``write_headers``/``write``/``finish``
  write one, ``detach`` hands the stream over (websockets).
* `HTTP1ServerConnection`: serves the requests of one connection in order.
* `parse_int`, `parse_hex_int`, `is_transfer_encoding_chunked` (defined, with
  the framing checks and the body readers, in `whirlwind._http1framing`).

Theory of operation (server):

* One Task per connection (`HTTP1ServerConnection._server_request_loop`).
  Each request gets a light `HTTP1Connection` (six stores; every other
  field starts at its class-level default).  A head that is already
  buffered (pipelining) is split in place by the compiled stream
  (``take_http_head``: no Future, no copy); otherwise one stream read waits
  for it and ``_core.parse_head`` splits it, in linear time.  Then it goes
  to the delegate.  If the delegate's ``finish()`` returns a coroutine (a
  whirlwind extension), it is stepped right here, so a handler that does not
  suspend costs no Task, no Future and no timer; one that suspends continues
  as a Task (Tornado's model) while the connection waits for its response.
  The next request is read at once; the loop only yields after 16
  requests that were all already buffered (fairness), and waits for the
  previous response to drain when the peer is not reading (so pipelined
  responses never pile up in memory).
* Timeouts are deadlines stored on the connection (``_deadline``, loop time,
  0 = none) and checked by one sweep per loop about once a second
  (`_Sweeper`); nothing is scheduled per request.
* Framing is strict (RFC 9112 section 6): ``Transfer-Encoding`` and
  ``Content-Length`` together, repeated or listed Content-Length, a
  Content-Length that is not plain ASCII digits, a Transfer-Encoding whose
  last coding is not ``chunked`` or that repeats ``chunked``, bad chunk
  sizes or terminators, CR/LF inside chunk extensions, and bad trailers are
  all answered with an error status and a closed connection.  A declared
  body over the limit gets 413 before any of it is read; more than
  ``max_header_count`` fields get 431; transfer codings other than
  ``chunked`` get 501.  A head over ``max_header_size`` gets 431 (the
  stream's head read fails without closing, so the answer can be written).
* Error responses are written, the write side is shut down, and the input is
  drained for a moment before closing, so the peer reads the status line
  instead of a connection reset.
* Writing: the status line comes from a cache, the Date value from a
  compiled per-second cache, and ``_core.format_head`` checks every field
  (CR, LF, NUL, latin-1) and builds status line, fields and first body
  chunk as one bytes object, which goes out in one stream write (corked
  with the other answers of a pipelined burst).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import types
from collections.abc import Awaitable, Callable
from typing import Any, cast

from whirlwind import httputil
from whirlwind._core import HeaderFieldCountError
from whirlwind._core import format_head as _format_head_c
from whirlwind._core import parse_head as _core_parse_head
from whirlwind._http1framing import (
    HTTP1ConnectionParameters,
    _BodyReader,
    _connection_tokens,
    _content_length,
    _parse_head,  # noqa: F401  (re-exported: the reference tests use it)
    _request_head,
    _transfer_chunked,
    is_transfer_encoding_chunked,
    parse_hex_int,
    parse_int,
)
from whirlwind._http1support import (
    _close_after_flush,
    _closed_future,
    _format_head,
    _GzipMessageDelegate,
    _HeaderInjectionError,
    _InContext,
    _QuietError,
    _status_line,
    _StatusError,
    _Sweeper,
    http_date,
)
from whirlwind.iostream import IOStream, StreamClosedError, UnsatisfiableReadError

__all__ = [
    "HTTP1Connection",
    "HTTP1ConnectionParameters",
    "HTTP1ServerConnection",
    "is_transfer_encoding_chunked",
    "parse_hex_int",
    "parse_int",
]

app_log = logging.getLogger("whirlwind.application")
gen_log = logging.getLogger("whirlwind.general")

_MAX_1XX_RESPONSES = 10
# Requests served back to back without suspending before we yield once.
_PIPELINE_BURST = 16
# Responses written while a handler runs inline are gathered ("corked") and
# sent in one write, up to this many bytes; a pipelined burst of small
# responses then costs one send() instead of one each.
_CORK_MAX = 65536

_CoroutineType = types.CoroutineType
_copy_context = contextvars.copy_context
# Per-response lookups that would otherwise parse or format again: the
# encoded status line per start line, the int value per Content-Length
# text.  Bounded (reasons and lengths vary); only valid entries are stored.
_heads: dict[Any, bytes] = {}
_lengths: dict[str, int] = {}
_request_lines = httputil._REQUEST_LINES


class HTTP1Connection(_BodyReader, httputil.HTTPConnection):
    """One HTTP/1.x message exchange on ``stream``.

    Standalone for clients (``is_client=True``: write a request with
    `write_headers`/`write`/`finish`, then `read_response`), or created per
    request by `HTTP1ServerConnection`.  ``context`` is an opaque object
    exposed as ``connection.context`` (servers use it for the peer address).
    """

    # Per-message state starts at these class-level values: an instance
    # stores only what differs, so the per-request connection a server
    # makes (in `HTTP1ServerConnection._server_request_loop`) costs a handful
    # of stores.  All are immutable.
    is_client = False
    context: object | None = None
    no_keep_alive = False
    _body_timeout: float | None = None
    _write_finished = False
    _read_finished = False
    _body_pending = False
    _finish_future: asyncio.Future[None] | None = None
    _disconnect_on_finish = False
    _close_callback: Callable[[], None] | None = None
    _request_start_line: httputil.RequestStartLine | None = None
    _response_start_line: httputil.ResponseStartLine | None = None
    _request_headers: httputil.HTTPHeaders | None = None
    _chunking_output = False
    _expected_content_remaining: int | None = None
    _pending_write: Any = None
    _response_started = False
    # The object whose _deadline the sweeper watches: the server connection
    # on servers; None on clients, where it is this object (not stored, so a
    # client connection is no reference cycle).
    _owner: Any = None
    _deadline = 0.0
    _in_body = False
    _idle = False
    _draining = False
    _corking = False  # only server connections cork
    #: Trailer fields of a chunked body that was read, if any.
    trailers: httputil.HTTPHeaders | None = None

    def __init__(
        self,
        stream: IOStream,
        is_client: bool,
        params: HTTP1ConnectionParameters | None = None,
        context: object | None = None,
    ) -> None:
        self.is_client = is_client
        self.stream = stream
        if params is None:
            params = HTTP1ConnectionParameters()
        self.params = params
        self.context = context
        self.no_keep_alive = params.no_keep_alive
        self._max_body_size = (
            params.max_body_size
            if params.max_body_size is not None
            else stream.max_buffer_size
        )
        self._body_timeout = params.body_timeout

    # -- reading -----------------------------------------------------------

    def read_response(self, delegate: httputil.HTTPMessageDelegate) -> Awaitable[bool]:
        """Read one message (a response on clients, a request on servers).

        Returns an awaitable resolving to True if the stream is still open
        and the connection may be reused.
        """
        if self.params.decompress:
            delegate = _GzipMessageDelegate(
                delegate, self.params.chunk_size, self._max_body_size
            )
        return self._read_message(delegate)

    async def _read_message(
        self, delegate: httputil.HTTPMessageDelegate, num_1xx: int = 0
    ) -> bool:
        owner: Any
        need_delegate_close = False
        is_client = self.is_client
        try:
            try:
                # Compiled: a head already buffered (pipelining) is split in
                # place, with no Future and no coroutine switch; otherwise
                # read_http_head skips blank lines before the head and finds
                # its end with a resumable C scan.
                stream = self.stream
                params = self.params
                head = stream.take_http_head(
                    params.max_header_size, params.max_header_count
                )
                if head is None:
                    fut = stream.read_http_head(params.max_header_size)
                    try:
                        if fut.done():
                            data = fut.result()
                        else:
                            # Not buffered yet: the connection is idle until
                            # it is (inline: no extra coroutine per wait).
                            owner = self._owner or self
                            header_timeout = params.header_timeout
                            if header_timeout is not None:
                                if owner is self:
                                    _Sweeper.add(self, header_timeout)
                                owner._deadline = stream._loop.time() + header_timeout
                            sent = None
                            if owner._corking:
                                if owner._draining:
                                    sent = owner._flush()
                                else:
                                    owner._flush_soon()
                            owner._idle = True
                            if owner._draining:
                                _close_after_flush(stream, sent)
                            try:
                                data = await fut
                            finally:
                                owner._deadline = 0.0
                                owner._idle = False
                    finally:
                        # A failed read's exception refers to this frame:
                        # keeping the Future here too would make a cycle.
                        del fut
                    head = _core_parse_head(data, params.max_header_count)
            except UnsatisfiableReadError as e:
                # Tornado's wording, which its users and tests look for.
                gen_log.info("Unsatisfiable read, closing connection: %s", e)
                if is_client:
                    self.close()
                    raise StreamClosedError(real_error=e) from None
                raise _StatusError(431, "header section too large", True) from None
            except HeaderFieldCountError:
                raise _StatusError(431, "too many header fields") from None
            start_line_str, headers = head
            start_line: httputil.RequestStartLine | httputil.ResponseStartLine
            if is_client:
                resp = httputil.parse_response_start_line(start_line_str)
                self._response_start_line = start_line = resp
                version = resp.version
                self._disconnect_on_finish = not self._can_keep_alive(
                    resp.version, headers
                )
            else:
                # httputil's cache of valid request lines, then the parser.
                req = _request_lines.get(
                    start_line_str
                ) or httputil.parse_request_start_line(start_line_str)
                self._request_start_line = start_line = req
                self._request_headers = headers
                version = req.version
                if "Connection" in headers._d or self.no_keep_alive:
                    self._disconnect_on_finish = not self._can_keep_alive(
                        version, headers
                    )
                elif version != "HTTP/1.1":
                    # The common case, decided inline (see _can_keep_alive).
                    self._disconnect_on_finish = True
            # Framing is checked before the delegate sees anything.
            hd = headers._d
            chunked = "Transfer-Encoding" in hd and _transfer_chunked(headers, version)
            if chunked and version == "HTTP/1.0":
                # RFC 9112 section 6.1: process, then close the connection.
                self._disconnect_on_finish = True
            content_length = (
                _content_length(headers, allow_list=is_client)
                if "Content-Length" in hd
                else None
            )
            if chunked or content_length:
                self._body_pending = True
                owner = self._owner or self
                if owner._corking:
                    # Reading a body may wait for the network: answers to
                    # the earlier requests must not wait with it.
                    owner._flush()
            need_delegate_close = True
            try:
                ret = delegate.headers_received(start_line, headers)
                if ret is not None:
                    owner = self._owner or self
                    if owner._corking:
                        owner._flush()
                    await ret
            except httputil.HTTPInputError:
                raise
            except (Exception, asyncio.CancelledError) as e:
                app_log.error("Uncaught exception", exc_info=True)
                raise _QuietError() from e
            if self.stream is None:
                # detach() was called: the stream now belongs to someone else.
                need_delegate_close = False
                return False
            skip_body = False
            if is_client:
                code = cast(httputil.ResponseStartLine, start_line).code
                if (
                    self._request_start_line is not None
                    and self._request_start_line.method == "HEAD"
                ):
                    skip_body = True
                if code == 304:
                    skip_body = True
                if 100 <= code < 200:
                    if chunked or content_length is not None:
                        raise httputil.HTTPInputError(
                            f"Response code {code} cannot have body"
                        )
                    if num_1xx >= _MAX_1XX_RESPONSES:
                        raise httputil.HTTPInputError("Too many 1xx responses")
                    need_delegate_close = False
                    return await self._read_message(delegate, num_1xx + 1)
                if code == 204:
                    if chunked or content_length not in (None, 0):
                        raise httputil.HTTPInputError(
                            f"Response with code {code} should not have body"
                        )
                    content_length = 0
            if not skip_body and (
                chunked or content_length or (is_client and content_length is None)
            ):
                if content_length is not None and content_length > self._max_body_size:
                    raise _StatusError(413, "Content-Length too long")
                if (
                    not is_client
                    and version == "HTTP/1.1"
                    and not self._write_finished
                    and headers._d.get("Expect") is not None
                    and headers["Expect"].lower() == "100-continue"
                ):
                    owner = self._owner or self
                    if owner._corking:
                        owner._flush()
                    self.stream.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                await self._read_body_timed(chunked, content_length, delegate)
            self._read_finished = True
            if not self._write_finished or is_client:
                try:
                    if is_client:
                        ret = delegate.finish()
                        need_delegate_close = False
                        if ret is not None:
                            await ret
                    else:
                        need_delegate_close = False
                        # self._run_handler(delegate), its common part inline.
                        owner = self._owner or self
                        owner._corking = True
                        ctx = _copy_context()
                        ret = ctx.run(delegate.finish)
                        if ret is not None:
                            pending = self._handler_returned(owner, ret, ctx)
                            if pending is not None:
                                await pending
                except httputil.HTTPInputError:
                    raise
                except Exception as e:
                    app_log.error("Uncaught exception", exc_info=True)
                    raise _QuietError() from e
            if (
                not self._write_finished
                and self.stream is not None
                and not self.stream.closed()
            ):
                # The response is still being produced elsewhere; wait.
                # Whatever it writes from now on goes straight out.
                owner = self._owner or self
                if owner._corking:
                    owner._flush()
                self._finish_future = self.stream._loop.create_future()
                self.stream.set_close_callback(self._on_connection_close)
                await self._finish_future
            if is_client and self._disconnect_on_finish:
                self.close()
            if self.stream is None or self.stream.closed():
                return False
            return not self._disconnect_on_finish or is_client
        except httputil.HTTPInputError as e:
            code = e.code if isinstance(e, _StatusError) else 400
            if not getattr(e, "quiet", False):
                gen_log.info("Malformed HTTP message from %s: %s", self.context, e)
            if not is_client and self.stream is not None:
                if not self._response_started:
                    await self._reject(code)
                else:
                    self.close()
            else:
                need_delegate_close = True
                self.close()
            return False
        except _QuietError:
            self.close()
            return False
        finally:
            if need_delegate_close:
                try:
                    delegate.on_connection_close()
                except Exception:
                    app_log.error("Uncaught exception", exc_info=True)
            if self._close_callback is not None:
                self._close_callback = None
            if self.stream is not None and not self.is_client:
                self.stream.set_close_callback(None)

    def _run_handler(
        self, delegate: httputil.HTTPMessageDelegate
    ) -> Awaitable[None] | None:
        """Call ``delegate.finish()`` and run the coroutine it may return inline.

        A coroutine returned by ``finish()`` (a whirlwind extension) runs in
        this connection's Task, each step in a copy of the context so that
        context variables never leak between requests on one connection.  If
        it completes without suspending it costs no Task, Future or loop
        iteration.  While it is suspended, a peer that disconnects triggers
        the connection's close callback, as with Tornado.  The connection
        *is* its Task, so ``asyncio.current_task()``, ``asyncio.timeout()``
        and cancellation behave in a handler as in any coroutine.
        """
        owner: Any = self._owner or self
        owner._corking = True
        ctx = _copy_context()
        ret = ctx.run(delegate.finish)
        if ret is None:
            return None
        return self._handler_returned(owner, ret, ctx)

    def _handler_returned(
        self, owner: Any, ret: Any, ctx: contextvars.Context
    ) -> Awaitable[None] | None:
        # The rest of _run_handler, for a finish() that returned something.
        if type(ret) is _CoroutineType:
            try:
                first = ctx.run(ret.send, None)
            except StopIteration:
                return None
            # It suspended: what it wrote so far goes out now, and the rest
            # of its writes go straight to the stream.
            owner._flush()
            # A handler that detached the stream (a websocket upgrade) owns
            # its close callback from then on.
            if self.stream is not None:
                self.stream.set_close_callback(self._on_connection_close)
            return self._run_suspended(owner, _InContext(ret, first, ctx))
        # Some other awaitable (a Future from a Task the application made):
        # the response is awaited below, like Tornado does.
        owner._flush()
        if isinstance(ret, asyncio.Future):
            if ret.done():
                ret.result()
                return None
            ret.add_done_callback(self._on_handler_done)
        else:
            asyncio.ensure_future(ret).add_done_callback(self._on_handler_done)
        return None

    async def _run_suspended(self, owner: Any, rest: _InContext) -> None:
        owner._in_handler = True
        try:
            await rest
        finally:
            owner._in_handler = False

    def _on_handler_done(self, fut: asyncio.Future[Any]) -> None:
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is not None:
            app_log.error("Uncaught exception", exc_info=exc)
            self.close()

    def _on_deadline(self) -> None:
        # Client-side timeouts (the server connection has its own).
        if self._in_body:
            gen_log.info("Timeout reading body from %s", self.context)
        if self.stream is not None:
            self.stream.close()

    def _can_keep_alive(self, version: str, headers: httputil.HTTPHeaders) -> bool:
        if self.params.no_keep_alive:
            return False
        d = headers._d
        if "Connection" not in d:
            return version == "HTTP/1.1"
        tokens = _connection_tokens(headers)
        if version == "HTTP/1.1":
            return "close" not in tokens
        if "keep-alive" not in tokens:
            return False
        if self.is_client:
            return "Content-Length" in d
        method = self._request_start_line.method if self._request_start_line else ""
        return (
            "Content-Length" in d
            or "Transfer-Encoding" in d
            or method in ("GET", "HEAD")
        )

    # -- connection state --------------------------------------------------

    def set_close_callback(self, callback: Callable[[], None] | None) -> None:
        """Run ``callback`` if the connection closes while a response is pending.

        Unlike `.HTTPMessageDelegate.on_connection_close`, this is for when
        the request has been read but the response is not finished.
        """
        self._close_callback = callback

    def _on_connection_close(self) -> None:
        callback = self._close_callback
        if callback is not None:
            self._close_callback = None
            callback()
        fut = self._finish_future
        if fut is not None and not fut.done():
            fut.set_result(None)

    def close(self) -> None:
        """Close the stream (if not detached) and wake anyone waiting."""
        if self.stream is not None:
            self.stream.close()
        self._close_callback = None
        fut = self._finish_future
        if fut is not None and not fut.done():
            fut.set_result(None)
        if self._owner is None:
            _Sweeper.discard(self)

    def detach(self) -> IOStream:
        """Stop HTTP processing and return the stream (for protocol upgrades).

        Call it from `.HTTPMessageDelegate.headers_received`.
        """
        self._close_callback = None
        stream = self.stream
        owner: Any = self._owner or self
        if owner._corking:
            # A corked 101 answer must reach the peer before anything the
            # new owner of the stream writes.
            owner._flush()
        if stream is not None:
            stream.set_close_callback(None)
        self.stream = None  # type: ignore[assignment]
        fut = self._finish_future
        if fut is not None and not fut.done():
            fut.set_result(None)
        if owner is not self:
            owner._detached = True
        return stream

    def set_body_timeout(self, timeout: float) -> None:
        """Override the body timeout for this message."""
        self._body_timeout = timeout

    def set_max_body_size(self, max_body_size: int) -> None:
        """Override the body size limit for this message."""
        self._max_body_size = max_body_size

    # -- writing -----------------------------------------------------------

    def write_headers(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
        chunk: bytes | None = None,
    ) -> asyncio.Future[None]:
        """Write the head, plus ``chunk`` as body data in the same write.

        Raises `ValueError` (an `.HTTPOutputError` too) if the start line or
        a header holds CR, LF or NUL, or text latin-1 cannot encode; nothing
        is written then.
        """
        if self.is_client:
            return self._write_request_head(start_line, headers, chunk)  # type: ignore[arg-type]
        resp: httputil.ResponseStartLine = start_line  # type: ignore[assignment]
        request = self._request_start_line
        assert request is not None
        code = resp.code
        head = _heads.get(resp)
        if head is None:
            head = _status_line(code, resp.reason)
            if len(_heads) < 512:
                _heads[resp] = head
        self._response_start_line = resp
        d = headers._d
        method = request.method
        if self._owner._draining or (self._body_pending and not self._read_finished):
            # Draining, or answering before the body was read: we will close.
            self._disconnect_on_finish = True
        if request.version == "HTTP/1.1":
            if self._disconnect_on_finish:
                headers["Connection"] = "close"
            chunking = (
                "Content-Length" not in d
                and method != "HEAD"
                and code not in (204, 304)
                and not 100 <= code < 200
                and "Transfer-Encoding" not in d
            )
        else:
            if not self._disconnect_on_finish:
                headers["Connection"] = "Keep-Alive"
            chunking = False
        if "Date" not in d:
            d["Date"] = http_date()
        if method == "HEAD" or code == 304:
            remaining: int | None = 0
        else:
            cl = d.get("Content-Length")
            if cl is None:
                remaining = None
            elif cl.__class__ is str:
                remaining = _lengths.get(cl)  # type: ignore[call-overload]
                if remaining is None:
                    remaining = parse_int(cl)  # type: ignore[arg-type]
                    if len(_lengths) < 1024:
                        _lengths[cl] = remaining  # type: ignore[index]
            else:
                remaining = parse_int(headers["Content-Length"])
        tail = None
        if chunking:
            self._chunking_output = True
            headers["Transfer-Encoding"] = "chunked"
        elif chunk and remaining is not None and chunk.__class__ is bytes:
            # The body goes out in the same write when it fits the declared
            # length (the common case); otherwise it is checked and framed
            # after the head.
            if len(chunk) <= remaining:
                tail = chunk
                remaining -= len(chunk)
        try:
            data = _format_head_c(head, d, tail)
        except ValueError as e:
            raise _HeaderInjectionError(str(e)) from None
        if data is None:
            data = _format_head(head, d, tail)
        self._response_started = True
        stream = self.stream
        if stream is None or stream.closed():
            if tail is not None:
                remaining += len(tail)  # type: ignore[operator]
            self._expected_content_remaining = remaining
            return _closed_future()
        self._expected_content_remaining = remaining
        if chunk and tail is None:
            data += self._format_chunk(chunk)
        owner = self._owner
        if (
            owner is not None
            and owner._corking
            and owner._cork_size + len(data) <= _CORK_MAX
        ):
            # self._send(data), its corking case inline.
            owner._cork.append(data)
            owner._cork_size += len(data)
            owner._cork_conn = self
            fut = owner._done_future
            if fut is None:
                fut = owner._done_future = self.stream._loop.create_future()
                fut.set_result(None)
            return fut  # type: ignore[no-any-return]
        return self._send(data)

    def _write_request_head(
        self,
        req: httputil.RequestStartLine,
        headers: httputil.HTTPHeaders,
        chunk: bytes | None,
    ) -> asyncio.Future[None]:
        self._request_start_line = req
        data, self._chunking_output = _request_head(req, headers)
        self._expected_content_remaining = None
        self._response_started = True
        stream = self.stream
        if stream is None or stream.closed():
            return _closed_future()
        if chunk:
            data += self._format_chunk(chunk)
        return self._send(data)

    def _send(self, data: bytes) -> asyncio.Future[None]:
        owner: Any = self._owner or self
        if owner._corking:
            cork = owner._cork
            if owner._cork_size + len(data) <= _CORK_MAX:
                cork.append(data)
                owner._cork_size += len(data)
                owner._cork_conn = self
                # Corked bytes count as written: hand out the connection's
                # one resolved Future (awaiting it returns at once).
                fut = owner._done_future
                if fut is None:
                    fut = owner._done_future = self.stream._loop.create_future()
                    fut.set_result(None)
                return fut  # type: ignore[no-any-return]
            owner._flush()  # keep the order, then write the big piece directly
        self._pending_write = w = self.stream.write(data)
        return w  # type: ignore[no-any-return]

    def _format_chunk(self, chunk: bytes) -> bytes:
        remaining = self._expected_content_remaining
        if remaining is not None:
            remaining -= len(chunk)
            self._expected_content_remaining = remaining
            if remaining < 0:
                self.stream.close()
                raise httputil.HTTPOutputError(
                    "Tried to write more data than Content-Length"
                )
        if self._chunking_output and chunk:
            return b"%x\r\n%b\r\n" % (len(chunk), chunk)
        return chunk

    def write(self, chunk: bytes) -> asyncio.Future[None]:
        """Write body data; the result resolves once it has been flushed."""
        stream = self.stream
        if stream is None or stream.closed():
            return _closed_future()
        return self._send(self._format_chunk(chunk))

    def finish(self, trailers: httputil.HTTPHeaders | None = None) -> None:
        """End the message.  ``trailers`` are sent after a chunked body."""
        remaining = self._expected_content_remaining
        if remaining and self.stream is not None and not self.stream.closed():
            self.stream.close()
            raise httputil.HTTPOutputError(
                f"Tried to write {remaining} bytes less than Content-Length"
            )
        stream = self.stream
        if self._chunking_output and stream is not None and not stream.closed():
            tail = b"0\r\n"
            if trailers:
                lines = [f"{n}: {v}" for n, v in trailers.get_all()]
                block = "\r\n".join(lines)
                if (
                    block.count("\n") != len(lines) - 1
                    or block.count("\r") != len(lines) - 1
                ):
                    raise _HeaderInjectionError(
                        "Illegal characters (CR or LF) in trailer"
                    )
                tail += block.encode("latin1") + b"\r\n"
            self._send(tail + b"\r\n")
        self._write_finished = True
        if not self._read_finished and (self.is_client or self._body_pending):
            # The request body was not read: the connection cannot be reused.
            self._disconnect_on_finish = True
        if stream is None:
            return
        if not self.is_client and self._disconnect_on_finish:
            self._close_after_flush()
        fut = self._finish_future
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _close_after_flush(self) -> None:
        owner: Any = self._owner or self
        if owner._corking:
            owner._flush()
        _close_after_flush(self.stream, self._pending_write)


def _log_serving_error(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        gen_log.error("Error serving connection", exc_info=fut.exception())


class HTTP1ServerConnection:
    """Serves the HTTP/1.x requests arriving on one stream, in order."""

    def __init__(
        self,
        stream: IOStream,
        params: HTTP1ConnectionParameters | None = None,
        context: object | None = None,
    ) -> None:
        self.stream = stream
        self.params = params if params is not None else HTTP1ConnectionParameters()
        self.context = context
        self._serving_future: asyncio.Future[None] | None = None
        self._deadline = 0.0
        self._in_body = False
        self._idle = False
        self._draining = False
        self._detached = False
        # Corked response bytes (see _CORK_MAX) and the connection that wrote
        # them last (its _pending_write becomes the real write).
        self._in_handler = False  # an inline handler is suspended
        self._corking = False
        self._cork: list[bytes] = []
        self._cork_size = 0
        self._cork_conn: HTTP1Connection | None = None
        self._done_future: asyncio.Future[None] | None = None
        self._flush_scheduled = False

    # Flush consolidation.  A keep-alive response whose connection now waits
    # for the next request is not sent at once: it stays corked until the
    # loop's next iteration, when every connection served in this one sends
    # its answer back to back.  A peer multiplexing many connections (a load
    # generator, a proxy) then wakes once for the whole batch instead of once
    # per response, which on a VM costs more CPU than the send itself.  The
    # delay is bounded by one loop iteration; anything that must go out now
    # (errors, detach, drain, bodies, suspended handlers) still calls _flush.
    def _flush_soon(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.stream._loop.call_soon(self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        self._flush_scheduled = False
        if self._corking:
            self._flush()

    def _flush(self) -> Any:
        """Send corked bytes in one write and stop corking.

        Returns the write's Future, or None if nothing was sent.
        """
        self._corking = False
        cork = self._cork
        if not cork:
            return None
        data = cork[0] if len(cork) == 1 else b"".join(cork)
        cork.clear()
        self._cork_size = 0
        conn = self._cork_conn
        self._cork_conn = None
        if self.stream.closed():
            return None
        w = self.stream.write(data)
        if conn is not None:
            conn._pending_write = w
        return w

    async def close(self) -> None:
        """Close the connection; resolves once the serving loop has ended.

        A handler still running inline on it is cancelled.
        """
        self.stream.close()
        fut = self._serving_future
        if fut is not None and self._in_handler and not fut.done():
            fut.cancel()
        if fut is not None and not fut.done():
            # wait() neither raises the loop's outcome (logged by its done
            # callback) nor cancels it if our own caller is cancelled.
            await asyncio.wait((fut,))

    def start_serving(self, delegate: httputil.HTTPServerConnectionDelegate) -> None:
        """Start serving with ``delegate`` (an `.HTTPServerConnectionDelegate`)."""
        assert isinstance(delegate, httputil.HTTPServerConnectionDelegate)
        fut = self.stream._loop.create_task(self._server_request_loop(delegate))
        fut.add_done_callback(_log_serving_error)
        self._serving_future = fut

    def drain(self) -> None:
        """Finish the request in progress (if any), then close.

        An idle keep-alive connection closes at once.
        """
        self._draining = True
        if self._idle:
            _close_after_flush(self.stream, self._flush() if self._corking else None)

    def _on_deadline(self) -> None:
        if self._in_body:
            gen_log.info("Timeout reading body from %s", self.context)
        self.stream.close()

    async def _server_request_loop(
        self, delegate: httputil.HTTPServerConnectionDelegate
    ) -> None:
        stream = self.stream
        params = self.params
        timed = params.header_timeout is not None or params.body_timeout is not None
        if timed:
            _Sweeper.add(
                self,
                min(
                    t
                    for t in (params.header_timeout, params.body_timeout)
                    if t is not None
                ),
            )
        burst = 0
        decompress = params.decompress
        new_conn = object.__new__
        context = self.context
        max_body = params.max_body_size
        no_keep_alive = params.no_keep_alive
        body_timeout = params.body_timeout
        last: HTTP1Connection | None = None
        try:
            while not self._draining:
                # HTTP1Connection(stream, False, params, context), storing
                # only what differs from the class-level defaults.
                conn = new_conn(HTTP1Connection)
                conn.stream = stream
                conn.params = params
                conn.context = context
                conn._owner = self
                conn._max_body_size = (
                    max_body if max_body is not None else stream.max_buffer_size
                )
                if no_keep_alive:
                    conn.no_keep_alive = True
                if body_timeout is not None:
                    conn._body_timeout = body_timeout
                request_delegate = delegate.start_request(self, conn)
                try:
                    ok = await (
                        conn._read_message(request_delegate)
                        if not decompress
                        else conn.read_response(request_delegate)
                    )
                except (StreamClosedError, UnsatisfiableReadError):
                    return
                except asyncio.CancelledError:
                    # The Task was cancelled (`close`, a TaskGroup, shutdown):
                    # what the handler answered goes out, the connection
                    # closes, and the Task ends cancelled as asyncio expects.
                    if self._corking:
                        self._flush()
                    _close_after_flush(stream, conn._pending_write)
                    raise
                except Exception:
                    gen_log.error("Uncaught exception", exc_info=True)
                    conn.close()
                    return
                last = conn
                if self._corking:
                    if not ok or self._detached or burst + 1 >= _PIPELINE_BURST:
                        self._flush()
                    elif not stream._read_buffer_size:
                        # Nothing more is waiting to be answered: send with
                        # the rest of this loop iteration's answers.
                        self._flush_soon()
                if not ok or self._detached:
                    return
                # Back-pressure: a peer that pipelines without reading its
                # responses waits here instead of growing our write buffer.
                w = conn._pending_write
                if stream.writing() and w is not None:
                    burst = 0
                    try:
                        await w
                    except StreamClosedError:
                        return
                else:
                    burst += 1
                    if burst >= _PIPELINE_BURST:
                        burst = 0
                        # Fairness: let other connections run before the
                        # next buffered request.  With nothing buffered the
                        # next read waits for the poller anyway.
                        if stream._read_buffer_size:
                            await asyncio.sleep(0)
        finally:
            if self._corking:
                self._flush()
            if timed:
                _Sweeper.discard(self)
            if self._draining and not self._detached:
                _close_after_flush(stream, last._pending_write if last else None)
            delegate.on_close(self)
