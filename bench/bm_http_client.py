"""HTTP client fetch throughput against one local server.

What is measured: the time per fetch of three client stacks, each fetching
from the same local HTTP server (whirlwind's bare `HTTPServer` callback,
started once by the benchmark in its own process, answering ``GET /hello``
with 13 bytes and ``GET /bytes/N`` with N bytes).

Peers (each in its own pyperf workers, on its own event loop):

* whirlwind: `whirlwind.httpclient.AsyncHTTPClient` (the simple client,
  keep-alive pool) on whirlwind's loop.
* tornado-asyncio, tornado-uvloop: Tornado 6's `AsyncHTTPClient`
  (``simple_httpclient``, one connection per request) on asyncio's default
  loop and on uvloop.
* aiohttp-uvloop, aiohttp-asyncio: `aiohttp.ClientSession` (keep-alive
  connector) on uvloop and on asyncio's default loop.

Cases:

* ``seq``: one small fetch at a time (``/hello``), awaited.
* ``conc32``: 32 small fetches in flight at once (``max_clients=32`` for
  whirlwind and Tornado, ``TCPConnector(limit=32)`` for aiohttp); the
  figure is per fetch (pyperf inner loops = 32).
* ``1MiB``: one ``/bytes/1048576`` fetch at a time.

``--client-cpu`` times with the worker's CPU clock (`time.process_time`,
user + sys of the client process) instead of the wall clock: the client's
own cost per fetch, which other load on the machine hardly moves.

Before timing, each worker checks that its peer gets the right bodies.
The server is pinned to CPU 1 and the pyperf workers to CPU 0 when
``taskset`` exists (and there are two CPUs); it is stopped by its pid.

Run (from the repository root, after ``pip install -e .`` plus pyperf,
tornado, uvloop and aiohttp)::

    python bench/bm_http_client.py --fast -o client.json
    python bench/bm_http_client.py --fast --client-cpu -o client_cpu.json
    python bench/bm_http_client.py --fast --peers whirlwind,aiohttp-uvloop
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

HELLO = b"Hello, world!"
BIG = 1 << 20
CONCURRENCY = 32
PEERS = (
    "whirlwind",
    "tornado-asyncio",
    "tornado-uvloop",
    "aiohttp-uvloop",
    "aiohttp-asyncio",
)
CASES = ("seq", "conc32", "1MiB")


# ------------------------------------------------------------------- server
def serve() -> None:
    """whirlwind's bare HTTPServer: /hello and /bytes/N (bodies cached)."""
    from whirlwind import httpserver, httputil
    from whirlwind.loop import new_event_loop

    start_line = httputil.ResponseStartLine("HTTP/1.1", 200, "OK")
    bodies: dict[str, bytes] = {"/hello": HELLO}

    def handle(request: Any) -> None:
        path = request.path
        body = bodies.get(path)
        if body is None:
            if path.startswith("/bytes/") and path[7:].isdigit():
                body = bodies[path] = b"x" * min(int(path[7:]), 64 << 20)
            else:
                body = b"not found"
        conn = request.connection
        conn.write_headers(
            start_line,
            httputil.HTTPHeaders(
                {"Content-Type": "text/plain", "Content-Length": str(len(body))}
            ),
            body,
        )
        conn.finish()

    async def main() -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(1024)
        sock.setblocking(False)
        server = httpserver.HTTPServer(handle)
        server.add_sockets([sock])
        print(sock.getsockname()[1], flush=True)
        await asyncio.Event().wait()

    new_event_loop().run_until_complete(main())


def _can_pin() -> bool:
    return shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2


def _pin(cpu: str, cmd: list[str]) -> list[str]:
    return ["taskset", "-c", cpu, *cmd] if _can_pin() else cmd


