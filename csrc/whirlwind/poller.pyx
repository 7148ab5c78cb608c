# Poller implementation: the Python face of ww_poll_t (csrc/include/ww_poll.h).
#
# Theory of operation: all readiness logic is in C.  This file chooses the
# backend (argument, then WHIRLWIND_POLLER, then the best compiled in), owns
# the event array, and turns the C return conventions into exceptions.  The
# wait drops the GIL only when it may block; on EINTR it runs the Python
# signal handlers (an exception from one ends the wait) and retries with the
# time left before the original deadline.
import os as _os

from cpython.exc cimport PyErr_CheckSignals
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from libc.errno cimport EINTR, EINVAL, errno
from libc.math cimport ceil

# initial event array; it doubles whenever a wait fills it, up to the cap
cdef int _POLL_EVENTS_INITIAL = 64
cdef int _POLL_EVENTS_MAX = 65536
# preference order of available_backends()
_BACKEND_NAMES = ("epoll", "kqueue", "select")
_BACKEND_KINDS = {"epoll": WW_POLL_EPOLL, "kqueue": WW_POLL_KQUEUE, "select": WW_POLL_SELECT}


def available_backends() -> list:
    """The poller backends compiled into this build, best first."""
    return [n for n in _BACKEND_NAMES if ww_poll_available(_BACKEND_KINDS[n])]


cdef int _backend_kind(object backend) except -1:
    # Resolve Poller(backend) / WHIRLWIND_POLLER to a WW_POLL_* kind.
    if backend is None:
        name = _os.environ.get("WHIRLWIND_POLLER", "").strip().lower()
        if not name:
            return WW_POLL_AUTO
        where = f"WHIRLWIND_POLLER={name}"
    elif isinstance(backend, str):
        name = backend.strip().lower()
        where = f"Poller(backend={backend!r})"
    else:
        raise TypeError(f"backend must be a str or None, not {type(backend).__name__}")
    avail = ", ".join(available_backends())
    kind = _BACKEND_KINDS.get(name)
    if kind is None:
        raise RuntimeError(
            f"{where}: unknown poller (expected epoll, kqueue or select; "
            f"available: {avail})"
        )
    if not ww_poll_available(kind):
        raise RuntimeError(f"{where}: this platform has no {name} poller (available: {avail})")
    return kind


def default_backend() -> str:
    """The backend ``Poller()`` would use: WHIRLWIND_POLLER if set, else the best."""
    kind = _backend_kind(None)
    if kind == WW_POLL_AUTO:
        return available_backends()[0]
    return ww_poll_kind_name(kind).decode("ascii")


cdef ww_socket_t _poll_fd(object fileobj) except -1:
    # An int fd or an object with fileno(), as selectors accept.
    if isinstance(fileobj, int):
        fd = fileobj
    else:
        try:
            fd = int(fileobj.fileno())
        except (AttributeError, TypeError, ValueError):
            raise ValueError(f"Invalid file object: {fileobj!r}") from None
    if fd < 0:
        raise ValueError(f"Invalid file descriptor: {fd}")
    if not WW_IS_WINDOWS and fd > 0x7FFFFFFF:
        raise ValueError(f"Invalid file descriptor: {fd}")
    return <ww_socket_t>fd


cdef int _poll_events(object events) except -1:
    if not isinstance(events, int) or events & ~(WW_READ | WW_WRITE | WW_ERROR) or events < 0:
        raise ValueError(f"Invalid events: {events!r}")
    return events


cdef uint32_t _poll_gen(object gen) except? 0xFFFFFFFF:
    if not isinstance(gen, int) or not 0 <= gen <= 0xFFFFFFFF:
        raise ValueError(f"Invalid generation token: {gen!r} (expected 0 .. 2**32-1)")
    return <uint32_t>gen


cdef inline int _timeout_ms(double timeout) noexcept nogil:
    # seconds -> whole milliseconds, rounded up so a wait never ends before
    # its deadline; < 0 blocks; NaN and tiny negatives never reach here as 0
    cdef double ms
    if timeout < 0:
        return -1
    if not timeout > 0:
        return 0
    ms = ceil(timeout * 1000.0)
    if ms >= 2147483647.0:
        return 2147483647
    return <int>ms


