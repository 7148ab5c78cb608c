"""WSGI in both directions: WSGI apps inside whirlwind, and whirlwind apps as WSGI.

Contents:

* `WSGIContainer`: runs a WSGI application (Flask, Django, ...) under
  whirlwind's `.HTTPServer`, e.g. next to native handlers through
  `.FallbackHandler`.
* `WSGIApplication`: the classic (Tornado 2-4) reverse direction, a
  `.web.Application` that is also a WSGI callable, for deployment under
  any WSGI server (gunicorn, mod_wsgi, ``wsgiref``).
* `to_wsgi_str`, `from_wsgi_str`: the "native string" conversions of PEP 3333.
* ``HTTPRequest``: an alias of `.HTTPServerRequest` kept for old imports.

Theory of operation:

* `WSGIContainer` builds the environ from the request (whose body the
  HTTP layer has already read within ``max_body_size``), calls the
  application through ``executor`` (inline when None, which blocks the
  loop for the duration of the call, as WSGI is synchronous), collects the
  body iterator, and writes one response.  With an executor, the
  application call and each ``next()`` on its iterator run in the executor.
* `WSGIApplication` turns the environ into an `.HTTPServerRequest` whose
  connection is an in-memory sink, and runs the handler to completion on a
  private event loop owned by the calling thread (created once, reused).
  So plain handlers work, and ``async def`` handlers work too as long as
  they finish within the request: there is no long polling, no
  ``@asynchronous`` response that outlives the WSGI call, no
  `.stream_request_body` and no websockets.  The response body is buffered
  and returned as one chunk.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import logging
import sys
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from whirlwind import escape, httputil, web
from whirlwind.concurrent import dummy_executor

__all__ = [
    "WSGIContainer",
    "WSGIApplication",
    "HTTPRequest",
    "to_wsgi_str",
    "from_wsgi_str",
]

access_log = logging.getLogger("whirlwind.access")
app_log = logging.getLogger("whirlwind.application")

HTTPRequest = httputil.HTTPServerRequest

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType]
_StartResponse = Callable[..., Callable[[bytes], Any]]
_WSGIApp = Callable[[dict[str, Any], _StartResponse], Iterable[bytes]]


def to_wsgi_str(s: bytes) -> str:
    """Bytes -> a WSGI "native string" (each byte one latin-1 character)."""
    return s.decode("latin1")


def from_wsgi_str(s: str) -> bytes:
    """A WSGI "native string" -> the bytes it stands for."""
    return s.encode("latin1")


class WSGIContainer:
    """Runs a WSGI application under whirlwind's HTTP server::

        container = WSGIContainer(flask_app)
        HTTPServer(container).listen(8888)

    or, mixed with native handlers::

        web.Application([
            (r"/ws", ChatSocket),
            (r".*", web.FallbackHandler, dict(fallback=container)),
        ])

    Without ``executor``, the application runs on the event loop thread
    and blocks it while it runs: fine for quick apps, not for slow ones.
    Pass a `concurrent.futures.ThreadPoolExecutor` to run it in threads.
    """

    def __init__(
        self,
        wsgi_application: _WSGIApp,
        executor: concurrent.futures.Executor | None = None,
    ) -> None:
        self.wsgi_application = wsgi_application
        self.executor = dummy_executor if executor is None else executor

    def __call__(self, request: httputil.HTTPServerRequest) -> Any:
        if self.executor is dummy_executor:
            # Inline: the whole exchange completes before we return.
            try:
                data, body = self._run_inline(request)
            except Exception:
                app_log.error("Uncaught exception in WSGI application", exc_info=True)
                data = {"status": "500 Internal Server Error", "headers": []}
                body = [b"<html><body>500: Internal Server Error</body></html>"]
            self._respond(request, data, body)
            return None
        task = asyncio.ensure_future(self.handle_request(request))
        return task

    def _run_inline(
        self, request: httputil.HTTPServerRequest
    ) -> tuple[dict[str, Any], list[bytes]]:
        data: dict[str, Any] = {}
        body: list[bytes] = []
        app_response = self.wsgi_application(
            self.environ(request), self._start_response(data, body)
        )
        try:
            body.extend(app_response)
        finally:
            close = getattr(app_response, "close", None)
            if close is not None:
                close()
        return data, body

    async def handle_request(self, request: httputil.HTTPServerRequest) -> None:
        """Run the application for ``request`` and write its response."""
        data: dict[str, Any] = {}
        body: list[bytes] = []
        loop = asyncio.get_running_loop()
        app_response = await loop.run_in_executor(
            self.executor,
            self.wsgi_application,
            self.environ(request),
            self._start_response(data, body),
        )
        try:
            it = iter(app_response)
            while True:
                chunk = await loop.run_in_executor(self.executor, next, it, None)
                if chunk is None:
                    break
                body.append(chunk)
        finally:
            close = getattr(app_response, "close", None)
            if close is not None:
                await loop.run_in_executor(self.executor, close)
        self._respond(request, data, body)

    @staticmethod
    def _start_response(data: dict[str, Any], body: list[bytes]) -> _StartResponse:
        def start_response(
            status: str,
            response_headers: list[tuple[str, str]],
            exc_info: _ExcInfo | None = None,
        ) -> Callable[[bytes], Any]:
            if exc_info is not None and data.get("sent"):
                raise exc_info[1].with_traceback(exc_info[2])
            data["status"] = status
            data["headers"] = response_headers
            return body.append

        return start_response

    def _respond(
        self,
        request: httputil.HTTPServerRequest,
        data: dict[str, Any],
        chunks: list[bytes],
    ) -> None:
        if "status" not in data:
            raise Exception("WSGI app did not call start_response")
        data["sent"] = True
        body = b"".join(chunks)
        status_code_str, _, reason = data["status"].partition(" ")
        status_code = int(status_code_str)
        headers: list[tuple[str, str]] = data["headers"]
        names = {k.lower() for k, _ in headers}
        if "content-length" not in names and status_code not in (204, 304):
            headers.append(("Content-Length", str(len(body))))
        if "content-type" not in names:
            headers.append(("Content-Type", "text/html; charset=UTF-8"))
        if "server" not in names:
            headers.append(("Server", "WhirlwindServer/1"))
        out = httputil.HTTPHeaders()
        for k, v in headers:
            out.add(k, v)
        conn = request.connection
        assert conn is not None
        if request.method == "HEAD":
            body = b""
        conn.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", status_code, reason), out, body
        )
        conn.finish()
        self._log(status_code, request)

    def environ(self, request: httputil.HTTPServerRequest) -> dict[str, Any]:
        """The WSGI environ for ``request`` (PEP 3333)."""
        host, port = httputil.split_host_and_port(request.host.lower())
        if port is None:
            port = 443 if request.protocol == "https" else 80
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": to_wsgi_str(
                escape.url_unescape(request.path, encoding=None, plus=False)
            ),
            "QUERY_STRING": request.query,
            "REMOTE_ADDR": request.remote_ip,
            "SERVER_NAME": host,
            "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": request.version,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": request.protocol,
            "wsgi.input": io.BytesIO(escape.utf8(request.body)),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": self.executor is not dummy_executor,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        headers = request.headers
        if "Content-Type" in headers:
            environ["CONTENT_TYPE"] = headers["Content-Type"]
        if "Content-Length" in headers:
            environ["CONTENT_LENGTH"] = headers["Content-Length"]
        for key, value in headers.get_all():
            if key in ("Content-Type", "Content-Length"):
                continue
            name = "HTTP_" + key.replace("-", "_").upper()
            if name in environ:
                environ[name] += "," + value
            else:
                environ[name] = value
        return environ

    def _log(self, status_code: int, request: httputil.HTTPServerRequest) -> None:
        if status_code < 400:
            log_method = access_log.info
        elif status_code < 500:
            log_method = access_log.warning
        else:
            log_method = access_log.error
        request_time = 1000.0 * request.request_time()
        summary = f"{request.method} {request.uri} ({request.remote_ip})"
        log_method("%d %s %.2fms", status_code, summary, request_time)


class _WSGIConnection(httputil.HTTPConnection):
    """Collects a handler's response in memory for `WSGIApplication`."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.start_line: httputil.ResponseStartLine | None = None
        self.headers: httputil.HTTPHeaders | None = None
        self.chunks: list[bytes] = []
        self.finished = False

    def _done(self) -> asyncio.Future[None]:
        fut = self._loop.create_future()
        fut.set_result(None)
        return fut

    def set_close_callback(self, callback: Callable[[], None] | None) -> None:
        pass

    def write_headers(
        self,
        start_line: httputil.ResponseStartLine | httputil.RequestStartLine,
        headers: httputil.HTTPHeaders,
        chunk: bytes | None = None,
    ) -> asyncio.Future[None]:
        assert isinstance(start_line, httputil.ResponseStartLine)
        self.start_line = start_line
        self.headers = headers
        if chunk:
            self.chunks.append(chunk)
        return self._done()

    def write(self, chunk: bytes) -> asyncio.Future[None]:
        if chunk:
            self.chunks.append(chunk)
        return self._done()

    def finish(self) -> None:
        self.finished = True

    def detach(self) -> Any:
        raise RuntimeError("WSGIApplication cannot hand over the connection")


