"""Buffered non-blocking streams over sockets and pipes, in the shape of
Tornado's ``tornado.iostream``.

The buffering, scanning and writing happen in the compiled
``whirlwind._core._Stream``; this module adds the socket, TLS and pipe
specifics and the documented API.  Both API generations work: Tornado 6
(methods return Futures) and the classic callback style of Tornado 2-4
(``stream.read_until(b"\\r\\n", callback)``; a callable where Tornado 6 takes
``partial``, ``max_bytes`` or ``server_hostname`` is the callback).

Contents:

* `BaseIOStream`: generic interface for reading and writing.
* `IOStream`: implementation of BaseIOStream using non-blocking sockets.
* `SSLIOStream`: SSL-aware version of IOStream.
* `PipeIOStream`: pipe-based IOStream implementation.
* `StreamClosedError`, `UnsatisfiableReadError`, `StreamBufferFullError`.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import functools
import logging
import os
import socket
import ssl
import sys
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from whirlwind._core import (
    StreamBufferFullError,
    StreamClosedError,
    UnsatisfiableReadError,
    _is_connreset,
    _Stream,
)
from whirlwind.netutil import ssl_options_to_context

__all__ = [
    "BaseIOStream",
    "IOStream",
    "SSLIOStream",
    "PipeIOStream",
    "StreamClosedError",
    "UnsatisfiableReadError",
    "StreamBufferFullError",
]

gen_log = logging.getLogger("whirlwind.general")

_IS_WINDOWS = sys.platform == "win32"
_T = TypeVar("_T", bound="IOStream")


def _current_loop() -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return asyncio.get_event_loop()


@functools.cache
def _client_ssl_defaults() -> ssl.SSLContext:
    # Built once: loading the system CA store takes tens of milliseconds.
    return ssl.create_default_context(ssl.Purpose.SERVER_AUTH)


@functools.cache
def _server_ssl_defaults() -> ssl.SSLContext:
    return ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)


def _wrap_socket(
    sock: socket.socket,
    ssl_options: dict[str, Any] | ssl.SSLContext,
    server_hostname: str | None,
    server_side: bool,
) -> ssl.SSLSocket:
    ctx = ssl_options_to_context(ssl_options, server_side)
    return ctx.wrap_socket(
        sock,
        server_side=server_side,
        do_handshake_on_connect=False,
        server_hostname=None if server_side else server_hostname,
    )


class BaseIOStream(_Stream):
    """A buffered, non-blocking stream over a file descriptor.

    Subclasses provide `fileno`, `close_fd`, and (for streams whose bytes are
    transformed, such as TLS) `read_from_fd`/`write_to_fd`.

    :arg max_buffer_size: most bytes buffered for reading (default 100 MiB);
        when full, reading stops so the sender is pushed back, and a read that
        a full buffer cannot satisfy closes the stream.
    :arg read_chunk_size: bytes asked of the kernel per read (default
        ``min(64 KiB, max_buffer_size / 2)``).
    :arg max_write_buffer_size: most bytes queued for writing; past it
        `write` raises `StreamBufferFullError` (default unlimited).
    """

    _is_socket_stream = False
    _hooked_stream = _IS_WINDOWS

    def __init__(
        self,
        max_buffer_size: int | None = None,
        read_chunk_size: int | None = None,
        max_write_buffer_size: int | None = None,
    ) -> None:
        cls = type(self)
        # A subclass that overrides read_from_fd/write_to_fd transforms the
        # bytes itself: route its I/O through those methods instead of C.
        hooked = (
            cls._hooked_stream
            or cls.read_from_fd not in _NATIVE_READERS
            or cls.write_to_fd not in _NATIVE_WRITERS
        )
        self._stream_setup(
            self.fileno(),
            _current_loop(),
            self._is_socket_stream,
            hooked,
            max_buffer_size,
            read_chunk_size,
            max_write_buffer_size,
        )

    @property
    def io_loop(self) -> Any:
        """The `whirlwind.ioloop.IOLoop` of this stream's asyncio loop."""
        try:
            from whirlwind.ioloop import IOLoop
        except ImportError:
            return self._loop
        return IOLoop.current()

    def fileno(self) -> int:
        """The file descriptor of this stream."""
        raise NotImplementedError()

    def close_fd(self) -> None:
        """Close the underlying file (called once, by `close`)."""
        raise NotImplementedError()

    def read_from_fd(self, buf: memoryview) -> int | None:
        """Read into ``buf``; the count, 0 at end of file, None when nothing
        is available.  Only used by hooked streams (TLS, Windows)."""
        raise NotImplementedError()

    def write_to_fd(self, data: memoryview) -> int:
        """Write some of ``data``; the count (0 when the fd would block)."""
        raise NotImplementedError()

    def get_fd_error(self) -> Exception | None:
        """The pending error of the fd, if the platform has one."""
        return None

    def set_nodelay(self, value: bool) -> None:
        """Disable Nagle's algorithm (only meaningful on TCP streams)."""

    def _is_connreset(self, exc: BaseException) -> bool:
        return _is_connreset(exc)


