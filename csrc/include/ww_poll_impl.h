/*
 * ww_poll_impl.h -- the poller object, its fd table and the dispatch to the
 * compiled-in backends (ww_poll_epoll.h, ww_poll_kqueue.h, ww_poll_select.h).
 *
 * Theory of operation
 * -------------------
 * A ww_poll_t is one struct for every backend; p->kind selects the backend
 * in each entry point (a switch, not function pointers: three well-predicted
 * branches are cheaper than an indirect call and keep everything static).
 *
 * The registration table (ww_reg_t) records interest, generation and the
 * backend's view of the kernel state for each fd:
 *   - POSIX: a flat array indexed by fd, grown geometrically on demand, so
 *     lookups are O(1) and fds far above 1024 work; free slots have
 *     events == WW_REG_NONE.
 *   - Windows: SOCKETs are 64-bit handles, not small integers, so the table
 *     is a dense array of registered entries searched linearly (select()
 *     itself is O(n) per wait, so this adds nothing asymptotically); removal
 *     swaps the last entry into the hole.
 *
 * Registering an fd that is already registered replaces its interest and
 * generation (an upsert); modifying an unknown fd fails with ENOENT;
 * unregistering an unknown fd succeeds.  All functions return 0 (or a
 * count) on success and -1 with errno set on failure.
 */
#ifndef WW_POLL_IMPL_H
#define WW_POLL_IMPL_H

#define WW_REG_NONE (-1)
#define WW_EVENT_MASK (WW_READ | WW_WRITE | WW_ERROR)

typedef struct {
#if WW_IS_WINDOWS
    ww_socket_t fd;         /* key of the dense Windows table */
#endif /* WW_IS_WINDOWS */
    int events;             /* interest bits, or WW_REG_NONE for a free slot */
    uint32_t gen;           /* caller's generation token */
    uint32_t serial;        /* wait batch that last reported this fd ... */
    int slot;               /* ... and its index in that batch's out[] */
    uint32_t ghost_gen;     /* epoll: token of a kernel entry we lost track of */
    unsigned char kstate;   /* backend's kernel state (see each backend) */
    unsigned char ghost;    /* epoll: a stale kernel entry may survive */
} ww_reg_t;

struct ww_poll_s {
    int kind;               /* WW_POLL_EPOLL / _KQUEUE / _SELECT */
    int osfd;               /* epoll or kqueue fd; -1 for select */
    ww_reg_t *regs;         /* POSIX: indexed by fd; Windows: dense */
    size_t nregs;           /* POSIX: table length; Windows: entries used */
    size_t capregs;         /* Windows: entries allocated */
    size_t nregistered;     /* registered fds */
    void *kbuf;             /* epoll_event[] or struct kevent[] */
    size_t kbufsize;        /* bytes allocated for kbuf */
    uint32_t serial;        /* batch counter for merging per-filter events */
    int rebuild;            /* epoll: recreate the set before the next wait */
#if WW_IS_WINDOWS
    fd_set *wsets[3];       /* select: counted read/write/except arrays */
    size_t wsetcap;         /* sockets each of them can hold */
    int wsa_started;
#else
    fd_set sets[3];         /* select: read/write/except masters */
    int maxfd;              /* select: highest fd in the masters, or -1 */
    int scan;               /* select: first fd of the next result scan */
#endif /* WW_IS_WINDOWS */
};

/* ---- registration table ------------------------------------------------ */

#if WW_IS_WINDOWS

static inline ww_reg_t *
ww_reg_find(ww_poll_t *p, ww_socket_t fd)
{
    size_t i;
    for (i = 0; i < p->nregs; i++) {
        if (p->regs[i].fd == fd) {
            return &p->regs[i];
        }
    }
    return NULL;
}

/* The entry for fd, appended as a free slot if absent; NULL/ENOMEM. */
static inline ww_reg_t *
ww_reg_slot(ww_poll_t *p, ww_socket_t fd)
{
    ww_reg_t *r = ww_reg_find(p, fd);
    if (r != NULL) {
        return r;
    }
    if (p->nregs == p->capregs) {
        size_t cap = p->capregs ? p->capregs * 2 : 64;
        ww_reg_t *regs = (ww_reg_t *)realloc(p->regs, cap * sizeof(ww_reg_t));
        if (regs == NULL) {
            errno = ENOMEM;
            return NULL;
        }
        p->regs = regs;
        p->capregs = cap;
    }
    r = &p->regs[p->nregs++];
    memset(r, 0, sizeof(*r));
    r->fd = fd;
    r->events = WW_REG_NONE;
    return r;
}

