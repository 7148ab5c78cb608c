# Compiled buffered stream declarations (see stream.pyx for the theory).

cdef extern from "ww_scan.h" nogil:
    const Py_ssize_t WW_SCAN_MISS
    const Py_ssize_t WW_SCAN_TOO_LONG
    const int WW_IOV_MAX
    ctypedef struct ww_iovec_t:
        void *iov_base
        size_t iov_len
    Py_ssize_t ww_scan_delim(const char *buf, Py_ssize_t len, const char *delim,
                             Py_ssize_t dlen, Py_ssize_t *cursor, Py_ssize_t limit)
    Py_ssize_t ww_scan_blank_line(const char *buf, Py_ssize_t len,
                                  Py_ssize_t *cursor, Py_ssize_t limit)
    Py_ssize_t ww_io_read(ww_socket_t fd, char *buf, Py_ssize_t n)
    Py_ssize_t ww_io_writev(ww_socket_t fd, int is_socket, ww_iovec_t *iov, int n)
    int ww_io_would_block(int err)


cdef class _Stream(IOSink):
    # identity and loop registration
    cdef ww_socket_t _fd
    cdef bint _is_socket
    cdef bint _hooked            # I/O through the Python read_from_fd/write_to_fd
    cdef readonly object _loop
    cdef _LoopCore _sink         # the loop when it is whirlwind's, else None
    cdef object _create_future   # loop.create_future, bound once
    cdef dict _future_kw         # {'loop': loop} when Future(loop=loop) is equivalent
    cdef object _call_soon       # loop.call_soon, bound once
    cdef bint _reg_read          # read interest armed with the loop
    cdef bint _reg_write         # write interest armed with the loop
    cdef bint _closed
    cdef bint _paused            # read buffer full: read interest dropped
    cdef bint _drain             # read until EAGAIN (uvloop: see _stream_setup)
    cdef readonly int _mode      # 0 streaming, 1 connecting, 2 TLS handshake

    # read buffer: unconsumed bytes are _buf[_start:_end], capacity _cap
    cdef char *_buf
    cdef Py_ssize_t _start
    cdef Py_ssize_t _end
    cdef Py_ssize_t _cap
    cdef public Py_ssize_t max_buffer_size
    cdef public Py_ssize_t read_chunk_size
    cdef public object max_write_buffer_size

    # the pending read (at most one)
    cdef int _rkind
    cdef object _rfuture
    cdef object _rcallback
    cdef object _rstreaming
    cdef bytes _rdelim
    cdef object _rregex
    cdef object _rinto           # writable memoryview for read_into
    cdef Py_ssize_t _rn          # wanted bytes (bytes/into)
    cdef Py_ssize_t _rfilled     # bytes already copied (into)
    cdef Py_ssize_t _rmax        # max_bytes or -1
    cdef Py_ssize_t _rcursor     # delimiter scan resume cursor
    cdef Py_ssize_t _rscanned    # regex: buffer size at the last failed search
    cdef bint _rpartial
    cdef bint _rblank            # regex is an HTTP head end: scanned in C

    # write queue: bytes or 'B' memoryviews; _wpos is the offset into the first
    cdef list _wqueue
    cdef Py_ssize_t _wpos
    cdef Py_ssize_t _wsize
    cdef unsigned long long _wtotal
    cdef unsigned long long _wdone
    cdef object _wwaiters        # deque of (index, future, classic callback)
    cdef object _done_future     # shared resolved Future for instant writes

    # closing
    cdef public object error
    cdef object _close_callback

    cdef int _on_io(self, int events) except -1   # IOSink override
    cdef int _io_event(self, int events) except -1
    cdef int _set_interest(self, bint rd, bint wr) except -1
    cdef int _arm_read(self) except -1
    cdef int _arm_write(self, bint on) except -1
    cdef int _unregister(self) except -1
    cdef int _ensure_space(self) except -1
    cdef int _do_read(self) except -1
    cdef Py_ssize_t _find_read_pos(self) except -2
    cdef int _process_read(self) except -1
    cdef int _feed_into(self) except -1
    cdef int _finish_read(self, Py_ssize_t pos) except -1
    cdef int _deliver(self, object future, object callback, object value) except -1
    cdef int _start_read(self, int kind, object callback) except -1
    cdef int _try_inline(self) except -1
    cdef int _do_write(self) except -1
    cdef int _write_now(self, bytes data, Py_ssize_t n) except -1
    cdef int _write_done_waiters(self) except -1
    cdef int _io_error(self, int err, str what) except -1
    cdef int _consume(self, Py_ssize_t n) except -1
    cdef Py_ssize_t _read_limit(self)
    cdef int _maybe_resume(self) except -1
    cdef int _clear_read(self) except -1
    cdef int _advance_write(self, Py_ssize_t n) except -1
    cdef int _fail_waiters(self) except -1
    cdef object _new_future(self)
