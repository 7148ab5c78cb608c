# Compiled buffered stream: the engine under whirlwind.iostream.
#
# Theory of operation
# -------------------
# A _Stream owns one fd (by number; the Python subclass owns the socket
# object and closes it in close_fd()), one read buffer and one write queue.
#
# Read buffer.  A malloc'd region; the unconsumed bytes are _buf[_start:_end].
# Consuming only moves _start; when everything is consumed both cursors go
# back to 0 for free.  Before a read we make room for read_chunk_size bytes:
# compact (memmove) only when the consumed prefix exceeds half the capacity,
# otherwise grow by doubling.  Read interest is armed by the first read or
# close callback and then stays armed, but with no read pending only
# max(4 chunks, 256 KiB) (capped at
# max_buffer_size) is buffered: past that read interest is dropped and the
# kernel pushes back on the sender, until a read consumes or asks for more.
# A pending read may fill the buffer to max_buffer_size; if a full buffer
# still cannot satisfy it, the stream closes with StreamBufferFullError
# (Tornado's behaviour).
#
# Reads.  At most one read is pending (_rkind).  New data, or a new read
# request, runs _process_read(): delimiter reads resume the C scan at their
# cursor (ww_scan.h: O(total bytes) whatever the chunking); regex reads run
# pattern.search() over a zero-copy memoryview of the unconsumed bytes (a
# regex cannot be resumed in general, so it is re-run from the start of the
# unconsumed data, but only when new bytes arrived, i.e. once per read
# syscall of up to read_chunk_size bytes: O(bytes x reads), so a regex read
# should carry max_bytes, which bounds every search; the HTTP
# head-end patterns \n\r?\n and \r?\n\r?\n have an exact resumable C scan,
# ww_scan_blank_line, and never reach re); byte-count
# reads compare sizes.  A satisfied read is delivered at once: the Future is
# resolved (already done when the data was buffered), or a classic callback
# is queued with loop.call_soon.
#
# Read interest stays armed while the stream is open (no epoll_ctl per
# request); data that arrives with no read pending is buffered.
#
# Writes.  write() appends to the queue and flushes at once with one
# sendmsg/writev over up to WW_IOV_MAX items; only a short write arms write
# interest.  bytes are queued as they are; other buffers as our own 'B'
# memoryview (no copy), released as soon as they are written or the stream
# closes so the caller may resize them again.
#
# Modes.  0 = streaming.  1 = connecting and 2 = TLS handshake: events go
# to the Python method _handle_mode_event() and writes only queue.
#
# Hooks.  Streams flagged _hooked (TLS, Windows) move bytes through the
# Python methods read_from_fd(memoryview) and write_to_fd(memoryview), so
# ssl.SSLSocket needs no special case here.

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.buffer cimport PyBUF_READ, PyBUF_WRITE
from cpython.memoryview cimport PyMemoryView_FromMemory, PyMemoryView_GET_BUFFER
from libc.errno cimport errno, ECONNRESET, ECONNABORTED, EPIPE, ETIMEDOUT, EBADF, EINVAL
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy, memmove

include "stream_support.pxi"


