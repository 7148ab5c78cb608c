/*
 * ww_poll_select.h -- the select() backend: everywhere, and the only one on
 * Windows.  Included by ww_poll_impl.h.
 *
 * Theory of operation
 * -------------------
 * POSIX: three master fd_sets (read / write / except) mirror the table;
 * select() gets copies.  fds >= FD_SETSIZE cannot be represented and are
 * refused with EINVAL at registration (the Python layer raises ValueError
 * first).  Results are scanned from a rotating start fd so that, when more
 * fds are ready than the caller's array holds, the high fds are not starved.
 * ERROR interest puts the fd in the except set (out-of-band data); hang-ups
 * show up as READ, as select() defines them.
 *
 * Windows: fd_set is a counted array {u_int fd_count; SOCKET fd_array[]},
 * so we allocate three arrays sized to the registration count and fill them
 * per wait; FD_SETSIZE (64 by default) does not limit us.  Sockets only.  A
 * refused non-blocking connect() is reported in the except set, so sockets
 * with WRITE interest go there too and come back as WRITE|ERROR.  select()
 * with every set empty fails with WSAEINVAL, so with nothing to watch we
 * Sleep() for the timeout instead.  Empty sets are passed as NULL.
 *
 * Both: kstate is 1 while the fd is in the sets.  An fd that select()
 * rejects (closed behind our back: EBADF / WSAENOTSOCK) is found by probing,
 * taken out of the sets (kstate 0) and reported once as ERROR, so the caller
 * unregisters it instead of the wait failing forever.
 */
#ifndef WW_POLL_SELECT_H
#define WW_POLL_SELECT_H

#if WW_IS_WINDOWS

static int
ww_wsa_errno(int err)
{
    switch (err) {
    case WSAEINTR:
        return EINTR;
    case WSAENOTSOCK:
        return ENOTSOCK;
    case WSAEINVAL:
        return EINVAL;
    case WSAENOBUFS:
        return ENOMEM;
    case WSAEFAULT:
        return EFAULT;
    case WSANOTINITIALISED:
        return ENOSYS;
    default:
        return EIO;
    }
}

static int
ww_select_init(ww_poll_t *p)
{
    WSADATA data;
    int err = WSAStartup(MAKEWORD(2, 2), &data);  /* refcounted by Winsock */
    if (err != 0) {
        errno = ww_wsa_errno(err);
        return -1;
    }
    p->wsa_started = 1;
    return 0;
}

static void
ww_select_close(ww_poll_t *p)
{
    int i;
    for (i = 0; i < 3; i++) {
        free(p->wsets[i]);
        p->wsets[i] = NULL;
    }
    if (p->wsa_started) {
        WSACleanup();
        p->wsa_started = 0;
    }
}

static int
ww_select_set(ww_poll_t *p, ww_socket_t fd, int events, uint32_t gen)
{
    ww_reg_t *r = ww_reg_slot(p, fd);
    if (r == NULL) {
        return -1;
    }
    if (r->events == WW_REG_NONE) {
        p->nregistered++;
    }
    r->events = events;
    r->gen = gen;
    r->kstate = 1;
    return 0;
}

static int
ww_select_del(ww_poll_t *p, ww_reg_t *r, ww_socket_t fd)
{
    (void)fd;
    ww_reg_release(p, r);
    p->nregistered--;
    return 0;
}

/* Room for n sockets in each working set; -1/ENOMEM. */
static int
ww_select_reserve(ww_poll_t *p, size_t n)
{
    size_t cap = p->wsetcap ? p->wsetcap : 64;
    int i;
    if (n <= p->wsetcap) {
        return 0;
    }
    while (cap < n) {
        cap *= 2;
    }
    for (i = 0; i < 3; i++) {
        fd_set *s = (fd_set *)realloc(
            p->wsets[i], offsetof(fd_set, fd_array) + cap * sizeof(SOCKET));
        if (s == NULL) {
            errno = ENOMEM;
            return -1;
        }
        p->wsets[i] = s;
    }
    p->wsetcap = cap;
    return 0;
}

/* Add events for fd to the batch in out[]; returns the new count. */
static int
ww_select_emit(ww_poll_t *p, ww_reg_t *r, int ev, ww_event_t *out, int k,
               int maxevents)
{
    (void)p;
    if (r->serial == p->serial) {
        out[r->slot].events |= ev;
        return k;
    }
    if (k >= maxevents) {
        return k;  /* level-triggered: reported again next time */
    }
    r->serial = p->serial;
    r->slot = k;
    out[k].fd = r->fd;
    out[k].events = ev;
    out[k].gen = r->gen;
    return k + 1;
}

