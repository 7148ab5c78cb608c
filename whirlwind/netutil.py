"""Network helpers: listening sockets, accept handlers, DNS resolvers and TLS contexts.

Contents:

* `bind_sockets`, `bind_unix_socket`: create non-blocking listening sockets.
* `add_accept_handler`: accept connections on a listening socket from the event loop.
* `is_valid_ip`: is a string a literal IPv4/IPv6 address?
* `Resolver` (configurable) and its implementations `DefaultLoopResolver` (the
  default), `DefaultExecutorResolver`, `ExecutorResolver`, `BlockingResolver`,
  `ThreadedResolver`, `OverrideResolver`.
* `ssl_options_to_context`, `ssl_wrap_socket`: accept either an `ssl.SSLContext`
  or the classic ``ssl_options`` dictionary.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import os
import socket
import ssl
import stat
from collections.abc import Awaitable, Callable
from typing import Any

from whirlwind.log import gen_log
from whirlwind.util import Configurable

_DEFAULT_BACKLOG = 128

# Errors from accept() that mean "the process or the system is out of resources".
# The listening socket stays readable, so retrying at once would spin; we pause.
_ACCEPT_RESOURCE_ERRNOS = frozenset(
    e
    for e in (
        getattr(errno, "EMFILE", None),
        getattr(errno, "ENFILE", None),
        getattr(errno, "ENOBUFS", None),
        getattr(errno, "ENOMEM", None),
    )
    if e is not None
)
_ACCEPT_PAUSE = 0.25  # seconds to stop accepting after a resource error

_AddrInfo = list[tuple[int, Any]]


def _event_loop() -> asyncio.AbstractEventLoop:
    """The running asyncio loop or, outside of one, the loop of `IOLoop.current()`.

    Servers are often set up before the loop runs (``server.listen(); IOLoop.current().start()``),
    so a missing running loop is not an error here.
    """
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        from whirlwind.ioloop import IOLoop

        io_loop = IOLoop.current()
        assert io_loop is not None
        return io_loop.asyncio_loop


# ---------------------------------------------------------------------------
# Listening sockets


def bind_sockets(
    port: int,
    address: str | None = None,
    family: socket.AddressFamily = socket.AF_UNSPEC,
    backlog: int = _DEFAULT_BACKLOG,
    flags: int | None = None,
    reuse_port: bool = False,
) -> list[socket.socket]:
    """Create non-blocking listening sockets bound to ``port`` on ``address``.

    One socket is returned per address that ``address`` resolves to (typically one
    IPv4 and one IPv6 socket for a host name or for all interfaces).

    :arg port: the port; ``0`` asks the system for a free one, and every returned
        socket then shares that same port.
    :arg address: an IP address or host name; ``None`` or ``""`` means all
        interfaces.
    :arg family: ``socket.AF_INET`` or ``socket.AF_INET6`` restricts the sockets to
        one family; the default uses every family the address resolves to.
    :arg backlog: passed to `socket.socket.listen`.
    :arg flags: ``AI_*`` flags for `socket.getaddrinfo` (default ``AI_PASSIVE``).
    :arg reuse_port: set ``SO_REUSEPORT`` so several processes may bind the same
        port; `ValueError` if the platform lacks it.
    """
    if reuse_port and not hasattr(socket, "SO_REUSEPORT"):
        raise ValueError("SO_REUSEPORT is not supported on this platform")
    if address == "":
        address = None
    if family == socket.AF_UNSPEC and not socket.has_ipv6:
        family = socket.AF_INET
    if flags is None:
        flags = socket.AI_PASSIVE
    infos: list[tuple[Any, ...]] = []
    for info in socket.getaddrinfo(address, port, family, socket.SOCK_STREAM, 0, flags):
        if info not in infos:
            infos.append(info)
    # Bind IPv4 first (stable sort keeps the resolver's order within a family).
    infos.sort(key=lambda info: int(info[0]))
    # With port 0 the first socket picks the port and the others reuse it; that
    # port may already be taken in another family, so pick again a few times.
    attempts = 8 if port == 0 and len(infos) > 1 else 1
    for _ in range(attempts - 1):
        sockets = _bind_all(infos, address, backlog, reuse_port, retry_in_use=True)
        if sockets is not None:
            return sockets
    sockets = _bind_all(infos, address, backlog, reuse_port, retry_in_use=False)
    assert sockets is not None
    return sockets


def _bind_all(
    infos: list[tuple[Any, ...]],
    address: str | None,
    backlog: int,
    reuse_port: bool,
    retry_in_use: bool,
) -> list[socket.socket] | None:
    """Bind one socket per addrinfo entry; None means "port clash, try again"."""
    sockets: list[socket.socket] = []
    bound_port: int | None = None
    try:
        for af, socktype, proto, _canon, sockaddr in infos:
            if af == socket.AF_INET6 and address == "localhost" and sockaddr[3] != 0:
                # A link-local ::1 alias (seen on macOS) would clash with ::1.
                continue
            try:
                sock = socket.socket(af, socktype, proto)
            except OSError as e:
                if e.errno == errno.EAFNOSUPPORT:
                    continue  # e.g. IPv6 compiled in but disabled
                raise
            sockets.append(sock)
            if os.name != "nt":
                # Allow restarting a server while old connections sit in TIME_WAIT.
                # (On Windows SO_REUSEADDR means something else: port stealing.)
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                except OSError as e:
                    if e.errno != errno.ENOPROTOOPT:
                        raise
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if af == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                # Separate sockets per family: an IPv6 socket must not also
                # claim the IPv4 port through mapped addresses.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if sockaddr[1] == 0 and bound_port is not None:
                sockaddr = (sockaddr[0], bound_port, *sockaddr[2:])
            sock.setblocking(False)
            try:
                sock.bind(sockaddr)
            except OSError as e:
                if (
                    e.errno == errno.EADDRNOTAVAIL
                    and address == "localhost"
                    and sockaddr[0] == "::1"
                ):
                    # "localhost" resolves to ::1 but the loopback has no IPv6.
                    sockets.pop().close()
                    continue
                if e.errno == errno.EADDRINUSE and retry_in_use and bound_port:
                    for s in sockets:
                        s.close()
                    return None
                raise
            bound_port = sock.getsockname()[1]
            sock.listen(backlog)
    except BaseException:
        for s in sockets:
            s.close()
        raise
    return sockets


if hasattr(socket, "AF_UNIX"):

    def bind_unix_socket(
        file: str, mode: int = 0o600, backlog: int = _DEFAULT_BACKLOG
    ) -> socket.socket:
        """Create a non-blocking listening Unix-domain socket at path ``file``.

        A stale socket file at that path is removed first; any other kind of file
        there raises `ValueError`. The socket file gets permissions ``mode``.
        A name starting with ``"\\0"`` is a Linux abstract socket (no file).
        Returns one socket (not a list, unlike `bind_sockets`).
        """
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            except OSError as e:
                if e.errno != errno.ENOPROTOOPT:
                    raise
            sock.setblocking(False)
            abstract = file.startswith("\0")
            if not abstract:
                try:
                    st = os.stat(file)
                except FileNotFoundError:
                    pass
                else:
                    if not stat.S_ISSOCK(st.st_mode):
                        raise ValueError(f"{file} exists and is not a socket")
                    os.remove(file)
            sock.bind(file)
            if not abstract:
                os.chmod(file, mode)
            sock.listen(backlog)
        except BaseException:
            sock.close()
            raise
        return sock


# ---------------------------------------------------------------------------
# Accepting connections
#
# Theory of operation: one reader callback per listening socket. Each readiness
# event accepts in a loop of at most `_DEFAULT_BACKLOG` connections, so a burst
# drains in one loop iteration yet a flood cannot starve other callbacks (the
# socket stays readable and we are called again next iteration). BlockingIOError
# ends the burst; ECONNABORTED (the peer gave up while queued) is skipped. When
# the process runs out of descriptors or memory the socket stays readable, so we
# stop watching it for `_ACCEPT_PAUSE` seconds instead of spinning. The remover
# sets a flag checked before each accept, so `stop()` from inside a callback
# takes effect within the same burst (the socket may already be closed).


class _Acceptor:
    """The accept handler of one listening socket (see the theory above).

    It is registered with `.IOLoop.add_handler`, as in Tornado, so that
    ``IOLoop.current().remove_handler(sock)`` also stops accepting.
    """

    __slots__ = ("sock", "fd", "callback", "io_loop", "removed", "watching")

    def __init__(
        self, sock: socket.socket, callback: Callable[[socket.socket, Any], None]
    ) -> None:
        from whirlwind.ioloop import IOLoop

        self.sock = sock
        self.fd = sock.fileno()  # the socket forgets it once closed
        self.callback = callback
        self.io_loop = IOLoop.current()
        self.removed = False
        self.watching = True
        self.io_loop.add_handler(sock, self.on_ready, IOLoop.READ)

    def on_ready(self, fd: Any, events: int) -> None:
        accept = self.sock.accept
        callback = self.callback
        for _ in range(_DEFAULT_BACKLOG):
            if self.removed:
                return
            try:
                connection, address = accept()
            except BlockingIOError:
                return
            except ConnectionAbortedError:
                continue
            except OSError as e:
                if self.sock.fileno() == -1:
                    # Closed without removing us (or by a callback of this
                    # burst): stop watching a number the OS may reuse.
                    self.remove()
                    return
                if e.errno not in _ACCEPT_RESOURCE_ERRNOS:
                    raise
                gen_log.error(
                    "accept() failed (%s); pausing for %.2fs", e, _ACCEPT_PAUSE
                )
                self.watching = False
                self.io_loop.remove_handler(self.fd)
                self.io_loop.call_later(_ACCEPT_PAUSE, self.resume)
                return
            callback(connection, address)

    def resume(self) -> None:
        if self.removed or self.watching or self.sock.fileno() == -1:
            return
        self.watching = True
        if not self.io_loop.asyncio_loop.is_closed():
            self.io_loop.add_handler(self.sock, self.on_ready, self.io_loop.READ)

    def remove(self) -> None:
        if self.removed:
            return
        self.removed = True
        if self.watching and not self.io_loop.asyncio_loop.is_closed():
            # A no-op if the application already removed it from the IOLoop.
            self.io_loop.remove_handler(self.fd)


def add_accept_handler(
    sock: socket.socket, callback: Callable[[socket.socket, Any], None]
) -> Callable[[], None]:
    """Accept connections on the listening socket ``sock`` from the event loop.

    ``callback(connection, address)`` is called for each new connection, with the
    connected socket and the peer's address (not the ``(fd, events)`` signature
    of `IOLoop.add_handler`).

    Returns a function that stops accepting: after it is called, ``callback`` is
    not called again, even for connections already accepted in the current burst.
    ``IOLoop.current().remove_handler(sock)`` stops accepting too.
    """
    return _Acceptor(sock, callback).remove


def is_valid_ip(ip: str) -> bool:
    """Return True if ``ip`` is a literal IPv4 or IPv6 address (no host names).

    IPv4 must be in dotted-quad form; IPv6 may carry a ``%scope`` suffix.
    """
    if not ip or not isinstance(ip, str) or "\x00" in ip:
        return False
    try:
        socket.inet_pton(socket.AF_INET, ip)
        return True
    except (OSError, ValueError):
        pass
    if not hasattr(socket, "AF_INET6"):
        return False
    addr, sep, scope = ip.partition("%")
    if sep and (not scope or any(c.isspace() for c in scope)):
        return False
    try:
        socket.inet_pton(socket.AF_INET6, addr)
        return True
    except (OSError, ValueError):
        return False


# ---------------------------------------------------------------------------
# Resolvers


class Resolver(Configurable):
    """Asynchronous host name resolution, configurable process-wide.

    ``Resolver()`` builds the configured implementation, `DefaultLoopResolver`
    unless changed with ``Resolver.configure("whirlwind.netutil.ThreadedResolver")``.
    Implementations: `DefaultLoopResolver`, `DefaultExecutorResolver`,
    `ExecutorResolver`, `BlockingResolver`, `ThreadedResolver`, `OverrideResolver`.
    """

    @classmethod
    def configurable_base(cls) -> type[Resolver]:
        return Resolver

    @classmethod
    def configurable_default(cls) -> type[Resolver]:
        return DefaultLoopResolver

    def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> Awaitable[_AddrInfo]:
        """Resolve ``host`` (a name or a literal address) for a TCP connection.

        Returns an awaitable whose result is a list of ``(family, address)`` pairs,
        where ``address`` is what `socket.socket.connect` takes (``(host, port)``
        for IPv4, ``(host, port, flowinfo, scope_id)`` for IPv6).

        :raises OSError: when the name cannot be resolved.
        """
        raise NotImplementedError()

    def close(self) -> None:
        """Release the resources held by this resolver (threads, executors)."""


def _getaddrinfo_pairs(
    host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
) -> _AddrInfo:
    # Looked up through the module on every call so that tests may replace it.
    infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
    return [(info[0], info[4]) for info in infos]


class DefaultLoopResolver(Resolver):
    """Resolve with the running event loop's `~asyncio.loop.getaddrinfo` (default)."""

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> _AddrInfo:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, family=family, type=socket.SOCK_STREAM
        )
        return [(info[0], info[4]) for info in infos]


