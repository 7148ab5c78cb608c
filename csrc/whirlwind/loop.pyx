# The compiled core of whirlwind's asyncio event loop (included by _core.pyx;
# Handle/TimerHandle and the heap sifts are in loop_handles.pxi, IOSink and the
# selector facade in loop_sinks.pxi).
#
# Theory of operation
# -------------------
# whirlwind.loop.EventLoop is `class EventLoop(_LoopCore, asyncio.SelectorEventLoop)`.
# _LoopCore comes first in the MRO, so its methods override asyncio's, and its
# `cdef public` fields (named like BaseEventLoop's attributes) are data
# descriptors that win over the instance __dict__: inherited Python code that
# does `self._stopping = True` or `self._scheduled.clear()` reaches the C fields.
# Everything not defined here (transports, TLS, subprocesses, signals, sock_*,
# DNS, executors) is asyncio's own code, running on top of:
#
# * the ready queue: a list `_ready_list`.  One iteration swaps it with a spare
#   list and runs the swapped-out batch, so callbacks scheduled while the batch
#   runs wait for the next iteration (asyncio's `ntodo` rule) and append is
#   O(1).  `_ready` is a property returning the live list (asyncio's close()
#   clears it, signal delivery appends asyncio Handles to it).
# * the timer heap: `_scheduled`, a list kept in binary-heap order by
#   (when, seq) with sift operations done in C on the list's item array.  seq
#   makes timers with equal deadlines fire in scheduling order.  Cancelled
#   timers stay in the heap and are counted; when they are more than half of a
#   heap of over 100 entries the heap is rebuilt without them (checked at each
#   iteration and at each call_at, so the rebuild cost is amortised O(1) per
#   timer and the heap never grows without bound).
# * the fd table: a C array of ww_fdslot_t indexed by fd (kind, registered
#   mask, generation) plus `_fd_objs`, a list holding the Python objects of
#   each slot (reader/writer Handles, or an IOSink) where the GC can see them.
#   Each new registration gets a fresh generation, handed to the poller and
#   returned with each event, so an event for an fd closed and reopened
#   earlier in the same batch is recognised as stale and dropped.
# * one iteration (_run_once_c): prune cancelled timers; compute the timeout
#   (0 when callbacks are ready); poll; dispatch events (reader/writer Handles
#   are appended to the ready queue, IOSinks are called directly); move due
#   timers to the ready queue; run the batch.  Callbacks queued by I/O
#   dispatch therefore run in the same iteration.  The poller is asked every
#   iteration, as asyncio does (with timeout 0 while callbacks are ready):
#   skipping those polls was measured to gain little and it changes how I/O
#   interleaves with callbacks (Tornado's SSL tests notice).
# * GC pressure: every call_soon allocates a Handle and a context copy, both
#   GC-tracked, and a queue of thousands of them made the cyclic GC walk them
#   again and again (40 % of a call_soon in profiles).  A Handle the loop
#   creates is therefore untracked, with the context it copied, while only
#   the ready queue or the timer heap can reach it: the GC then treats them
#   as roots, which is conservative (never frees a live object).  When the
#   loop lets go of a handle (_gc_release: after running it, when dropping a
#   cancelled timer, before close() clears the queues) both are tracked again
#   if anything else still references them, so cycles through handles that
#   users keep (`self._timer = loop.call_later(...)`) stay collectable.
# * wake-ups: call_soon_threadsafe writes an eventfd (a pipe off Linux) only
#   when no wake-up is pending; the loop drains it during dispatch and clears
#   the flag.  Signals keep asyncio's socketpair (_make_self_pipe), whose
#   reader is registered through our _add_reader like any other.
# * fork: a loop created before fork() refuses to run in the child (its epoll
#   interest list and wake-up fd are shared with the parent); it can still be
#   closed there, which makes no poller syscall.
#
# Return conventions: `except -1` cdef methods return 0 or raise.

cimport cython
from cpython.contextvars cimport PyContext_CopyCurrent, PyContext_Enter, PyContext_Exit
from cpython.list cimport PyList_Append, PyList_Clear, PyList_GET_ITEM, PyList_GET_SIZE
from cpython.object cimport PyObject, PyObject_Call
from cpython.pythread cimport PyThread_get_thread_ident
from cpython.time cimport monotonic
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE
from libc.stdlib cimport free, realloc
from libc.string cimport memset

