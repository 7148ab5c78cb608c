"""Private helpers of `whirlwind.http1connection`: response caches, the
deadline sweep, gzip decoding of bodies and the inline-handler trampoline.

Contents:

* `http_date` (compiled) / `_status_line`: cached pieces of response heads.
* `_Sweeper`: one timer per loop that closes connections past their deadline.
* `_GzipMessageDelegate`: bounded ``Content-Encoding: gzip`` decoding.
* `_InContext`: carry on a coroutine already stepped once, in its own context.
* `_format_head`: the Python reference for ``whirlwind._core.format_head``.
* `_closed_future`, `_close_after_flush`, `_header_text`.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import zlib
from collections.abc import Awaitable
from typing import Any

from whirlwind import httputil
from whirlwind._core import http_date as http_date  # compiled, cached per second
from whirlwind.iostream import IOStream, StreamClosedError

gen_log = logging.getLogger("whirlwind.general")


class _HeaderInjectionError(httputil.HTTPOutputError, ValueError):
    """CR or LF in an outgoing start line or header (nothing was written)."""


class _QuietError(Exception):
    """A delegate raised; it was logged and the connection must close."""


class _StatusError(httputil.HTTPInputError):
    """Bad input that deserves a specific status code (400 when raised plain)."""

    def __init__(self, code: int, message: str, quiet: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.quiet = quiet  # already logged where it was raised


# -- cached pieces of responses ---------------------------------------------------

_status_lines: dict[tuple[int, str], bytes] = {}


def _status_line(code: int, reason: str) -> bytes:
    line = _status_lines.get((code, reason))
    if line is None:
        if "\r" in reason or "\n" in reason:
            raise _HeaderInjectionError(
                f"Illegal characters (CR or LF) in reason {reason!r}"
            )
        line = f"HTTP/1.1 {code} {reason}\r\n".encode("latin1")
        if len(_status_lines) < 512:
            _status_lines[(code, reason)] = line
    return line


# -- deadline sweep -------------------------------------------------------------------


class _Sweeper:
    """Closes connections whose ``_deadline`` (loop time) has passed.

    One per event loop.  Connections register once; per request they only
    store a float.  The check runs every ``interval`` seconds (at most 1 s,
    less when a registered timeout is shorter) while anything is registered.
    """

    _by_loop: dict[asyncio.AbstractEventLoop, _Sweeper] = {}

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.members: set[Any] = set()
        self.interval = 1.0
        self.handle: asyncio.TimerHandle | None = None

    @classmethod
    def add(cls, owner: Any, timeout: float | None) -> None:
        loop = asyncio.get_running_loop()
        sw = cls._by_loop.get(loop)
        if sw is None:
            sw = cls._by_loop[loop] = _Sweeper(loop)
        sw.members.add(owner)
        if timeout is not None:
            sw.interval = max(0.02, min(sw.interval, timeout / 2))
        if sw.handle is None:
            sw.handle = loop.call_later(sw.interval, sw.sweep)

    @classmethod
    def discard(cls, owner: Any) -> None:
        for loop, sw in list(cls._by_loop.items()):
            sw.members.discard(owner)
            if not sw.members:
                # Nothing left to watch: drop the timer and the loop reference
                # now, so a loop that stops soon after is not kept alive.
                if sw.handle is not None:
                    sw.handle.cancel()
                    sw.handle = None
                del cls._by_loop[loop]

    def sweep(self) -> None:
        self.handle = None
        if self.loop.is_closed():
            self._by_loop.pop(self.loop, None)
            return
        now = self.loop.time()
        for owner in [m for m in self.members if 0.0 < m._deadline <= now]:
            owner._deadline = 0.0
            try:
                owner._on_deadline()
            except Exception:
                gen_log.error("Error in connection timeout", exc_info=True)
        if self.members:
            self.handle = self.loop.call_later(self.interval, self.sweep)
        else:
            self.interval = 1.0
            self._by_loop.pop(self.loop, None)


class _InContext:
    """Awaitable that carries on a coroutine already stepped once, in ``ctx``.

    ``first`` is what the coroutine yielded on its first step (normally the
    Future it waits for).  The awaiting Task sees exactly what it would have
    seen awaiting the coroutine itself, but every step runs inside ``ctx``
    (`contextvars.Context.run`), so a request's context variables stay its
    own although it shares its connection's Task with other requests.
    """

    __slots__ = ("coro", "first", "ctx")

    def __init__(self, coro: Any, first: Any, ctx: contextvars.Context) -> None:
        self.coro = coro
        self.first = first
        self.ctx = ctx

    def __await__(self) -> Any:
        coro = self.coro
        run = self.ctx.run
        to_yield = self.first
        self.first = None
        while True:
            try:
                sent = yield to_yield
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as e:
                try:
                    to_yield = run(coro.throw, e)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    to_yield = run(coro.send, sent)
                except StopIteration as stop:
                    return stop.value


def _header_text(value: Any) -> str:
    # Values given as bytes go out as the same bytes.
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin1")
    return str(value)


def _format_head(first: bytes, fields: dict[str, Any], tail: bytes | None) -> bytes:
    """``first`` + the field lines + an empty line + ``tail``, in Python.

    The reference for whirlwind._core.format_head (tests compare them), and
    the path for values that are not plain str (bytes go out as the same
    bytes, anything else as ``str(value)``).  Raises _HeaderInjectionError
    for CR, LF or NUL in a name or value, or text latin-1 cannot encode.
    """
    lines = []
    for n, v in fields.items():
        if v.__class__ is list:
            for item in v:
                lines.append(f"{n}: {_header_text(item)}")
        else:
            lines.append(f"{n}: {_header_text(v)}")
    if not lines:
        return first + (b"\r\n" + tail if tail else b"\r\n")
    block = "\r\n".join(lines)
    # Each separator adds exactly one CR and one LF; any other is injected
    # by a name or value.
    if (
        block.count("\n") != len(lines) - 1
        or block.count("\r") != len(lines) - 1
        or "\0" in block
    ):
        raise _HeaderInjectionError("Illegal characters (CR, LF or NUL) in header")
    try:
        data = first + block.encode("latin1") + b"\r\n\r\n"
    except UnicodeEncodeError as e:
        raise _HeaderInjectionError(f"Header not encodable as latin-1: {e}") from e
    return data + tail if tail else data


def _closed_future() -> asyncio.Future[None]:
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    fut.set_exception(StreamClosedError())
    fut.exception()  # retrieved: no "never retrieved" warning
    return fut


def _close_after_flush(stream: IOStream, pending: Any) -> None:
    """Close ``stream`` once ``pending`` (its last write) has been flushed."""
    if stream.closed():
        return
    if pending is not None and stream.writing():
        if not isinstance(pending, asyncio.Future):
            pending = asyncio.ensure_future(pending)

        def close(fut: asyncio.Future[None]) -> None:
            if not fut.cancelled():
                fut.exception()
            stream.close()

        pending.add_done_callback(close)
    else:
        stream.close()


class _GzipMessageDelegate(httputil.HTTPMessageDelegate):
    """Decodes ``Content-Encoding: gzip`` bodies for the wrapped delegate.

    Output is produced at most ``chunk_size`` bytes at a time and the total
    is bounded by ``max_body_size`` (413), so a small bomb cannot expand in
    memory.
    """

    def __init__(
        self,
        delegate: httputil.HTTPMessageDelegate,
        chunk_size: int,
        max_body_size: int,
    ) -> None:
        self._delegate = delegate
        self._chunk_size = chunk_size
        self._max_body_size = max_body_size
        self._size = 0
        self._fed = False  # compressed bytes seen (a HEAD answer has none)
        self._decompressor: Any = None

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        if headers.get("Content-Encoding", "").lower() == "gzip":
            self._decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
            headers.add("X-Consumed-Content-Encoding", headers["Content-Encoding"])
            del headers["Content-Encoding"]
        return self._delegate.headers_received(start_line, headers)

    async def data_received(self, chunk: bytes) -> None:
        if self._decompressor is None:
            ret = self._delegate.data_received(chunk)
            if ret is not None:
                await ret
            return
        data = chunk
        if data:
            self._fed = True
        while data:
            d = self._decompressor
            if d.eof:
                # Another gzip member follows (RFC 1952 allows several).
                d = self._decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                out = d.decompress(data, self._chunk_size)
            except zlib.error as e:
                raise httputil.HTTPInputError(f"invalid gzip data: {e}") from e
            if out:
                await self._emit(out)
            if d.eof:
                data = d.unused_data
            else:
                tail = d.unconsumed_tail
                if not out and len(tail) >= len(data):
                    raise httputil.HTTPInputError("invalid gzip data: no progress")
                data = tail

    async def _emit(self, out: bytes) -> None:
        self._size += len(out)
        if self._size > self._max_body_size:
            raise _StatusError(413, "decompressed body too large")
        ret = self._delegate.data_received(out)
        if ret is not None:
            await ret

    def finish(self) -> Awaitable[None] | None:
        d = self._decompressor
        if d is not None and self._fed and not d.eof:
            raise httputil.HTTPInputError("invalid gzip data: truncated")
        return self._delegate.finish()

    def on_connection_close(self) -> None:
        self._delegate.on_connection_close()
