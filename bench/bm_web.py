"""The web framework's cost per request, measured with wrk.

What is measured: requests per second (and per second of server CPU time)
through each framework's application layer, for three endpoints, over 32
keep-alive connections and with 16 requests pipelined per connection:

* ``/hello``: a handler writing ``Hello, world!`` (text).
* ``/json``: a handler answering ``{"message": "Hello, world!"}`` as JSON.
* ``/page``: an autoescaped HTML page from a template: a title and a
  20-row table, some cells holding ``<``, ``>`` and ``&``.

Peers (all in one run), each a separate process pinned to one CPU:

* whirlwind: `whirlwind.web.Application` + `RequestHandler` (``write``,
  ``write(dict)``, ``render`` with whirlwind.template) on whirlwind's loop;
  ``whirlwind-asyncio``: the same on asyncio's default loop.
* tornado-asyncio, tornado-uvloop: the same application on Tornado 6.
* aiohttp-uvloop: ``aiohttp.web`` (``web.Response``, ``web.json_response``,
  the page rendered with Jinja2).
* uvicorn-httptools: uvicorn with httptools and uvloop serving a raw ASGI
  app (no framework; ``json.dumps``; the page rendered with Jinja2).

Run (from the repository root, after ``pip install -e .``, the ``bench``
extra and wrk)::

    python bench/bm_web.py
    python bench/bm_web.py --cases hello --modes keepalive --peers whirlwind,uvicorn-httptools
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _httpbench  # noqa: E402
from bm_http_hello import _listen, _run  # noqa: E402

HELLO = "Hello, world!"
MESSAGE = {"message": HELLO}
TITLE = "Orders & <stock>"
ROWS = [(f"item <{i}>" if i % 3 == 0 else f"item {i}", i * 7 & 255) for i in range(20)]

TORNADO_PAGE = """\
<!DOCTYPE html>
<html><head><title>{{ title }}</title></head>
<body><h1>{{ title }}</h1>
<table>
{% for name, value in rows %}<tr><td>{{ name }}</td><td>{{ value }}</td></tr>
{% end %}</table>
</body></html>
"""
JINJA_PAGE = TORNADO_PAGE.replace("{% end %}", "{% endfor %}")


def _tornado_shaped_app(web: Any, template: Any, loop: str) -> None:
    """The same application for whirlwind and Tornado (their APIs match)."""

    class Hello(web.RequestHandler):
        def get(self) -> None:
            self.write(HELLO)

    class Json(web.RequestHandler):
        def get(self) -> None:
            self.write(MESSAGE)

    class Page(web.RequestHandler):
        def get(self) -> None:
            self.render("page.html", title=TITLE, rows=ROWS)

    async def main() -> None:
        app = web.Application(
            [("/hello", Hello), ("/json", Json), ("/page", Page)],
            template_loader=template.DictLoader({"page.html": TORNADO_PAGE}),
        )
        from importlib import import_module

        httpserver = import_module(web.__name__.rsplit(".", 1)[0] + ".httpserver")
        server = httpserver.HTTPServer(app)
        server.add_sockets([_listen()])
        await asyncio.Event().wait()

    _run(main(), loop)


def serve_whirlwind(loop: str = "whirlwind") -> None:
    from whirlwind import template, web

    _tornado_shaped_app(web, template, loop)


def serve_tornado(loop: str) -> None:
    from tornado import template, web

    _tornado_shaped_app(web, template, loop)


def _jinja_page() -> Callable[[], str]:
    import jinja2

    env = jinja2.Environment(autoescape=True)
    tmpl = env.from_string(JINJA_PAGE)
    return lambda: tmpl.render(title=TITLE, rows=ROWS)


def serve_aiohttp() -> None:
    from aiohttp import web

    page = _jinja_page()

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text=HELLO)

    async def json_(request: web.Request) -> web.Response:
        return web.json_response(MESSAGE)

    async def html(request: web.Request) -> web.Response:
        return web.Response(text=page(), content_type="text/html")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/hello", hello)
        app.router.add_get("/json", json_)
        app.router.add_get("/page", html)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.SockSite(runner, _listen()).start()
        await asyncio.Event().wait()

    _run(main(), "uvloop")


def _asgi_app() -> Callable[..., Any]:
    page = _jinja_page()

    def start(content_type: bytes, body: bytes) -> dict[str, Any]:
        return {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope["path"]
        if path == "/hello":
            body, ctype = HELLO.encode(), b"text/plain; charset=utf-8"
        elif path == "/json":
            body, ctype = json.dumps(MESSAGE).encode(), b"application/json"
        elif path == "/page":
            body, ctype = page().encode(), b"text/html; charset=utf-8"
        else:
            body, ctype = b"not found", b"text/plain"
            await send({**start(ctype, body), "status": 404})
            await send({"type": "http.response.body", "body": body})
            return
        await send(start(ctype, body))
        await send({"type": "http.response.body", "body": body})

    return app


def serve_uvicorn() -> None:
    import uvicorn

    config = uvicorn.Config(
        _asgi_app(),
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

CASES = {
    "hello": ("/hello", HELLO.encode()),
    "json": ("/json", b'"message"'),
    "page": ("/page", b"<td>item &lt;3&gt;</td>"),
}

if __name__ == "__main__":
    _httpbench.main(__file__, __doc__ or "", PEERS, CASES)
