/*
 * ww_scan.h -- resumable delimiter search for the compiled stream.
 *
 * Theory of operation
 * -------------------
 * A stream receives data in chunks and must find a delimiter that may be
 * split across chunks.  Rescanning the whole unconsumed buffer after every
 * chunk (Tornado's _find_read_pos) costs O(n^2) for an n-byte line that
 * arrives in small pieces.  ww_scan_delim() keeps a cursor instead: the
 * number of leading bytes of the unconsumed data already known NOT to
 * contain the start of a match.  After a miss over `len` bytes no match can
 * start before len - dlen + 1, so the next search resumes there (asyncio's
 * readuntil offset, h11's _next_line_search).  Each byte is examined O(1)
 * times overall, so the total work is O(total bytes) whatever the chunking.
 *
 * max_bytes: the caller passes `limit` (or -1 for none).  A match whose end
 * lies beyond `limit`, or a miss while more than `limit` bytes are buffered,
 * can never be satisfied: WW_SCAN_TOO_LONG is returned.  The search itself
 * never looks further than limit + dlen bytes, so a peer that floods us
 * without a delimiter costs at most one pass over the allowed window.
 *
 * Return convention of ww_scan_delim():
 *   >= 0              index just past the end of the delimiter (bytes to consume)
 *   WW_SCAN_MISS      not found yet; *cursor updated for the next call
 *   WW_SCAN_TOO_LONG  max_bytes exceeded (UnsatisfiableReadError)
 */
#ifndef WW_SCAN_H
#define WW_SCAN_H

#include "ww_platform.h"

#define WW_SCAN_MISS (-1)
#define WW_SCAN_TOO_LONG (-2)

/* memmem is in glibc, musl, macOS and the BSDs; Windows has none. */
#if defined(__GLIBC__) || defined(__APPLE__) || defined(__FreeBSD__) || \
    defined(__OpenBSD__) || defined(__NetBSD__) || defined(__DragonFly__) || \
    (defined(__linux__) && !defined(__GLIBC__))
#  define WW_HAVE_MEMMEM 1
#else
#  define WW_HAVE_MEMMEM 0
#endif /* memmem availability */

#if !WW_HAVE_MEMMEM
/* Portable fallback: memchr for the first byte, memcmp for the rest. */
static inline void *
ww_memmem_fallback(const void *hay, size_t hlen, const void *needle, size_t nlen)
{
    const char *h = (const char *)hay;
    const char *end;
    const char *n = (const char *)needle;
    if (nlen == 0) {
        return (void *)h;
    }
    if (hlen < nlen) {
        return NULL;
    }
    end = h + (hlen - nlen) + 1;
    while (h < end) {
        const char *p = (const char *)memchr(h, n[0], (size_t)(end - h));
        if (p == NULL) {
            return NULL;
        }
        if (memcmp(p, n, nlen) == 0) {
            return (void *)p;
        }
        h = p + 1;
    }
    return NULL;
}
#  define ww_memmem ww_memmem_fallback
#else
#  define ww_memmem memmem
#endif /* !WW_HAVE_MEMMEM */

/*
 * Search buf[0:len] for delim[0:dlen], resuming at *cursor.
 * limit < 0 means no max_bytes.  See the return convention above.
 */
static inline Py_ssize_t
ww_scan_delim(const char *buf, Py_ssize_t len, const char *delim,
              Py_ssize_t dlen, Py_ssize_t *cursor, Py_ssize_t limit)
{
    Py_ssize_t start = *cursor;
    Py_ssize_t stop = len;   /* search window is buf[start:stop] */
    const char *hit;

    if (dlen <= 0) {
        return 0;
    }
    if (start < 0) {
        start = 0;
    }
    /* Never look past limit + dlen: a match there ends beyond the limit. */
    if (limit >= 0 && stop > limit + dlen) {
        stop = limit + dlen;
    }
    if (stop - start >= dlen) {
        if (dlen == 1) {
            hit = (const char *)memchr(buf + start, delim[0], (size_t)(stop - start));
        }
        else {
            hit = (const char *)ww_memmem(buf + start, (size_t)(stop - start),
                                          delim, (size_t)dlen);
        }
        if (hit != NULL) {
            Py_ssize_t end = (Py_ssize_t)(hit - buf) + dlen;
            *cursor = end - dlen;
            if (limit >= 0 && end > limit) {
                return WW_SCAN_TOO_LONG;
            }
            return end;
        }
        /* The last dlen - 1 bytes may hold the head of a split delimiter. */
        *cursor = stop - dlen + 1;
    }
    if (limit >= 0 && len > limit) {
        return WW_SCAN_TOO_LONG;
    }
    return WW_SCAN_MISS;
}