class DefaultExecutorResolver(Resolver):
    """Resolve with `socket.getaddrinfo` in the event loop's default executor.

    .. deprecated:: 6.2 (Tornado) use `DefaultLoopResolver`.
    """

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> _AddrInfo:
        return await asyncio.get_running_loop().run_in_executor(
            None, _getaddrinfo_pairs, host, port, family
        )


class ExecutorResolver(Resolver):
    """Resolve with `socket.getaddrinfo` on a `concurrent.futures.Executor`.

    :arg executor: where lookups run; ``None`` runs them inline (blocking).
    :arg close_executor: shut the executor down in `close` (default True).
    """

    executor: concurrent.futures.Executor | None
    close_executor: bool

    def initialize(
        self,
        executor: concurrent.futures.Executor | None = None,
        close_executor: bool = True,
    ) -> None:
        self.executor = executor
        self.close_executor = close_executor and executor is not None

    def close(self) -> None:
        if self.close_executor and self.executor is not None:
            self.executor.shutdown()
        self.executor = None

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> _AddrInfo:
        if self.executor is None:
            return _getaddrinfo_pairs(host, port, family)
        future = self.executor.submit(_getaddrinfo_pairs, host, port, family)
        return await asyncio.wrap_future(future)


class BlockingResolver(ExecutorResolver):
    """Resolve with a blocking `socket.getaddrinfo` call on the loop's thread."""

    def initialize(self) -> None:  # type: ignore[override]
        super().initialize()


