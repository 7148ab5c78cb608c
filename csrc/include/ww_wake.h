/*
 * ww_wake.h -- the event loop's thread wake-up fd.
 *
 * Theory of operation
 * -------------------
 * call_soon_threadsafe() must wake a loop blocked in the poller.  On Linux
 * an eventfd does it with one fd and 8-byte counters; elsewhere on POSIX a
 * non-blocking pipe carries one byte per wake-up.  The loop coalesces
 * wake-ups with a "pending" flag (only the first caller after a drain
 * writes), so the pipe never fills in practice; a full pipe (EAGAIN) still
 * means "a wake-up is already queued" and is not an error.
 *
 * Signals do NOT use this fd: signal.set_wakeup_fd() writes one byte per
 * signal number, which an eventfd rejects.  They keep asyncio's socketpair.
 *
 * On Windows ww_wake_open() fails with ENOSYS and the loop falls back to
 * asyncio's socketpair self-pipe for thread wake-ups too.
 *
 * Return convention: 0 on success, -1 with errno on failure.
 */
#ifndef WW_WAKE_H
#define WW_WAKE_H

#include "ww_platform.h"

#if !WW_IS_WINDOWS
#  include <unistd.h>
#  include <fcntl.h>
#endif /* !WW_IS_WINDOWS */

#if WW_HAVE_EPOLL
#  include <sys/eventfd.h>
#endif /* WW_HAVE_EPOLL */

/* Open the wake-up fd(s): *rfd is polled for READ, *wfd is written to
 * (the same fd for an eventfd). */
static int
ww_wake_open(int *rfd, int *wfd)
{
#if WW_IS_WINDOWS
    *rfd = *wfd = -1;
    errno = ENOSYS;
    return -1;
#elif WW_HAVE_EPOLL
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    *rfd = *wfd = fd;
    return 0;
#else
    int fds[2];
    int i;
    if (pipe(fds) < 0) {
        return -1;
    }
    for (i = 0; i < 2; i++) {
        int fl = fcntl(fds[i], F_GETFL);
        if (fl < 0 || fcntl(fds[i], F_SETFL, fl | O_NONBLOCK) < 0
                || fcntl(fds[i], F_SETFD, FD_CLOEXEC) < 0) {
            int saved = errno;
            close(fds[0]);
            close(fds[1]);
            errno = saved;
            return -1;
        }
    }
    *rfd = fds[0];
    *wfd = fds[1];
    return 0;
#endif /* WW_IS_WINDOWS */
}

/* Make rfd readable.  Safe from any thread; EAGAIN (already signalled) is
 * success.  Does not touch the GIL. */
static int
ww_wake_signal(int wfd)
{
#if WW_IS_WINDOWS
    (void)wfd;
    errno = ENOSYS;
    return -1;
#else
    ssize_t n;
#  if WW_HAVE_EPOLL
    uint64_t one = 1;
    do {
        n = write(wfd, &one, sizeof(one));
    } while (n < 0 && errno == EINTR);
#  else
    char one = 1;
    do {
        n = write(wfd, &one, 1);
    } while (n < 0 && errno == EINTR);
#  endif /* WW_HAVE_EPOLL */
    if (n < 0 && errno != EAGAIN) {
        return -1;
    }
    return 0;
#endif /* WW_IS_WINDOWS */
}

/* Consume every pending wake-up so rfd stops being readable. */
static int
ww_wake_drain(int rfd)
{
#if WW_IS_WINDOWS
    (void)rfd;
    return 0;
#else
    char buf[64];
    ssize_t n;
    for (;;) {
        n = read(rfd, buf, sizeof(buf));
        if (n > 0) {
#  if WW_HAVE_EPOLL
            return 0;   /* an eventfd read resets the counter at once */
#  else
            continue;
#  endif /* WW_HAVE_EPOLL */
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        return 0;       /* EAGAIN (drained) or EOF */
    }
#endif /* WW_IS_WINDOWS */
}

static void
ww_wake_close(int rfd, int wfd)
{
#if !WW_IS_WINDOWS
    if (rfd >= 0) {
        close(rfd);
    }
    if (wfd >= 0 && wfd != rfd) {
        close(wfd);
    }
#else
    (void)rfd;
    (void)wfd;
#endif /* !WW_IS_WINDOWS */
}

#endif /* WW_WAKE_H */
