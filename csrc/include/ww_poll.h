/*
 * ww_poll.h -- the backend-neutral poller API of whirlwind._core.
 *
 * Theory of operation
 * -------------------
 * A ww_poll_t wraps one OS readiness mechanism (epoll, kqueue or select).
 * Interest is level-triggered, like asyncio's add_reader contract: an fd
 * that stays readable is reported on every wait.  Events use Tornado's bits
 * (WW_READ=0x001, WW_WRITE=0x004, WW_ERROR=0x018); each backend translates.
 *
 * Every registration carries a 32-bit generation token chosen by the caller
 * (the loop's fd table).  ww_poll_wait() hands the token back with each event
 * so that an fd closed and reopened by a callback earlier in the same batch
 * can be recognised as stale.  On epoll the token rides in data.u64
 * (fd | gen << 32); on kqueue in udata; select keeps a side table.
 *
 * Callers must unregister an fd *before* closing it (epoll keeps an entry
 * alive while any duplicate of the file description is open; kqueue drops
 * it silently).  Unregistering an fd that the kernel already forgot
 * (EBADF/ENOENT) is not an error.
 *
 * Return convention: 0 (or a count) on success, -1 with errno set on
 * failure.  ww_poll_wait() returns -1/EINTR when interrupted; the caller
 * runs signal handlers and retries with a recomputed deadline.
 *
 * A ww_poll_t is not thread-safe: one thread at a time, including across
 * ww_poll_wait() (which reads the fd table after the kernel wait returns).
 * The Poller type raises RuntimeError for calls made while it waits.
 *
 * Backends live in ww_poll_epoll.h, ww_poll_kqueue.h and ww_poll_select.h;
 * every platform #if is in ww_platform.h.
 */
#ifndef WW_POLL_H
#define WW_POLL_H

#include "ww_platform.h"

#define WW_READ  0x001
#define WW_WRITE 0x004
#define WW_ERROR 0x018

/* Backend kinds; WW_POLL_AUTO picks the best one compiled in. */
#define WW_POLL_AUTO   0
#define WW_POLL_EPOLL  1
#define WW_POLL_KQUEUE 2
#define WW_POLL_SELECT 3

typedef struct {
    ww_socket_t fd;     /* the registered fd (a SOCKET on Windows) */
    int events;         /* WW_READ | WW_WRITE | WW_ERROR bits */
    uint32_t gen;       /* generation token given at register/modify */
} ww_event_t;

typedef struct ww_poll_s ww_poll_t;

/* 1 if the backend kind is compiled in on this platform, else 0. */
static int ww_poll_available(int kind);
/* Name of a kind: "epoll", "kqueue", "select". */
static const char *ww_poll_kind_name(int kind);

/* Create a poller of the given kind; NULL with errno on failure
 * (ENOSYS when the kind is not compiled in). */
static ww_poll_t *ww_poll_new(int kind);
static int ww_poll_kind(ww_poll_t *p);

/* events == 0 is allowed (registered, no interest).  Registering a
 * registered fd replaces its interest and token; modify fails with ENOENT
 * for an unknown fd; unregister of an unknown fd returns 0.  select on
 * POSIX fails with EINVAL for fd >= FD_SETSIZE. */
static int ww_poll_register(ww_poll_t *p, ww_socket_t fd, int events, uint32_t gen);
static int ww_poll_modify(ww_poll_t *p, ww_socket_t fd, int events, uint32_t gen);
static int ww_poll_unregister(ww_poll_t *p, ww_socket_t fd);

/* Wait up to timeout_ms (-1 = forever, 0 = poll) and write at most
 * maxevents events to out, one per fd.  Returns the count, or -1 with errno.
 * READ/WRITE are reported for the interest given; ERROR (WW_ERROR, both
 * bits) whenever the backend sees a hang-up or error, interest or not.
 * Does not touch the GIL: callers release it around blocking waits. */
static int ww_poll_wait(ww_poll_t *p, ww_event_t *out, int maxevents, int timeout_ms);

/* The OS handle (epoll/kqueue fd), or -1 for select. */
static int ww_poll_fileno(ww_poll_t *p);
/* Number of registered fds. */
static size_t ww_poll_count(ww_poll_t *p);

/* Release the OS handle and memory.  Safe on NULL. */
static void ww_poll_free(ww_poll_t *p);

#include "ww_poll_impl.h"

#endif /* WW_POLL_H */
