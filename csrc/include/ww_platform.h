/*
 * ww_platform.h -- every platform #if of whirlwind's C code lives here.
 * The Cython side reads the WW_HAVE_* values as constants (see _sys.pxd)
 * and branches with a plain `if`.
 */
#ifndef WW_PLATFORM_H
#define WW_PLATFORM_H

/* Python.h normally comes first and sets the feature macros; a standalone
 * C file compiled with -std=c99 on Linux needs them for clock_gettime. */
#if defined(__linux__) && !defined(_POSIX_C_SOURCE) && !defined(_GNU_SOURCE)
#  define _POSIX_C_SOURCE 200809L
#endif /* __linux__ feature macros */

#include <stdint.h>
#include <stddef.h>
#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <limits.h>

#if defined(_WIN32)
#  define WW_IS_WINDOWS 1
#else
#  define WW_IS_WINDOWS 0
#endif /* _WIN32 */

#if WW_IS_WINDOWS
   /* Windows' fd_set is a counted array, not a bitmap; the select backend
    * allocates its own sets sized to the registration count, so FD_SETSIZE
    * only bounds the stack-allocated fd_set nobody here uses. */
#  ifndef WIN32_LEAN_AND_MEAN
#    define WIN32_LEAN_AND_MEAN
#  endif /* WIN32_LEAN_AND_MEAN */
#  include <winsock2.h>
#  include <windows.h>
   typedef SOCKET ww_socket_t;
#else
#  include <unistd.h>
#  include <fcntl.h>
#  include <time.h>
#  include <sys/time.h>
#  include <sys/select.h>
   typedef int ww_socket_t;
#endif /* WW_IS_WINDOWS */

#if defined(__APPLE__)
   /* clock_gettime() needs macOS 10.12; wheels may target older ones */
#  include <mach/mach_time.h>
#endif /* __APPLE__ */

#if defined(__linux__) && !defined(WW_FORCE_NO_EPOLL)
#  define WW_HAVE_EPOLL 1
#else
#  define WW_HAVE_EPOLL 0
#endif /* __linux__ */

#if (defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || \
     defined(__NetBSD__) || defined(__DragonFly__) || defined(WW_FORCE_KQUEUE))
#  define WW_HAVE_KQUEUE 1
#else
#  define WW_HAVE_KQUEUE 0
#endif /* BSD family */

#define WW_HAVE_SELECT 1

/* The largest fd select() accepts on POSIX is FD_SETSIZE - 1; on Windows
 * the select backend has no such limit (counted arrays), so report INT_MAX. */
#if WW_IS_WINDOWS
#  define WW_FD_SETSIZE INT_MAX
#else
#  define WW_FD_SETSIZE FD_SETSIZE
#endif /* WW_IS_WINDOWS */

/* Seconds on a monotonic clock (deadlines for EINTR retries). */
static inline double
ww_monotonic(void)
{
#if WW_IS_WINDOWS
    static LARGE_INTEGER freq;
    LARGE_INTEGER now;
    if (freq.QuadPart == 0) {
        QueryPerformanceFrequency(&freq);
    }
    QueryPerformanceCounter(&now);
    return (double)now.QuadPart / (double)freq.QuadPart;
#elif defined(__APPLE__)
    static mach_timebase_info_data_t base;
    if (base.denom == 0) {
        mach_timebase_info(&base);
    }
    return (double)mach_absolute_time() * base.numer / base.denom * 1e-9;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
#endif /* WW_IS_WINDOWS */
}

#endif /* WW_PLATFORM_H */
