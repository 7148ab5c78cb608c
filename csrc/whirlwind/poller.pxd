# The Poller: a thin owner of one ww_poll_t (see csrc/include/ww_poll.h).
# The loop core drives it through the cdef methods below; Python code and
# the tests use the def methods declared in _core.pyi.

cdef class Poller:
    # the C poller and the event array filled by _wait(); _events may move
    # (it grows when a wait fills it), so read it only after _wait returns
    cdef ww_poll_t *_p
    cdef ww_event_t *_events
    cdef int _maxevents
    cdef readonly str backend
    cdef readonly bint closed
    # WW_POLL_* of the backend in use
    cdef int _kind
    # set while a wait runs without the GIL: register/modify/unregister/close
    # from another thread then raise RuntimeError instead of racing the C table
    cdef bint _busy

    # 0 on success; raise OSError/ValueError and return -1 on failure.
    # Registering a registered fd replaces its interest and token; modify of
    # an unknown fd raises FileNotFoundError (ENOENT).
    cdef int _register(self, ww_socket_t fd, int events, uint32_t gen) except -1
    cdef int _modify(self, ww_socket_t fd, int events, uint32_t gen) except -1
    # tolerant of fds the kernel already forgot (EBADF/ENOENT) and of unknown fds
    cdef int _unregister(self, ww_socket_t fd) except -1
    # wait up to timeout seconds (< 0: forever); the GIL is released when
    # timeout != 0; EINTR runs signal handlers (may raise) and retries with a
    # recomputed deadline.  Returns the number of events in self._events.
    cdef int _wait(self, double timeout) except -1
    cdef int _close(self) except -1
    # raise the exception for a failed ww_poll_* call on fd (errno in err)
    cdef int _raise(self, int err, ww_socket_t fd) except -1
