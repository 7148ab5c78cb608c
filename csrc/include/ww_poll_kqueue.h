/*
 * ww_poll_kqueue.h -- the kqueue backend (macOS, the BSDs).  Included by
 * ww_poll_impl.h.  Compile-checked on Linux against a declarations-only
 * <sys/event.h> (tests/core/kqueue_stub, scripts/check_kqueue.sh); it cannot
 * run here.
 *
 * Theory of operation
 * -------------------
 * One EVFILT_READ and one EVFILT_WRITE knote per fd, level-triggered (no
 * EV_CLEAR); udata carries the generation token.  kstate has bit 1 while the
 * read filter is armed and bit 2 for the write filter.  kqueue reports the
 * two filters of one fd as separate kevents, so wait() merges them into one
 * ww_event_t per fd (reg.serial/reg.slot remember where this batch put fd).
 *
 * Registration sends EV_ADD for every wanted filter, armed or not: that
 * refreshes the token and re-arms a filter the kernel dropped when the fd
 * was closed (closing drops an fd's knotes, so unlike epoll there are no
 * ghosts) and its number reused.  Filters no longer wanted get EV_DELETE.
 * Changes go in with EV_RECEIPT so each one's errno comes back separately;
 * a delete that fails with ENOENT/EBADF (fd already closed) is ignored.
 * The caller must unregister before close all the same: some kqueue
 * emulations keep knotes across close().
 *
 * Translation (kqueue(2)): EVFILT_READ -> READ, plus ERROR when EV_EOF is set
 * and nothing is left to read (data == 0); with data still queued only READ,
 * so the reader drains it before it sees the end.  EVFILT_WRITE -> WRITE,
 * plus ERROR with EV_EOF, so send() surfaces the error (kept in fflags).
 * An event for a filter the table does not want is deleted on the spot.
 * ERROR interest alone arms no filter: kqueue reports EOF and errors only
 * through the read and write filters, so it reports nothing.
 */
#ifndef WW_POLL_KQUEUE_H
#define WW_POLL_KQUEUE_H

#include <sys/types.h>
#include <sys/event.h>
#include <sys/time.h>

#if defined(__NetBSD__)
   typedef intptr_t ww_kq_udata_t;  /* NetBSD declares udata as intptr_t */
#else
   typedef void *ww_kq_udata_t;
#endif /* __NetBSD__ */
#define WW_KQ_UDATA(gen) ((ww_kq_udata_t)(uintptr_t)(gen))
#define WW_KQ_READ 1
#define WW_KQ_WRITE 2

static int
ww_kqueue_init(ww_poll_t *p)
{
    int flags;
    p->osfd = kqueue();
    if (p->osfd < 0) {
        return -1;
    }
    flags = fcntl(p->osfd, F_GETFD);
    if (flags >= 0) {
        fcntl(p->osfd, F_SETFD, flags | FD_CLOEXEC);
    }
    return 0;
}

static void
ww_kqueue_close(ww_poll_t *p)
{
    if (p->osfd >= 0) {
        close(p->osfd);
        p->osfd = -1;
    }
}

/* Submit n (<= 2) changes; failed deletes of closed fds are not errors. */
static int
ww_kqueue_apply(ww_poll_t *p, struct kevent *ch, int n)
{
    int i, err = 0;
#ifdef EV_RECEIPT
    struct kevent res[2];
    int j, m;
    for (i = 0; i < n; i++) {
        ch[i].flags |= EV_RECEIPT;
    }
    m = kevent(p->osfd, ch, n, res, n, NULL);
    if (m < 0) {
        return -1;
    }
    for (i = 0; i < m; i++) {
        int is_delete = 0;
        if (!(res[i].flags & EV_ERROR) || res[i].data == 0) {
            continue;
        }
        for (j = 0; j < n; j++) {
            if (ch[j].filter == res[i].filter && (ch[j].flags & EV_DELETE)) {
                is_delete = 1;
            }
        }
        if (is_delete && (res[i].data == ENOENT || res[i].data == EBADF)) {
            continue;
        }
        err = (int)res[i].data;
    }
#else
    for (i = 0; i < n; i++) {
        if (kevent(p->osfd, &ch[i], 1, NULL, 0, NULL) < 0) {
            if ((ch[i].flags & EV_DELETE) && (errno == ENOENT || errno == EBADF)) {
                continue;
            }
            err = errno;
        }
    }
#endif /* EV_RECEIPT */
    if (err != 0) {
        errno = err;
        return -1;
    }
    return 0;
}