/* Forget r; on Windows the last entry moves into its place. */
static inline void
ww_reg_release(ww_poll_t *p, ww_reg_t *r)
{
    size_t i = (size_t)(r - p->regs);
    if (i + 1 < p->nregs) {
        p->regs[i] = p->regs[p->nregs - 1];
    }
    p->nregs--;
}

#else /* POSIX */

static inline ww_reg_t *
ww_reg_find(ww_poll_t *p, ww_socket_t fd)
{
    ww_reg_t *r;
    if (fd < 0 || (size_t)fd >= p->nregs) {
        return NULL;
    }
    r = &p->regs[fd];
    return r->events == WW_REG_NONE ? NULL : r;
}

static inline ww_reg_t *
ww_reg_slot(ww_poll_t *p, ww_socket_t fd)
{
    if (fd < 0) {
        errno = EBADF;
        return NULL;
    }
    if ((size_t)fd >= p->nregs) {
        size_t n = p->nregs ? p->nregs : 64, i;
        ww_reg_t *regs;
        while (n <= (size_t)fd) {
            n *= 2;
        }
        regs = (ww_reg_t *)realloc(p->regs, n * sizeof(ww_reg_t));
        if (regs == NULL) {
            errno = ENOMEM;
            return NULL;
        }
        memset(regs + p->nregs, 0, (n - p->nregs) * sizeof(ww_reg_t));
        for (i = p->nregs; i < n; i++) {
            regs[i].events = WW_REG_NONE;
        }
        p->regs = regs;
        p->nregs = n;
    }
    return &p->regs[fd];
}

/* Forget r; its ghost fields survive for the epoll backend. */
static inline void
ww_reg_release(ww_poll_t *p, ww_reg_t *r)
{
    (void)p;
    r->events = WW_REG_NONE;
    r->kstate = 0;
}

#endif /* WW_IS_WINDOWS */

/* Start a new wait batch (for merging several kernel events of one fd). */
static inline void
ww_poll_next_serial(ww_poll_t *p)
{
    if (++p->serial == 0) {
        size_t i;
        for (i = 0; i < p->nregs; i++) {
            p->regs[i].serial = 0;
        }
        p->serial = 1;
    }
}

/* Make p->kbuf hold at least size bytes; -1/ENOMEM. */
static inline int
ww_poll_kbuf(ww_poll_t *p, size_t size)
{
    void *buf;
    if (size <= p->kbufsize) {
        return 0;
    }
    buf = realloc(p->kbuf, size);
    if (buf == NULL) {
        errno = ENOMEM;
        return -1;
    }
    p->kbuf = buf;
    p->kbufsize = size;
    return 0;
}

/* Milliseconds left until deadline, rounded up; 0 once it has passed. */
static inline int
ww_poll_remaining_ms(double deadline)
{
    double left = (deadline - ww_monotonic()) * 1000.0;
    if (left <= 0.0) {
        return 0;
    }
    if (left >= (double)INT_MAX) {
        return INT_MAX;
    }
    return (int)left + ((double)(int)left < left ? 1 : 0);
}

/* ---- backends ------------------------------------------------------------ */

#if WW_HAVE_EPOLL
#  include "ww_poll_epoll.h"
#endif /* WW_HAVE_EPOLL */
#if WW_HAVE_KQUEUE
#  include "ww_poll_kqueue.h"
#endif /* WW_HAVE_KQUEUE */
#include "ww_poll_select.h"

/* ---- dispatch ------------------------------------------------------------ */

static int
ww_poll_available(int kind)
{
    switch (kind) {
    case WW_POLL_EPOLL:
        return WW_HAVE_EPOLL;
    case WW_POLL_KQUEUE:
        return WW_HAVE_KQUEUE;
    case WW_POLL_SELECT:
        return WW_HAVE_SELECT;
    default:
        return 0;
    }
}

static const char *
ww_poll_kind_name(int kind)
{
    switch (kind) {
    case WW_POLL_EPOLL:
        return "epoll";
    case WW_POLL_KQUEUE:
        return "kqueue";
    case WW_POLL_SELECT:
        return "select";
    default:
        return "unknown";
    }
}