import os as _os
import selectors as _selectors
import sys as _sys
import threading as _threading
from asyncio import base_events as _aio_base_events
from asyncio import coroutines as _aio_coroutines
from asyncio import events as _aio_events
from asyncio import format_helpers as _aio_format_helpers
from asyncio import futures as _aio_futures

_aio_Future = _aio_futures.Future


cdef extern from "Python.h":
    PyObject **PySequence_Fast_ITEMS(object o)
    void _ww_gc_track "PyObject_GC_Track"(PyObject *o)
    void _ww_gc_untrack "PyObject_GC_UnTrack"(PyObject *o)
    int _ww_gc_is_tracked "PyObject_GC_IsTracked"(PyObject *o)
    Py_ssize_t _ww_refcnt "Py_REFCNT"(PyObject *o)
    void _ww_set_size "Py_SET_SIZE"(object o, Py_ssize_t n)
    void _ww_incref "Py_INCREF"(PyObject *o)
    void _ww_decref "Py_DECREF"(PyObject *o)


cdef enum:
    _FD_NONE = 0        # not registered with the poller
    _FD_HANDLES = 1     # reader/writer Handles (add_reader/add_writer)
    _FD_SINK = 2        # an IOSink called during dispatch
    _FD_WAKE = 3        # the loop's own thread wake-up fd

cdef enum:
    _MIN_SCHEDULED_TIMER_HANDLES = 100

cdef enum:
    _GC_HANDLE = 1      # the Handle is untracked
    _GC_CONTEXT = 2     # the context the loop copied for it is untracked

cdef double _MAXIMUM_SELECT_TIMEOUT = 24 * 3600.0

# Incremented in a forked child; a loop remembers the value it was born with.
cdef long _fork_generation = 0


def _after_fork_in_child() -> None:
    global _fork_generation
    _fork_generation += 1


if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_after_fork_in_child)


cdef int _fileobj_to_fd(object fileobj) except -1:
    # selectors._fileobj_to_fd semantics (the poller's parser), as a C int:
    # the fd table is indexed by fd.
    cdef ww_socket_t fd = _poll_fd(fileobj)
    if fd > 0x7FFFFFFF:
        raise ValueError(f"File descriptor out of range: {fd}")
    return <int>fd


cdef object _format_handle(object handle):
    fmt = getattr(_aio_base_events, "_format_handle", None)
    if fmt is None:
        return repr(handle)
    return fmt(handle)


include "loop_handles.pxi"
include "loop_sinks.pxi"


# ---------------------------------------------------------------------------
# The loop core


