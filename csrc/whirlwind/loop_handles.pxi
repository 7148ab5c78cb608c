# Handle and TimerHandle (asyncio's handle API), the timer heap's sift
# operations and the GC parking of queued handles.  Included by loop.pyx;
# the theory of operation is at the top of loop.pyx.

# ---------------------------------------------------------------------------
# Handles


@cython.freelist(256)
@cython.no_gc_clear
@cython.auto_pickle(False)
cdef class Handle:
    """A callback scheduled on whirlwind's loop (asyncio.Handle's API)."""

    def __dealloc__(self):
        # a handle freed while parked (a queue cleared behind the loop's
        # back): its context must be GC-tracked before it is deallocated
        if self._gc_off & _GC_CONTEXT and self._context is not None:
            if not _ww_gc_is_tracked(<PyObject *>self._context):
                _ww_gc_track(<PyObject *>self._context)

    def __init__(self, callback, args, loop, context=None):
        self._callback = callback
        self._args = tuple(args)
        self._loop = loop
        self._context = PyContext_CopyCurrent() if context is None else context

    def cancel(self):
        """Cancel the callback; a no-op if it already ran or was cancelled."""
        if not self._cancelled:
            self._cancel_c()

    cdef int _cancel_c(self) except -1:
        self._cancelled = True
        if self._loop is not None and self._loop._debug:
            self._repr = repr(self)
        self._callback = None
        self._args = None
        return 0

    def cancelled(self):
        return self._cancelled

    def get_context(self):
        return self._context

    def _run(self):
        self._run_c()

    cdef int _run_c(self) except -1:
        cdef object cb = self._callback
        cdef object args = self._args
        cdef object ctx = self._context
        cdef Py_ssize_t n
        try:
            PyContext_Enter(ctx)
        except BaseException as exc:
            self._report(exc)
            return 0
        try:
            n = PyTuple_GET_SIZE(args)
            if n == 0:
                cb()
            elif n == 1:
                cb(<object>PyTuple_GET_ITEM(args, 0))
            else:
                cb(*args)
        except (KeyboardInterrupt, SystemExit):
            PyContext_Exit(ctx)
            raise
        except BaseException as exc:
            PyContext_Exit(ctx)
            self._report(exc)
            return 0
        PyContext_Exit(ctx)
        return 0

    def _report(self, exc):
        cb = _aio_format_helpers._format_callback_source(self._callback, self._args)
        context = {
            "message": f"Exception in callback {cb}",
            "exception": exc,
            "handle": self,
        }
        if self._source_traceback:
            context["source_traceback"] = self._source_traceback
        self._loop.call_exception_handler(context)

    def _repr_info(self):
        info = [type(self).__name__]
        if self._cancelled:
            info.append("cancelled")
        if self._callback is not None:
            info.append(
                _aio_format_helpers._format_callback_source(self._callback, self._args)
            )
        if self._source_traceback:
            frame = self._source_traceback[-1]
            info.append(f"created at {frame[0]}:{frame[1]}")
        return info

    def __repr__(self):
        if self._repr is not None:
            return self._repr
        return "<{}>".format(" ".join(self._repr_info()))


@cython.no_gc_clear
@cython.auto_pickle(False)
cdef class TimerHandle(Handle):
    """A callback scheduled for a loop time (asyncio.TimerHandle's API)."""

    def __init__(self, when, callback, args, loop, context=None):
        Handle.__init__(self, callback, args, loop, context)
        self._when = when

    def when(self):
        """The absolute loop time (loop.time()) the callback is due at."""
        return self._when

    def cancel(self):
        if not self._cancelled:
            if self._scheduled and self._loop is not None:
                self._loop._timer_cancelled_count += 1
            self._cancel_c()

    def _repr_info(self):
        info = Handle._repr_info(self)
        info.insert(2 if self._cancelled else 1, f"when={self._when}")
        return info

    def __hash__(self):
        return hash(self._when)

    def __lt__(self, other):
        if isinstance(other, TimerHandle):
            return self._when < (<TimerHandle>other)._when
        return NotImplemented

    def __gt__(self, other):
        if isinstance(other, TimerHandle):
            return self._when > (<TimerHandle>other)._when
        return NotImplemented

    def __le__(self, other):
        if isinstance(other, TimerHandle):
            return self._when < (<TimerHandle>other)._when or self == other
        return NotImplemented

    def __ge__(self, other):
        if isinstance(other, TimerHandle):
            return self._when > (<TimerHandle>other)._when or self == other
        return NotImplemented

    def __eq__(self, other):
        if isinstance(other, TimerHandle):
            o = <TimerHandle>other
            return (
                self._when == o._when
                and self._callback == o._callback
                and self._args == o._args
                and self._cancelled == o._cancelled
            )
        return NotImplemented

    def __ne__(self, other):
        eq = self.__eq__(other)
        return NotImplemented if eq is NotImplemented else not eq


cdef inline bint _timer_before(PyObject *a, PyObject *b) noexcept:
    # (when, seq) order; reads the fields through the borrowed pointers
    cdef double wa = (<TimerHandle>a)._when
    cdef double wb = (<TimerHandle>b)._when
    if wa != wb:
        return wa < wb
    return (<TimerHandle>a)._seq < (<TimerHandle>b)._seq


cdef void _sift_down(PyObject **items, Py_ssize_t n, Py_ssize_t pos) noexcept:
    # Move items[pos] down to its place (items is a permutation of owned
    # references: no refcounts change).  Bottom-up variant: walk the hole down
    # along the smaller children to a leaf (one comparison per level), then
    # bubble the item back up; it usually belongs near the bottom, so this
    # halves the comparisons of the textbook sift (each one a cache miss).
    cdef PyObject *item = items[pos]
    cdef Py_ssize_t start = pos, child, parent
    child = 2 * pos + 1
    while child < n:
        if child + 1 < n and _timer_before(items[child + 1], items[child]):
            child += 1
        items[pos] = items[child]
        pos = child
        child = 2 * pos + 1
    while pos > start:
        parent = (pos - 1) >> 1
        if not _timer_before(item, items[parent]):
            break
        items[pos] = items[parent]
        pos = parent
    items[pos] = item


cdef void _sift_up(PyObject **items, Py_ssize_t pos) noexcept:
    cdef PyObject *item = items[pos]
    cdef Py_ssize_t parent
    while pos > 0:
        parent = (pos - 1) >> 1
        if not _timer_before(item, items[parent]):
            break
        items[pos] = items[parent]
        pos = parent
    items[pos] = item


cdef inline void _gc_park(Handle h) noexcept:
    # untrack a fresh handle (and its loop-made context) while it is queued
    cdef unsigned char off = _GC_HANDLE
    if h._gc_off & _GC_CONTEXT:
        _ww_gc_untrack(<PyObject *>h._context)
    _ww_gc_untrack(<PyObject *>h)
    h._gc_off |= off


cdef inline void _gc_release(Handle h) noexcept:
    # The loop drops its reference to h (the caller holds one more).  The
    # context is always tracked again: CPython's context dealloc unlinks it
    # from the GC unconditionally.  h is tracked again if it outlives this.
    cdef unsigned char off = h._gc_off
    cdef PyObject *ctx
    if off == 0:
        return
    h._gc_off = 0
    if off & _GC_CONTEXT:
        ctx = <PyObject *>h._context
        if not _ww_gc_is_tracked(ctx):
            _ww_gc_track(ctx)
    if _ww_refcnt(<PyObject *>h) > 1 and not _ww_gc_is_tracked(<PyObject *>h):
        _ww_gc_track(<PyObject *>h)
