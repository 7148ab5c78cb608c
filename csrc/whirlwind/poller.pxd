# The Poller: a thin owner of one ww_poll_t (see csrc/include/ww_poll.h).
# The loop core drives it through the cdef methods below; Python code and
# the tests use the def methods declared in _core.pyi.

cdef class Poller:
    # the C poller and the event array filled by _wait()
    cdef ww_poll_t *_p
    cdef ww_event_t *_events
    cdef int _maxevents
    cdef readonly str backend
    cdef readonly bint closed

    # 0 on success; raise OSError/ValueError and return -1 on failure
    cdef int _register(self, ww_socket_t fd, int events, uint32_t gen) except -1
    cdef int _modify(self, ww_socket_t fd, int events, uint32_t gen) except -1
    # tolerant of fds the kernel already forgot (EBADF/ENOENT)
    cdef int _unregister(self, ww_socket_t fd) except -1
    # wait up to timeout seconds (< 0: forever); the GIL is released when
    # timeout != 0; EINTR runs signal handlers (may raise) and retries with a
    # recomputed deadline.  Returns the number of events in self._events.
    cdef int _wait(self, double timeout) except -1
    cdef int _close(self) except -1