class _LoopHolder:
    """Owns one thread's private loop; closes it when the thread ends (the
    thread-local storage holding us is released then)."""

    def __init__(self) -> None:
        from whirlwind.loop import new_event_loop

        self.loop = new_event_loop()

    def __del__(self) -> None:
        if not self.loop.is_closed():
            self.loop.close()


_thread_state = threading.local()


def _thread_loop() -> asyncio.AbstractEventLoop:
    holder: _LoopHolder | None = getattr(_thread_state, "holder", None)
    if holder is None or holder.loop.is_closed():
        holder = _thread_state.holder = _LoopHolder()
    return holder.loop


class WSGIApplication(web.Application):
    """A `.web.Application` that is also a WSGI application::

        application = WSGIApplication([(r"/", MainHandler)], cookie_secret=...)
        # gunicorn mymodule:application, or wsgiref.simple_server:
        make_server("", 8888, application).serve_forever()

    Each request runs to completion on a private event loop of the WSGI
    server's thread, so handlers (plain or ``async def``) must finish
    within the request: no long polling, ``@asynchronous`` responses that
    wait for other requests, streamed request bodies or websockets.  Called
    with a single request argument it behaves as a normal `.Application`.
    """

    def __call__(self, *args: Any) -> Any:
        if len(args) == 1:
            return super().__call__(args[0])
        environ, start_response = args
        return self._wsgi_call(environ, start_response)

    def _wsgi_call(
        self, environ: dict[str, Any], start_response: _StartResponse
    ) -> list[bytes]:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError("WSGIApplication must be called from a WSGI server")
        loop = _thread_loop()
        conn = _WSGIConnection(loop)
        try:
            request = self._request_from_environ(environ, conn)
        except httputil.HTTPInputError as e:
            start_response(
                "400 Bad Request", [("Content-Type", "text/plain; charset=UTF-8")]
            )
            return [str(e).encode("utf-8")]

        async def run() -> None:
            # Run the handler inline and await whatever remains of it.
            rest = self.find_handler(request)._start(inline=True)
            if rest is not None:
                await rest

        loop.run_until_complete(run())
        if not conn.finished or conn.start_line is None or conn.headers is None:
            raise RuntimeError(
                "handler did not finish its response within the WSGI call "
                "(long polling is not supported by WSGIApplication)"
            )
        start = conn.start_line
        status = f"{start.code} {start.reason}"
        headers = [(k, v) for k, v in conn.headers.get_all()]
        start_response(status, headers)
        return [b"".join(conn.chunks)]

    def _request_from_environ(
        self, environ: dict[str, Any], conn: _WSGIConnection
    ) -> httputil.HTTPServerRequest:
        path = urllib.parse.quote(from_wsgi_str(environ.get("SCRIPT_NAME", "")))
        path += urllib.parse.quote(from_wsgi_str(environ.get("PATH_INFO", "")))
        uri = path or "/"
        if environ.get("QUERY_STRING"):
            uri += "?" + environ["QUERY_STRING"]
        headers = httputil.HTTPHeaders()
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        if environ.get("CONTENT_LENGTH"):
            headers["Content-Length"] = environ["CONTENT_LENGTH"]
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                headers[key[5:].replace("_", "-")] = value
        if "Host" not in headers:
            host = environ.get("SERVER_NAME", "127.0.0.1")
            port = str(environ.get("SERVER_PORT", ""))
            default = "443" if environ.get("wsgi.url_scheme") == "https" else "80"
            headers["Host"] = host if port in ("", default) else f"{host}:{port}"
        body = b""
        length = headers.get("Content-Length")
        if length:
            if not length.isdigit():
                raise httputil.HTTPInputError("bad Content-Length")
            body = environ["wsgi.input"].read(int(length))
        request = httputil.HTTPServerRequest(
            method=environ["REQUEST_METHOD"],
            uri=uri,
            version=environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            headers=headers,
            body=body,
            connection=conn,
        )
        request.remote_ip = environ.get("REMOTE_ADDR", "")
        request.protocol = environ.get("wsgi.url_scheme", "http")
        return request