static int
ww_kqueue_set(ww_poll_t *p, int fd, int events, uint32_t gen)
{
    struct kevent ch[2];
    ww_reg_t *r = ww_reg_slot(p, fd);
    int n = 0, was, have, want;
    if (r == NULL) {
        return -1;
    }
    was = r->events != WW_REG_NONE;
    have = was ? r->kstate : 0;
    want = ((events & WW_READ) ? WW_KQ_READ : 0) |
           ((events & WW_WRITE) ? WW_KQ_WRITE : 0);
    if (want & WW_KQ_READ) {
        EV_SET(&ch[n], (uintptr_t)fd, EVFILT_READ, EV_ADD | EV_ENABLE, 0, 0,
               WW_KQ_UDATA(gen));
        n++;
    } else if (have & WW_KQ_READ) {
        EV_SET(&ch[n], (uintptr_t)fd, EVFILT_READ, EV_DELETE, 0, 0,
               WW_KQ_UDATA(0));
        n++;
    }
    if (want & WW_KQ_WRITE) {
        EV_SET(&ch[n], (uintptr_t)fd, EVFILT_WRITE, EV_ADD | EV_ENABLE, 0, 0,
               WW_KQ_UDATA(gen));
        n++;
    } else if (have & WW_KQ_WRITE) {
        EV_SET(&ch[n], (uintptr_t)fd, EVFILT_WRITE, EV_DELETE, 0, 0,
               WW_KQ_UDATA(0));
        n++;
    }
    if (n > 0 && ww_kqueue_apply(p, ch, n) < 0) {
        /* a filter may be half-armed: remember it so unregister deletes it */
        if (was) {
            r->kstate = (unsigned char)(have | want);
        }
        return -1;
    }
    if (!was) {
        p->nregistered++;
    }
    r->events = events;
    r->gen = gen;
    r->kstate = (unsigned char)want;
    return 0;
}

static int
ww_kqueue_del(ww_poll_t *p, ww_reg_t *r, int fd)
{
    struct kevent ch[2];
    int n = 0;
    if (r->kstate & WW_KQ_READ) {
        EV_SET(&ch[n], (uintptr_t)fd, EVFILT_READ, EV_DELETE, 0, 0,
               WW_KQ_UDATA(0));
        n++;
    }
    if (r->kstate & WW_KQ_WRITE) {
        EV_SET(&ch[n], (uintptr_t)fd, EVFILT_WRITE, EV_DELETE, 0, 0,
               WW_KQ_UDATA(0));
        n++;
    }
    if (n > 0 && ww_kqueue_apply(p, ch, n) < 0) {
        return -1;
    }
    ww_reg_release(p, r);
    p->nregistered--;
    return 0;
}

/* A kevent the table does not account for: re-arm the filter with the
 * current token if it is wanted, else delete it, so it cannot fire again. */
static void
ww_kqueue_fix(ww_poll_t *p, const struct kevent *kev, ww_reg_t *r)
{
    struct kevent ch;
    int bit = kev->filter == EVFILT_READ ? WW_KQ_READ : WW_KQ_WRITE;
    if (r != NULL && (r->kstate & bit)) {
        EV_SET(&ch, kev->ident, kev->filter, EV_ADD | EV_ENABLE, 0, 0,
               WW_KQ_UDATA(r->gen));
    } else {
        EV_SET(&ch, kev->ident, kev->filter, EV_DELETE, 0, 0, WW_KQ_UDATA(0));
    }
    (void)ww_kqueue_apply(p, &ch, 1);
}

static int
ww_kqueue_wait(ww_poll_t *p, ww_event_t *out, int maxevents, int timeout_ms)
{
    struct kevent *kev;
    struct timespec ts, *tsp = NULL;
    double deadline = 0.0;
    int n, i, k;
    if (ww_poll_kbuf(p, (size_t)maxevents * sizeof(struct kevent)) < 0) {
        return -1;
    }
    kev = (struct kevent *)p->kbuf;
    if (timeout_ms > 0) {
        deadline = ww_monotonic() + timeout_ms / 1000.0;
    }
    for (;;) {
        if (timeout_ms >= 0) {
            ts.tv_sec = timeout_ms / 1000;
            ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
            tsp = &ts;
        }
        n = kevent(p->osfd, NULL, 0, kev, maxevents, tsp);
        if (n <= 0) {
            return n;  /* -1/EINTR: the caller runs signal handlers */
        }
        ww_poll_next_serial(p);
        for (i = 0, k = 0; i < n; i++) {
            int fd = (int)kev[i].ident, ev, bit;
            uint32_t gen = (uint32_t)(uintptr_t)kev[i].udata;
            ww_reg_t *r;
            if (kev[i].filter == EVFILT_READ) {
                bit = WW_KQ_READ;
                ev = WW_READ;
                if ((kev[i].flags & EV_EOF) && kev[i].data <= 0) {
                    ev |= WW_ERROR;
                }
            } else if (kev[i].filter == EVFILT_WRITE) {
                bit = WW_KQ_WRITE;
                ev = WW_WRITE;
                if (kev[i].flags & EV_EOF) {
                    ev |= WW_ERROR;
                }
            } else {
                continue;
            }
            if (kev[i].flags & EV_ERROR) {
                ev = WW_ERROR;  /* an in-band error for this knote */
            }
            r = ww_reg_find(p, fd);
            if (r == NULL || !(r->kstate & bit) || r->gen != gen) {
                ww_kqueue_fix(p, &kev[i], r);
                continue;
            }
            if (r->serial == p->serial) {
                out[r->slot].events |= ev;  /* the fd's other filter */
                continue;
            }
            r->serial = p->serial;
            r->slot = k;
            out[k].fd = fd;
            out[k].events = ev;
            out[k].gen = gen;
            k++;
        }
        if (k > 0 || timeout_ms == 0) {
            return k;
        }
        /* only stale knotes: keep waiting for what is left of the timeout */
        if (timeout_ms > 0 && (timeout_ms = ww_poll_remaining_ms(deadline)) == 0) {
            return 0;
        }
    }
}

#endif /* WW_POLL_KQUEUE_H */
