"""TCP echo round trips (1 KiB and 64 KiB messages) against four servers:

* whirlwind: IOStream (Tornado API: read_bytes(partial) + write) on whirlwind's loop
* tornado:   Tornado 6 TCPServer/IOStream on asyncio's default loop
* asyncio:   asyncio streams (start_server, read + write/drain)
* uvloop:    an asyncio Protocol echo on uvloop (the reference to match)

Each server runs in its own process; the pyperf worker is one blocking
client doing send-all / receive-all round trips over one connection, so the
client cost is the same for every peer.

Run:  python bench/bm_echo.py --fast [-o out.json]
"""

from __future__ import annotations

import asyncio
import atexit
import socket
import subprocess
import sys
import time
from typing import Any

SIZES = {"1KiB": 1024, "64KiB": 65536}
PEERS = ("whirlwind", "tornado", "asyncio", "uvloop")


# ------------------------------------------------------------------ servers
def _listener() -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(128)
    s.setblocking(False)
    print(s.getsockname()[1], flush=True)
    return s


def serve_whirlwind() -> None:
    from whirlwind.iostream import IOStream, StreamClosedError
    from whirlwind.loop import new_event_loop

    async def handle(conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        stream = IOStream(conn)
        try:
            while True:
                data = await stream.read_bytes(65536, partial=True)
                stream.write(data)
        except StreamClosedError:
            pass

    async def main() -> None:
        loop = asyncio.get_running_loop()
        lst = _listener()
        while True:
            conn, _ = await loop.sock_accept(lst)
            asyncio.ensure_future(handle(conn))

    new_event_loop().run_until_complete(main())


def serve_tornado() -> None:
    from tornado.iostream import StreamClosedError
    from tornado.tcpserver import TCPServer

    class Echo(TCPServer):
        async def handle_stream(self, stream: Any, address: Any) -> None:
            stream.set_nodelay(True)
            try:
                while True:
                    data = await stream.read_bytes(65536, partial=True)
                    stream.write(data)
            except StreamClosedError:
                pass

    async def main() -> None:
        server = Echo()
        server.add_socket(_listener())
        await asyncio.Event().wait()

    asyncio.run(main())


def serve_asyncio() -> None:
    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            data = await r.read(65536)
            if not data:
                break
            w.write(data)
            await w.drain()
        w.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, sock=_listener())
        await server.serve_forever()

    asyncio.run(main())


def serve_uvloop() -> None:
    import uvloop

    class Echo(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.t = transport
            transport.get_extra_info("socket").setsockopt(
                socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
            )

        def data_received(self, data: bytes) -> None:
            self.t.write(data)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Echo, sock=_listener())
        await server.serve_forever()

    uvloop.run(main())


# ------------------------------------------------------------------- client
_servers: dict[str, tuple[subprocess.Popen[str], int]] = {}
_conns: dict[str, socket.socket] = {}


def _server(peer: str) -> int:
    if peer not in _servers:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", peer],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        _servers[peer] = (proc, port)
        atexit.register(proc.kill)
    return _servers[peer][1]


def _conn(peer: str) -> socket.socket:
    if peer not in _conns:
        c = socket.create_connection(("127.0.0.1", _server(peer)))
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _conns[peer] = c
    return _conns[peer]


def bench(loops: int, peer: str, size: int) -> float:
    c = _conn(peer)
    msg = b"e" * size
    buf = bytearray(size)
    view = memoryview(buf)
    t0 = time.perf_counter()
    for _ in range(loops):
        c.sendall(msg)
        got = 0
        while got < size:
            n = c.recv_into(view[got:])
            if not n:
                raise ConnectionError("server closed")
            got += n
    return time.perf_counter() - t0


def _pass_peers(cmd: list[str], args: Any) -> None:
    # pyperf workers must see the same benchmark list as the parent.
    cmd.extend(["--peers", args.peers])


def main() -> None:
    import pyperf

    runner = pyperf.Runner(add_cmdline_args=_pass_peers)
    runner.argparser.add_argument(
        "--peers", default=",".join(PEERS), help="comma list of peers to run"
    )
    wanted = runner.parse_args().peers.split(",")
    for label, size in SIZES.items():
        for peer in PEERS:
            if peer not in wanted:
                continue
            runner.bench_time_func(f"echo_{label}_{peer}", bench, peer, size)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        globals()["serve_" + sys.argv[2]]()
    else:
        main()