def start_server() -> int:
    proc = subprocess.Popen(
        _pin("1", [sys.executable, __file__, "--serve"]),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    atexit.register(_stop, proc)
    return port


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.kill()  # by its pid
    proc.wait()


# ------------------------------------------------------------------ clients
Fetch = Callable[[str], Awaitable[bytes]]


class Peer:
    """One client stack: its event loop and a ``fetch(url) -> body``."""

    loop: asyncio.AbstractEventLoop
    fetch: Fetch
    close: Callable[[], Awaitable[None]] | None = None

    def __init__(self, name: str) -> None:
        kind, _, loop_name = name.partition("-")
        if kind == "whirlwind":
            from whirlwind.loop import new_event_loop

            self.loop = new_event_loop()
        elif loop_name == "uvloop":
            import uvloop

            self.loop = uvloop.new_event_loop()
        else:
            self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(getattr(self, "_setup_" + kind)())
        atexit.register(self._shutdown)

    def _shutdown(self) -> None:
        if self.close is not None:
            self.loop.run_until_complete(self.close())
        self.loop.close()

    async def _setup_whirlwind(self) -> None:
        from whirlwind.httpclient import AsyncHTTPClient

        client = AsyncHTTPClient(force_instance=True, max_clients=CONCURRENCY)

        async def fetch(url: str) -> bytes:
            return (await client.fetch(url)).body

        self.fetch = fetch

    async def _setup_tornado(self) -> None:
        from tornado.httpclient import AsyncHTTPClient

        client = AsyncHTTPClient(force_instance=True, max_clients=CONCURRENCY)

        async def fetch(url: str) -> bytes:
            return (await client.fetch(url)).body

        self.fetch = fetch

    async def _setup_aiohttp(self) -> None:
        import aiohttp

        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=CONCURRENCY)
        )

        async def fetch(url: str) -> bytes:
            async with session.get(url) as response:
                response.raise_for_status()
                return await response.read()

        self.fetch = fetch
        self.close = session.close


_peers: dict[str, Peer] = {}


def _peer(name: str, port: int) -> Peer:
    peer = _peers.get(name)
    if peer is None:
        peer = _peers[name] = Peer(name)
        base = f"http://127.0.0.1:{port}"

        async def check() -> None:
            # Every peer must get the right bodies before it is timed.
            assert await peer.fetch(base + "/hello") == HELLO, name
            many = await asyncio.gather(
                *[peer.fetch(base + "/hello") for _ in range(CONCURRENCY)]
            )
            assert many == [HELLO] * CONCURRENCY, name
            assert await peer.fetch(f"{base}/bytes/{BIG}") == b"x" * BIG, name

        peer.loop.run_until_complete(check())
    return peer


_clock = time.perf_counter


def bench(loops: int, name: str, case: str, port: int) -> float:
    peer = _peer(name, port)
    clock = _clock
    fetch = peer.fetch
    base = f"http://127.0.0.1:{port}"
    hello = base + "/hello"
    big = f"{base}/bytes/{BIG}"

    async def seq() -> float:
        t0 = clock()
        for _ in range(loops):
            await fetch(hello)
        return clock() - t0

    async def conc() -> float:
        t0 = clock()
        for _ in range(loops):
            await asyncio.gather(*[fetch(hello) for _ in range(CONCURRENCY)])
        return clock() - t0

    async def one_big() -> float:
        t0 = clock()
        for _ in range(loops):
            await fetch(big)
        return clock() - t0

    run = {"seq": seq, "conc32": conc, "1MiB": one_big}[case]
    return peer.loop.run_until_complete(run())


def _pass_args(cmd: list[str], args: Any) -> None:
    # pyperf workers must see the same benchmark list and the server's port.
    cmd.extend(["--peers", args.peers, "--cases", args.cases, "--port", args.port])
    if args.client_cpu:
        cmd.append("--client-cpu")


def main() -> None:
    import pyperf

    runner = pyperf.Runner(add_cmdline_args=_pass_args)
    runner.argparser.add_argument(
        "--peers", default=",".join(PEERS), help="comma list of peers to run"
    )
    runner.argparser.add_argument(
        "--cases", default=",".join(CASES), help="comma list of cases to run"
    )
    runner.argparser.add_argument(
        "--port", default="", help="(internal) port of the running server"
    )
    runner.argparser.add_argument(
        "--client-cpu",
        action="store_true",
        help="time with the client process's CPU clock instead of wall time",
    )
    args = runner.parse_args()
    if args.client_cpu:
        global _clock
        _clock = time.process_time
    if not args.worker and not args.port:
        # The main process starts the one server; workers get its port.
        args.port = str(start_server())
        if args.affinity is None and _can_pin():
            args.affinity = "0"
    port = int(args.port) if args.port else 0
    wanted = args.peers.split(",")
    for case in CASES:
        if case not in args.cases.split(","):
            continue
        inner = CONCURRENCY if case == "conc32" else 1
        for name in PEERS:
            if name in wanted:
                runner.bench_time_func(
                    f"client_{case}_{name}", bench, name, case, port, inner_loops=inner
                )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve()
    else:
        main()
