# Loop core declarations: Handle, TimerHandle, IOSink, _LoopCore.
# The implementation and its theory of operation are in loop.pyx.

cdef extern from "ww_wake.h" nogil:
    int ww_wake_open(int *rfd, int *wfd)
    int ww_wake_signal(int wfd)
    int ww_wake_drain(int rfd)
    void ww_wake_close(int rfd, int wfd)


# One slot of the fd table (a C array indexed by fd).  The Python objects of
# slot fd live in _LoopCore._fd_objs[2*fd] (reader or sink) and
# [2*fd + 1] (writer), a list the garbage collector can traverse.
ctypedef struct ww_fdslot_t:
    int kind        # _FD_NONE, _FD_HANDLES, _FD_SINK or _FD_WAKE
    int mask        # interest registered with the poller (READ|WRITE bits)
    uint32_t gen    # generation token given to the poller


cdef class Handle:
    # asyncio.Handle's attribute names: inherited asyncio code and
    # base_events._format_handle read them.
    cdef readonly object _callback
    cdef readonly object _args
    cdef readonly object _context
    cdef readonly _LoopCore _loop
    cdef readonly bint _cancelled
    cdef public object _source_traceback
    cdef public object _repr
    # _GC_* bits: this handle (and the context the loop copied for it) are
    # untracked by the cyclic GC while only the loop's queues hold them
    cdef unsigned char _gc_off

    # run the callback in its context; errors go to the exception handler,
    # KeyboardInterrupt/SystemExit propagate (-1)
    cdef int _run_c(self) except -1
    cdef int _cancel_c(self) except -1


cdef class TimerHandle(Handle):
    cdef readonly double _when
    cdef unsigned long long _seq      # FIFO among equal deadlines
    cdef public bint _scheduled       # True while in the loop's heap


# A compiled fd watcher (whirlwind's stream).  The loop calls _on_io()
# directly while dispatching poller events: no Handle, no ready-queue hop.
# An exception raised by _on_io goes to the loop's exception handler.
cdef class IOSink:
    cdef int _on_io(self, int events) except -1


cdef class _LoopCore:
    # asyncio's instance attribute names, as C fields (data descriptors win
    # over the instance __dict__, so inherited Python code uses them)
    cdef public bint _stopping
    cdef public bint _closed
    cdef public bint _debug
    cdef public Py_ssize_t _timer_cancelled_count
    cdef public double _clock_resolution
    cdef public object _selector
    # the timer heap: a list kept in heap order by (when, seq)
    cdef public list _scheduled

    # the ready queue: callbacks appended here; each iteration swaps it
    # with _spare and runs the swapped-out batch
    cdef list _ready_list
    cdef list _spare

    # the poller and the fd table
    cdef Poller _poller
    cdef ww_fdslot_t *_fds
    cdef Py_ssize_t _fds_cap
    cdef list _fd_objs
    cdef uint32_t _gen_counter

    # thread wake-up (eventfd/pipe); -1 when unavailable (Windows)
    cdef int _wake_rfd
    cdef int _wake_wfd
    cdef bint _wake_pending
    # thread ident while run_forever runs (0 otherwise): wake-ups from that
    # thread are skipped, the loop is not blocked in the poller then...
    cdef unsigned long _running_thread
    # ...unless they come from a signal handler run inside the poller's wait
    # (EINTR): _in_wait is set around the wait
    cdef bint _in_wait

    cdef unsigned long long _timer_seq
    # fork generation at creation (see _fork_generation in loop.pyx)
    cdef long _fork_gen

    # readonly counters for tests
    cdef readonly Py_ssize_t _iterations
    # {'loop': self}, made on the first create_future()
    cdef dict _future_kw

    cdef double _now(self) noexcept
    cdef int _check_closed_c(self) except -1
    cdef Handle _call_soon_c(self, object callback, object args, object context)
    cdef TimerHandle _call_at_c(self, double when, object callback, object args,
                                object context)
    cdef int _timer_push(self, TimerHandle h) except -1
    cdef TimerHandle _timer_pop(self)
    cdef int _timers_cleanup(self) except -1
    cdef int _run_once_c(self) except -1
    cdef int _run_ready(self) except -1
    cdef int _dispatch(self, int nevents) except -1
    cdef int _wakeup(self) except -1

    # fd table
    cdef int _fd_reserve(self, Py_ssize_t fd) except -1
    cdef int _fd_set(self, int fd, int kind, int mask) except -1
    cdef int _close_core(self) except -1
    cdef Handle _add_io(self, object fd, int which, object callback, tuple args)
    cdef bint _remove_io(self, object fd, int which) except -1

    # the compiled fd watcher interface (see IOSink)
    cdef int _sink_add(self, int fd, IOSink sink, int events) except -1
    cdef int _sink_modify(self, int fd, int events) except -1
    cdef int _sink_remove(self, int fd) except -1
