"""A non-blocking TCP connection factory with Happy Eyeballs (RFC 6555).

Contents:

* `TCPClient`: ``await TCPClient().connect(host, port)`` returns a connected
  `~whirlwind.iostream.IOStream` (an `~whirlwind.iostream.SSLIOStream` with
  ``ssl_options``).
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import numbers
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from whirlwind.iostream import IOStream
from whirlwind.netutil import Resolver, _event_loop

# How long the first address family gets before the other one is tried too.
_INITIAL_CONNECT_TIMEOUT = 0.3

_Addr = Any  # a socket address as getaddrinfo returns it
_AddrInfo = list[tuple[int, _Addr]]


def _format_addr(addr: Any) -> str:
    """``1.2.3.4:443`` for IPv4, ``[::1]:443`` for IPv6, `str` for anything else."""
    if isinstance(addr, tuple) and len(addr) >= 2:
        host, port = addr[0], addr[1]
        if isinstance(host, str) and ":" in host:
            return f"[{host}]:{port}"
        return f"{host}:{port}"
    return str(addr)


# Theory of operation (_Connector): the resolved addresses are split by family
# into a primary list (the family of the first address, which the resolver
# prefers) and a secondary list (all others). One attempt per list is in flight
# at a time, each list walked in order:
#
# * The primary list starts at once; the secondary list starts when the
#   `timeout` (0.3 s) fires, or as soon as any attempt fails, whichever is first.
# * A failed attempt (including one that fails synchronously, e.g. an address
#   family this host lacks, or one whose future is cancelled) moves its list on to
#   the next address. Synchronous failures are handled inline, so `start()` may
#   return an already-failed future.
# * The first success wins: the result future gets (af, addr, stream) and every
#   other stream is closed; later successes are closed on arrival.
# * `remaining` counts attempts not yet finished, including those never started;
#   when a list runs dry and `remaining` is 0, every address has failed and the
#   future gets the last real error (cancellations are not errors).
# * The optional `connect_timeout` deadline fails the future with TimeoutError
#   naming the addresses still being tried, and closes every stream.
# * If the caller cancels the result future, timers stop and streams close.


class _Connector:
    """Happy Eyeballs over ``addrinfo`` with ``connect(af, addr) -> (stream, future)``."""

    def __init__(
        self,
        addrinfo: _AddrInfo,
        connect: Callable[[int, _Addr], tuple[Any, Awaitable[Any]]],
    ) -> None:
        self.loop = _event_loop()
        self.connect = connect
        self.future: asyncio.Future[tuple[int, _Addr, Any]] = self.loop.create_future()
        self.timeout: asyncio.TimerHandle | None = None
        self.connect_timeout: asyncio.TimerHandle | None = None
        self.last_error: BaseException | None = None
        self.remaining = len(addrinfo)
        self.primary_addrs, self.secondary_addrs = self.split(addrinfo)
        self.streams: set[Any] = set()  # every stream but the winner
        self.pending_addrs: set[Any] = set()  # attempts in flight, for messages

    @staticmethod
    def split(addrinfo: _AddrInfo) -> tuple[_AddrInfo, _AddrInfo]:
        """Split ``addrinfo`` into (first address's family, every other family)."""
        if not addrinfo:
            return [], []
        first = addrinfo[0][0]
        primary = [(af, addr) for af, addr in addrinfo if af == first]
        secondary = [(af, addr) for af, addr in addrinfo if af != first]
        return primary, secondary

    def start(
        self,
        timeout: float = _INITIAL_CONNECT_TIMEOUT,
        connect_timeout: float | datetime.timedelta | None = None,
    ) -> asyncio.Future[tuple[int, _Addr, Any]]:
        """Start connecting; the future resolves to ``(af, addr, stream)``.

        :arg timeout: seconds before the secondary family is tried as well.
        :arg connect_timeout: overall deadline, as an absolute `IOLoop.time`
            (`time.time`) value or a `datetime.timedelta` from now.
        """
        # Timers first: an attempt may fail synchronously and skip ahead.
        self.timeout = self.loop.call_later(timeout, self.on_timeout)
        if connect_timeout is not None:
            if isinstance(connect_timeout, datetime.timedelta):
                delay = connect_timeout.total_seconds()
            else:
                delay = connect_timeout - time.time()
            self.connect_timeout = self.loop.call_later(
                max(delay, 0.0), self.on_connect_timeout
            )
        if not self.primary_addrs:
            self.future.set_exception(OSError("no addresses to connect to"))
        self.future.add_done_callback(self._on_future_done)
        self.try_connect(iter(self.primary_addrs))
        return self.future

    def try_connect(self, addrs: Iterator[tuple[int, _Addr]]) -> None:
        """Start an attempt on the next address of ``addrs``."""
        if self.future.done():
            return
        try:
            af, addr = next(addrs)
        except StopIteration:
            if self.remaining == 0:
                self.future.set_exception(
                    self.last_error or OSError("connection failed")
                )
                self.close_streams()
            return
        try:
            stream, attempt = self.connect(af, addr)
        except Exception as e:
            self._attempt_failed(addrs, e)
            return
        self.streams.add(stream)
        self.pending_addrs.add(addr)
        asyncio.ensure_future(attempt).add_done_callback(
            functools.partial(self._on_attempt_done, addrs, af, addr)
        )

    def _on_attempt_done(
        self,
        addrs: Iterator[tuple[int, _Addr]],
        af: int,
        addr: _Addr,
        attempt: asyncio.Future[Any],
    ) -> None:
        self.pending_addrs.discard(addr)
        if attempt.cancelled():
            self._attempt_failed(addrs, None)
            return
        error = attempt.exception()
        if error is not None:
            self._attempt_failed(addrs, error)
            return
        stream = attempt.result()
        self.remaining -= 1
        if self.future.done():
            stream.close()  # a late winner: someone else got there first
            return
        self._clear_timers()
        self.streams.discard(stream)
        self.future.set_result((af, addr, stream))
        self.close_streams()

    def _attempt_failed(
        self, addrs: Iterator[tuple[int, _Addr]], error: BaseException | None
    ) -> None:
        self.remaining -= 1
        if self.future.done():
            return
        if error is not None:
            self.last_error = error
        self.try_connect(addrs)
        if self.timeout is not None:
            # A failure is as good as a timeout: start the other family now.
            self.timeout.cancel()
            self.on_timeout()

    def on_timeout(self) -> None:
        """The primary family had its head start: try the secondary one too."""
        if self.timeout is not None:
            self.timeout.cancel()  # no-op when the timer itself called us
            self.timeout = None
        if not self.future.done():
            self.try_connect(iter(self.secondary_addrs))

    def on_connect_timeout(self) -> None:
        """The overall deadline passed: fail with TimeoutError, close everything."""
        self._clear_timers()
        if not self.future.done():
            if self.pending_addrs:
                where = ", ".join(sorted(_format_addr(a) for a in self.pending_addrs))
                message = f"Timeout while connecting to {where}"
            else:
                message = "Timeout while connecting"
            self.future.set_exception(TimeoutError(message))
        self.close_streams()

    def close_streams(self) -> None:
        for stream in self.streams:
            stream.close()

    def _clear_timers(self) -> None:
        if self.timeout is not None:
            self.timeout.cancel()
            self.timeout = None
        if self.connect_timeout is not None:
            self.connect_timeout.cancel()
            self.connect_timeout = None

    def _on_future_done(self, future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            # The caller gave up: do not leave half-open connections behind.
            self._clear_timers()
            self.close_streams()


async def _within(
    awaitable: Awaitable[Any], deadline: float | None, message: Callable[[], str]
) -> Any:
    """Await ``awaitable``; TimeoutError(message()) once `time.time()` passes ``deadline``.

    On timeout the awaitable is cancelled.
    """
    if deadline is None:
        return await awaitable
    future = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait((future,), timeout=max(deadline - time.time(), 0.0))
    if not done:
        future.cancel()
        raise TimeoutError(message())
    return future.result()


class TCPClient:
    """A non-blocking TCP connection factory.

    :arg resolver: the `~whirlwind.netutil.Resolver` for host names; by default a
        new ``Resolver()``, closed by `close`.
    """

    def __init__(self, resolver: Resolver | None = None) -> None:
        if resolver is not None:
            self.resolver = resolver
            self._own_resolver = False
        else:
            self.resolver = Resolver()
            self._own_resolver = True

    def close(self) -> None:
        """Close the resolver if this client created it."""
        if self._own_resolver:
            self.resolver.close()

    async def connect(
        self,
        host: str,
        port: int,
        af: socket.AddressFamily = socket.AF_UNSPEC,
        ssl_options: dict[str, Any] | ssl.SSLContext | None = None,
        max_buffer_size: int | None = None,
        source_ip: str | None = None,
        source_port: int | None = None,
        timeout: float | datetime.timedelta | None = None,
    ) -> IOStream:
        """Connect to ``host``:``port``; return the connected stream.

        Addresses of both families are tried Happy-Eyeballs style: the family
        the resolver lists first gets a 0.3 s head start.

        :arg af: restrict to ``AF_INET`` or ``AF_INET6``.
        :arg ssl_options: an `ssl.SSLContext` or ``ssl_options`` dictionary: the
            connection is upgraded with TLS (SNI and name checks use ``host``) and
            an `~whirlwind.iostream.SSLIOStream` is returned.
        :arg max_buffer_size: passed to the stream.
        :arg source_ip: local address to connect from.
        :arg source_port: local port to connect from.
        :arg timeout: seconds (or a `datetime.timedelta`) for the whole
            operation; `TimeoutError` says which phase ran out of time:
            resolving, connecting (naming the addresses tried) or the TLS handshake.
        :raises OSError: when every address fails.
        """
        deadline: float | None = None
        if timeout is not None:
            if isinstance(timeout, datetime.timedelta):
                deadline = time.time() + timeout.total_seconds()
            elif isinstance(timeout, numbers.Real):
                deadline = time.time() + float(timeout)
            else:
                raise TypeError(f"Unsupported timeout {timeout!r}")
        addrinfo = await _within(
            self.resolver.resolve(host, port, af),
            deadline,
            lambda: f"Timeout while resolving {host}",
        )
        connector = _Connector(
            addrinfo,
            functools.partial(
                self._create_stream,
                max_buffer_size,
                source_ip=source_ip,
                source_port=source_port,
            ),
        )
        _af, addr, stream = await connector.start(connect_timeout=deadline)
        if ssl_options is None:
            return stream  # type: ignore[no-any-return]
        tls = asyncio.ensure_future(
            stream.start_tls(False, ssl_options=ssl_options, server_hostname=host)
        )
        try:
            return await _within(  # type: ignore[no-any-return]
                tls,
                deadline,
                lambda: "Timeout during TLS handshake with " + _format_addr(addr),
            )
        finally:
            # On timeout or cancellation, cancelling the handshake closes the
            # TLS stream (which owns the socket now). No-op once it completed.
            tls.cancel()

    def _create_stream(
        self,
        max_buffer_size: int | None,
        af: int,
        addr: _Addr,
        source_ip: str | None = None,
        source_port: int | None = None,
    ) -> tuple[IOStream, Awaitable[IOStream]]:
        # Always plaintext here: TLS starts once one connection has won.
        sock = socket.socket(af)
        try:
            if source_ip or source_port:
                if source_ip:
                    local = source_ip
                else:
                    local = "::" if af == socket.AF_INET6 else "0.0.0.0"
                sock.bind((local, source_port or 0))
            stream = IOStream(sock, max_buffer_size=max_buffer_size)
        except BaseException:
            sock.close()
            raise
        connecting = stream.connect(addr)
        assert connecting is not None  # None only in the classic callback form
        return stream, connecting