/* select() rejected a socket: report the dead ones as ERROR. */
static int
ww_select_reap(ww_poll_t *p, ww_event_t *out, int maxevents)
{
    size_t i;
    int k = 0;
    ww_poll_next_serial(p);
    for (i = 0; i < p->nregs; i++) {
        ww_reg_t *r = &p->regs[i];
        int type, len = (int)sizeof(type);
        if (!r->kstate) {
            continue;
        }
        if (getsockopt(r->fd, SOL_SOCKET, SO_TYPE, (char *)&type, &len) != 0 &&
            WSAGetLastError() == WSAENOTSOCK) {
            r->kstate = 0;
            k = ww_select_emit(p, r, WW_ERROR, out, k, maxevents);
        }
    }
    return k;
}

static int
ww_select_wait(ww_poll_t *p, ww_event_t *out, int maxevents, int timeout_ms)
{
    fd_set *rs, *ws, *xs;
    struct timeval tv, *tvp = NULL;
    double deadline = 0.0;
    size_t i;
    u_int j;
    int n, k;
    if (ww_select_reserve(p, p->nregs) < 0) {
        return -1;
    }
    if (timeout_ms > 0) {
        deadline = ww_monotonic() + timeout_ms / 1000.0;
    }
    for (;;) {
        rs = p->wsets[0];
        ws = p->wsets[1];
        xs = p->wsets[2];
        if (rs == NULL) {
            rs = ws = xs = NULL;
        } else {
            rs->fd_count = ws->fd_count = xs->fd_count = 0;
            for (i = 0; i < p->nregs; i++) {
                ww_reg_t *r = &p->regs[i];
                if (!r->kstate) {
                    continue;
                }
                if (r->events & WW_READ) {
                    rs->fd_array[rs->fd_count++] = r->fd;
                }
                if (r->events & WW_WRITE) {
                    ws->fd_array[ws->fd_count++] = r->fd;
                }
                if (r->events & (WW_WRITE | WW_ERROR)) {
                    xs->fd_array[xs->fd_count++] = r->fd;
                }
            }
            if (rs->fd_count == 0) {
                rs = NULL;
            }
            if (ws->fd_count == 0) {
                ws = NULL;
            }
            if (xs->fd_count == 0) {
                xs = NULL;
            }
        }
        if (rs == NULL && ws == NULL && xs == NULL) {
            /* nothing to watch: select() would fail with WSAEINVAL */
            Sleep(timeout_ms < 0 ? INFINITE : (DWORD)timeout_ms);
            return 0;
        }
        if (timeout_ms >= 0) {
            tv.tv_sec = timeout_ms / 1000;
            tv.tv_usec = (timeout_ms % 1000) * 1000;
            tvp = &tv;
        }
        n = select(0, rs, ws, xs, tvp);
        if (n == SOCKET_ERROR) {
            int err = WSAGetLastError();
            if (err == WSAENOTSOCK && (k = ww_select_reap(p, out, maxevents)) > 0) {
                return k;
            }
            errno = ww_wsa_errno(err);
            return -1;
        }
        if (n == 0) {
            return 0;
        }
        ww_poll_next_serial(p);
        k = 0;
        for (j = 0; rs != NULL && j < rs->fd_count; j++) {
            ww_reg_t *r = ww_reg_find(p, rs->fd_array[j]);
            if (r != NULL) {
                k = ww_select_emit(p, r, WW_READ, out, k, maxevents);
            }
        }
        for (j = 0; ws != NULL && j < ws->fd_count; j++) {
            ww_reg_t *r = ww_reg_find(p, ws->fd_array[j]);
            if (r != NULL) {
                k = ww_select_emit(p, r, WW_WRITE, out, k, maxevents);
            }
        }
        for (j = 0; xs != NULL && j < xs->fd_count; j++) {
            ww_reg_t *r = ww_reg_find(p, xs->fd_array[j]);
            if (r != NULL) {
                k = ww_select_emit(p, r, WW_ERROR | (r->events & WW_WRITE),
                                   out, k, maxevents);
            }
        }
        if (k > 0 || timeout_ms == 0) {
            return k;
        }
        if (timeout_ms > 0 && (timeout_ms = ww_poll_remaining_ms(deadline)) == 0) {
            return 0;
        }
    }
}

#else /* POSIX */

static int
ww_select_init(ww_poll_t *p)
{
    FD_ZERO(&p->sets[0]);
    FD_ZERO(&p->sets[1]);
    FD_ZERO(&p->sets[2]);
    p->maxfd = -1;
    p->scan = 0;
    return 0;
}

