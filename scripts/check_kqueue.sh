#!/bin/sh
# Compile-check the kqueue poller backend on a platform without kqueue.
#
# kqueue exists only on macOS/BSD, so here the backend is compiled (not
# linked, not run) against tests/core/kqueue_stub/sys/event.h, a
# declarations-only stand-in for <sys/event.h>:
#   1. tests/core/poll_check.c with kqueue as the only kernel poller, and with
#      epoll + kqueue side by side, at -Wall -Wextra -Werror;
#   2. the whole extension: cython generates _core.c, gcc compiles it to an
#      object with -DWW_FORCE_KQUEUE -DWW_FORCE_NO_EPOLL.
# Usage: scripts/check_kqueue.sh   (PYTHON=... picks the interpreter with
# Cython; CC=... the compiler).  Exits non-zero on the first failure.
set -eu

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
CC=${CC:-cc}
STUB=tests/core/kqueue_stub
out=$(mktemp -d "${TMPDIR:-/tmp}/ww-kqueue.XXXXXX")
trap 'rm -rf "$out"' EXIT

echo "== kqueue backend alone (poll_check.c)"
$CC -std=c99 -Wall -Wextra -Werror -c -DWW_FORCE_KQUEUE -DWW_FORCE_NO_EPOLL \
    -I "$STUB" -I csrc/include tests/core/poll_check.c -o "$out/kq_only.o"

echo "== kqueue next to epoll (poll_check.c)"
$CC -std=c99 -Wall -Wextra -Werror -c -DWW_FORCE_KQUEUE \
    -I "$STUB" -I csrc/include tests/core/poll_check.c -o "$out/kq_epoll.o"

echo "== whirlwind._core with the kqueue backend (cython + compile, no link)"
if ! "$PYTHON" -c "import Cython" 2>/dev/null; then
    echo "check_kqueue: $PYTHON has no Cython (pip install cython)" >&2
    exit 1
fi
"$PYTHON" -m cython -3 -I csrc csrc/whirlwind/_core.pyx -o "$out/_core.c"
pyinc=$("$PYTHON" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
# -Wall: our headers must stay warning-free; unused-function covers the
# static API functions the extension does not call.
$CC -c -O1 -fPIC -Wall -Wno-unused-function -Werror=implicit-function-declaration \
    -Werror=incompatible-pointer-types -Werror=int-conversion \
    -DWW_FORCE_KQUEUE -DWW_FORCE_NO_EPOLL \
    -I "$pyinc" -I "$STUB" -I csrc/include "$out/_core.c" -o "$out/_core.o" \
    2> "$out/cc.log" || { cat "$out/cc.log" >&2; exit 1; }
if grep -E "ww_poll|ww_platform|kqueue_stub" "$out/cc.log" >&2; then
    echo "check_kqueue: warnings in the poller headers" >&2
    exit 1
fi
if ! nm "$out/_core.o" | grep -qw kevent; then
    echo "check_kqueue: the kqueue backend was not compiled in" >&2
    exit 1
fi
echo "check_kqueue: OK"
