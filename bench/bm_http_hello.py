"""Hello world through a bare HTTP server callback, measured with wrk.

What is measured: requests per second (and per second of server CPU time)
for ``GET /hello`` answered with a 13-byte ``text/plain`` body, over 32
keep-alive connections, then with 16 requests pipelined per connection.
Each server is a separate process pinned to one CPU, wrk to another.

Peers (all in one run):

* whirlwind: `whirlwind.httpserver.HTTPServer` with a plain callback, on
  whirlwind's loop; ``whirlwind-asyncio``: the same on asyncio's default loop.
* tornado-asyncio, tornado-uvloop: Tornado 6's HTTPServer, same callback.
* aiohttp-uvloop: aiohttp's low-level server (``aiohttp.web.Server``).
* uvicorn-httptools: uvicorn with httptools and uvloop serving a raw ASGI app.

Run (from the repository root, after ``pip install -e .`` and the ``bench``
extra, plus wrk)::

    python bench/bm_http_hello.py                 # every peer, 5 s runs
    python bench/bm_http_hello.py --peers whirlwind,tornado-asyncio --duration 3
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Callable, Coroutine
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _httpbench  # noqa: E402

HELLO = b"Hello, world!"
HEADERS = {"Content-Type": "text/plain", "Content-Length": str(len(HELLO))}


def _listen() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    sock.setblocking(False)
    print(sock.getsockname()[1], flush=True)
    return sock


def _run(main: Coroutine[Any, Any, None], loop: str) -> None:
    factory: Callable[[], asyncio.AbstractEventLoop]
    if loop == "whirlwind":
        import whirlwind

        factory = whirlwind.new_event_loop
    elif loop == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    else:
        factory = asyncio.new_event_loop
    loop_obj = factory()
    asyncio.set_event_loop(loop_obj)
    loop_obj.run_until_complete(main)


def _tornado_shaped(httpserver: Any, httputil: Any, loop: str) -> None:
    """The same callback for whirlwind and Tornado (their APIs match)."""
    start_line = httputil.ResponseStartLine("HTTP/1.1", 200, "OK")

    def handle(request: Any) -> None:
        conn = request.connection
        conn.write_headers(start_line, httputil.HTTPHeaders(HEADERS), HELLO)
        conn.finish()

    async def main() -> None:
        server = httpserver.HTTPServer(handle)
        server.add_sockets([_listen()])
        await asyncio.Event().wait()

    _run(main(), loop)


def serve_whirlwind(loop: str = "whirlwind") -> None:
    from whirlwind import httpserver, httputil

    _tornado_shaped(httpserver, httputil, loop)


def serve_tornado(loop: str) -> None:
    from tornado import httpserver, httputil

    _tornado_shaped(httpserver, httputil, loop)


def serve_aiohttp() -> None:
    from aiohttp import web

    async def handle(request: web.BaseRequest) -> web.Response:
        return web.Response(body=HELLO, content_type="text/plain")

    async def main() -> None:
        server = web.Server(handle, access_log=None)
        await asyncio.get_running_loop().create_server(server, sock=_listen())
        await asyncio.Event().wait()

    _run(main(), "uvloop")


async def asgi_hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/plain"),
                (b"content-length", str(len(HELLO)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": HELLO})


def serve_uvicorn() -> None:
    import uvicorn

    config = uvicorn.Config(
        asgi_hello,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )
    uvicorn.Server(config).run(sockets=[_listen()])


PEERS: dict[str, Callable[[], None]] = {
    "whirlwind": serve_whirlwind,
    "whirlwind-asyncio": lambda: serve_whirlwind("asyncio"),
    "tornado-asyncio": lambda: serve_tornado("asyncio"),
    "tornado-uvloop": lambda: serve_tornado("uvloop"),
    "aiohttp-uvloop": serve_aiohttp,
    "uvicorn-httptools": serve_uvicorn,
}

CASES = {"hello": ("/hello", HELLO)}

if __name__ == "__main__":
    _httpbench.main(__file__, __doc__ or "", PEERS, CASES)
