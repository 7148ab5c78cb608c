# The compiled fd watcher hook (IOSink), asyncio's `loop._selector` facade
# and the test hooks.  Included by loop.pyx.

# ---------------------------------------------------------------------------
# The compiled fd watcher hook


@cython.auto_pickle(False)
cdef class IOSink:
    """Base of compiled fd watchers registered with _LoopCore._sink_add()."""

    cdef int _on_io(self, int events) except -1:
        return 0


# ---------------------------------------------------------------------------
# asyncio's `loop._selector`, for the inherited code that still reads it


@cython.auto_pickle(False)
cdef class _SelectorFacade:
    """Answers get_key()/get_map()/close() from the loop's fd table.

    Inherited asyncio code only inspects the selector (transport __repr__) and
    closes it; registration goes through the loop's _add_reader family.
    """

    cdef _LoopCore _loop

    def __cinit__(self, _LoopCore loop):
        self._loop = loop

    def _key(self, int fd, fileobj):
        cdef _LoopCore loop = self._loop
        if loop is None or fd >= loop._fds_cap:
            raise KeyError(f"{fileobj!r} is not registered")
        slot = loop._fds[fd]
        if slot.kind != _FD_HANDLES and slot.kind != _FD_SINK:
            raise KeyError(f"{fileobj!r} is not registered")
        events = 0
        if slot.mask & WW_READ:
            events |= _selectors.EVENT_READ
        if slot.mask & WW_WRITE:
            events |= _selectors.EVENT_WRITE
        if slot.kind == _FD_SINK:
            data = (loop._fd_objs[2 * fd], None)
        else:
            data = (loop._fd_objs[2 * fd], loop._fd_objs[2 * fd + 1])
        return _selectors.SelectorKey(fileobj, fd, events, data)

    def get_key(self, fileobj):
        return self._key(_fileobj_to_fd(fileobj), fileobj)

    def get_map(self):
        cdef _LoopCore loop = self._loop
        cdef Py_ssize_t fd
        result = {}
        if loop is not None:
            for fd in range(loop._fds_cap):
                if loop._fds[fd].kind == _FD_HANDLES or loop._fds[fd].kind == _FD_SINK:
                    result[fd] = self._key(fd, fd)
        return result

    def select(self, timeout=None):
        raise NotImplementedError("whirlwind's loop polls with its own compiled poller")

    def register(self, fileobj, events, data=None):
        raise NotImplementedError("use the loop's add_reader()/add_writer()")

    def modify(self, fileobj, events, data=None):
        raise NotImplementedError("use the loop's add_reader()/add_writer()")

    def unregister(self, fileobj):
        raise NotImplementedError("use the loop's remove_reader()/remove_writer()")

    def close(self):
        if self._loop is not None:
            self._loop._close_core()
            self._loop = None


# ---------------------------------------------------------------------------
# Test hooks: an IOSink that calls a Python callable, so the sink dispatch
# path can be exercised from Python tests.


@cython.auto_pickle(False)
cdef class _PySink(IOSink):
    cdef object _fn

    def __cinit__(self, fn):
        self._fn = fn

    cdef int _on_io(self, int events) except -1:
        self._fn(events)
        return 0


def _sink_add_py(_LoopCore loop, int fd, fn, int events):
    """Register `fn(events)` as a compiled-style fd watcher (tests only)."""
    loop._sink_add(fd, _PySink(fn), events)


def _sink_modify_py(_LoopCore loop, int fd, int events):
    loop._sink_modify(fd, events)


def _sink_remove_py(_LoopCore loop, int fd):
    loop._sink_remove(fd)
