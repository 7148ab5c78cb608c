/*
 * ww_platform.h -- every platform #if of whirlwind's C code lives here.
 * The Cython side reads the WW_HAVE_* values as constants (see _sys.pxd)
 * and branches with a plain `if`.
 */
#ifndef WW_PLATFORM_H
#define WW_PLATFORM_H

#include <stdint.h>
#include <stddef.h>
#include <errno.h>
#include <string.h>
#include <stdlib.h>

#if defined(_WIN32)
#  define WW_IS_WINDOWS 1
#else
#  define WW_IS_WINDOWS 0
#endif /* _WIN32 */

#if WW_IS_WINDOWS
#  include <winsock2.h>
   typedef SOCKET ww_socket_t;
#else
   typedef int ww_socket_t;
#endif /* WW_IS_WINDOWS */

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

#endif /* WW_PLATFORM_H */