class IOStream(BaseIOStream):
    """A buffered stream over a non-blocking socket.

    ``stream = IOStream(socket.socket())`` then ``await stream.connect(addr)``,
    or wrap an accepted connection.  The socket is made non-blocking.
    """

    _is_socket_stream = True

    def __init__(self, socket: socket.socket, *args: Any, **kwargs: Any) -> None:
        self.socket = socket
        self.socket.setblocking(False)
        self._connect_future: asyncio.Future[Any] | None = None
        self._connect_callback: Callable[[], None] | None = None
        super().__init__(*args, **kwargs)

    def fileno(self) -> int:
        return self.socket.fileno()

    def close_fd(self) -> None:
        self.socket.close()
        self.socket = None  # type: ignore[assignment]

    def get_fd_error(self) -> Exception | None:
        err = self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        return OSError(err, os.strerror(err)) if err else None

    def read_from_fd(self, buf: memoryview) -> int | None:
        try:
            return self.socket.recv_into(buf, len(buf))
        except BlockingIOError:
            return None

    def write_to_fd(self, data: memoryview) -> int:
        try:
            return self.socket.send(data)
        except BlockingIOError:
            return 0

    def connect(
        self: _T,
        address: Any,
        server_hostname: str | Callable[[], None] | None = None,
        callback: Callable[[], None] | None = None,
    ) -> asyncio.Future[_T] | None:
        """Connect the socket to ``address`` without blocking.

        Returns a Future resolving to the stream, or with a classic
        ``callback`` (also accepted in the ``server_hostname`` position)
        returns None and calls ``callback()`` once connected.  Writes made
        while connecting are sent when the connection is up.
        """
        if callable(server_hostname):
            callback, server_hostname = server_hostname, None
        return self._connect(address, server_hostname, callback)

    def _connect(self, address: Any, server_hostname: str | None, callback: Any) -> Any:
        fut = None
        if callback is None:
            fut = self._loop.create_future()
        self._connect_future = fut
        self._connect_callback = callback
        self._set_mode(1)
        try:
            self.socket.connect(address)
        except BlockingIOError:
            pass
        except OSError as e:
            if fut is None:
                gen_log.warning("Connect error on fd %s: %s", self.fileno(), e)
            self.close(exc_info=e)
            return fut
        self._want_write(True)
        return fut

    def _handle_mode_event(self, events: int) -> None:
        if self._mode == 1:
            self._handle_connect()

    def _handle_connect(self) -> None:
        try:
            err = self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        except OSError as e:
            err = e.errno or errno.EINVAL
        if err != 0:
            self.error = OSError(err, os.strerror(err))
            if self._connect_future is None:
                gen_log.warning(
                    "Connect error on fd %s: %s",
                    self.fileno(),
                    errno.errorcode.get(err, err),
                )
            self.close(exc_info=self.error)
            return
        self._want_write(False)
        self._on_connected()

    def _on_connected(self) -> None:
        fut, cb = self._connect_future, self._connect_callback
        self._connect_future = self._connect_callback = None
        # Resolve the connect before flushing queued writes, so their
        # futures complete after it (callbacks run in resolution order).
        if fut is not None:
            if not fut.done():
                fut.set_result(self)
        elif cb is not None:
            self._loop.call_soon(self._run_callback, cb)
        self._set_mode(0)

    def _signal_closed(self) -> None:
        fut = self._connect_future
        self._connect_future = self._connect_callback = None
        if fut is not None:
            if not fut.done():
                fut.set_exception(StreamClosedError(real_error=self.error))
            if not fut.cancelled():
                fut.exception()
        super()._signal_closed()

    def start_tls(
        self,
        server_side: bool,
        ssl_options: dict[str, Any] | ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> asyncio.Future[SSLIOStream]:
        """Convert this stream to an `SSLIOStream` (STARTTLS).

        Only on an idle stream: no pending read or write, nothing buffered.
        Resolves to the new stream once the handshake is done; the close
        callback moves to the new stream.  This stream must not be used again.

        whirlwind reads ahead while a stream is idle, so call this right after
        the last clear-text exchange (``await stream.write(...)`` of a short
        reply does not yield when the kernel takes it): if the peer's first
        TLS record was already buffered, this raises ValueError as Tornado
        does for buffered data.
        """
        if (
            self.reading()
            or self.writing()
            or self._connect_future is not None
            or self.closed()
            or self._read_buffer_size
        ):
            raise ValueError("IOStream is not idle; cannot convert to SSL")
        if ssl_options is None:
            ssl_options = (
                _server_ssl_defaults() if server_side else _client_ssl_defaults()
            )
        sock = self.socket
        self._detach_fd()
        self.socket = None  # type: ignore[assignment]
        wrapped = _wrap_socket(sock, ssl_options, server_hostname, server_side)
        close_callback = self._take_close_callback()
        future: asyncio.Future[SSLIOStream] = self._loop.create_future()
        ssl_stream = SSLIOStream(
            wrapped,
            ssl_options=ssl_options,
            max_buffer_size=self.max_buffer_size,
            read_chunk_size=self.read_chunk_size,
        )
        ssl_stream.set_close_callback(close_callback)
        ssl_stream._ssl_connect_future = future
        future.add_done_callback(ssl_stream._close_if_cancelled)
        return future

    def set_nodelay(self, value: bool) -> None:
        if self.socket is not None and self.socket.family in (
            socket.AF_INET,
            socket.AF_INET6,
        ):
            try:
                self.socket.setsockopt(
                    socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if value else 0
                )
            except OSError as e:
                # EINVAL: the peer already closed (seen on macOS).
                if e.errno != errno.EINVAL and not self._is_connreset(e):
                    raise


class SSLIOStream(IOStream):
    """A TLS stream over a non-blocking socket.

    Wrap an ``ssl.SSLSocket`` made with ``do_handshake_on_connect=False``
    (servers), or a plain unconnected socket and call `connect` (clients).
    ``ssl_options`` is an `ssl.SSLContext` or a dict of old ``wrap_socket``
    keywords; certificates are verified by default.
    """

    _hooked_stream = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # None means the default client context, built when first needed.
        self._ssl_options: dict[str, Any] | ssl.SSLContext | None = kwargs.pop(
            "ssl_options", None
        )
        self._ssl_connect_future: asyncio.Future[Any] | None = None
        self._ssl_connect_callback: Callable[[], None] | None = None
        self._server_hostname: str | None = None
        self._ssl_accepting = True
        self._handshake_reading = False
        self._handshake_writing = False
        super().__init__(*args, **kwargs)
        try:
            self.socket.getpeername()
        except OSError:
            pass
        else:
            # Connected already: handshake on the first writable event.
            self._set_mode(2)
            self._want_write(True)

    def reading(self) -> bool:
        return self._handshake_reading or super().reading()

    def writing(self) -> bool:
        return self._handshake_writing or super().writing()

    def _handle_mode_event(self, events: int) -> None:
        if self._mode == 1:
            self._handle_connect()
        elif self._mode == 2:
            self._do_ssl_handshake()

    def _on_connected(self) -> None:
        # TCP is up: wrap, then handshake; the caller's future waits for it.
        plain_fut = self._connect_future
        self._connect_future = self._connect_callback = None
        if plain_fut is not None and not plain_fut.done():
            plain_fut.set_result(self)
        self._unregister_fd()
        try:
            self.socket = _wrap_socket(
                self.socket,
                self._ssl_options or _client_ssl_defaults(),
                self._server_hostname,
                False,
            )
        except (ssl.SSLError, OSError, ValueError) as e:
            self.close(exc_info=e)
            return
        self._set_mode(2)
        self._do_ssl_handshake()

    def _do_ssl_handshake(self) -> None:
        self._handshake_reading = self._handshake_writing = False
        try:
            self.socket.do_handshake()  # type: ignore[attr-defined]
        except ssl.SSLWantReadError:
            self._handshake_reading = True
            self._want_read()
            self._want_write(False)
            return
        except ssl.SSLWantWriteError:
            self._handshake_writing = True
            self._want_write(True)
            return
        except ssl.SSLError as err:
            if err.args[0] not in (ssl.SSL_ERROR_EOF, ssl.SSL_ERROR_ZERO_RETURN):
                try:
                    peer = self.socket.getpeername()
                except Exception:
                    peer = "(not connected)"
                gen_log.warning("SSL Error on %s %s: %s", self.fileno(), peer, err)
            self.close(exc_info=err)
            return
        except OSError as err:
            self.close(exc_info=err)
            return
        self._ssl_accepting = False
        self._want_write(False)
        self._finish_ssl_connect()  # before queued writes resolve (see above)
        self._set_mode(0)

    def _finish_ssl_connect(self) -> None:
        fut, cb = self._ssl_connect_future, self._ssl_connect_callback
        self._ssl_connect_future = self._ssl_connect_callback = None
        if fut is not None and not fut.done():
            fut.set_result(self)
        if cb is not None:
            self._loop.call_soon(self._run_callback, cb)

    def connect(  # type: ignore[override]
        self,
        address: Any,
        server_hostname: str | Callable[[], None] | None = None,
        callback: Callable[[], None] | None = None,
    ) -> asyncio.Future[SSLIOStream] | None:
        """Connect and complete the TLS handshake; ``server_hostname`` is
        used for SNI and certificate checks."""
        if callable(server_hostname):
            callback, server_hostname = server_hostname, None
        self._server_hostname = server_hostname
        fut = self._connect(address, server_hostname, None)
        if fut is not None:
            fut.add_done_callback(_retrieve)
        if callback is not None:
            self._ssl_connect_callback = callback
            return None
        return self.wait_for_handshake()

    def wait_for_handshake(self) -> asyncio.Future[SSLIOStream]:
        """A Future resolving to this stream once the handshake is done."""
        if self._ssl_connect_future is not None:
            raise RuntimeError("Already waiting")
        fut = self._ssl_connect_future = self._loop.create_future()
        if not self._ssl_accepting:
            self._finish_ssl_connect()
        return fut

    def _close_if_cancelled(self, fut: asyncio.Future[Any]) -> None:
        if fut.cancelled():
            self.close()

    def _signal_closed(self) -> None:
        fut = self._ssl_connect_future
        self._ssl_connect_future = self._ssl_connect_callback = None
        if fut is not None:
            if not fut.done():
                fut.set_exception(
                    self.error if self.error is not None else StreamClosedError()
                )
            if not fut.cancelled():
                fut.exception()
        super()._signal_closed()

    def read_from_fd(self, buf: memoryview) -> int | None:
        if self._ssl_accepting:
            return None
        if len(buf) >> 30:
            buf = buf[: 1 << 30]
        try:
            return self.socket.recv_into(buf, len(buf))
        except (ssl.SSLWantReadError, BlockingIOError):
            return None
        except ssl.SSLWantWriteError:
            # Renegotiation wants to write; the next event retries.
            return None

    def write_to_fd(self, data: memoryview) -> int:
        if len(data) >> 30:
            data = data[: 1 << 30]
        try:
            return self.socket.send(data)
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
            return 0

    def _is_connreset(self, exc: BaseException) -> bool:
        if isinstance(exc, ssl.SSLError) and exc.args[0] == ssl.SSL_ERROR_EOF:
            return True
        return super()._is_connreset(exc)


class PipeIOStream(BaseIOStream):
    """A stream over a pipe fd (as from `os.pipe`); the fd is made
    non-blocking and closed with the stream."""

    def __init__(self, fd: int, *args: Any, **kwargs: Any) -> None:
        self.fd = fd
        os.set_blocking(fd, False)
        super().__init__(*args, **kwargs)

    def fileno(self) -> int:
        return self.fd

    def close_fd(self) -> None:
        os.close(self.fd)

    def read_from_fd(self, buf: memoryview) -> int | None:
        try:
            return os.readv(self.fd, [buf])
        except BlockingIOError:
            return None

    def write_to_fd(self, data: memoryview) -> int:
        try:
            return os.write(self.fd, data)
        except BlockingIOError:
            return 0


# read_from_fd/write_to_fd of whirlwind's own classes: these mirror what the
# compiled read/write does, so streams using them keep the C path.
_NATIVE_READERS = frozenset(
    c.read_from_fd for c in (BaseIOStream, IOStream, SSLIOStream, PipeIOStream)
)
_NATIVE_WRITERS = frozenset(
    c.write_to_fd for c in (BaseIOStream, IOStream, SSLIOStream, PipeIOStream)
)


class _StreamBuffer:
    """A byte queue (the compiled stream keeps its own in C; this pure-Python
    one serves code that wants Tornado's private helper).

    Small appends are coalesced into bytearrays of up to
    ``_large_buf_threshold`` bytes; larger ones are kept as memoryviews, not
    copied.  ``_buffers`` holds ``(is_large, chunk)`` pairs and
    ``_first_pos`` the consumed offset into the first chunk.
    """

    def __init__(self) -> None:
        self._buffers: collections.deque[tuple[bool, bytearray | memoryview]] = (
            collections.deque()
        )
        self._first_pos = 0
        self._size = 0
        self._large_buf_threshold = 2048

    def __len__(self) -> int:
        return self._size

    def append(self, data: bytes | bytearray | memoryview) -> None:
        """Queue ``data`` (copied when small, viewed when large)."""
        size = memoryview(data).nbytes
        if size == 0:
            return
        if size > self._large_buf_threshold:
            view = memoryview(data)
            if view.format != "B" or view.ndim != 1:
                view = view.cast("B")
            self._buffers.append((True, view))
        else:
            last = self._buffers[-1] if self._buffers else None
            if last is None or last[0] or len(last[1]) >= self._large_buf_threshold:
                self._buffers.append((False, bytearray(data)))
            else:
                last[1].extend(data)  # type: ignore[union-attr]
        self._size += size

    def peek(self, size: int) -> memoryview:
        """A view of at most ``size`` bytes from the front (release it before
        changing the buffer)."""
        assert size > 0
        try:
            _, chunk = self._buffers[0]
        except IndexError:
            return memoryview(b"")
        pos = self._first_pos
        return memoryview(chunk)[pos : pos + size]

    def clear(self) -> None:
        """Drop everything, releasing views of callers' buffers."""
        for is_large, chunk in self._buffers:
            if is_large:
                chunk.release()  # type: ignore[union-attr]
        self._buffers.clear()
        self._first_pos = 0
        self._size = 0

    def advance(self, size: int) -> None:
        """Drop ``size`` bytes from the front."""
        assert 0 < size <= self._size
        self._size -= size
        pos = self._first_pos + size
        while self._buffers:
            _, chunk = self._buffers[0]
            n = len(chunk)
            if pos < n:
                break
            pos -= n
            is_large, chunk = self._buffers.popleft()
            if is_large:
                chunk.release()  # type: ignore[union-attr]
        self._first_pos = pos


def _retrieve(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()