static ww_poll_t *
ww_poll_new(int kind)
{
    ww_poll_t *p;
    int rc;
    if (kind == WW_POLL_AUTO) {
        kind = WW_HAVE_EPOLL ? WW_POLL_EPOLL
             : WW_HAVE_KQUEUE ? WW_POLL_KQUEUE : WW_POLL_SELECT;
    }
    if (!ww_poll_available(kind)) {
        errno = ENOSYS;
        return NULL;
    }
    p = (ww_poll_t *)calloc(1, sizeof(ww_poll_t));
    if (p == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    p->kind = kind;
    p->osfd = -1;
    switch (kind) {
#if WW_HAVE_EPOLL
    case WW_POLL_EPOLL:
        rc = ww_epoll_init(p);
        break;
#endif /* WW_HAVE_EPOLL */
#if WW_HAVE_KQUEUE
    case WW_POLL_KQUEUE:
        rc = ww_kqueue_init(p);
        break;
#endif /* WW_HAVE_KQUEUE */
    default:
        rc = ww_select_init(p);
        break;
    }
    if (rc < 0) {
        int saved = errno;
        free(p);
        errno = saved;
        return NULL;
    }
    return p;
}

static int
ww_poll_kind(ww_poll_t *p)
{
    return p->kind;
}

/* register (must_exist = 0) and modify (must_exist = 1) */
static int
ww_poll_set(ww_poll_t *p, ww_socket_t fd, int events, uint32_t gen,
            int must_exist)
{
    if (events & ~WW_EVENT_MASK) {
        errno = EINVAL;
        return -1;
    }
#if WW_IS_WINDOWS
    if (fd == INVALID_SOCKET) {
#else
    if (fd < 0) {
#endif /* WW_IS_WINDOWS */
        errno = EBADF;
        return -1;
    }
    if (must_exist && ww_reg_find(p, fd) == NULL) {
        errno = ENOENT;
        return -1;
    }
    switch (p->kind) {
#if WW_HAVE_EPOLL
    case WW_POLL_EPOLL:
        return ww_epoll_set(p, fd, events, gen);
#endif /* WW_HAVE_EPOLL */
#if WW_HAVE_KQUEUE
    case WW_POLL_KQUEUE:
        return ww_kqueue_set(p, fd, events, gen);
#endif /* WW_HAVE_KQUEUE */
    default:
        return ww_select_set(p, fd, events, gen);
    }
}

static int
ww_poll_register(ww_poll_t *p, ww_socket_t fd, int events, uint32_t gen)
{
    return ww_poll_set(p, fd, events, gen, 0);
}

static int
ww_poll_modify(ww_poll_t *p, ww_socket_t fd, int events, uint32_t gen)
{
    return ww_poll_set(p, fd, events, gen, 1);
}

static int
ww_poll_unregister(ww_poll_t *p, ww_socket_t fd)
{
    ww_reg_t *r = ww_reg_find(p, fd);
    if (r == NULL) {
        return 0;
    }
    switch (p->kind) {
#if WW_HAVE_EPOLL
    case WW_POLL_EPOLL:
        return ww_epoll_del(p, r, fd);
#endif /* WW_HAVE_EPOLL */
#if WW_HAVE_KQUEUE
    case WW_POLL_KQUEUE:
        return ww_kqueue_del(p, r, fd);
#endif /* WW_HAVE_KQUEUE */
    default:
        return ww_select_del(p, r, fd);
    }
}

static int
ww_poll_wait(ww_poll_t *p, ww_event_t *out, int maxevents, int timeout_ms)
{
    if (maxevents <= 0) {
        errno = EINVAL;
        return -1;
    }
    if (timeout_ms < 0) {
        timeout_ms = -1;
    }
    switch (p->kind) {
#if WW_HAVE_EPOLL
    case WW_POLL_EPOLL:
        return ww_epoll_wait(p, out, maxevents, timeout_ms);
#endif /* WW_HAVE_EPOLL */
#if WW_HAVE_KQUEUE
    case WW_POLL_KQUEUE:
        return ww_kqueue_wait(p, out, maxevents, timeout_ms);
#endif /* WW_HAVE_KQUEUE */
    default:
        return ww_select_wait(p, out, maxevents, timeout_ms);
    }
}

static int
ww_poll_fileno(ww_poll_t *p)
{
    return p->osfd;
}

static size_t
ww_poll_count(ww_poll_t *p)
{
    return p->nregistered;
}

static void
ww_poll_free(ww_poll_t *p)
{
    if (p == NULL) {
        return;
    }
    switch (p->kind) {
#if WW_HAVE_EPOLL
    case WW_POLL_EPOLL:
        ww_epoll_close(p);
        break;
#endif /* WW_HAVE_EPOLL */
#if WW_HAVE_KQUEUE
    case WW_POLL_KQUEUE:
        ww_kqueue_close(p);
        break;
#endif /* WW_HAVE_KQUEUE */
    default:
        ww_select_close(p);
        break;
    }
    free(p->regs);
    free(p->kbuf);
    free(p);
}

#endif /* WW_POLL_IMPL_H */