class ThreadedResolver(ExecutorResolver):
    """Resolve on a thread pool shared by every `ThreadedResolver` of the process.

    The pool is created by the first instance (with ``num_threads`` threads) and
    created anew in a forked child.
    """

    _threadpool: concurrent.futures.ThreadPoolExecutor | None = None
    _threadpool_pid: int | None = None

    def initialize(self, num_threads: int = 10) -> None:  # type: ignore[override]
        super().initialize(
            executor=ThreadedResolver._shared_pool(num_threads), close_executor=False
        )

    @classmethod
    def _shared_pool(cls, num_threads: int) -> concurrent.futures.ThreadPoolExecutor:
        pid = os.getpid()
        if (
            ThreadedResolver._threadpool is None
            or ThreadedResolver._threadpool_pid != pid
        ):
            # A pool inherited through fork() has no threads behind it.
            ThreadedResolver._threadpool = concurrent.futures.ThreadPoolExecutor(
                num_threads, thread_name_prefix="whirlwind-resolver"
            )
            ThreadedResolver._threadpool_pid = pid
        return ThreadedResolver._threadpool


class OverrideResolver(Resolver):
    """Wrap another resolver, replacing some names first (local DNS overrides).

    ``mapping`` keys and values may be::

        {
            "example.com": "127.0.1.1",                              # host
            ("login.example.com", 443): ("localhost", 1443),         # host, port
            ("login.example.com", 443, socket.AF_INET6): ("::1", 1443),
        }

    The most specific key wins: (host, port, family), then (host, port), then host.
    """

    resolver: Resolver
    mapping: dict[Any, Any]

    def initialize(  # type: ignore[override]
        self, resolver: Resolver, mapping: dict[Any, Any]
    ) -> None:
        self.resolver = resolver
        self.mapping = mapping

    def close(self) -> None:
        self.resolver.close()

    def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> Awaitable[_AddrInfo]:
        mapping = self.mapping
        if (host, port, family) in mapping:
            host, port = mapping[(host, port, family)]
        elif (host, port) in mapping:
            host, port = mapping[(host, port)]
        elif host in mapping:
            host = mapping[host]
        return self.resolver.resolve(host, port, family)


