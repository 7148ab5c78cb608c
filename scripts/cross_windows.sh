#!/bin/sh
# Cross-compile the select poller's Windows (_WIN32) branch with mingw-w64
# and, when wine is installed, run it.
#
# Builds tests/core/poll_check.c (loopback TCP pairs over winsock: register,
# wait, modify, unregister, timeouts, 70 sockets > Windows' FD_SETSIZE of 64)
# into a Windows .exe at -Wall -Wextra -Werror, linked with ws2_32.  Wine is
# not Windows, so a pass under wine is evidence, not proof.
#
# Needs x86_64-w64-mingw32-gcc (Debian: gcc-mingw-w64-x86-64); as root it is
# installed with apt-get when missing, otherwise the script says so and exits
# 0 (set WW_REQUIRE_CROSS=1 to make that a failure).  Wine: /usr/lib/wine/wine64
# (Debian package wine64) or wine64/wine on PATH.
# Exits non-zero when the build or the run fails.
set -eu

cd "$(dirname "$0")/.."
MINGW=${MINGW:-x86_64-w64-mingw32-gcc}

skip() {
    echo "cross_windows: SKIPPED: $1" >&2
    [ "${WW_REQUIRE_CROSS:-0}" = 1 ] && exit 1
    exit 0
}

if ! command -v "$MINGW" >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "== installing gcc-mingw-w64-x86-64"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q gcc-mingw-w64-x86-64 >/dev/null
    else
        skip "$MINGW not found (apt-get install gcc-mingw-w64-x86-64 as root)"
    fi
fi

out=$(mktemp -d "${TMPDIR:-/tmp}/ww-win.XXXXXX")
trap 'rm -rf "$out"' EXIT

echo "== $MINGW: tests/core/poll_check.c -> poll_check.exe"
"$MINGW" -std=c99 -O2 -Wall -Wextra -Werror -I csrc/include \
    tests/core/poll_check.c -o "$out/poll_check.exe" -lws2_32

wine=
for w in /usr/lib/wine/wine64 wine64 wine; do
    if command -v "$w" >/dev/null 2>&1; then
        wine=$w
        break
    fi
done
if [ -z "$wine" ]; then
    echo "cross_windows: compiled and linked; wine not installed, not run"
    exit 0
fi

echo "== $wine poll_check.exe select"
mkdir -p "$out/prefix"
# the first run creates the wine prefix (a few seconds)
if ! (cd "$out" && WINEPREFIX="$out/prefix" WINEDEBUG=-all timeout 300 \
        "$wine" "$out/poll_check.exe" select) > "$out/run.log" 2> "$out/wine.err"; then
    cat "$out/run.log" "$out/wine.err" >&2
    echo "cross_windows: poll_check.exe failed under wine" >&2
    exit 1
fi
cat "$out/run.log"
grep -q "^backend select" "$out/run.log"
grep -q "^all checks passed" "$out/run.log"
echo "cross_windows: OK"
