"""Requests through a web framework: whirlwind.web vs Tornado 6 (and peers).

Measured, per request (pyperf reports the time of one request, client
included), for three endpoints of the same small application:

* hello: ``self.write("Hello, world")``;
* json: ``self.write({...})`` (a dict becomes JSON);
* page: ``self.render(...)`` of a template that extends a base template and
  loops over ten items (autoescaped).

Each endpoint runs keep-alive (one request in flight on one connection) and
pipelined (``DEPTH`` requests written at once on one connection). Servers
run in their own process, started on 127.0.0.1 port 0; the client is a raw
socket that counts response bytes (each response has a fixed size, learned
from one warm-up request), so the client's own cost stays small and equal
for every server.

Servers: whirlwind on its own loop, whirlwind on asyncio's default loop,
Tornado on asyncio; Tornado on uvloop and aiohttp on uvloop join when those
packages are installed.

Run: ``python bench/bm_web.py --fast -o web.json`` then
``python -m pyperf show web.json``; ``--servers`` picks servers.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import textwrap
from typing import Any

import pyperf

DEPTH = 16

SERVER_CODE = textwrap.dedent(
    r"""
    import asyncio, logging, os, socket, sys
    kind = sys.argv[1]
    TEMPLATES = {
        "base.html": "<html><head><title>{% block title %}{% end %}</title></head>"
                     "<body>{% block body %}{% end %}</body></html>",
        "page.html": '{% extends "base.html" %}{% block title %}{{ title }}{% end %}'
                     '{% block body %}<ul>{% for i in items %}<li>{{ i }}</li>{% end %}'
                     '</ul>{% end %}',
    }
    ITEMS = [f"item <{i}>" for i in range(10)]
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    sock.setblocking(False)

    if kind.startswith("aiohttp"):
        import uvloop
        from aiohttp import web as aweb
        async def hello(request):
            return aweb.Response(text="Hello, world")
        async def js(request):
            return aweb.json_response({"hello": "world", "n": 1})
        app = aweb.Application()
        app.router.add_get("/hello", hello)
        app.router.add_get("/json", js)
        async def main():
            runner = aweb.AppRunner(app, access_log=None)
            await runner.setup()
            await aweb.SockSite(runner, sock).start()
            print(sock.getsockname()[1], flush=True)
            await asyncio.Event().wait()
        uvloop.run(main())
        sys.exit(0)

    if kind.startswith("tornado"):
        from tornado import httpserver, template, web
    else:
        from whirlwind import httpserver, template, web
    logging.getLogger(kind.split("-")[0] + ".access").setLevel(logging.CRITICAL)

    class Hello(web.RequestHandler):
        def get(self):
            self.write("Hello, world")

    class Json(web.RequestHandler):
        def get(self):
            self.write({"hello": "world", "n": 1})

    class Page(web.RequestHandler):
        def get(self):
            self.render("page.html", title="bench & co", items=ITEMS)

    app = web.Application(
        [("/hello", Hello), ("/json", Json), ("/page", Page)],
        template_loader=template.DictLoader(TEMPLATES),
    )

    async def main():
        server = httpserver.HTTPServer(app)
        server.add_sockets([sock])
        print(sock.getsockname()[1], flush=True)
        await asyncio.Event().wait()

    if kind == "whirlwind":
        from whirlwind.loop import run
        run(main())
    elif kind.endswith("uvloop"):
        import uvloop
        uvloop.run(main())
    else:
        asyncio.run(main())
    """
)

SERVERS = [
    "whirlwind",
    "whirlwind-asyncio",
    "tornado-asyncio",
    "tornado-uvloop",
    "aiohttp-uvloop",
]
ENDPOINTS = ["hello", "json", "page"]


def _available(kind: str) -> bool:
    needs = {
        "tornado-asyncio": ["tornado"],
        "tornado-uvloop": ["tornado", "uvloop"],
        "aiohttp-uvloop": ["aiohttp", "uvloop"],
    }.get(kind, [])
    for mod in needs:
        try:
            __import__(mod)
        except ImportError:
            return False
    return True


class Server:
    def __init__(self, kind: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER_CODE, kind],
            stdout=subprocess.PIPE,
            text=True,
            env=dict(os.environ, PYTHONWARNINGS="ignore"),
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        atexit.register(self.close)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def _response_size(sock: socket.socket, request: bytes) -> int:
    """Size in bytes of one complete response (head + body) on ``sock``."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:80]
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return len(head) + 4 + length


def _bench(port: int, path: str, depth: int) -> Any:
    request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    size = _response_size(sock, request)
    batch = request * depth
    want = size * depth
    view = memoryview(bytearray(want))

    def time_func(loops: int) -> float:
        t0 = pyperf.perf_counter()
        for _ in range(loops):
            sock.sendall(batch)
            got = 0
            while got < want:
                n = sock.recv_into(view[got:], want - got)
                if not n:
                    raise RuntimeError("server closed the connection")
                got += n
        return pyperf.perf_counter() - t0

    return time_func


def _unused(loops: int) -> float:
    raise AssertionError("only worker processes time requests")


def main() -> None:
    runner = pyperf.Runner()
    runner.argparser.add_argument("--servers", default=",".join(SERVERS))
    args = runner.parse_args()
    for kind in args.servers.split(","):
        if not _available(kind):
            continue
        server: Server | None = None
        for endpoint in ENDPOINTS:
            if kind.startswith("aiohttp") and endpoint == "page":
                continue  # no template engine in aiohttp itself
            for mode, depth in (("keepalive", 1), ("pipelined", DEPTH)):
                func = _unused
                if args.worker:
                    # Each worker process measures against a fresh server.
                    if server is None:
                        server = Server(kind)
                    func = _bench(server.port, "/" + endpoint, depth)
                bench = runner.bench_time_func(
                    f"{endpoint}-{mode}-{kind}", func, inner_loops=depth
                )
                if bench is not None:
                    bench.update_metadata(
                        {"description": f"{endpoint} {mode} on {kind}"}
                    )


if __name__ == "__main__":
    main()