@cython.no_gc_clear
@cython.auto_pickle(False)
cdef class _LoopCore:
    """The compiled part of whirlwind.loop.EventLoop; not usable on its own."""

    def __cinit__(self, *args, **kwargs):
        cdef int rfd = -1, wfd = -1
        self._fds = NULL
        self._fds_cap = 0
        self._fd_objs = []
        self._ready_list = []
        self._spare = []
        self._scheduled = []
        self._wake_rfd = -1
        self._wake_wfd = -1
        self._fork_gen = _fork_generation
        self._clock_resolution = 1e-9
        backend = _os.environ.get("WHIRLWIND_POLLER") or None
        self._poller = Poller(backend)
        self._fd_reserve(255)
        if ww_wake_open(&rfd, &wfd) == 0:
            self._wake_rfd = rfd
            self._wake_wfd = wfd
            self._fd_set(rfd, _FD_WAKE, WW_READ)
        self._selector = _SelectorFacade(self)

    def __dealloc__(self):
        if self._wake_rfd >= 0:
            ww_wake_close(self._wake_rfd, self._wake_wfd)
            self._wake_rfd = self._wake_wfd = -1
        free(self._fds)
        self._fds = NULL

    # -- state ------------------------------------------------------------

    @property
    def _ready(self):
        # the live ready queue (a list); inherited code appends and clears it
        return self._ready_list

    @_ready.setter
    def _ready(self, value):
        self._ready_list[:] = list(value)

    @property
    def _poller_backend(self):
        return self._poller.backend

    def get_debug(self):
        return self._debug

    def create_future(self):
        """Create an asyncio.Future attached to this loop."""
        # Always name the loop: Future() without it looks up the running
        # loop, which calls getpid() on CPython 3.11.  The keyword dict is
        # made once per loop.
        kw = self._future_kw
        if kw is None:
            kw = self._future_kw = {"loop": self}
        return PyObject_Call(_aio_Future, (), kw)

    def time(self):
        """The loop's clock: time.monotonic()'s clock, in seconds."""
        return monotonic()

    cdef double _now(self) noexcept:
        return monotonic()

    cdef int _check_closed_c(self) except -1:
        if self._closed:
            raise RuntimeError("Event loop is closed")
        return 0

    # -- scheduling ---------------------------------------------------------

    cdef Handle _call_soon_c(self, object callback, object args, object context):
        cdef Handle h = Handle.__new__(Handle)
        h._callback = callback
        h._args = args
        h._loop = self
        if context is None:
            h._context = PyContext_CopyCurrent()
            h._gc_off = _GC_CONTEXT
        else:
            h._context = context
        if self._debug:
            h._source_traceback = _aio_format_helpers.extract_stack(_sys._getframe(0))
        PyList_Append(self._ready_list, h)
        _gc_park(h)
        return h

    def call_soon(self, callback, *args, context=None):
        """Run callback(*args) on the next iteration, in FIFO order."""
        if self._closed:
            raise RuntimeError("Event loop is closed")
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_soon")
        return self._call_soon_c(callback, args, context)

    def _call_soon(self, callback, args, context):
        return self._call_soon_c(callback, tuple(args), context)

    def call_soon_threadsafe(self, callback, *args, context=None):
        """Like call_soon(), from any thread: wakes the loop if it is blocked."""
        self._check_closed_c()
        if self._debug:
            self._check_callback(callback, "call_soon_threadsafe")
        h = self._call_soon_c(callback, args, context)
        self._wakeup()
        return h

    cdef int _wakeup(self) except -1:
        if (self._running_thread == PyThread_get_thread_ident()
                and not self._in_wait):
            return 0        # called by the running loop itself: not blocked
        if self._wake_wfd >= 0:
            if not self._wake_pending:
                self._wake_pending = True
                ww_wake_signal(self._wake_wfd)
            return 0
        # no eventfd/pipe (Windows): asyncio's socketpair self-pipe
        csock = getattr(self, "_csock", None)
        if csock is not None:
            try:
                csock.send(b"\0")
            except OSError:
                pass
        return 0

    def _write_to_self(self):
        self._wakeup()

    def _add_callback(self, handle):
        if not handle._cancelled:
            PyList_Append(self._ready_list, handle)

    cdef TimerHandle _call_at_c(self, double when, object callback, object args,
                                object context):
        cdef TimerHandle h = TimerHandle.__new__(TimerHandle)
        h._callback = callback
        h._args = args
        h._loop = self
        if context is None:
            h._context = PyContext_CopyCurrent()
            h._gc_off = _GC_CONTEXT
        else:
            h._context = context
        h._when = when
        self._timer_seq += 1
        h._seq = self._timer_seq
        if self._debug:
            h._source_traceback = _aio_format_helpers.extract_stack(_sys._getframe(0))
        if self._timer_cancelled_count > _MIN_SCHEDULED_TIMER_HANDLES:
            self._timers_cleanup()
        self._timer_push(h)
        h._scheduled = True
        _gc_park(h)
        return h

    def call_at(self, when, callback, *args, context=None):
        """Run callback(*args) at loop time `when`; returns a TimerHandle."""
        if when is None:
            raise TypeError("when cannot be None")
        self._check_closed_c()
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_at")
        return self._call_at_c(when, callback, args, context)

    def call_later(self, delay, callback, *args, context=None):
        """Run callback(*args) after `delay` seconds; returns a TimerHandle."""
        if delay is None:
            raise TypeError("delay must not be None")
        self._check_closed_c()
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_later")
        return self._call_at_c(monotonic() + <double>delay, callback, args, context)

    def _timer_handle_cancelled(self, handle):
        if handle._scheduled:
            self._timer_cancelled_count += 1

    # -- the timer heap -----------------------------------------------------

    cdef int _timer_push(self, TimerHandle h) except -1:
        cdef list heap = self._scheduled
        PyList_Append(heap, h)
        _sift_up(PySequence_Fast_ITEMS(heap), PyList_GET_SIZE(heap) - 1)
        return 0

    cdef TimerHandle _timer_pop(self):
        # remove and return the earliest timer (the heap must not be empty)
        cdef list heap = self._scheduled
        cdef TimerHandle top = <TimerHandle>PyList_GET_ITEM(heap, 0)
        cdef object last = heap.pop()
        cdef Py_ssize_t n = PyList_GET_SIZE(heap)
        cdef PyObject **items
        cdef PyObject *old
        if n > 0:
            items = PySequence_Fast_ITEMS(heap)
            old = items[0]
            _ww_incref(<PyObject *>last)
            items[0] = <PyObject *>last
            _ww_decref(old)     # the list's reference to `top` (we hold one)
            _sift_down(items, n, 0)
        top._scheduled = False
        return top

    cdef int _timers_cleanup(self) except -1:
        cdef list heap = self._scheduled
        cdef list fresh
        cdef Py_ssize_t n = PyList_GET_SIZE(heap), i
        cdef TimerHandle h
        if (n > _MIN_SCHEDULED_TIMER_HANDLES
                and self._timer_cancelled_count * 2 > n):
            fresh = []
            for i in range(n):
                h = <TimerHandle>PyList_GET_ITEM(heap, i)
                if h._cancelled:
                    h._scheduled = False
                    _gc_release(h)
                else:
                    PyList_Append(fresh, h)
            n = PyList_GET_SIZE(fresh)
            i = n // 2 - 1
            while i >= 0:
                _sift_down(PySequence_Fast_ITEMS(fresh), n, i)
                i -= 1
            self._scheduled = fresh
            self._timer_cancelled_count = 0
        else:
            while PyList_GET_SIZE(heap) and (
                    <TimerHandle>PyList_GET_ITEM(heap, 0))._cancelled:
                self._timer_cancelled_count -= 1
                _gc_release(self._timer_pop())
        return 0

    # -- running --------------------------------------------------------------

    def _check_fork(self):
        if self._fork_gen != _fork_generation:
            raise RuntimeError(
                "this whirlwind event loop was created before fork(); it cannot "
                "run in the child process: close it and create a new loop there"
            )

    def run_forever(self):
        """Run until stop() is called."""
        setup = getattr(self, "_run_forever_setup", None)
        if setup is not None:                     # Python 3.13+
            setup()     # raises (and changes nothing) if already running
            try:
                self._run_forever_loop()
            finally:
                self._run_forever_cleanup()
            return
        # Python 3.10-3.12: the same steps as BaseEventLoop.run_forever
        self._check_closed()
        self._check_running()
        self._set_coroutine_origin_tracking(self._debug)
        old_agen_hooks = _sys.get_asyncgen_hooks()
        try:
            self._thread_id = _threading.get_ident()
            _sys.set_asyncgen_hooks(
                firstiter=self._asyncgen_firstiter_hook,
                finalizer=self._asyncgen_finalizer_hook,
            )
            _aio_events._set_running_loop(self)
            self._run_forever_loop()
        finally:
            self._stopping = False
            self._thread_id = None
            _aio_events._set_running_loop(None)
            self._set_coroutine_origin_tracking(False)
            _sys.set_asyncgen_hooks(*old_agen_hooks)

    def _run_forever_loop(self):
        self._check_fork()
        self._running_thread = PyThread_get_thread_ident()
        try:
            if type(self)._run_once is not _LoopCore._run_once:
                # a Python subclass overrides the step: honour it
                while True:
                    self._run_once()
                    if self._stopping:
                        break
                return
            while True:
                self._run_once_c()
                if self._stopping:
                    break
        finally:
            self._running_thread = 0

    def _run_once(self):
        """Run one iteration: poll, dispatch I/O, fire due timers, run callbacks."""
        self._check_fork()
        self._run_once_c()

    cdef int _run_once_c(self) except -1:
        cdef double timeout, end
        cdef int nevents
        cdef list heap
        self._iterations += 1
        if self._timer_cancelled_count:
            self._timers_cleanup()
        heap = self._scheduled
        if PyList_GET_SIZE(self._ready_list) or self._stopping:
            timeout = 0.0
        elif PyList_GET_SIZE(heap):
            timeout = (<TimerHandle>PyList_GET_ITEM(heap, 0))._when - monotonic()
            if timeout < 0.0:
                timeout = 0.0
            elif timeout > _MAXIMUM_SELECT_TIMEOUT:
                timeout = _MAXIMUM_SELECT_TIMEOUT
        else:
            timeout = -1.0

        # signal handlers may run inside the wait (EINTR), on this thread
        self._in_wait = True
        try:
            nevents = self._poller._wait(timeout)
        finally:
            self._in_wait = False
        if nevents > 0:
            self._dispatch(nevents)

        heap = self._scheduled
        if PyList_GET_SIZE(heap):
            end = monotonic() + self._clock_resolution
            while PyList_GET_SIZE(heap):
                h = <TimerHandle>PyList_GET_ITEM(heap, 0)
                if h._when >= end:
                    break
                self._timer_pop()
                if h._cancelled:
                    self._timer_cancelled_count -= 1
                    _gc_release(h)
                else:
                    PyList_Append(self._ready_list, h)
        self._run_ready()
        return 0

    @cython.boundscheck(False)
    @cython.wraparound(False)
    cdef int _run_ready(self) except -1:
        # The batch list is private while it runs (the loop queues new
        # callbacks on the other list), so its slots are emptied in place
        # (NULL, which list code tolerates) and its item array is kept for
        # reuse: no allocation per iteration.
        cdef list batch = self._ready_list
        cdef Py_ssize_t n = PyList_GET_SIZE(batch), i = 0
        cdef PyObject **items
        cdef PyObject *p
        cdef object h
        cdef bint debug = self._debug
        if n == 0:
            return 0
        if self._spare is None:
            self._spare = []
        self._ready_list = self._spare
        self._spare = None
        items = PySequence_Fast_ITEMS(batch)
        try:
            while i < n:
                p = items[i]
                items[i] = NULL
                i += 1
                h = <object>p
                _ww_decref(p)           # the list's reference, now held by h
                if type(h) is Handle or type(h) is TimerHandle:
                    _gc_release(<Handle>h)
                    if (<Handle>h)._cancelled:
                        continue
                    if debug:
                        self._run_debug(h)
                    else:
                        (<Handle>h)._run_c()
                elif not h._cancelled:
                    if debug:
                        self._run_debug(h)
                    else:
                        h._run()
        except BaseException:
            # KeyboardInterrupt/SystemExit escape run_forever; the callbacks
            # not yet run stay queued, ahead of the ones added meanwhile
            if i < n:
                self._ready_list[0:0] = batch[i:n]
            raise
        finally:
            if i < n:
                PyList_Clear(batch)     # drops the unrun slots' references
            else:
                _ww_set_size(batch, 0)  # every slot is NULL already
            if self._spare is None:
                self._spare = batch
        return 0

    def _run_debug(self, handle):
        # asyncio's debug-mode step: track the current handle, warn when slow
        self._current_handle = handle
        try:
            t0 = monotonic()
            if isinstance(handle, Handle):
                (<Handle>handle)._run_c()
            else:
                handle._run()
            dt = monotonic() - t0
            if dt >= self.slow_callback_duration:
                # looked up at call time, like asyncio's own (tests patch it)
                _aio_base_events.logger.warning(
                    "Executing %s took %.3f seconds", _format_handle(handle), dt
                )
        finally:
            self._current_handle = None

    # -- I/O dispatch --------------------------------------------------------

    cdef int _dispatch(self, int nevents) except -1:
        cdef int i, fd, events, kind
        cdef uint32_t gen
        cdef ww_event_t *ev
        cdef object obj
        for i in range(nevents):
            ev = &self._poller._events[i]
            fd = <int>ev.fd
            events = ev.events
            gen = ev.gen
            if fd < 0 or fd >= self._fds_cap or self._fds[fd].kind == _FD_NONE:
                # not ours (any more): make sure the kernel forgets it, or a
                # dup()ed fd would keep firing (epoll keeps the description)
                if fd >= 0 and self._fork_gen == _fork_generation:
                    self._poller._unregister(fd)
                continue
            if self._fds[fd].gen != gen:
                continue        # stale: fd was re-registered in this batch
            kind = self._fds[fd].kind
            if kind == _FD_HANDLES:
                if events & (WW_READ | WW_ERROR):
                    obj = <object>PyList_GET_ITEM(self._fd_objs, 2 * fd)
                    if obj is not None:
                        if (<Handle>obj)._cancelled:
                            self._remove_io(fd, 0)
                        else:
                            PyList_Append(self._ready_list, obj)
                if events & (WW_WRITE | WW_ERROR) and fd < self._fds_cap:
                    obj = <object>PyList_GET_ITEM(self._fd_objs, 2 * fd + 1)
                    if obj is not None:
                        if (<Handle>obj)._cancelled:
                            self._remove_io(fd, 1)
                        else:
                            PyList_Append(self._ready_list, obj)
            elif kind == _FD_SINK:
                obj = <object>PyList_GET_ITEM(self._fd_objs, 2 * fd)
                try:
                    (<IOSink>obj)._on_io(events)
                except (KeyboardInterrupt, SystemExit):
                    raise
                except BaseException as exc:
                    self.call_exception_handler({
                        "message": f"Exception in I/O callback of {obj!r}",
                        "exception": exc,
                        "fd": fd,
                    })
            elif kind == _FD_WAKE:
                ww_wake_drain(fd)
                self._wake_pending = False
        return 0

    # -- the fd table ----------------------------------------------------------

    cdef int _fd_reserve(self, Py_ssize_t fd) except -1:
        cdef Py_ssize_t cap = self._fds_cap, newcap
        cdef ww_fdslot_t *fds
        if fd < cap:
            return 0
        newcap = cap * 2 if cap * 2 > fd + 1 else fd + 1
        if newcap < 256:
            newcap = 256
        fds = <ww_fdslot_t *>realloc(self._fds, newcap * sizeof(ww_fdslot_t))
        if fds == NULL:
            raise MemoryError()
        memset(&fds[cap], 0, (newcap - cap) * sizeof(ww_fdslot_t))
        self._fds = fds
        self._fd_objs.extend([None] * (2 * (newcap - cap)))
        self._fds_cap = newcap
        return 0

    cdef int _fd_set(self, int fd, int kind, int mask) except -1:
        # Bring the poller in line with (kind, mask) for fd (reserved).
        # kind _FD_NONE unregisters.  In a forked child the poller is shared
        # with the parent, so only the table changes.
        cdef ww_fdslot_t *slot = &self._fds[fd]
        cdef bint live = self._fork_gen == _fork_generation and not self._poller.closed
        if kind == _FD_NONE:
            if slot.kind != _FD_NONE:
                slot.kind = _FD_NONE
                slot.mask = 0
                if live:
                    self._poller._unregister(fd)
            return 0
        if slot.kind == _FD_NONE:
            self._gen_counter += 1
            if live:
                self._poller._register(fd, mask, self._gen_counter)
            slot.gen = self._gen_counter
            slot.kind = kind
            slot.mask = mask
        elif slot.mask != mask:
            if live:
                try:
                    self._poller._modify(fd, mask, slot.gen)
                except FileNotFoundError:
                    # the fd was closed (and maybe reused) without being
                    # removed: the kernel forgot it, so register it afresh
                    self._poller._register(fd, mask, slot.gen)
            slot.mask = mask
        return 0

    cdef Handle _add_io(self, object fd, int which, object callback, tuple args):
        # which: 0 reader, 1 writer
        cdef int fdi
        cdef int bit = WW_READ if which == 0 else WW_WRITE
        cdef Handle h
        self._check_closed_c()
        fdi = _fileobj_to_fd(fd)
        self._fd_reserve(fdi)
        kind = self._fds[fdi].kind
        if kind == _FD_SINK or kind == _FD_WAKE:
            raise RuntimeError(
                f"fd {fdi} is watched by a compiled stream of this loop; "
                "it cannot also have reader/writer callbacks"
            )
        h = Handle.__new__(Handle)
        h._callback = callback
        h._args = args
        h._loop = self
        h._context = PyContext_CopyCurrent()
        if self._debug:
            h._source_traceback = _aio_format_helpers.extract_stack(_sys._getframe(0))
        self._fd_set(fdi, _FD_HANDLES, self._fds[fdi].mask | bit)
        idx = 2 * fdi + which
        old = self._fd_objs[idx]
        self._fd_objs[idx] = h
        if old is not None:
            old.cancel()
        return h

    cdef bint _remove_io(self, object fd, int which) except -1:
        cdef int fdi
        cdef int bit = WW_READ if which == 0 else WW_WRITE
        cdef int mask
        if self._closed:
            return False
        fdi = _fileobj_to_fd(fd)
        if fdi >= self._fds_cap or self._fds[fdi].kind != _FD_HANDLES:
            return False
        mask = self._fds[fdi].mask & ~bit
        self._fd_set(fdi, _FD_HANDLES if mask else _FD_NONE, mask)
        idx = 2 * fdi + which
        old = self._fd_objs[idx]
        self._fd_objs[idx] = None
        if old is not None:
            old.cancel()
            return True
        return False

    def _add_reader(self, fd, callback, *args):
        return self._add_io(fd, 0, callback, args)

    def _add_writer(self, fd, callback, *args):
        return self._add_io(fd, 1, callback, args)

    def _remove_reader(self, fd):
        return self._remove_io(fd, 0)

    def _remove_writer(self, fd):
        return self._remove_io(fd, 1)

    # -- compiled fd watchers (IOSink) ----------------------------------------

    cdef int _sink_add(self, int fd, IOSink sink, int events) except -1:
        self._check_closed_c()
        if fd < 0:
            raise ValueError(f"Invalid file descriptor: {fd}")
        if sink is None:
            raise TypeError("sink must not be None")
        self._fd_reserve(fd)
        if self._fds[fd].kind != _FD_NONE:
            raise RuntimeError(f"fd {fd} is already registered with this loop")
        self._fd_set(fd, _FD_SINK, events & (WW_READ | WW_WRITE))
        self._fd_objs[2 * fd] = sink
        return 0

    cdef int _sink_modify(self, int fd, int events) except -1:
        self._check_closed_c()
        if fd < 0 or fd >= self._fds_cap or self._fds[fd].kind != _FD_SINK:
            raise KeyError(f"fd {fd} has no sink on this loop")
        self._fd_set(fd, _FD_SINK, events & (WW_READ | WW_WRITE))
        return 0

    cdef int _sink_remove(self, int fd) except -1:
        # tolerant: a closed loop or an unknown fd is not an error
        if self._closed or fd < 0 or fd >= self._fds_cap:
            return 0
        if self._fds[fd].kind != _FD_SINK:
            return 0
        self._fd_set(fd, _FD_NONE, 0)
        self._fd_objs[2 * fd] = None
        return 0

    # -- closing ------------------------------------------------------------------

    def _release_queued(self):
        # called by EventLoop.close() before asyncio's close() clears the
        # queues: give queued handles back to the cyclic GC
        for h in self._ready_list:
            if isinstance(h, Handle):
                _gc_release(<Handle>h)
        for h in self._scheduled:
            _gc_release(<Handle>h)

    cdef int _close_core(self) except -1:
        # called by the selector facade's close(), at the end of asyncio's
        # close(): drop every registration, the wake-up fd and the poller
        cdef Py_ssize_t fd
        if self._wake_rfd >= 0:
            if self._wake_rfd < self._fds_cap:
                self._fd_set(self._wake_rfd, _FD_NONE, 0)
            ww_wake_close(self._wake_rfd, self._wake_wfd)
            self._wake_rfd = self._wake_wfd = -1
        for fd in range(self._fds_cap):
            self._fds[fd].kind = _FD_NONE
            self._fds[fd].mask = 0
        for fd in range(PyList_GET_SIZE(self._fd_objs)):
            self._fd_objs[fd] = None
        if not self._poller.closed:
            self._poller._close()
        return 0
