"""Hello-world server for request-path profiling (see BENCHMARKS.md).

Usage: ``python bench/perf_hello_server.py KIND MODE PORT`` where KIND is
whirlwind, tornado-asyncio, tornado-uvloop or uvicorn; MODE is ``bare``
(an HTTPServer callback; a raw ASGI app for uvicorn) or ``app``
(Application + RequestHandler).  Access logging is off.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

kind, mode, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
BODY = b"Hello, world"

if kind == "uvicorn":
    import uvicorn

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/plain"),
                    (b"content-length", b"12"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": BODY})

    uvicorn.run(
        asgi,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="error",
        access_log=False,
        lifespan="off",
    )
    sys.exit(0)

if kind.startswith("tornado"):
    from tornado import httpserver, httputil, web  # type: ignore[no-redef]
else:
    from whirlwind import httpserver, httputil, web  # type: ignore[no-redef,assignment]
logging.getLogger(kind.split("-")[0] + ".access").setLevel(logging.CRITICAL)


def bare(request: Any) -> None:
    request.connection.write_headers(
        httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
        httputil.HTTPHeaders({"Content-Length": "12", "Content-Type": "text/plain"}),
        BODY,
    )
    request.connection.finish()


class Hello(web.RequestHandler):
    def get(self) -> None:
        self.write("Hello, world")


async def main() -> None:
    target: Any = bare if mode == "bare" else web.Application([("/", Hello)])
    server = httpserver.HTTPServer(target)
    server.listen(port, "127.0.0.1")
    await asyncio.Event().wait()


if kind == "whirlwind":
    from whirlwind.loop import run

    run(main())
elif kind.endswith("uvloop"):
    import uvloop

    uvloop.run(main())
else:
    asyncio.run(main())
