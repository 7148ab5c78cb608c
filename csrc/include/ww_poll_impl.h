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
 *     is a dense array of registered entries (select() wants them listed
 *     anyway) with an open-addressing hash index for O(1) lookups; removal
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
    int32_t *hidx;          /* Windows: hash index SOCKET -> regs[i] */
    size_t hcap;            /* Windows: hash slots (power of two) */
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

/* The dense table is indexed by an open-addressing hash (linear probing,
 * power-of-two size kept at least twice the entry count, backward-shift
 * deletion so there are no tombstones): p->hidx[slot] is an index into
 * p->regs or -1.  SOCKET values are multiples of 4, hence the multiply. */
static inline size_t
ww_reg_home(ww_poll_t *p, ww_socket_t fd)
{
    return (size_t)(((uint64_t)fd * 0x9E3779B97F4A7C15ULL) >> 32) & (p->hcap - 1);
}

/* Slot of the hash index holding entry fd, or of the empty slot where it
 * would go. */
static inline size_t
ww_reg_probe(ww_poll_t *p, ww_socket_t fd)
{
    size_t h = ww_reg_home(p, fd);
    while (p->hidx[h] >= 0 && p->regs[p->hidx[h]].fd != fd) {
        h = (h + 1) & (p->hcap - 1);
    }
    return h;
}

static inline ww_reg_t *
ww_reg_find(ww_poll_t *p, ww_socket_t fd)
{
    int32_t i;
    if (p->hcap == 0) {
        return NULL;
    }
    i = p->hidx[ww_reg_probe(p, fd)];
    return i < 0 ? NULL : &p->regs[i];
}

/* Rebuild the hash index with hcap slots; -1/ENOMEM. */
static int
ww_reg_rehash(ww_poll_t *p, size_t hcap)
{
    size_t i;
    int32_t *hidx = (int32_t *)malloc(hcap * sizeof(int32_t));
    if (hidx == NULL) {
        errno = ENOMEM;
        return -1;
    }
    free(p->hidx);
    p->hidx = hidx;
    p->hcap = hcap;
    for (i = 0; i < hcap; i++) {
        hidx[i] = -1;
    }
    for (i = 0; i < p->nregs; i++) {
        hidx[ww_reg_probe(p, p->regs[i].fd)] = (int32_t)i;
    }
    return 0;
}

/* The entry for fd, appended as a free slot if absent; NULL/ENOMEM. */
static inline ww_reg_t *
ww_reg_slot(ww_poll_t *p, ww_socket_t fd)
{
    ww_reg_t *r = ww_reg_find(p, fd);
    if (r != NULL) {
        return r;
    }
    if (p->nregs >= INT32_MAX / 2) {
        errno = ENOMEM;
        return NULL;
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
    if ((p->nregs + 1) * 2 > p->hcap &&
        ww_reg_rehash(p, p->hcap ? p->hcap * 2 : 128) < 0) {
        return NULL;
    }
    r = &p->regs[p->nregs];
    memset(r, 0, sizeof(*r));
    r->fd = fd;
    r->events = WW_REG_NONE;
    p->hidx[ww_reg_probe(p, fd)] = (int32_t)p->nregs;
    p->nregs++;
    return r;
}

/* Forget r: clear its hash slot (shifting later probes back), then move
 * the last entry into its place and repoint that entry's slot. */
static inline void
ww_reg_release(ww_poll_t *p, ww_reg_t *r)
{
    size_t mask = p->hcap - 1, hole, j, home;
    int32_t i = (int32_t)(r - p->regs), last = (int32_t)p->nregs - 1;
    hole = ww_reg_probe(p, r->fd);
    p->hidx[hole] = -1;
    for (j = (hole + 1) & mask; p->hidx[j] >= 0; j = (j + 1) & mask) {
        home = ww_reg_home(p, p->regs[p->hidx[j]].fd);
        /* leave j alone if its home lies cyclically in (hole, j] */
        if (hole <= j ? (hole < home && home <= j) : (hole < home || home <= j)) {
            continue;
        }
        p->hidx[hole] = p->hidx[j];
        p->hidx[j] = -1;
        hole = j;
    }
    if (i != last) {
        p->regs[i] = p->regs[last];
        p->hidx[ww_reg_probe(p, p->regs[i].fd)] = i;
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
#if WW_IS_WINDOWS
    free(p->hidx);
#endif /* WW_IS_WINDOWS */
    free(p->kbuf);
    free(p);
}

#endif /* WW_POLL_IMPL_H */
