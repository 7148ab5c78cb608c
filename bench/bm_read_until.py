"""read_until throughput: whirlwind IOStream vs Tornado 6 IOStream vs asyncio
StreamReader, all over a real socketpair.

* lines:   100,000 short lines written in one burst, read one read_until each.
* payload: one N MiB payload whose delimiter is at the very end, arriving in
  4 KiB chunks (one chunk per loop iteration), read with one read_until.
  Tornado rescans its whole buffer per chunk (quadratic); whirlwind resumes.

Run:  python bench/bm_read_until.py --fast [-o out.json]
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pyperf

N_LINES = 100_000
LINES = b"".join(b"line %06d\n" % i for i in range(N_LINES))
CHUNK = 4096
DELIM = b"\r\n\r\n"


def _loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind == "whirlwind":
        from whirlwind.loop import new_event_loop

        return new_event_loop()
    return asyncio.new_event_loop()


async def _burst(sock: socket.socket, data: bytes) -> None:
    await asyncio.get_running_loop().sock_sendall(sock, data)


async def _paced(sock: socket.socket, data: bytes) -> None:
    for i in range(0, len(data), CHUNK):
        sock.send(data[i : i + CHUNK])
        await asyncio.sleep(0)


# Each reader returns a coroutine function (reader_sock) -> None that reads
# what the scenario wants.


def _lines_whirlwind(b: socket.socket) -> Awaitable[None]:
    from whirlwind.iostream import IOStream

    async def go() -> None:
        s = IOStream(b)
        ru = s.read_until
        for _ in range(N_LINES):
            await ru(b"\n")
        s.close()

    return go()


def _lines_tornado(b: socket.socket) -> Awaitable[None]:
    from tornado.iostream import IOStream

    async def go() -> None:
        s = IOStream(b)
        ru = s.read_until
        for _ in range(N_LINES):
            await ru(b"\n")
        s.close()

    return go()


def _lines_asyncio(b: socket.socket) -> Awaitable[None]:
    async def go() -> None:
        reader, writer = await asyncio.open_connection(sock=b)
        ru = reader.readuntil
        for _ in range(N_LINES):
            await ru(b"\n")
        writer.close()

    return go()


def _payload_reader(kind: str, size: int) -> Callable[[socket.socket], Awaitable[None]]:
    def make(b: socket.socket) -> Awaitable[None]:
        async def go() -> None:
            if kind == "whirlwind":
                from whirlwind.iostream import IOStream as W

                s: Any = W(b)
                data = await s.read_until(DELIM)
                s.close()
            elif kind == "tornado":
                from tornado.iostream import IOStream as T

                s = T(b, max_buffer_size=64 * 1024 * 1024)
                data = await s.read_until(DELIM)
                s.close()
            else:
                reader, writer = await asyncio.open_connection(
                    sock=b, limit=64 * 1024 * 1024
                )
                data = await reader.readuntil(DELIM)
                writer.close()
            assert len(data) == size

        return go()

    return make


def _time(
    loops: int,
    kind: str,
    reader: Callable[[socket.socket], Awaitable[None]],
    writer: Callable[[socket.socket, bytes], Awaitable[None]],
    data: bytes,
) -> float:
    total = 0.0
    for _ in range(loops):
        loop = _loop(kind)
        try:
            a, b = socket.socketpair()
            a.setblocking(False)
            a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)

            async def main(a: socket.socket = a, b: socket.socket = b) -> None:
                w = asyncio.ensure_future(writer(a, data))
                await reader(b)
                await w

            t0 = time.perf_counter()
            loop.run_until_complete(main())
            total += time.perf_counter() - t0
            a.close()
        finally:
            loop.close()
    return total


def _pass_peers(cmd: list[str], args: Any) -> None:
    # pyperf workers must see the same benchmark list as the parent.
    cmd.extend(["--peers", args.peers])


def main() -> None:
    runner = pyperf.Runner(add_cmdline_args=_pass_peers)
    runner.argparser.add_argument(
        "--peers",
        default="whirlwind,tornado,asyncio",
        help="comma list of peers to run (default: all)",
    )
    wanted = set(runner.parse_args().peers.split(","))
    runner.metadata["description"] = __doc__.splitlines()[0]
    peers = {
        "whirlwind": ("whirlwind", _lines_whirlwind),
        "tornado": ("asyncio", _lines_tornado),
        "asyncio": ("asyncio", _lines_asyncio),
    }
    for name, (loop_kind, reader) in peers.items():
        if name not in wanted:
            continue
        runner.bench_time_func(
            f"read_until_lines_100k_{name}", _time, loop_kind, reader, _burst, LINES
        )
    for mib in (1, 2, 4, 8):
        size = mib * 1024 * 1024
        data = b"x" * (size - len(DELIM)) + DELIM
        for name in ("whirlwind", "tornado", "asyncio"):
            if name not in wanted:
                continue
            loop_kind = "whirlwind" if name == "whirlwind" else "asyncio"
            runner.bench_time_func(
                f"read_until_payload_{mib}MiB_{name}",
                _time,
                loop_kind,
                _payload_reader(name, size),
                _paced,
                data,
            )


if __name__ == "__main__":
    main()
