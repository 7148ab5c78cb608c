/*
 * Declarations-only stand-in for the BSD/macOS <sys/event.h>, written for
 * whirlwind from the kqueue(2) manual page.  It lets scripts/check_kqueue.sh
 * compile csrc/include/ww_poll_kqueue.h on Linux (-DWW_FORCE_KQUEUE
 * -I tests/core/kqueue_stub) to catch syntax and type errors.  Nothing here
 * links or runs: there is no kqueue() on Linux.  The constant values follow
 * FreeBSD/macOS, and struct kevent has the classic six fields.
 */
#ifndef WW_KQUEUE_STUB_SYS_EVENT_H
#define WW_KQUEUE_STUB_SYS_EVENT_H

#ifndef WW_FORCE_KQUEUE
#  error "kqueue_stub/sys/event.h is a compile-check stand-in; define WW_FORCE_KQUEUE"
#endif /* WW_FORCE_KQUEUE */

#include <stdint.h>
#include <time.h>

/* filters (negative numbers, as on the BSDs) */
#define EVFILT_READ     (-1)
#define EVFILT_WRITE    (-2)
#define EVFILT_AIO      (-3)
#define EVFILT_VNODE    (-4)
#define EVFILT_PROC     (-5)
#define EVFILT_SIGNAL   (-6)
#define EVFILT_TIMER    (-7)
#define EVFILT_USER     (-11)

/* actions and flags (struct kevent.flags) */
#define EV_ADD          0x0001
#define EV_DELETE       0x0002
#define EV_ENABLE       0x0004
#define EV_DISABLE      0x0008
#define EV_ONESHOT      0x0010
#define EV_CLEAR        0x0020
#define EV_RECEIPT      0x0040
#define EV_DISPATCH     0x0080
#define EV_ERROR        0x4000
#define EV_EOF          0x8000

struct kevent {
    uintptr_t ident;        /* identifier, an fd for READ/WRITE */
    short filter;           /* EVFILT_* */
    unsigned short flags;   /* EV_* */
    unsigned int fflags;    /* filter flags (socket error with EV_EOF) */
    intptr_t data;          /* bytes queued, or an errno with EV_ERROR */
    void *udata;            /* opaque, returned unchanged */
};

#define EV_SET(kevp, a, b, c, d, e, f) do {     \
        struct kevent *ww_stub_kevp_ = (kevp);  \
        ww_stub_kevp_->ident = (a);             \
        ww_stub_kevp_->filter = (b);            \
        ww_stub_kevp_->flags = (c);             \
        ww_stub_kevp_->fflags = (d);            \
        ww_stub_kevp_->data = (e);              \
        ww_stub_kevp_->udata = (f);             \
    } while (0)

int kqueue(void);
int kevent(int kq, const struct kevent *changelist, int nchanges,
           struct kevent *eventlist, int nevents,
           const struct timespec *timeout);

#endif /* WW_KQUEUE_STUB_SYS_EVENT_H */
