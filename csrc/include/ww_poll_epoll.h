/*
 * ww_poll_epoll.h -- the epoll backend (Linux).  Included by ww_poll_impl.h.
 *
 * Theory of operation
 * -------------------
 * Level-triggered epoll; each kernel entry carries data.u64 = fd | gen << 32.
 * kstate is 1 while the fd is in the epoll set.  An fd registered with
 * events == 0 is kept *out* of the set: epoll reports EPOLLHUP/EPOLLERR even
 * for an empty mask, and level-triggered that would spin the loop.  ERROR
 * interest alone is an empty epoll mask (hang-ups and errors only).
 *
 * Ghosts.  epoll keys entries on (fd number, open file description) and drops
 * one only when the last reference to the description is closed.  An fd
 * closed while still registered, with a dup (or a forked child) keeping the
 * description open, leaves an entry we can no longer address: EPOLL_CTL_DEL
 * on the number fails (EBADF, or ENOENT once the number is reused).  Such a
 * ghost fires forever.  Defences:
 *   - wait(): an event whose fd is not registered, not in the set, or whose
 *     token differs from the table's is a ghost; DEL by number when the fd is
 *     not registered at all (that works if the number still names the same
 *     description), otherwise schedule a rebuild;
 *   - a DEL/MOD that fails with EBADF/ENOENT marks the slot (ghost,
 *     ghost_gen); re-registering that fd number with the same token would
 *     make a surviving ghost indistinguishable, so it schedules a rebuild;
 *   - rebuild: a fresh epoll instance gets every registered fd, then is
 *     dup2()ed over the old fd number (fileno() stays stable) so the old
 *     instance and its ghosts go away.  O(registered fds), on error paths only.
 * A wait whose events were all ghosts keeps waiting until its deadline, so a
 * ghost never makes wait() return early.
 */
#ifndef WW_POLL_EPOLL_H
#define WW_POLL_EPOLL_H

#include <sys/epoll.h>

static int
ww_epoll_init(ww_poll_t *p)
{
    p->osfd = epoll_create1(EPOLL_CLOEXEC);
    return p->osfd < 0 ? -1 : 0;
}

static void
ww_epoll_close(ww_poll_t *p)
{
    if (p->osfd >= 0) {
        close(p->osfd);
        p->osfd = -1;
    }
}

static int
ww_epoll_ctl(int epfd, int op, int fd, int events, uint32_t gen)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    if (events & WW_READ) {
        ev.events |= EPOLLIN;
    }
    if (events & WW_WRITE) {
        ev.events |= EPOLLOUT;
    }
    ev.data.u64 = (uint64_t)(uint32_t)fd | ((uint64_t)gen << 32);
    return epoll_ctl(epfd, op, fd, &ev);
}

/* Remember that the kernel entry of r (token r->gen) may outlive our view. */
static void
ww_epoll_mark_ghost(ww_reg_t *r)
{
    r->ghost = 1;
    r->ghost_gen = r->gen;
    r->kstate = 0;
}

static int
ww_epoll_set(ww_poll_t *p, int fd, int events, uint32_t gen)
{
    ww_reg_t *r = ww_reg_slot(p, fd);
    int was, want = events != 0;
    if (r == NULL) {
        return -1;
    }
    was = r->events != WW_REG_NONE;
    if (r->kstate) {
        if (ww_epoll_ctl(p->osfd, want ? EPOLL_CTL_MOD : EPOLL_CTL_DEL, fd,
                         events, gen) == 0) {
            r->kstate = (unsigned char)want;
            goto done;
        }
        if (errno != ENOENT && errno != EBADF) {
            return -1;
        }
        /* closed (and maybe reused) behind our back */
        ww_epoll_mark_ghost(r);
    }
    if (want) {
        if (ww_epoll_ctl(p->osfd, EPOLL_CTL_ADD, fd, events, gen) < 0) {
            /* EEXIST: this very description is already in the set (we
             * lost track of it); MOD updates its interest and token */
            if (errno != EEXIST ||
                ww_epoll_ctl(p->osfd, EPOLL_CTL_MOD, fd, events, gen) < 0) {
                return -1;
            }
        }
        r->kstate = 1;
    }
done:
    if (r->ghost && r->ghost_gen == gen) {
        p->rebuild = 1;
    }
    if (!was) {
        p->nregistered++;
    }
    r->events = events;
    r->gen = gen;
    return 0;
}