# ---------------------------------------------------------------------------
# TLS

# The keys of the classic dictionary form of ``ssl_options`` (the arguments of
# the old ``ssl.wrap_socket``).
_SSL_CONTEXT_KEYWORDS = frozenset(
    ["ssl_version", "certfile", "keyfile", "cert_reqs", "ca_certs", "ciphers"]
)


def ssl_options_to_context(
    ssl_options: dict[str, Any] | ssl.SSLContext, server_side: bool | None = None
) -> ssl.SSLContext:
    """Turn an ``ssl_options`` dictionary into an `ssl.SSLContext`.

    A context is returned unchanged. The dictionary may hold the keys
    ``ssl_version``, ``certfile``, ``keyfile``, ``cert_reqs``, ``ca_certs`` and
    ``ciphers``; any other key raises `ValueError`.

    :arg server_side: True for a server context, False for a client one (which
        verifies the peer by default). When None, a dictionary with a
        ``certfile`` makes a server context, any other a client context.
    """
    if isinstance(ssl_options, ssl.SSLContext):
        return ssl_options
    if not isinstance(ssl_options, dict):
        raise TypeError(
            f"ssl_options must be an ssl.SSLContext or a dict, not {type(ssl_options).__name__}"
        )
    unknown = set(ssl_options) - _SSL_CONTEXT_KEYWORDS
    if unknown:
        raise ValueError(f"unknown ssl_options keys: {', '.join(sorted(unknown))}")
    if server_side is None:
        server_side = "certfile" in ssl_options
    default = ssl.PROTOCOL_TLS_SERVER if server_side else ssl.PROTOCOL_TLS_CLIENT
    context = ssl.SSLContext(ssl_options.get("ssl_version", default))
    if "certfile" in ssl_options:
        context.load_cert_chain(ssl_options["certfile"], ssl_options.get("keyfile"))
    if "cert_reqs" in ssl_options:
        if ssl_options["cert_reqs"] == ssl.CERT_NONE:
            # Must come first: a context refuses CERT_NONE while checking names.
            context.check_hostname = False
        context.verify_mode = ssl_options["cert_reqs"]
    if "ca_certs" in ssl_options:
        context.load_verify_locations(ssl_options["ca_certs"])
    elif not server_side and context.verify_mode != ssl.CERT_NONE:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if "ciphers" in ssl_options:
        context.set_ciphers(ssl_options["ciphers"])
    # TLS compression leaks secrets (CRIME); it is off in modern OpenSSL anyway.
    context.options |= getattr(ssl, "OP_NO_COMPRESSION", 0)
    return context


def ssl_wrap_socket(
    socket: socket.socket,
    ssl_options: dict[str, Any] | ssl.SSLContext,
    server_hostname: str | None = None,
    server_side: bool | None = None,
    **kwargs: Any,
) -> ssl.SSLSocket:
    """Wrap ``socket`` in an `ssl.SSLSocket` built from ``ssl_options``.

    ``ssl_options`` is a context or a dictionary (see `ssl_options_to_context`);
    ``server_hostname`` is used for SNI and certificate name checks; extra keyword
    arguments go to `ssl.SSLContext.wrap_socket`.
    """
    context = ssl_options_to_context(ssl_options, server_side=server_side)
    if server_side is None:
        server_side = False
    return context.wrap_socket(
        socket, server_hostname=server_hostname, server_side=server_side, **kwargs
    )