cdef class Poller:
    """A level-triggered readiness poller over epoll, kqueue or select.

    :arg backend: ``"epoll"``, ``"kqueue"``, ``"select"`` or ``None`` for the
        ``WHIRLWIND_POLLER`` environment variable, else the best available.
    """

    def __cinit__(self):
        self._p = NULL
        self._events = NULL
        self._maxevents = 0
        self._kind = 0
        self._busy = False
        self.backend = ""
        self.closed = True

    def __init__(self, backend=None):
        cdef int kind
        if self._p != NULL:
            raise RuntimeError("Poller is already initialised")
        kind = _backend_kind(backend)
        self._events = <ww_event_t *>PyMem_Malloc(
            <size_t>_POLL_EVENTS_INITIAL * sizeof(ww_event_t))
        if self._events == NULL:
            raise MemoryError()
        self._maxevents = _POLL_EVENTS_INITIAL
        self._p = ww_poll_new(kind)
        if self._p == NULL:
            err = errno
            raise OSError(err, _os.strerror(err))
        self._kind = ww_poll_kind(self._p)
        self.backend = ww_poll_kind_name(self._kind).decode("ascii")
        self.closed = False

    def __dealloc__(self):
        if self._p != NULL:
            ww_poll_free(self._p)
            self._p = NULL
        if self._events != NULL:
            PyMem_Free(self._events)
            self._events = NULL

    # -- C API used by the loop core --------------------------------------

    cdef int _raise(self, int err, ww_socket_t fd) except -1:
        if self._p == NULL:
            raise ValueError("I/O operation on a closed poller")
        if self._busy:
            raise RuntimeError("Poller is waiting in another thread")
        if err == EINVAL and self._kind == WW_POLL_SELECT and fd >= WW_FD_SETSIZE:
            raise ValueError(
                f"fd {fd} is out of range for the select poller "
                f"(FD_SETSIZE={WW_FD_SETSIZE}); use epoll or kqueue "
                f"(WHIRLWIND_POLLER)"
            )
        raise OSError(err, _os.strerror(err))

    cdef int _register(self, ww_socket_t fd, int events, uint32_t gen) except -1:
        if self._p == NULL or self._busy:
            return self._raise(0, fd)
        if ww_poll_register(self._p, fd, events, gen) < 0:
            return self._raise(errno, fd)
        return 0

    cdef int _modify(self, ww_socket_t fd, int events, uint32_t gen) except -1:
        if self._p == NULL or self._busy:
            return self._raise(0, fd)
        if ww_poll_modify(self._p, fd, events, gen) < 0:
            return self._raise(errno, fd)
        return 0

    cdef int _unregister(self, ww_socket_t fd) except -1:
        if self._p == NULL or self._busy:
            return self._raise(0, fd)
        if ww_poll_unregister(self._p, fd) < 0:
            return self._raise(errno, fd)
        return 0

    cdef int _wait(self, double timeout) except -1:
        cdef int n, ms, err = 0
        cdef double deadline = 0.0
        cdef ww_event_t *grown
        if self._p == NULL or self._busy:
            return self._raise(0, -1)
        if timeout > 0:
            deadline = ww_monotonic() + timeout
        while True:
            ms = _timeout_ms(timeout)
            if ms == 0:
                # a non-blocking poll keeps the GIL: dropping it costs more
                # than the syscall and invites a convoy with worker threads
                n = ww_poll_wait(self._p, self._events, self._maxevents, 0)
                err = errno
            else:
                self._busy = True
                with nogil:
                    n = ww_poll_wait(self._p, self._events, self._maxevents, ms)
                    err = errno
                self._busy = False
            if n >= 0:
                break
            if err != EINTR:
                raise OSError(err, _os.strerror(err))
            # PEP 475: run the handlers; an exception they raise ends the wait
            PyErr_CheckSignals()
            if timeout > 0:
                timeout = deadline - ww_monotonic()
                if timeout <= 0:
                    timeout = 0.0  # one last non-blocking look
        if n == self._maxevents and self._maxevents < _POLL_EVENTS_MAX:
            # full: more fds may be ready than we asked for; grow for next time
            grown = <ww_event_t *>PyMem_Realloc(
                self._events, <size_t>self._maxevents * 2 * sizeof(ww_event_t))
            if grown != NULL:
                self._events = grown
                self._maxevents *= 2
        return n

    cdef int _close(self) except -1:
        if self._busy:
            raise RuntimeError("Poller is waiting in another thread")
        if self._p != NULL:
            ww_poll_free(self._p)
            self._p = NULL
        self.closed = True
        return 0

    # -- Python API ---------------------------------------------------------

    def register(self, fileobj, events, gen=0) -> None:
        """Watch *fileobj* (an fd or an object with ``fileno()``) for *events*
        (``READ | WRITE | ERROR`` bits) with generation token *gen*.
        Registering a registered fd replaces its events and token."""
        self._register(_poll_fd(fileobj), _poll_events(events), _poll_gen(gen))

    def modify(self, fileobj, events, gen=0) -> None:
        """Change the events and token of a registered fd
        (:exc:`FileNotFoundError` if it is not registered)."""
        self._modify(_poll_fd(fileobj), _poll_events(events), _poll_gen(gen))

    def unregister(self, fileobj) -> None:
        """Stop watching *fileobj*; unknown or already-closed fds are ignored.
        Call it *before* closing the fd."""
        self._unregister(_poll_fd(fileobj))

    def poll(self, timeout=None) -> list:
        """Wait up to *timeout* seconds (``None``: forever; <= 0: don't block)
        and return ``[(fd, events), ...]``, one entry per ready fd."""
        cdef int i, n = self._wait(_poll_timeout(timeout))
        return [(self._events[i].fd, self._events[i].events) for i in range(n)]

    def poll_with_gen(self, timeout=None) -> list:
        """Like :meth:`poll` but return ``[(fd, events, gen), ...]`` with the
        generation token given at registration."""
        cdef int i, n = self._wait(_poll_timeout(timeout))
        return [
            (self._events[i].fd, self._events[i].events, self._events[i].gen)
            for i in range(n)
        ]

    def fileno(self) -> int:
        """The epoll/kqueue fd, or -1 for the select backend."""
        if self._p == NULL:
            raise ValueError("I/O operation on a closed poller")
        return ww_poll_fileno(self._p)

    def close(self) -> None:
        """Release the OS poller; idempotent."""
        self._close()

    def __len__(self) -> int:
        return ww_poll_count(self._p) if self._p != NULL else 0

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self._close()

    def __repr__(self) -> str:
        state = "closed" if self._p == NULL else f"fds={ww_poll_count(self._p)}"
        return f"<whirlwind.Poller {self.backend or '?'} {state}>"


cdef double _poll_timeout(object timeout) except? -2.0:
    cdef double t
    if timeout is None:
        return -1.0
    t = timeout
    if t != t:
        raise ValueError("timeout must not be NaN")
    return t if t > 0 else 0.0