static int
ww_epoll_del(ww_poll_t *p, ww_reg_t *r, int fd)
{
    struct epoll_event ev;  /* kernels before 2.6.9 require non-NULL */
    if (r->kstate && epoll_ctl(p->osfd, EPOLL_CTL_DEL, fd, &ev) < 0) {
        if (errno != ENOENT && errno != EBADF) {
            return -1;
        }
        ww_epoll_mark_ghost(r);
    }
    ww_reg_release(p, r);
    p->nregistered--;
    return 0;
}

/* Recreate the epoll set from the table; see "Ghosts" above. */
static int
ww_epoll_rebuild(ww_poll_t *p)
{
    size_t fd;
    int flags, epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        return -1;
    }
    for (fd = 0; fd < p->nregs; fd++) {
        ww_reg_t *r = &p->regs[fd];
        r->ghost = 0;
        if (r->events == WW_REG_NONE || !r->kstate) {
            continue;
        }
        if (ww_epoll_ctl(epfd, EPOLL_CTL_ADD, (int)fd, r->events, r->gen) < 0) {
            /* closed without unregister: stays registered, out of the set */
            r->kstate = 0;
        }
    }
    /* dup2 closes the old instance (and its ghosts) atomically */
    if (dup2(epfd, p->osfd) < 0) {
        int saved = errno;
        close(epfd);
        errno = saved;
        return -1;
    }
    close(epfd);
    flags = fcntl(p->osfd, F_GETFD);
    if (flags >= 0) {
        fcntl(p->osfd, F_SETFD, flags | FD_CLOEXEC);
    }
    p->rebuild = 0;
    return 0;
}

/* An event for fd that the table does not account for. */
static void
ww_epoll_ghost(ww_poll_t *p, int fd, ww_reg_t *r)
{
    struct epoll_event ev;
    if (r == NULL && epoll_ctl(p->osfd, EPOLL_CTL_DEL, fd, &ev) == 0) {
        return;
    }
    p->rebuild = 1;
}

static int
ww_epoll_wait(ww_poll_t *p, ww_event_t *out, int maxevents, int timeout_ms)
{
    struct epoll_event *evs;
    double deadline = 0.0;
    int n, i, k;
    if (ww_poll_kbuf(p, (size_t)maxevents * sizeof(struct epoll_event)) < 0) {
        return -1;
    }
    evs = (struct epoll_event *)p->kbuf;
    if (timeout_ms > 0) {
        deadline = ww_monotonic() + timeout_ms / 1000.0;
    }
    for (;;) {
        /* a failed rebuild (EMFILE...) is retried next time; the ghost
         * is still filtered out meanwhile */
        if (p->rebuild) {
            (void)ww_epoll_rebuild(p);
        }
        n = epoll_wait(p->osfd, evs, maxevents, timeout_ms);
        if (n <= 0) {
            return n;  /* -1/EINTR: the caller runs signal handlers */
        }
        for (i = 0, k = 0; i < n; i++) {
            int fd = (int)(uint32_t)evs[i].data.u64, ev = 0;
            uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
            uint32_t e = evs[i].events;
            ww_reg_t *r = ww_reg_find(p, fd);
            if (r == NULL || !r->kstate || r->gen != gen) {
                ww_epoll_ghost(p, fd, r);
                continue;
            }
            if (e & EPOLLIN) {
                ev |= WW_READ;
            }
            if (e & EPOLLOUT) {
                ev |= WW_WRITE;
            }
            if (e & (EPOLLERR | EPOLLHUP)) {
                ev |= WW_ERROR;
            }
            out[k].fd = fd;
            out[k].events = ev;
            out[k].gen = gen;
            k++;
        }
        if (k > 0 || timeout_ms == 0) {
            return k;
        }
        /* only ghosts: keep waiting for what is left of the timeout */
        if (timeout_ms > 0 && (timeout_ms = ww_poll_remaining_ms(deadline)) == 0) {
            return 0;
        }
    }
}

#endif /* WW_POLL_EPOLL_H */