static void
ww_select_close(ww_poll_t *p)
{
    (void)p;
}

/* Put fd into (or take it out of) each master set per events. */
static void
ww_select_arm(ww_poll_t *p, int fd, int events)
{
    static const int bits[3] = {WW_READ, WW_WRITE, WW_ERROR};
    int i;
    for (i = 0; i < 3; i++) {
        if (events & bits[i]) {
            FD_SET(fd, &p->sets[i]);
        } else {
            FD_CLR(fd, &p->sets[i]);
        }
    }
}

static void
ww_select_drop(ww_poll_t *p, ww_reg_t *r, int fd)
{
    ww_select_arm(p, fd, 0);
    r->kstate = 0;
    if (fd == p->maxfd) {
        while (p->maxfd >= 0 &&
               !(p->regs[p->maxfd].events != WW_REG_NONE &&
                 p->regs[p->maxfd].kstate)) {
            p->maxfd--;
        }
    }
}

static int
ww_select_set(ww_poll_t *p, int fd, int events, uint32_t gen)
{
    ww_reg_t *r;
    if (fd >= FD_SETSIZE) {
        errno = EINVAL;
        return -1;
    }
    r = ww_reg_slot(p, fd);
    if (r == NULL) {
        return -1;
    }
    if (r->events == WW_REG_NONE) {
        p->nregistered++;
    }
    r->events = events;
    r->gen = gen;
    r->kstate = 1;
    ww_select_arm(p, fd, events);
    if (fd > p->maxfd) {
        p->maxfd = fd;
    }
    return 0;
}

static int
ww_select_del(ww_poll_t *p, ww_reg_t *r, int fd)
{
    ww_reg_release(p, r);
    ww_select_drop(p, r, fd);
    p->nregistered--;
    return 0;
}

/* select() failed with EBADF: report the closed fds once as ERROR. */
static int
ww_select_reap(ww_poll_t *p, ww_event_t *out, int maxevents)
{
    int fd, k = 0;
    for (fd = 0; fd <= p->maxfd && k < maxevents; fd++) {
        ww_reg_t *r = &p->regs[fd];
        if (r->events == WW_REG_NONE || !r->kstate) {
            continue;
        }
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
            ww_select_drop(p, r, fd);
            out[k].fd = fd;
            out[k].events = WW_ERROR;
            out[k].gen = r->gen;
            k++;
        }
    }
    return k;
}

static int
ww_select_wait(ww_poll_t *p, ww_event_t *out, int maxevents, int timeout_ms)
{
    fd_set sets[3];
    struct timeval tv, *tvp = NULL;
    double deadline = 0.0;
    int n, k, i, fd, nfds;
    if (timeout_ms > 0) {
        deadline = ww_monotonic() + timeout_ms / 1000.0;
    }
    for (;;) {
        memcpy(sets, p->sets, sizeof(sets));
        if (timeout_ms >= 0) {
            tv.tv_sec = timeout_ms / 1000;
            tv.tv_usec = (timeout_ms % 1000) * 1000;
            tvp = &tv;
        }
        nfds = p->maxfd + 1;
        n = select(nfds, &sets[0], &sets[1], &sets[2], tvp);
        if (n < 0) {
            if (errno == EBADF && (k = ww_select_reap(p, out, maxevents)) > 0) {
                return k;
            }
            return -1;
        }
        if (n == 0) {
            return 0;
        }
        /* scan from a rotating start so a full out[] does not starve high fds */
        if (p->scan >= nfds) {
            p->scan = 0;
        }
        fd = p->scan;
        for (i = 0, k = 0; i < nfds; i++, fd = fd + 1 < nfds ? fd + 1 : 0) {
            int ev = 0;
            if (FD_ISSET(fd, &sets[0])) {
                ev |= WW_READ;
            }
            if (FD_ISSET(fd, &sets[1])) {
                ev |= WW_WRITE;
            }
            if (FD_ISSET(fd, &sets[2])) {
                ev |= WW_ERROR;
            }
            if (ev == 0) {
                continue;
            }
            if (k == maxevents) {
                p->scan = fd;
                break;
            }
            out[k].fd = fd;
            out[k].events = ev;
            out[k].gen = p->regs[fd].gen;
            k++;
        }
        if (k > 0 || timeout_ms == 0) {
            return k;
        }
        if (timeout_ms > 0 && (timeout_ms = ww_poll_remaining_ms(deadline)) == 0) {
            return 0;
        }
    }
}

#endif /* WW_IS_WINDOWS */

#endif /* WW_POLL_SELECT_H */
