# Declarations of whirlwind's hand-written C headers (csrc/include/).
from libc.stdint cimport uint32_t


cdef extern from "ww_platform.h" nogil:
    const int WW_IS_WINDOWS
    const int WW_HAVE_EPOLL
    const int WW_HAVE_KQUEUE
    const int WW_HAVE_SELECT
    ctypedef long long ww_socket_t  # int on POSIX, SOCKET on Windows


cdef extern from "ww_poll.h" nogil:
    const int WW_READ
    const int WW_WRITE
    const int WW_ERROR
    const int WW_POLL_AUTO
    const int WW_POLL_EPOLL
    const int WW_POLL_KQUEUE
    const int WW_POLL_SELECT

    ctypedef struct ww_event_t:
        ww_socket_t fd
        int events
        uint32_t gen

    ctypedef struct ww_poll_t:
        pass

    int ww_poll_available(int kind)
    const char *ww_poll_kind_name(int kind)
    ww_poll_t *ww_poll_new(int kind)
    int ww_poll_kind(ww_poll_t *p)
    int ww_poll_register(ww_poll_t *p, ww_socket_t fd, int events, uint32_t gen)
    int ww_poll_modify(ww_poll_t *p, ww_socket_t fd, int events, uint32_t gen)
    int ww_poll_unregister(ww_poll_t *p, ww_socket_t fd)
    int ww_poll_wait(ww_poll_t *p, ww_event_t *out, int maxevents, int timeout_ms)
    int ww_poll_fileno(ww_poll_t *p)
    void ww_poll_free(ww_poll_t *p)


cdef extern from "ww_platform.h" nogil:
    const int WW_FD_SETSIZE  # select() on POSIX refuses fds >= this
    double ww_monotonic()    # seconds, monotonic clock


cdef extern from "ww_poll.h" nogil:
    size_t ww_poll_count(ww_poll_t *p)
