# Module-level support of the compiled stream (included by stream.pyx):
# exceptions, cached stdlib objects, small helpers and test hooks.

import collections as _collections
import logging as _logging
import os as _os
import sys as _sys

cdef object _deque = _collections.deque
cdef object _gen_log = _logging.getLogger("whirlwind.general")

cdef enum:
    K_NONE = 0
    K_DELIM = 1
    K_REGEX = 2
    K_BYTES = 3
    K_INTO = 4
    K_CLOSE = 5
    K_HEAD = 6      # read_http_head (scan in httphead.pyx)

cdef enum:
    MODE_STREAM = 0
    MODE_CONNECT = 1
    MODE_HANDSHAKE = 2

cdef Py_ssize_t DEFAULT_MAX_BUFFER = 100 * 1024 * 1024
cdef Py_ssize_t SMALL_COPY = 2048   # non-bytes buffers below this are copied


class StreamClosedError(IOError):
    """Raised by read and write methods when the stream is closed.

    ``real_error`` holds the exception that closed the stream (a
    connection reset, a TLS error, ...) or None after a normal close.
    """

    def __init__(self, real_error=None):
        super().__init__("Stream is closed")
        self.real_error = real_error


class UnsatisfiableReadError(Exception):
    """A read can never complete: a delimiter or regex was not found within
    ``max_bytes``.  The stream is closed when this happens."""


class StreamBufferFullError(Exception):
    """A buffer limit (``max_buffer_size`` or ``max_write_buffer_size``) was
    reached."""


for _cls in (StreamClosedError, UnsatisfiableReadError, StreamBufferFullError):
    _cls.__module__ = "whirlwind.iostream"

cdef tuple _CONNRESET = (ECONNRESET, ECONNABORTED, EPIPE, ETIMEDOUT)


def _is_connreset(exc):
    """True for errors that mean "the peer went away" (closed quietly)."""
    return isinstance(exc, OSError) and exc.errno in _CONNRESET



import asyncio as _asyncio
import functools as _functools
cdef object _Future = _asyncio.Future
cdef object _partial = _functools.partial
cdef object _base_create_future = _asyncio.BaseEventLoop.create_future

cdef dict _regex_cache = {}


def _retrieve_exception(fut):
    if not fut.cancelled():
        fut.exception()


def _compile_regex(pattern):
    """re.compile with a small cache (the HTTP head regex repeats per request)."""
    r = _regex_cache.get(pattern)
    if r is None:
        import re
        r = re.compile(pattern)
        if len(_regex_cache) < 64:
            _regex_cache[pattern] = r
    return r


def _scan_delim(const unsigned char[:] buf, bytes delim, Py_ssize_t cursor,
                Py_ssize_t limit=-1):
    """Test hook for ww_scan_delim: returns (result, new_cursor).

    result: bytes to consume (>= 0), -1 not found yet, -2 max_bytes exceeded.
    """
    cdef Py_ssize_t c = cursor
    cdef Py_ssize_t r
    cdef const char *p = <const char *>&buf[0] if buf.shape[0] else <const char *>""
    r = ww_scan_delim(p, buf.shape[0], PyBytes_AS_STRING(delim),
                      PyBytes_GET_SIZE(delim), &c, limit)
    return r, c


def _scan_blank_line(const unsigned char[:] buf, Py_ssize_t cursor,
                     Py_ssize_t limit=-1):
    """Test hook for ww_scan_blank_line: returns (result, new_cursor)."""
    cdef Py_ssize_t c = cursor
    cdef Py_ssize_t r
    cdef const char *p = <const char *>&buf[0] if buf.shape[0] else <const char *>""
    r = ww_scan_blank_line(p, buf.shape[0], &c, limit)
    return r, c
