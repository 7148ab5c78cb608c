/*
 * poll_check.c -- a standalone C check of csrc/include/ww_poll.h over real
 * loopback TCP sockets.  Built by scripts/cross_windows.sh for Windows
 * (select backend, winsock; run under wine when available) and usable on
 * POSIX:  cc -Icsrc/include tests/core/poll_check.c -o poll_check
 *         ./poll_check [epoll|kqueue|select]
 * Exit status 0 when every check passes.
 */
#include "ww_poll.h"

#include <stdio.h>

#if WW_IS_WINDOWS
#  include <ws2tcpip.h>
#  define ww_closesocket closesocket
#  define WW_BAD_SOCKET INVALID_SOCKET
#else
#  include <sys/socket.h>
#  include <netinet/in.h>
#  include <arpa/inet.h>
#  define ww_closesocket close
#  define WW_BAD_SOCKET (-1)
#endif /* WW_IS_WINDOWS */

static int failures = 0;

#define CHECK(cond, what) do {                                        \
        if (cond) {                                                   \
            printf("ok   %s\n", what);                                \
        } else {                                                      \
            printf("FAIL %s (line %d)\n", what, __LINE__);            \
            failures++;                                               \
        }                                                             \
    } while (0)

/* A connected loopback TCP pair; 0 on success. */
static int
tcp_pair(ww_socket_t *a, ww_socket_t *b)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof(addr);
    ww_socket_t lsn = socket(AF_INET, SOCK_STREAM, 0);
    if (lsn == WW_BAD_SOCKET) {
        return -1;
    }
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (bind(lsn, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        listen(lsn, 1) != 0 ||
        getsockname(lsn, (struct sockaddr *)&addr, &len) != 0) {
        ww_closesocket(lsn);
        return -1;
    }
    *a = socket(AF_INET, SOCK_STREAM, 0);
    if (*a == WW_BAD_SOCKET ||
        connect(*a, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        ww_closesocket(lsn);
        return -1;
    }
    *b = accept(lsn, NULL, NULL);
    ww_closesocket(lsn);
    return *b == WW_BAD_SOCKET ? -1 : 0;
}

/* Events reported for fd by one wait (0 if none), and its token. */
static int
wait_for(ww_poll_t *p, ww_socket_t fd, int timeout_ms, uint32_t *gen)
{
    ww_event_t ev[8];
    int i, n = ww_poll_wait(p, ev, 8, timeout_ms);
    for (i = 0; i < n; i++) {
        if (ev[i].fd == fd) {
            if (gen != NULL) {
                *gen = ev[i].gen;
            }
            return ev[i].events;
        }
    }
    return n < 0 ? -1 : 0;
}

/* More sockets than Windows' default FD_SETSIZE (64): all reported. */
#define MANY 70
static void
check_many(ww_poll_t *p)
{
    ww_socket_t a[MANY], b[MANY];
    ww_event_t ev[2 * MANY];
    int i, n, made = 0, seen = 0;
    for (i = 0; i < MANY; i++, made++) {
        if (tcp_pair(&a[i], &b[i]) != 0) {
            break;
        }
        ww_poll_register(p, a[i], WW_READ, (uint32_t)i);
        send(b[i], "x", 1, 0);
    }
    CHECK(made == MANY, "70 loopback pairs");
    n = ww_poll_wait(p, ev, 2 * MANY, 1000);
    for (i = 0; i < n; i++) {
        seen += ev[i].events == WW_READ && ev[i].fd == a[ev[i].gen];
    }
    /* loopback delivery is immediate, but allow one more wait */
    if (seen < made) {
        n = ww_poll_wait(p, ev, 2 * MANY, 1000);
        for (i = 0, seen = 0; i < n; i++) {
            seen += ev[i].events == WW_READ && ev[i].fd == a[ev[i].gen];
        }
    }
    CHECK(seen == made, "every one of 70 readable sockets reported");
    n = ww_poll_wait(p, ev, 8, 0);
    CHECK(n == 8, "a short event array is filled, not overrun");
    /* churn the table: drop every other socket, the rest still map right */
    for (i = 0; i < made; i += 2) {
        ww_poll_unregister(p, a[i]);
    }
    n = ww_poll_wait(p, ev, 2 * MANY, 1000);
    for (i = 0, seen = 0; i < n; i++) {
        seen += ev[i].gen % 2 == 1 && ev[i].fd == a[ev[i].gen];
    }
    CHECK(n == made / 2 && seen == n, "after unregistering half, only the rest");
    CHECK(ww_poll_count(p) == (size_t)(made - made / 2), "count after churn");
    for (i = 0; i < made; i++) {
        ww_poll_unregister(p, a[i]);
        ww_closesocket(a[i]);
        ww_closesocket(b[i]);
    }
    CHECK(ww_poll_count(p) == 0, "all unregistered");
}

#if WW_IS_WINDOWS
/* The SOCKET-keyed table under churn.  Windows select only looks at
 * registered handles when it waits, so plain numbers can stand in for
 * sockets here; a shadow array says which must be present. */
#define TABLE_N 2000
static void
check_table(ww_poll_t *p)
{
    static unsigned char present[TABLE_N];
    uint32_t x = 12345;
    int i, round, bad = 0;
    size_t count = 0;
    for (round = 0; round < 20000; round++) {
        x = x * 1103515245u + 12345u;
        i = (int)((x >> 8) % TABLE_N);
        /* values like real SOCKETs: multiples of 4, spread out */
        if (present[i]) {
            bad += ww_poll_unregister(p, (ww_socket_t)(4 * i + 4000)) != 0;
            present[i] = 0;
            count--;
        } else {
            bad += ww_poll_register(p, (ww_socket_t)(4 * i + 4000), 0, (uint32_t)i) != 0;
            present[i] = 1;
            count++;
        }
        if (round % 1000 == 999) {
            int j;
            for (j = 0; j < TABLE_N; j++) {
                int rc = ww_poll_modify(p, (ww_socket_t)(4 * j + 4000), 0, (uint32_t)j);
                bad += present[j] ? rc != 0 : !(rc == -1 && errno == ENOENT);
            }
        }
        bad += ww_poll_count(p) != count;
    }
    CHECK(bad == 0, "SOCKET table: 20000 random register/unregister steps");
    for (i = 0; i < TABLE_N; i++) {
        ww_poll_unregister(p, (ww_socket_t)(4 * i + 4000));
    }
    CHECK(ww_poll_count(p) == 0, "SOCKET table emptied");
}
#endif /* WW_IS_WINDOWS */

int
main(int argc, char **argv)
{
    int kind = WW_POLL_AUTO, k;
    ww_poll_t *p;
    ww_socket_t a, b;
    ww_event_t ev[4];
    uint32_t gen = 0;
    double t0;
    char buf[16];
#if WW_IS_WINDOWS
    WSADATA wsa;
    if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) {
        printf("FAIL WSAStartup\n");
        return 2;
    }
#endif /* WW_IS_WINDOWS */
    for (k = WW_POLL_EPOLL; argc > 1 && k <= WW_POLL_SELECT; k++) {
        if (strcmp(argv[1], ww_poll_kind_name(k)) == 0) {
            kind = k;
        }
    }
    p = ww_poll_new(kind);
    if (p == NULL) {
        printf("FAIL ww_poll_new(%d): errno %d\n", kind, errno);
        return 2;
    }
    printf("backend %s (fd %d)\n", ww_poll_kind_name(ww_poll_kind(p)),
           ww_poll_fileno(p));

    t0 = ww_monotonic();
    CHECK(ww_poll_wait(p, ev, 4, 30) == 0, "empty poller waits and returns 0");
    CHECK(ww_monotonic() - t0 >= 0.025, "empty poller honours the timeout");

    if (tcp_pair(&a, &b) != 0) {
        printf("FAIL loopback pair\n");
        return 2;
    }
    CHECK(ww_poll_register(p, a, WW_READ | WW_WRITE, 41) == 0, "register");
    CHECK(ww_poll_count(p) == 1, "count 1");
    CHECK(wait_for(p, a, 1000, &gen) == WW_WRITE, "connected socket writable");
    CHECK(gen == 41, "token returned");
    CHECK(ww_poll_modify(p, a, WW_READ, 42) == 0, "modify to READ");
    t0 = ww_monotonic();
    CHECK(wait_for(p, a, 50, NULL) == 0, "nothing to read yet");
    CHECK(ww_monotonic() - t0 >= 0.045, "timeout honoured");
    CHECK(send(b, "ping", 4, 0) == 4, "send");
    CHECK(wait_for(p, a, 1000, &gen) == WW_READ, "readable after send");
    CHECK(gen == 42, "new token returned");
    CHECK(recv(a, buf, sizeof(buf), 0) == 4, "recv");
    CHECK(wait_for(p, a, 0, NULL) == 0, "drained: not readable");
    CHECK(ww_poll_register(p, b, WW_READ, 7) == 0, "register peer");
    ww_closesocket(a);  /* after unregister in real code; here: peer sees EOF */
    CHECK(ww_poll_unregister(p, a) == 0, "unregister of a closed socket is tolerated");
    CHECK((wait_for(p, b, 1000, NULL) & (WW_READ | WW_ERROR)) != 0, "peer close seen");
    CHECK(recv(b, buf, sizeof(buf), 0) == 0, "EOF");
    CHECK(ww_poll_modify(p, a, WW_READ, 0) == -1 && errno == ENOENT, "modify unknown: ENOENT");
    CHECK(ww_poll_unregister(p, b) == 0, "unregister");
    CHECK(ww_poll_count(p) == 0, "count 0");
    ww_closesocket(b);
    check_many(p);
#if WW_IS_WINDOWS
    check_table(p);
#endif /* WW_IS_WINDOWS */
    ww_poll_free(p);
#if WW_IS_WINDOWS
    WSACleanup();
#endif /* WW_IS_WINDOWS */
    printf("%s\n", failures ? "FAILED" : "all checks passed");
    return failures ? 1 : 0;
}
