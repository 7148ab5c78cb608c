"""A non-blocking, single-threaded TCP server: subclass `TCPServer`, override `handle_stream`.

Contents:

* `TCPServer`: accepts connections on listening sockets and hands each one, as an
  `~whirlwind.iostream.IOStream` (or `~whirlwind.iostream.SSLIOStream` with
  ``ssl_options``), to `TCPServer.handle_stream`.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from whirlwind import process
from whirlwind.iostream import IOStream, SSLIOStream
from whirlwind.log import app_log
from whirlwind.netutil import (
    _DEFAULT_BACKLOG,
    add_accept_handler,
    bind_sockets,
    ssl_options_to_context,
)

# Errors while wrapping an accepted socket in TLS that only mean "the peer has
# already gone": drop the connection quietly.
_GONE_ERRNOS = frozenset((errno.ECONNABORTED, errno.EINVAL, errno.ENOTCONN))
_TCP_FAMILIES = (socket.AF_INET, socket.AF_INET6)


class TCPServer:
    """A non-blocking, single-threaded TCP server.

    Subclass it and override `handle_stream`, which receives one stream per
    accepted connection::

        class EchoServer(TCPServer):
            async def handle_stream(self, stream, address):
                while True:
                    try:
                        line = await stream.read_until(b"\\n")
                    except StreamClosedError:
                        break
                    await stream.write(line)

    Start it in one of three ways:

    1. `listen` (one process)::

           async def main():
               server = EchoServer()
               server.listen(8888)
               await asyncio.Event().wait()

           asyncio.run(main())

    2. `add_sockets` after `~whirlwind.process.fork_processes` (several
       processes sharing the sockets)::

           sockets = bind_sockets(8888)
           fork_processes(0)

           async def post_fork_main():
               server = EchoServer()
               server.add_sockets(sockets)
               await asyncio.Event().wait()

           asyncio.run(post_fork_main())

    3. `bind` + `start` (deprecated by Tornado 6.2 for several processes)::

           server = EchoServer()
           server.bind(8888)
           server.start(0)  # forks one process per CPU
           IOLoop.current().start()

    Every accepted TCP connection gets ``TCP_NODELAY``: servers answer in whole
    messages, and Nagle's algorithm would hold back the last segment of each.

    :arg ssl_options: an `ssl.SSLContext`, or a dictionary for
        `~whirlwind.netutil.ssl_options_to_context` (it must name an existing
        ``certfile``); connections are then `~whirlwind.iostream.SSLIOStream`\\s.
        Handshake failures are logged and the connection dropped.
    :arg max_buffer_size: passed to each stream.
    :arg read_chunk_size: passed to each stream.
    """

    def __init__(
        self,
        ssl_options: dict[str, Any] | ssl.SSLContext | None = None,
        max_buffer_size: int | None = None,
        read_chunk_size: int | None = None,
    ) -> None:
        self.ssl_options = ssl_options
        self.max_buffer_size = max_buffer_size
        self.read_chunk_size = read_chunk_size
        self._sockets: dict[int, socket.socket] = {}  # fd -> listening socket
        self._handlers: dict[int, Callable[[], None]] = {}  # fd -> remover
        self._pending_sockets: list[socket.socket] = []  # bound, awaiting start()
        self._started = False
        self._stopped = False
        self._tasks: set[asyncio.Future[Any]] = (
            set()
        )  # running handle_stream coroutines
        self._ssl_context: ssl.SSLContext | None = None
        if isinstance(ssl_options, dict):
            # Catch configuration mistakes now, not at the first connection.
            if "certfile" not in ssl_options:
                raise KeyError('missing key "certfile" in ssl_options')
            if not os.path.exists(ssl_options["certfile"]):
                raise ValueError(f'certfile "{ssl_options["certfile"]}" does not exist')
            keyfile = ssl_options.get("keyfile")
            if keyfile is not None and not os.path.exists(keyfile):
                raise ValueError(f'keyfile "{keyfile}" does not exist')
        if ssl_options is not None:
            # Built once: loading the certificate per connection would be slow.
            self._ssl_context = ssl_options_to_context(ssl_options, server_side=True)

    def listen(
        self,
        port: int,
        address: str | None = None,
        family: socket.AddressFamily = socket.AF_UNSPEC,
        backlog: int = _DEFAULT_BACKLOG,
        flags: int | None = None,
        reuse_port: bool = False,
    ) -> None:
        """Listen on ``port`` (and ``address``) and start accepting connections.

        Takes the arguments of `~whirlwind.netutil.bind_sockets`. May be called
        several times to listen on several ports. Connections are accepted once
        the event loop runs.
        """
        self.add_sockets(
            bind_sockets(
                port,
                address=address,
                family=family,
                backlog=backlog,
                flags=flags,
                reuse_port=reuse_port,
            )
        )

    def add_sockets(self, sockets: Iterable[socket.socket]) -> None:
        """Accept connections on these listening sockets (from `bind_sockets`)."""
        for sock in sockets:
            fd = sock.fileno()
            self._sockets[fd] = sock
            # Decide per listening socket, not per connection, whether accepted
            # sockets are TCP (reading socket.family costs a Python call).
            if sock.family in _TCP_FAMILIES:
                on_accept = self._handle_tcp_connection
            else:
                on_accept = self._handle_connection
            self._handlers[fd] = add_accept_handler(sock, on_accept)

    def add_socket(self, socket: socket.socket) -> None:
        """Accept connections on one listening socket."""
        self.add_sockets([socket])

    def bind(
        self,
        port: int,
        address: str | None = None,
        family: socket.AddressFamily = socket.AF_UNSPEC,
        backlog: int = _DEFAULT_BACKLOG,
        flags: int | None = None,
        reuse_port: bool = False,
    ) -> None:
        """Bind to ``port`` now; accept connections once `start` is called.

        Takes the arguments of `~whirlwind.netutil.bind_sockets`. May be called
        several times before `start`. After `start`, it behaves like `listen`.
        """
        sockets = bind_sockets(
            port,
            address=address,
            family=family,
            backlog=backlog,
            flags=flags,
            reuse_port=reuse_port,
        )
        if self._started:
            self.add_sockets(sockets)
        else:
            self._pending_sockets.extend(sockets)

    def start(
        self, num_processes: int | None = 1, max_restarts: int | None = None
    ) -> None:
        """Start accepting on the sockets from `bind`, forking first if asked.

        ``num_processes`` other than 1 calls
        `~whirlwind.process.fork_processes` (None or ``<= 0``: one per CPU) and
        each child then accepts on the shared sockets; ``max_restarts`` is passed
        along. No event loop may exist before forking.
        """
        if self._started:
            raise RuntimeError("TCPServer.start() called twice")
        self._started = True
        if num_processes != 1:
            process.fork_processes(num_processes, max_restarts)
        sockets, self._pending_sockets = self._pending_sockets, []
        self.add_sockets(sockets)

    def stop(self) -> None:
        """Stop accepting and close the listening sockets (idempotent).

        Connections already accepted stay open. Safe to call from inside
        `handle_stream`, even while a burst of connections is being accepted.
        """
        if self._stopped:
            return
        self._stopped = True
        for fd, sock in self._sockets.items():
            self._handlers.pop(fd)()
            sock.close()
        self._sockets.clear()
        for sock in self._pending_sockets:
            sock.close()
        self._pending_sockets.clear()

    def handle_stream(self, stream: IOStream, address: Any) -> Awaitable[None] | None:
        """Handle one new connection; override this.

        ``address`` is the peer's address as returned by `socket.socket.accept`.
        It may be a coroutine (``async def``) or return an awaitable: an
        exception that escapes it is logged on ``whirlwind.application``.
        """
        raise NotImplementedError()

    def _handle_tcp_connection(self, connection: socket.socket, address: Any) -> None:
        try:
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass  # the peer reset it already; the stream will find out
        self._handle_connection(connection, address)

    def _handle_connection(self, connection: socket.socket, address: Any) -> None:
        stream: IOStream | None = None
        try:
            if self._ssl_context is not None:
                try:
                    connection = self._ssl_context.wrap_socket(
                        connection, server_side=True, do_handshake_on_connect=False
                    )
                except ssl.SSLError as e:
                    if e.args[0] == ssl.SSL_ERROR_EOF:
                        connection.close()
                        return
                    raise
                except OSError as e:
                    if e.errno in _GONE_ERRNOS:
                        connection.close()
                        return
                    raise
                # Hand over our context: without one the stream would build a
                # default context (loading the system CA store) per connection.
                stream = SSLIOStream(
                    connection,
                    ssl_options=self._ssl_context,
                    max_buffer_size=self.max_buffer_size,
                    read_chunk_size=self.read_chunk_size,
                )
            else:
                stream = IOStream(
                    connection,
                    max_buffer_size=self.max_buffer_size,
                    read_chunk_size=self.read_chunk_size,
                )
            result = self.handle_stream(stream, address)
        except Exception:
            # Never let one bad connection end the accept burst for the others.
            app_log.error("Error in connection callback", exc_info=True)
            if stream is None:
                connection.close()  # nobody owns it yet
            return
        if result is not None:
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._on_handler_done)

    def _on_handler_done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            app_log.error(
                "Exception in callback %r",
                self.handle_stream,
                exc_info=(type(exc), exc, exc.__traceback__),
            )