/*
 * The end of an HTTP head: the regexes b"\n\r?\n" and b"\r?\n\r?\n" that
 * HTTP readers pass to read_until_regex.  For both, match.end() is the end of
 * the first "\n\n" or "\n\r\n" (a match's first '\n' is the first '\n' that
 * starts one; greedy "\r?" prefers "\r\n").  So a memchr walk over the '\n's
 * with a resume cursor on the first undecided '\n' gives the same answer as
 * re.search(...).end() in O(total bytes), with the same max_bytes rules and
 * return convention as ww_scan_delim().
 */
static inline Py_ssize_t
ww_scan_blank_line(const char *buf, Py_ssize_t len, Py_ssize_t *cursor,
                   Py_ssize_t limit)
{
    Py_ssize_t i = *cursor;
    Py_ssize_t stop = len;
    Py_ssize_t end;
    const char *p;

    if (i < 0) {
        i = 0;
    }
    if (limit >= 0 && stop > limit + 3) {
        stop = limit + 3;   /* a match ending within the limit lies inside */
    }
    while (i < stop) {
        p = (const char *)memchr(buf + i, '\n', (size_t)(stop - i));
        if (p == NULL) {
            i = stop;
            break;
        }
        i = (Py_ssize_t)(p - buf);
        if (i + 1 >= stop) {
            break;                      /* undecided: resume at this '\n' */
        }
        if (buf[i + 1] == '\n') {
            end = i + 2;
            goto found;
        }
        if (buf[i + 1] == '\r') {
            if (i + 2 >= stop) {
                break;
            }
            if (buf[i + 2] == '\n') {
                end = i + 3;
                goto found;
            }
        }
        i++;
    }
    *cursor = i;
    if (limit >= 0 && len > limit) {
        return WW_SCAN_TOO_LONG;
    }
    return WW_SCAN_MISS;
found:
    *cursor = i;
    if (limit >= 0 && end > limit) {
        return WW_SCAN_TOO_LONG;
    }
    return end;
}

/*
 * Raw fd I/O for the stream (POSIX).  Sockets are written with sendmsg and
 * MSG_NOSIGNAL so a peer reset returns EPIPE instead of raising SIGPIPE in an
 * embedding application that did not ignore it; pipes use writev.  EINTR is
 * retried (PEP 475); fds are non-blocking, so EAGAIN comes back at once.
 * Windows streams always go through the Python read/write hooks, so the
 * stubs there only report ENOSYS.
 * Return convention: bytes transferred, or -1 with errno set.
 */
#if !WW_IS_WINDOWS
#  include <sys/types.h>
#  include <sys/uio.h>
#  include <sys/socket.h>
#  include <unistd.h>
#  ifndef MSG_NOSIGNAL
#    define MSG_NOSIGNAL 0   /* macOS: SIGPIPE is ignored by CPython anyway */
#  endif /* MSG_NOSIGNAL */
typedef struct iovec ww_iovec_t;
#  define WW_IOV_MAX 64

static inline Py_ssize_t
ww_io_read(ww_socket_t fd, char *buf, Py_ssize_t n)
{
    ssize_t r;
    do {
        r = read((int)fd, buf, (size_t)n);
    } while (r < 0 && errno == EINTR);
    return (Py_ssize_t)r;
}

static inline Py_ssize_t
ww_io_writev(ww_socket_t fd, int is_socket, ww_iovec_t *iov, int n)
{
    ssize_t r;
    struct msghdr m;
    do {
        if (is_socket) {
            memset(&m, 0, sizeof(m));
            m.msg_iov = iov;
            m.msg_iovlen = n;
            r = sendmsg((int)fd, &m, MSG_NOSIGNAL);
        }
        else {
            r = writev((int)fd, iov, n);
        }
    } while (r < 0 && errno == EINTR);
    return (Py_ssize_t)r;
}

static inline int
ww_io_would_block(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK;
}
#else
typedef struct { void *iov_base; size_t iov_len; } ww_iovec_t;
#  define WW_IOV_MAX 64
static inline Py_ssize_t
ww_io_read(ww_socket_t fd, char *buf, Py_ssize_t n)
{
    (void)fd; (void)buf; (void)n;
    errno = ENOSYS;
    return -1;
}
static inline Py_ssize_t
ww_io_writev(ww_socket_t fd, int is_socket, ww_iovec_t *iov, int n)
{
    (void)fd; (void)is_socket; (void)iov; (void)n;
    errno = ENOSYS;
    return -1;
}
static inline int
ww_io_would_block(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK;
}
#endif /* !WW_IS_WINDOWS */

#endif /* WW_SCAN_H */