cdef class _Stream(IOSink):
    """Compiled base of whirlwind.iostream.BaseIOStream (not public)."""

    def __cinit__(self, *args, **kwargs):
        self._fd = -1
        self._buf = NULL
        self._wqueue = []
        self._wwaiters = _deque()
        self._rmax = -1
        self.max_buffer_size = DEFAULT_MAX_BUFFER
        self.read_chunk_size = 65536

    def __dealloc__(self):
        if self._buf != NULL:
            free(self._buf)
            self._buf = NULL

    def _stream_setup(self, fd, loop, bint is_socket, bint hooked,
                      max_buffer_size=None, read_chunk_size=None,
                      max_write_buffer_size=None):
        """Bind the stream to fd and an asyncio loop (called by __init__)."""
        self._fd = fd
        self._is_socket = is_socket
        self._hooked = hooked
        self._loop = loop
        cf = type(loop).create_future
        if cf is _base_create_future or cf is _LoopCore.create_future:
            # Both are Future(loop=loop): call the C Future type with a kept
            # keyword dict, skipping a Python-level frame per read and (on
            # CPython 3.11) the getpid() that finding the running loop costs.
            self._future_kw = {"loop": loop}
        self._create_future = loop.create_future
        self._call_soon = loop.call_soon
        self._sink = loop if isinstance(loop, _LoopCore) else None
        # libuv stops a poll handle on POLLERR (uv__poll_io), so on uvloop a
        # reset that follows data in the same wakeup would never be seen:
        # there, read until EAGAIN.  Level-triggered loops re-report it.
        self._drain = type(loop).__module__.startswith("uvloop")
        if max_buffer_size is not None:
            self.max_buffer_size = max_buffer_size
        # As Tornado: a chunk never exceeds half the buffer.
        self.read_chunk_size = min(read_chunk_size or 65536, self.max_buffer_size // 2)
        if self.read_chunk_size < 1:
            self.read_chunk_size = 1
        self.max_write_buffer_size = max_write_buffer_size

    # ----------------------------------------------------------- state
    def closed(self):
        """True once the stream has been closed."""
        return self._closed

    def reading(self):
        """True while a read is pending."""
        return self._rkind != K_NONE

    def writing(self):
        """True while written data waits in the queue."""
        return bool(self._wqueue)

    @property
    def _read_buffer_size(self):
        return self._end - self._start

    @property
    def _write_buffer(self):
        # The queue itself (bytes and our memoryviews); released on close.
        return self._wqueue

    @property
    def _write_buffer_size(self):
        return self._wsize

    def set_close_callback(self, callback):
        """Call ``callback`` (no arguments) on the loop when the stream closes."""
        self._close_callback = callback
        if callback is not None and not self._closed:
            self._arm_read()

    def _take_close_callback(self):
        cb = self._close_callback
        self._close_callback = None
        return cb

    # ----------------------------------------------------- registration
    # On whirlwind's loop the stream is an IOSink: the loop calls _on_io()
    # straight from its poll dispatch.  On other asyncio loops the bound
    # methods _py_on_read/_py_on_write go through add_reader/add_writer.
    def _py_on_read(self):
        self._on_io(0x001)

    def _py_on_write(self):
        self._on_io(0x004)

    cdef int _on_io(self, int events) except -1:
        try:
            self._io_event(events)
        except Exception as e:
            _gen_log.error("Uncaught exception, closing connection.", exc_info=True)
            self.close(exc_info=e)
            raise
        return 0

    cdef int _io_event(self, int events) except -1:
        if self._closed:
            return 0
        if self._mode != MODE_STREAM:
            self._handle_mode_event(events)
            return 0
        if events & 0x019:   # READ | ERROR: the read surfaces any error
            self._do_read()
            if self._closed:
                return 0
        if events & 0x004:
            self._do_write()
        return 0

    def _handle_mode_event(self, int events):
        """Overridden by IOStream (connect) and SSLIOStream (handshake)."""
        raise NotImplementedError

    def _set_mode(self, int mode):
        """Enter connect/handshake mode, or return to streaming (0)."""
        self._mode = mode
        if mode == MODE_STREAM and not self._closed:
            # Read interest is armed by the first read (or a close callback)
            # and then kept: a stream nobody reads yet reads nothing ahead,
            # so start_tls right after accept or connect finds it idle.
            if self._rkind != K_NONE or self._close_callback is not None:
                self._arm_read()
            if self._hooked and self._reg_read:
                self._do_read()
                if self._closed:
                    return
            if self._wqueue:
                self._do_write()
            else:
                self._arm_write(False)
            if not self._closed and self._rkind != K_NONE:
                self._process_read()

    def _want_read(self):
        self._arm_read()

    def _detach_fd(self):
        """Forget the fd without closing it (start_tls hands it on)."""
        self._unregister()
        self._closed = True
        self._fd = -1

    def _unregister_fd(self):
        """Drop loop interest (the fd is about to be wrapped or closed)."""
        self._unregister()

    def _kick_read(self):
        """Read now (hooked streams may hold decrypted bytes no event reports)."""
        if not self._closed and self._mode == MODE_STREAM:
            self._do_read()

    def _want_write(self, bint on):
        self._arm_write(on)

    cdef int _set_interest(self, bint rd, bint wr) except -1:
        # The one place that talks to the loop about this fd.
        cdef int mask
        if self._sink is not None:
            mask = (0x001 if rd else 0) | (0x004 if wr else 0)
            if mask == 0:
                self._sink._sink_remove(self._fd)
            elif not (self._reg_read or self._reg_write):
                self._sink._sink_add(self._fd, self, mask)
            else:
                self._sink._sink_modify(self._fd, mask)
        elif self._loop.is_closed():
            pass        # a closed loop has dropped its registrations already
        else:
            if rd != self._reg_read:
                if rd:
                    self._loop.add_reader(self._fd, self._py_on_read)
                else:
                    self._loop.remove_reader(self._fd)
            if wr != self._reg_write:
                if wr:
                    self._loop.add_writer(self._fd, self._py_on_write)
                else:
                    self._loop.remove_writer(self._fd)
        self._reg_read = rd
        self._reg_write = wr
        return 0

    cdef int _arm_read(self) except -1:
        if self._closed or self._reg_read or self._paused or self._mode == MODE_CONNECT:
            return 0
        if self._loop is None:
            return 0
        self._set_interest(True, self._reg_write)
        return 0

    cdef int _arm_write(self, bint on) except -1:
        if self._closed or on == self._reg_write:
            return 0
        self._set_interest(self._reg_read, on)
        return 0

    cdef int _unregister(self) except -1:
        if self._reg_read or self._reg_write:
            self._set_interest(False, False)
        return 0

    # ------------------------------------------------------------ reading
    cdef int _ensure_space(self) except -1:
        # Guarantee read_chunk_size free bytes after _end.
        cdef Py_ssize_t used = self._end - self._start
        cdef Py_ssize_t want = self.read_chunk_size
        cdef Py_ssize_t newcap
        cdef char *nb
        if used == 0:
            self._start = self._end = 0
        if self._cap - self._end >= want:
            return 0
        if self._start > 0 and (self._start >= self._cap // 2 or
                                self._cap - used >= want):
            memmove(self._buf, self._buf + self._start, used)
            self._start = 0
            self._end = used
            if self._cap - self._end >= want:
                return 0
        newcap = self._cap * 2 if self._cap else want
        while newcap - self._end < want:
            newcap *= 2
        nb = <char *>realloc(self._buf, newcap)
        if nb == NULL:
            raise MemoryError()
        self._buf = nb
        self._cap = newcap
        return 0

    cdef int _do_read(self) except -1:
        # Read what the fd has (one syscall unless it filled the space),
        # then try to satisfy the pending read.  Hooked streams read until
        # the hook reports "no data" so TLS-internal buffers are drained.
        cdef Py_ssize_t space, n, lim
        cdef object r, mv
        cdef int err
        while True:
            if self._paused or self._closed:
                return 0
            self._ensure_space()
            space = self._cap - self._end
            # Ask for no more than the limit allows (plus one chunk), so a
            # grown buffer never overshoots max_buffer_size by its capacity.
            lim = self._read_limit() - (self._end - self._start)
            if lim < self.read_chunk_size:
                lim = self.read_chunk_size
            if space > lim:
                space = lim
            if self._hooked:
                mv = PyMemoryView_FromMemory(self._buf + self._end, space, PyBUF_WRITE)
                try:
                    r = self.read_from_fd(mv)
                except BaseException as e:
                    mv.release()
                    if isinstance(e, Exception):
                        self._hook_error(e, "Read")
                        return 0
                    raise
                mv.release()
                if r is None:
                    break
                n = r
            else:
                n = ww_io_read(self._fd, self._buf + self._end, space)
                if n < 0:
                    err = errno
                    if ww_io_would_block(err):
                        break
                    self._io_error(err, "Read")
                    return 0
            if n == 0:
                self.close()
                return 0
            self._end += n
            if self._rkind != K_NONE:
                self._process_read()
                if self._closed:
                    return 0
            if self._end - self._start >= self._read_limit():
                if self._rkind != K_NONE:
                    self._buffer_full(True)
                    return 0
                # Nobody is reading: stop so TCP applies backpressure.
                self._paused = True
                if self._reg_read:
                    self._set_interest(False, self._reg_write)
                return 0
            if not self._hooked and n < space and not self._drain:
                break
        return 0

    def _buffer_full(self, from_event=False):
        _gen_log.error("Reached maximum read buffer size")
        exc = StreamBufferFullError("Reached maximum read buffer size")
        if from_event:
            _gen_log.warning("error on read: %s", exc)
        self.close(exc_info=exc)

    cdef int _io_error(self, int err, str what) except -1:
        if not self._is_socket and (err == EBADF or err == EINVAL) and what == "Read":
            # The write end of a pipe, watched so the close callback runs
            # when the reader goes away: that is a close, not an error.
            self.close()
            return 0
        exc = OSError(err, _os.strerror(err))
        self._hook_error(exc, what)
        return 0

    def _use_hooks(self):
        """Move bytes through read_from_fd/write_to_fd from now on (an
        instance replaced one of them after the stream was made)."""
        self._hooked = True

    def _hook_error(self, exc, what):
        # Tornado's wording: a reset is a normal close and is not logged.
        if not self._is_connreset(exc):
            if what == "Read":
                _gen_log.warning("error on read: %s", exc)
            else:
                _gen_log.warning("%s error on %s: %s", what, self._fd, exc)
        self.close(exc_info=exc)

    def _is_connreset(self, exc):
        return _is_connreset(exc)

    cdef Py_ssize_t _find_read_pos(self) except -2:
        # Bytes to consume for the pending read, or -1 if not yet satisfiable.
        # Raises UnsatisfiableReadError when max_bytes can never be met.
        cdef Py_ssize_t avail = self._end - self._start
        cdef Py_ssize_t r
        cdef int kind = self._rkind
        cdef object mv, m
        if kind == K_DELIM:
            r = ww_scan_delim(self._buf + self._start, avail,
                              PyBytes_AS_STRING(self._rdelim),
                              PyBytes_GET_SIZE(self._rdelim),
                              &self._rcursor, self._rmax)
            if r >= 0:
                return r
            if r == WW_SCAN_TOO_LONG:
                raise UnsatisfiableReadError(
                    "delimiter %r not found within %d bytes" % (self._rdelim, self._rmax))
            return -1
        if kind == K_BYTES:
            if avail >= self._rn:
                return self._rn
            if self._rpartial and avail > 0:
                return avail
            return -1
        if kind == K_REGEX and self._rblank:
            r = ww_scan_blank_line(self._buf + self._start, avail,
                                   &self._rcursor, self._rmax)
            if r >= 0:
                return r
            if r == WW_SCAN_TOO_LONG:
                raise UnsatisfiableReadError(
                    "regex %r not found within %d bytes"
                    % (self._rregex.pattern, self._rmax))
            return -1
        if kind == K_REGEX:
            if avail == self._rscanned and avail > 0:
                return -1       # nothing new since the last failed search
            if avail == 0:
                mv = memoryview(b"")
            else:
                mv = PyMemoryView_FromMemory(self._buf + self._start, avail, PyBUF_READ)
            try:
                m = self._rregex.search(mv)
                r = m.end() if m is not None else -1
                m = None
            finally:
                mv.release()
            if r >= 0:
                if self._rmax >= 0 and r > self._rmax:
                    raise UnsatisfiableReadError(
                        "regex %r not found within %d bytes"
                        % (self._rregex.pattern, self._rmax))
                return r
            self._rscanned = avail
            if self._rmax >= 0 and avail > self._rmax:
                raise UnsatisfiableReadError(
                    "regex %r not found within %d bytes"
                    % (self._rregex.pattern, self._rmax))
            return -1
        if kind == K_CLOSE:
            return avail if self._closed else -1
        if kind == K_HEAD:
            return _head_read_pos(self)
        return -1

    cdef int _process_read(self) except -1:
        cdef Py_ssize_t pos, avail, n
        cdef int kind = self._rkind
        try:
            if kind == K_INTO:
                return self._feed_into()
            if self._rstreaming is not None and (kind == K_BYTES or kind == K_CLOSE):
                # Classic streaming_callback: hand over chunks as they come.
                avail = self._end - self._start
                n = avail
                if kind == K_BYTES and n > self._rn:
                    n = self._rn
                if n > 0:
                    chunk = PyBytes_FromStringAndSize(self._buf + self._start, n)
                    self._consume(n)
                    self._call_soon(self._run_callback, self._rstreaming, chunk)
                    if kind == K_BYTES:
                        self._rn -= n
                if (kind == K_BYTES and self._rn == 0) or (kind == K_CLOSE and self._closed):
                    self._finish_read(0)
                return 0
            pos = self._find_read_pos()
            if pos >= 0:
                self._finish_read(pos)
        except UnsatisfiableReadError as e:
            if kind == K_HEAD:
                # An HTTP head over its limit: fail only this read and keep
                # the stream open, so the HTTP layer can answer 431 first.
                fut = self._rfuture
                self._clear_read()
                if fut is not None and not fut.done():
                    fut.set_exception(e)
                return 0
            _gen_log.info("Unsatisfiable read, closing connection: %s" % e)
            self.close(exc_info=e)
        return 0

    cdef int _feed_into(self) except -1:
        cdef Py_ssize_t avail = self._end - self._start
        cdef Py_ssize_t want = self._rn - self._rfilled
        cdef Py_ssize_t n = avail if avail < want else want
        cdef Py_buffer *pb
        if n > 0:
            pb = PyMemoryView_GET_BUFFER(self._rinto)
            memcpy(<char *>pb.buf + self._rfilled, self._buf + self._start, n)
            self._rfilled += n
            self._consume(n)
        if self._rfilled == self._rn or (self._rpartial and self._rfilled > 0):
            n = self._rfilled
            fut = self._rfuture
            cb = self._rcallback
            self._clear_read()
            self._deliver(fut, cb, n)
        return 0

    cdef int _consume(self, Py_ssize_t n) except -1:
        self._start += n
        if self._start == self._end:
            self._start = self._end = 0
            if self._closed and self._buf != NULL:
                free(self._buf)       # a closed, drained stream keeps no buffer
                self._buf = NULL
                self._cap = 0
        if self._paused:
            self._maybe_resume()
        return 0

    cdef inline Py_ssize_t _read_limit(self):
        # With a read pending the buffer may fill to max_buffer_size; with
        # none, buffering stops at a few chunks so an idle or slow consumer
        # holds little memory and the sender is pushed back early.
        cdef Py_ssize_t idle
        if self._rkind != K_NONE:
            return self.max_buffer_size
        idle = 4 * self.read_chunk_size
        if idle < 262144:
            idle = 262144
        return idle if idle < self.max_buffer_size else self.max_buffer_size

    cdef int _maybe_resume(self) except -1:
        if self._paused and self._end - self._start < self._read_limit():
            self._paused = False
            self._arm_read()
            if self._hooked:
                self._call_soon(self._kick_read)
        return 0

    cdef int _clear_read(self) except -1:
        if self._rinto is not None:
            self._rinto.release()    # the caller may resize its buffer again
            self._rinto = None
        self._rkind = K_NONE
        self._rfuture = None
        self._rcallback = None
        self._rstreaming = None
        self._rdelim = None
        self._rregex = None
        self._rmax = -1
        return 0

    cdef int _finish_read(self, Py_ssize_t pos) except -1:
        data = PyBytes_FromStringAndSize(self._buf + self._start, pos)
        fut = self._rfuture
        cb = self._rcallback
        self._clear_read()
        self._consume(pos)
        self._deliver(fut, cb, data)
        return 0

    cdef int _deliver(self, object future, object callback, object value) except -1:
        if future is not None:
            if not future.done():
                future.set_result(value)
        elif callback is not None:
            self._call_soon(self._run_callback, callback, value)
        return 0

    def _run_callback(self, callback, *args):
        # Classic API: an exception in a callback closes the stream.
        try:
            callback(*args)
        except Exception as e:
            _gen_log.error("Uncaught exception, closing connection.", exc_info=True)
            self.close(exc_info=e)
            raise

    cdef object _new_future(self):
        if self._future_kw is not None:
            return PyObject_Call(_Future, (), self._future_kw)
        return self._create_future()

    cdef int _start_read(self, int kind, object callback) except -1:
        if self._rkind != K_NONE:
            if self._closed:
                raise StreamClosedError(real_error=self.error)
            raise AssertionError("Already reading")
        self._rkind = kind
        self._rcursor = 0
        self._rscanned = 0
        self._rfilled = 0
        if callback is None:
            self._rfuture = self._new_future()
        else:
            self._rcallback = callback
        return 0

    cdef int _try_inline(self) except -1:
        # Complete from the buffer if possible; otherwise make sure the fd is
        # watched.  A closed stream that cannot satisfy the read raises.
        self._process_read()
        if self._rkind == K_NONE:
            return 0
        if self._closed:
            fut = self._rfuture
            self._clear_read()
            if fut is not None:
                fut.cancel()      # nobody will see it: the caller gets the raise
            raise StreamClosedError(real_error=self.error)
        if self._end - self._start >= self.max_buffer_size:
            self._buffer_full()
            return 0
        self._maybe_resume()
        self._arm_read()
        return 0

    def read_until(self, delimiter, max_bytes=None, callback=None):
        """Read up to and including ``delimiter``.

        Returns a Future resolving to the bytes; with a classic ``callback``
        (also accepted in the ``max_bytes`` position) returns None and calls
        ``callback(data)`` on the loop.  Raises UnsatisfiableReadError (and
        closes the stream) when the delimiter is not within ``max_bytes``.
        """
        if max_bytes is not None and callable(max_bytes):
            # classic read_until(delim, callback, max_bytes)
            callback, max_bytes = max_bytes, callback
        if type(delimiter) is not bytes:
            delimiter = bytes(delimiter)
        self._start_read(K_DELIM, callback)
        self._rdelim = delimiter
        self._rmax = -1 if max_bytes is None else max_bytes
        fut = self._rfuture
        self._try_inline()
        return fut

    def read_until_regex(self, regex, max_bytes=None, callback=None):
        """Read up to and including the end of the first match of ``regex``
        (bytes pattern or compiled pattern); see read_until."""
        if max_bytes is not None and callable(max_bytes):
            # classic read_until(delim, callback, max_bytes)
            callback, max_bytes = max_bytes, callback
        if not hasattr(regex, "search"):
            regex = _compile_regex(regex)
        self._start_read(K_REGEX, callback)
        self._rregex = regex
        # The HTTP head end has an exact C equivalent (ww_scan_blank_line).
        self._rblank = (regex.flags == 0 and
                        (regex.pattern == b"\n\r?\n" or regex.pattern == b"\r?\n\r?\n"))
        self._rmax = -1 if max_bytes is None else max_bytes
        fut = self._rfuture
        self._try_inline()
        return fut

    # ---- HTTP head reads (owned by the head branch; scan in httphead.pyx) ----
    def read_http_head(self, max_bytes=None):
        """Read one HTTP/1 message head, through its closing empty line.

        CR/LF bytes in front of it are dropped (they count against
        ``max_bytes``).  Returns a Future resolving to the head bytes, done
        at once when the head is already buffered.  When the head does not
        end within ``max_bytes`` the Future fails with UnsatisfiableReadError
        and, unlike the other reads, the stream stays open so that the HTTP
        layer can answer 431 before closing.
        """
        self._start_read(K_HEAD, None)
        self._rmax = -1 if max_bytes is None else max_bytes
        fut = self._rfuture
        self._try_inline()
        return fut

    def take_http_head(self, max_bytes, Py_ssize_t max_count):
        """A whole HTTP/1 head that is already buffered, split at once.

        When no read is pending and the buffer holds a complete head within
        ``max_bytes``, consumes it and returns ``parse_head()``'s result
        (``(start_line, HTTPHeaders)``, or its exceptions) without a Future
        or a bytes copy of the head.  Otherwise returns None and consumes
        nothing: use read_http_head().
        """
        if self._rkind != K_NONE or self._start == self._end:
            return None
        return _take_head(self, -1 if max_bytes is None else max_bytes, max_count)
    # ---- end of HTTP head reads ----

    def read_bytes(self, num_bytes, partial=False, streaming_callback=None,
                   callback=None):
        """Read ``num_bytes`` bytes (or, with ``partial``, as soon as any are
        available, at most ``num_bytes``).  A callable ``partial`` is the
        classic callback; ``streaming_callback`` receives chunks as they
        arrive and the final callback then gets b""."""
        if callable(partial):
            # classic read_bytes(n, callback, streaming_callback, partial)
            callback, partial = partial, (callback or False)
        if num_bytes < 0:
            raise ValueError("num_bytes must be >= 0")
        self._start_read(K_BYTES, callback)
        self._rn = num_bytes
        self._rpartial = bool(partial)
        self._rstreaming = streaming_callback
        fut = self._rfuture
        self._try_inline()
        return fut

    def read_into(self, buf, partial=False, callback=None):
        """Fill the writable buffer ``buf``; resolves to the byte count (with
        ``partial``, as soon as some bytes were copied)."""
        if callable(partial):
            callback, partial = partial, (callback or False)
        mv = memoryview(buf).cast("B")
        if mv.readonly:
            mv.release()
            raise TypeError("read_into needs a writable buffer")
        self._start_read(K_INTO, callback)
        self._rinto = mv
        self._rn = len(mv)
        self._rpartial = bool(partial)
        fut = self._rfuture
        if self._rn == 0:
            self._feed_into()
            return fut
        self._try_inline()
        return fut

    def read_until_close(self, callback=None, streaming_callback=None):
        """Read everything until the stream closes (the buffered rest when it
        is already closed)."""
        self._start_read(K_CLOSE, callback)
        self._rstreaming = streaming_callback
        fut = self._rfuture
        if self._closed:
            self._process_read()
            return fut
        try:
            # a Python-level call on this rare path, so subclasses and test
            # doubles can hook it as in Tornado
            self._try_inline_read()
        except BaseException:
            if fut is not None:
                fut.add_done_callback(_retrieve_exception)
            raise
        return fut

    def _try_inline_read(self):
        """Deliver what the buffer allows and make sure the fd is watched."""
        self._process_read()
        if self._rkind != K_NONE:
            if self._end - self._start >= self.max_buffer_size:
                self._buffer_full()
            else:
                self._maybe_resume()
                self._arm_read()

    # ------------------------------------------------------------ writing
    def write(self, data, callback=None):
        """Queue ``data`` and send what the kernel takes now.

        Returns a Future resolved once every byte written so far was handed
        to the kernel; with a classic ``callback`` returns None and calls
        ``callback()`` then.  Raises StreamBufferFullError past
        ``max_write_buffer_size`` and StreamClosedError on a closed stream.
        """
        cdef Py_ssize_t n
        if self._closed:
            raise StreamClosedError(real_error=self.error)
        if type(data) is bytes:
            n = PyBytes_GET_SIZE(data)
        else:
            data = memoryview(data)
            if data.format != "B" or data.ndim != 1:
                data = data.cast("B")
            n = data.nbytes
            if n < SMALL_COPY:
                data = data.tobytes()
        if n:
            if (self.max_write_buffer_size is not None and
                    self._wsize + n > self.max_write_buffer_size):
                raise StreamBufferFullError("Reached maximum write buffer size")
            if (not self._wqueue and self._mode == MODE_STREAM and
                    not self._hooked and type(data) is bytes):
                self._write_now(data, n)
            else:
                self._wqueue.append(data)
                self._wsize += n
                self._wtotal += n
                if self._mode == MODE_STREAM:
                    self._do_write()
        fut = None
        if self._wdone >= self._wtotal and not self._closed:
            # Everything is in the kernel already: no waiter to queue.
            if callback is not None:
                self._call_soon(self._run_callback, callback)
                return None
            # One shared already-done Future per stream: the common case
            # (the kernel took it all) allocates nothing.
            fut = self._done_future
            if fut is None:
                fut = self._done_future = self._new_future()
                fut.set_result(None)
            return fut
        if callback is None:
            fut = self._new_future()
        self._wwaiters.append((self._wtotal, fut, callback))
        if self._closed:
            self._fail_waiters()
        return fut

    cdef int _write_now(self, bytes data, Py_ssize_t n) except -1:
        # Fast path of write(): nothing queued, one bytes object, one
        # syscall; only a remainder goes to the queue.
        cdef ww_iovec_t iov[1]
        cdef Py_ssize_t r
        cdef int err
        iov[0].iov_base = PyBytes_AS_STRING(data)
        iov[0].iov_len = <size_t>n
        r = ww_io_writev(self._fd, self._is_socket, iov, 1)
        self._wtotal += n
        if r == n:
            self._wdone += n
            return 0
        if r < 0:
            err = errno
            if not ww_io_would_block(err):
                self._wqueue.append(data)
                self._wsize += n
                self._io_error(err, "Write")
                return 0
            r = 0
        self._wqueue.append(data)
        self._wpos = r
        self._wsize += n - r
        self._wdone += r
        self._arm_write(True)
        return 0

    cdef int _do_write(self) except -1:
        cdef ww_iovec_t iov[64]
        cdef int cnt
        cdef Py_ssize_t n, total, ln
        cdef Py_buffer *pb
        cdef list q = self._wqueue
        cdef object item, r, mv
        cdef int err
        while q:
            if self._hooked:
                item = q[0]
                mv = memoryview(item)[self._wpos:]
                try:
                    r = self.write_to_fd(mv)
                except Exception as e:
                    mv.release()
                    self._hook_error(e, "Write")
                    return 0
                mv.release()
                n = r
                total = n + 1 if n == 0 else n  # 0 means "would block"
                if n == 0:
                    break
            else:
                cnt = 0
                total = 0
                for item in q:
                    if type(item) is bytes:
                        iov[cnt].iov_base = PyBytes_AS_STRING(item)
                        ln = PyBytes_GET_SIZE(item)
                    else:
                        pb = PyMemoryView_GET_BUFFER(item)
                        iov[cnt].iov_base = pb.buf
                        ln = pb.len
                    if cnt == 0:
                        iov[0].iov_base = <char *>iov[0].iov_base + self._wpos
                        ln -= self._wpos
                    iov[cnt].iov_len = <size_t>ln
                    total += ln
                    cnt += 1
                    if cnt == WW_IOV_MAX:
                        break
                n = ww_io_writev(self._fd, self._is_socket, iov, cnt)
                if n < 0:
                    err = errno
                    if ww_io_would_block(err):
                        break
                    self._io_error(err, "Write")
                    return 0
            self._advance_write(n)
            if n < total:
                break
        self._arm_write(bool(q))
        if self._wwaiters:
            self._write_done_waiters()
        return 0

    cdef int _advance_write(self, Py_ssize_t n) except -1:
        cdef list q = self._wqueue
        cdef Py_ssize_t ln
        self._wdone += n
        self._wsize -= n
        n += self._wpos
        while q:
            item = q[0]
            ln = len(item) if type(item) is bytes else item.nbytes
            if n < ln:
                break
            n -= ln
            del q[0]
            if type(item) is not bytes:
                item.release()
        self._wpos = n
        return 0

    cdef int _write_done_waiters(self) except -1:
        w = self._wwaiters
        while w and w[0][0] <= self._wdone:
            _, fut, cb = w.popleft()
            if fut is not None:
                if not fut.done():
                    fut.set_result(None)
            else:
                self._call_soon(self._run_callback, cb)
        return 0

    cdef int _fail_waiters(self) except -1:
        w = self._wwaiters
        while w:
            _, fut, _ = w.popleft()
            if fut is not None and not fut.done():
                fut.set_exception(StreamClosedError(real_error=self.error))
                fut.exception()   # retrieved: no "never retrieved" log
        return 0

    # ------------------------------------------------------------ closing
    def close(self, exc_info=False):
        """Close the stream.  ``exc_info`` (True for sys.exc_info(), an
        exception, or an exc_info tuple) becomes the ``error`` attribute."""
        if not self._closed:
            if exc_info:
                if isinstance(exc_info, tuple):
                    self.error = exc_info[1]
                elif isinstance(exc_info, BaseException):
                    self.error = exc_info
                else:
                    info = _sys.exc_info()
                    if info[1] is not None:
                        self.error = info[1]
            self._unregister()
            self._closed = True
            if self._rkind == K_CLOSE:
                if self.error is None or self._is_connreset(self.error):
                    self._process_read()
            elif self._rkind != K_NONE and self._rkind != K_INTO:
                try:
                    if self._rstreaming is None:
                        pos = self._find_read_pos()
                        if pos >= 0:
                            self._finish_read(pos)
                except UnsatisfiableReadError:
                    pass
            self.close_fd()
        self._signal_closed()

    def close_fd(self):
        """Close the file descriptor (overridden by subclasses)."""

    def _signal_closed(self):
        fut = self._rfuture
        if self._rkind != K_NONE:
            self._clear_read()
        if fut is not None:
            if not fut.done():
                fut.set_exception(StreamClosedError(real_error=self.error))
            if not fut.cancelled():
                fut.exception()
        self._fail_waiters()
        for item in self._wqueue:
            if type(item) is not bytes:
                item.release()
        self._wqueue = []
        self._wsize = 0
        self._wpos = 0
        if self._end == self._start and self._buf != NULL:
            free(self._buf)
            self._buf = NULL
            self._cap = 0
            self._start = self._end = 0
        if self._close_callback is not None:
            cb = self._close_callback
            self._close_callback = None
            if self._loop is not None and not self._loop.is_closed():
                self._call_soon(cb)
