"""Private part of `whirlwind.http1connection`: message framing and body readers.

Contents:

* `parse_int`, `parse_hex_int`, `is_transfer_encoding_chunked` (public,
  re-exported by `whirlwind.http1connection`) and the strict framing checks
  `_content_length`, `_transfer_chunked`, `_connection_tokens`.
* `_parse_head`: the Python reference for ``whirlwind._core.parse_head``.
* `_error_response` / `_ERROR_RESPONSES`: the bare answers to bad requests.
* `HTTP1ConnectionParameters` (public, re-exported): limits and timeouts.
* `_BodyReader`: the body-reading half of `HTTP1Connection` (a mixin):
  fixed-length, chunked (with trailers) and until-close bodies, each bounded
  in size and in how long it may keep the loop busy; and ``_reject``, the
  error answer followed by a lingering close.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from whirlwind import httputil
from whirlwind._core import format_head as _format_head_c
from whirlwind._http1support import (
    _format_head,
    _HeaderInjectionError,
    _QuietError,
    _StatusError,
    _Sweeper,
)
from whirlwind.iostream import StreamClosedError, UnsatisfiableReadError

if TYPE_CHECKING:
    from whirlwind.iostream import IOStream

app_log = logging.getLogger("whirlwind.application")

# Bodies that are already buffered could monopolise the loop; yield after
# this much work.  A chunk costs _CHUNK_COST on top of its bytes.
_YIELD_THRESHOLD = 256 * 1024
_CHUNK_COST = 1024
# A chunk-size line (size plus extensions) longer than this is refused.
_MAX_CHUNK_LINE = 4096
# Chunk extensions carry nothing we use; bound their total per body.
_MAX_CHUNK_EXT_TOTAL = 65536
# Lingering close after an error: drain at most this much, this long.
_LINGER_BYTES = 1 << 20
_LINGER_SECONDS = 2.0

_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
_CHUNK_EXT_BAD = re.compile(rb"[\x00-\x08\x0A-\x1F\x7F]")
_TOKEN = httputil._ABNF.token.fullmatch
_DIGITS = re.compile(r"[0-9]+")
_HEXDIGITS = re.compile(r"[0-9a-fA-F]+")


class HTTP1ConnectionParameters:
    """Settings for `HTTP1Connection` and `HTTP1ServerConnection`.

    :arg no_keep_alive: close the connection after each message.
    :arg chunk_size: the most body bytes given to ``data_received`` at once
        (default 64 KiB).
    :arg max_header_size: the most bytes in a head (default 64 KiB); a
        longer one closes the connection.
    :arg header_timeout: seconds to wait for a complete head (also the idle
        keep-alive timeout); None waits forever.
    :arg max_body_size: the most body bytes (default: the stream's
        ``max_buffer_size``); a larger declared body is answered with 413.
    :arg body_timeout: seconds allowed to read a body; None waits forever.
    :arg decompress: decode ``Content-Encoding: gzip`` bodies, with the
        decompressed size also bounded by ``max_body_size``.
    :arg max_header_count: the most header fields in a head (default 100);
        more is answered with 431.
    """

    __slots__ = (
        "no_keep_alive",
        "chunk_size",
        "max_header_size",
        "header_timeout",
        "max_body_size",
        "body_timeout",
        "decompress",
        "max_header_count",
    )

    def __init__(
        self,
        no_keep_alive: bool = False,
        chunk_size: int | None = None,
        max_header_size: int | None = None,
        header_timeout: float | None = None,
        max_body_size: int | None = None,
        body_timeout: float | None = None,
        decompress: bool = False,
        *,
        max_header_count: int = 100,
    ) -> None:
        self.no_keep_alive = no_keep_alive
        self.chunk_size = chunk_size or 65536
        self.max_header_size = max_header_size or 65536
        self.header_timeout = header_timeout
        self.max_body_size = max_body_size
        self.body_timeout = body_timeout
        self.decompress = decompress
        self.max_header_count = max_header_count


# Public as whirlwind.http1connection.HTTP1ConnectionParameters.
HTTP1ConnectionParameters.__module__ = "whirlwind.http1connection"


def _error_response(code: int) -> bytes:
    reason = httputil.responses.get(code, "Error")
    # No body and the connection closes right after: the same bytes
    # Tornado sends, which every client understands.
    return f"HTTP/1.1 {code} {reason}\r\n\r\n".encode("latin1")


_ERROR_RESPONSES = {c: _error_response(c) for c in (400, 413, 431, 501)}


# -- framing helpers ------------------------------------------------------------------


def parse_int(s: str) -> int:
    """Parse a non-negative decimal integer made only of ASCII digits."""
    if _DIGITS.fullmatch(s) is None:
        raise ValueError(f"not an integer: {s!r}")
    return int(s)


def parse_hex_int(s: str) -> int:
    """Parse a non-negative hexadecimal integer made only of ASCII hex digits."""
    if _HEXDIGITS.fullmatch(s) is None:
        raise ValueError(f"not a hexadecimal integer: {s!r}")
    return int(s, 16)


def _content_length(
    headers: httputil.HTTPHeaders, allow_list: bool = False
) -> int | None:
    raw = headers._d.get("Content-Length")
    if raw is None:
        return None
    if raw.__class__ is list or "," in raw:
        values = raw if raw.__class__ is list else raw.split(",")  # type: ignore[union-attr]
        pieces = [v.strip(" \t") for v in values]
        if any(p != pieces[0] for p in pieces):
            raise _StatusError(
                400, f"Multiple unequal Content-Lengths: {headers['Content-Length']!r}"
            )
        if not allow_list:
            # Requests: a repeated length is a smuggling red flag (RFC 9112
            # section 6.3 lets a server reject it).
            raise _StatusError(
                400, f"Duplicate Content-Length: {headers['Content-Length']!r}"
            )
        raw = pieces[0]
    value = cast(str, raw)
    if not (value.isascii() and value.isdigit()):
        raise _StatusError(400, f"Only integer Content-Length is allowed: {value}")
    if len(value) > 18:
        raise _StatusError(400, f"Content-Length out of range: {value}")
    return int(value)


def _transfer_chunked(headers: httputil.HTTPHeaders, version: str) -> bool:
    """True for a valid ``Transfer-Encoding: chunked``; raises on anything else.

    The field is a comma-separated list of codings with optional whitespace;
    the last one must be ``chunked`` (else the length is unknowable: 400),
    ``chunked`` may appear once, and any other coding before it is valid
    framing that we do not implement (501).
    """
    raw = headers._d.get("Transfer-Encoding")
    if raw is None:
        return False
    te = headers["Transfer-Encoding"]
    if raw.__class__ is list:
        raise _StatusError(400, f"Unsupported Transfer-Encoding {te}")
    if "Content-Length" in headers._d:
        raise _StatusError(
            400, "Message with both Transfer-Encoding and Content-Length"
        )
    codings = [c.strip(" \t").lower() for c in te.split(",")]
    if codings == ["chunked"]:
        return True
    if not all(c and _TOKEN(c) for c in codings) or codings[-1] != "chunked":
        raise _StatusError(400, f"Unsupported Transfer-Encoding {te}")
    if codings.count("chunked") > 1:
        raise _StatusError(400, f"Unsupported Transfer-Encoding {te}")
    raise _StatusError(501, f"Unsupported Transfer-Encoding {te}")


def is_transfer_encoding_chunked(headers: httputil.HTTPHeaders) -> bool:
    """True if ``headers`` say ``Transfer-Encoding: chunked``.

    Raises `.HTTPInputError` for any other or ambiguous transfer coding, or
    when Content-Length is present too.
    """
    return _transfer_chunked(headers, "HTTP/1.1")


def _connection_tokens(headers: httputil.HTTPHeaders) -> list[str]:
    value = headers._d.get("Connection")
    if value is None:
        return []
    text = ",".join(value) if value.__class__ is list else str(value)
    return [t.strip(" \t").lower() for t in text.split(",")]


def _parse_head(data: bytes, max_count: int) -> tuple[str, httputil.HTTPHeaders]:
    # The Python reference for whirlwind._core.parse_head (tests compare them).
    text = data.decode("latin1")
    if text[0] in "\r\n":
        text = text.lstrip("\r\n")
    eol = text.find("\n")
    if eol < 0:
        return text, httputil.HTTPHeaders()
    start_line = text[:eol]
    if start_line.endswith("\r"):
        start_line = start_line[:-1]
    block = text[eol + 1 :]
    # The block ends with an empty line: count fields by line ends.
    if block.count("\n") - 1 > max_count:
        raise _StatusError(431, "too many header fields")
    return start_line, httputil.HTTPHeaders.parse(block)


class _BodyReader:
    """Reads a message body for `HTTP1Connection` (which supplies the fields)."""

    context: object | None
    _response_started: bool

    if TYPE_CHECKING:

        def close(self) -> None: ...

    stream: IOStream
    params: Any
    is_client: bool
    trailers: httputil.HTTPHeaders | None
    _owner: Any
    _body_timeout: float | None
    _max_body_size: int
    _write_finished: bool
    _deadline: float
    _in_body: bool

    async def _read_body_timed(
        self,
        chunked: bool,
        content_length: int | None,
        delegate: httputil.HTTPMessageDelegate,
    ) -> None:
        timeout = self._body_timeout
        owner: Any = self._owner or self
        if timeout is not None:
            if owner is self:
                _Sweeper.add(self, timeout)
            owner._deadline = self.stream._loop.time() + timeout
        owner._in_body = True
        try:
            if chunked:
                await self._read_chunked_body(delegate)
            elif content_length is not None:
                await self._read_fixed_body(content_length, delegate)
            else:
                await self._read_body_until_close(delegate)
        finally:
            owner._deadline = 0.0
            owner._in_body = False

    async def _deliver(
        self, delegate: httputil.HTTPMessageDelegate, data: bytes
    ) -> None:
        if not self._write_finished or self.is_client:
            try:
                ret = delegate.data_received(data)
                if ret is not None:
                    await ret
            except httputil.HTTPInputError:
                raise
            except (Exception, asyncio.CancelledError) as e:
                app_log.error("Uncaught exception", exc_info=True)
                raise _QuietError() from e

    async def _read_fixed_body(
        self, content_length: int, delegate: httputil.HTTPMessageDelegate
    ) -> None:
        stream = self.stream
        chunk_size = self.params.chunk_size
        if content_length <= chunk_size:
            await self._deliver(delegate, await stream.read_bytes(content_length))
            return
        work = 0
        while content_length > 0:
            body = await stream.read_bytes(
                min(chunk_size, content_length), partial=True
            )
            content_length -= len(body)
            await self._deliver(delegate, body)
            work += len(body)
            if work >= _YIELD_THRESHOLD:
                work = 0
                await asyncio.sleep(0)

    async def _read_chunked_body(self, delegate: httputil.HTTPMessageDelegate) -> None:
        # Small chunks are gathered in `pending` and delivered when it holds
        # chunk_size bytes, or before waiting for the network.
        stream = self.stream
        chunk_size = self.params.chunk_size
        max_size = self._max_body_size
        total = 0
        ext_total = 0
        work = 0
        pending = bytearray()

        async def read(fut: Any) -> bytes:
            if pending and not fut.done():
                data = bytes(pending)
                pending.clear()
                await self._deliver(delegate, data)
            return await fut  # type: ignore[no-any-return]

        while True:
            work += _CHUNK_COST
            if work >= _YIELD_THRESHOLD:
                work = 0
                await asyncio.sleep(0)
            try:
                line = await read(stream.read_until(b"\r\n", max_bytes=_MAX_CHUNK_LINE))
            except UnsatisfiableReadError:
                raise _StatusError(400, "invalid chunk size: line too long") from None
            size_part, semi, ext = line[:-2].partition(b";")
            if semi:
                size_part = size_part.rstrip(b" \t")
                if _CHUNK_EXT_BAD.search(ext):
                    raise _StatusError(400, "invalid chunk extension")
                ext_total += len(ext)
                if ext_total > _MAX_CHUNK_EXT_TOTAL:
                    raise _StatusError(400, "too much chunk extension data")
            if _HEX.fullmatch(size_part) is None:
                raise _StatusError(400, "invalid chunk size")
            size = int(size_part, 16)
            if size == 0:
                await self._read_trailers(read)
                if pending:
                    await self._deliver(delegate, bytes(pending))
                return
            total += size
            if total > max_size:
                raise _StatusError(413, "chunked body too large")
            if size <= chunk_size:
                data = await read(stream.read_bytes(size + 2))
                if data[-2:] != b"\r\n":
                    raise _StatusError(400, "improperly terminated chunk")
                if not pending and size == chunk_size:
                    await self._deliver(delegate, data[:-2])
                else:
                    pending += memoryview(data)[:-2]
                    if len(pending) >= chunk_size:
                        out = bytes(pending[:chunk_size])
                        del pending[:chunk_size]
                        await self._deliver(delegate, out)
                work += size
                continue
            remaining = size
            while remaining:
                piece = await read(
                    stream.read_bytes(min(remaining, chunk_size), partial=True)
                )
                remaining -= len(piece)
                pending += piece
                if len(pending) >= chunk_size:
                    out = bytes(pending[:chunk_size])
                    del pending[:chunk_size]
                    await self._deliver(delegate, out)
                work += len(piece)
                if work >= _YIELD_THRESHOLD:
                    work = 0
                    await asyncio.sleep(0)
            if await read(stream.read_bytes(2)) != b"\r\n":
                raise _StatusError(400, "improperly terminated chunk")

    async def _read_trailers(self, read: Callable[[Any], Awaitable[bytes]]) -> None:
        # trailer-section = *( field-line CRLF ) CRLF, bounded like a head.
        stream = self.stream
        budget = self.params.max_header_size
        lines: list[bytes] = []
        while True:
            try:
                line = await read(stream.read_until(b"\r\n", max_bytes=budget))
            except UnsatisfiableReadError:
                raise _StatusError(431, "trailer section too large") from None
            if line == b"\r\n":
                break
            budget -= len(line)
            if budget <= 0 or len(lines) >= self.params.max_header_count:
                raise _StatusError(431, "trailer section too large")
            lines.append(line)
        if lines:
            trailers = httputil.HTTPHeaders.parse(b"".join(lines).decode("latin1"))
            for forbidden in ("Content-Length", "Transfer-Encoding", "Host", "Trailer"):
                if forbidden in trailers:
                    raise _StatusError(400, f"{forbidden} not allowed in trailers")
            self.trailers = trailers

    async def _read_body_until_close(
        self, delegate: httputil.HTTPMessageDelegate
    ) -> None:
        total = 0
        work = 0
        while True:
            try:
                body = await self.stream.read_bytes(
                    self.params.chunk_size, partial=True
                )
            except StreamClosedError:
                return
            total += len(body)
            if total > self._max_body_size:
                raise httputil.HTTPInputError("Body too long")
            await self._deliver(delegate, body)
            work += len(body)
            if work >= _YIELD_THRESHOLD:
                work = 0
                await asyncio.sleep(0)

    async def _reject(self, code: int) -> None:
        """Send an error status, then close without a reset (lingering close)."""
        stream = self.stream
        self._response_started = self._write_finished = True
        owner: Any = self._owner or self
        if owner._corking:
            owner._flush()
        try:
            await stream.write(_ERROR_RESPONSES.get(code) or _error_response(code))
            sock = stream.socket
            if sock is None or isinstance(sock, ssl.SSLSocket):
                return
            sock.shutdown(socket.SHUT_WR)
            owner = self._owner or self
            if owner is self:
                _Sweeper.add(self, _LINGER_SECONDS)
            owner._deadline = stream._loop.time() + _LINGER_SECONDS
            drained = 0
            while drained < _LINGER_BYTES:
                drained += len(await stream.read_bytes(65536, partial=True))
        except (StreamClosedError, OSError):
            pass
        finally:
            self.close()


def _request_head(
    req: httputil.RequestStartLine, headers: httputil.HTTPHeaders
) -> tuple[bytes, bool]:
    """A client request's head, and whether its body goes out chunked (a
    POST, PUT or PATCH without Content-Length; the header is added)."""
    first = f"{req.method} {req.path} HTTP/1.1"
    if "\r" in first or "\n" in first or req.path.count(" ") or not _TOKEN(req.method):
        raise _HeaderInjectionError(f"Illegal request line {first!r}")
    head = first.encode("latin1") + b"\r\n"
    chunking = (
        req.method in ("POST", "PUT", "PATCH") and "Content-Length" not in headers._d
    )
    if chunking:
        headers["Transfer-Encoding"] = "chunked"
    try:
        data = _format_head_c(head, headers._d, None)
    except ValueError as e:
        raise _HeaderInjectionError(str(e)) from None
    if data is None:
        data = _format_head(head, headers._d, None)
    return data, chunking
