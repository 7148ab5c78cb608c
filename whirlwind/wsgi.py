"""WSGI in both directions: WSGI applications inside whirlwind, and (classic)
whirlwind applications under a WSGI server.

Contents:

* `WSGIContainer`: serves a WSGI application (Flask, Django, ...) from a
  whirlwind `HTTPServer` or as a `FallbackHandler`/routing target. WSGI is
  synchronous: the application runs in an ``executor`` (a thread pool) so
  the event loop keeps serving; without one it runs on the loop itself,
  which blocks everything else while it works.
* `WSGIApplication` (classic, Tornado 2-4): a `web.Application` that is also
  a WSGI application, for running handlers under a WSGI server. Only
  synchronous handlers work there: nothing drives an event loop, so a
  handler must finish before its method returns.
* `WSGIAdapter`: the classic adapter that makes any `web.Application` a WSGI
  application (what `WSGIApplication` uses).
"""

from __future__ import annotations

import concurrent.futures
import sys
import urllib.parse
from collections.abc import Callable, Iterable
from io import BytesIO
from typing import Any

import whirlwind
from whirlwind import escape, httputil, web
from whirlwind.concurrent import dummy_executor
from whirlwind.ioloop import IOLoop
from whirlwind.log import access_log

__all__ = ["WSGIContainer", "WSGIApplication", "WSGIAdapter"]

_WSGIApp = Callable[..., Iterable[bytes]]


def to_wsgi_str(s: bytes) -> str:
    """PEP 3333 "native strings": bytes carried in a latin-1 str."""
    return s.decode("latin1")


def from_wsgi_str(s: str) -> bytes:
    return s.encode("latin1")


class WSGIContainer:
    """Runs a WSGI application for whirlwind requests::

        container = WSGIContainer(flask_app, executor=ThreadPoolExecutor(8))
        HTTPServer(container).listen(8888)
        # or, next to whirlwind handlers:
        Application([(r"/legacy/.*", FallbackHandler, {"fallback": container})])

    The response body is collected completely before it is sent.
    """

    def __init__(
        self,
        wsgi_application: _WSGIApp,
        executor: concurrent.futures.Executor | None = None,
    ) -> None:
        self.wsgi_application = wsgi_application
        self.executor = dummy_executor if executor is None else executor

    def __call__(self, request: httputil.HTTPServerRequest) -> None:
        loop = IOLoop.current()
        assert loop is not None
        loop.spawn_callback(self.handle_request, request)

    async def handle_request(self, request: httputil.HTTPServerRequest) -> None:
        data: dict[str, Any] = {}
        response: list[bytes] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], Any]:
            data["status"] = status
            data["headers"] = headers
            return response.append

        loop = IOLoop.current()
        assert loop is not None
        app_response = await loop.run_in_executor(
            self.executor, self.wsgi_application, self.environ(request), start_response
        )
        try:
            chunks = iter(app_response)

            def next_chunk() -> bytes | None:
                return next(chunks, None)

            # Each chunk is produced in the executor too: a streaming WSGI
            # response may block between chunks.
            while True:
                chunk = await loop.run_in_executor(self.executor, next_chunk)
                if chunk is None:
                    break
                response.append(chunk)
        finally:
            close = getattr(app_response, "close", None)
            if close is not None:
                close()
        if not data:
            raise Exception("WSGI app did not call start_response")
        code_text, _, reason = data["status"].partition(" ")
        status_code = int(code_text)
        headers: list[tuple[str, str]] = data["headers"]
        present = {name.lower() for name, _ in headers}
        body = escape.utf8(b"".join(response))
        if status_code != 304:
            if "content-length" not in present:
                headers.append(("Content-Length", str(len(body))))
            if "content-type" not in present:
                headers.append(("Content-Type", "text/html; charset=UTF-8"))
        if "server" not in present:
            headers.append(("Server", "WhirlwindServer/" + whirlwind.version))
        out = httputil.HTTPHeaders()
        for name, value in headers:
            out.add(name, value)
        assert request.connection is not None
        request.connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", status_code, reason), out, chunk=body
        )
        request.connection.finish()
        self._log(status_code, request)

    def environ(self, request: httputil.HTTPServerRequest) -> dict[str, Any]:
        """The WSGI environ for ``request`` (PEP 3333)."""
        host = request.host
        port = 443 if request.protocol == "https" else 80
        if host.startswith("["):  # an IPv6 literal, maybe with a port
            end = host.find("]")
            if (
                end != -1
                and host[end + 1 : end + 2] == ":"
                and host[end + 2 :].isdigit()
            ):
                host, port = host[: end + 1], int(host[end + 2 :])
        else:
            name, sep, port_text = host.rpartition(":")
            if sep and port_text.isdigit():
                host, port = name, int(port_text)
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
            "wsgi.input": BytesIO(escape.utf8(request.body)),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": self.executor is not dummy_executor,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        if "Content-Type" in request.headers:
            environ["CONTENT_TYPE"] = request.headers.pop("Content-Type")
        if "Content-Length" in request.headers:
            environ["CONTENT_LENGTH"] = request.headers.pop("Content-Length")
        for name, value in request.headers.items():
            environ["HTTP_" + name.replace("-", "_").upper()] = value
        return environ

    def _log(self, status_code: int, request: httputil.HTTPServerRequest) -> None:
        if status_code < 400:
            log = access_log.info
        elif status_code < 500:
            log = access_log.warning
        else:
            log = access_log.error
        log(
            "%d %s %s (%s) %.2fms",
            status_code,
            request.method,
            request.uri,
            request.remote_ip,
            1000.0 * request.request_time(),
        )


class _WSGIRequestContext:
    __slots__ = ("remote_ip", "protocol")

    def __init__(self, remote_ip: str, protocol: str) -> None:
        self.remote_ip = remote_ip
        self.protocol = protocol


class _WSGIConnection:
    """Collects what a handler writes and hands it to ``start_response``."""

    def __init__(
        self,
        method: str,
        start_response: Callable[..., Any],
        context: _WSGIRequestContext,
    ) -> None:
        self.method = method
        self.start_response = start_response
        self.context = context
        self._write_buffer: list[bytes] = []
        self._finished = False
        self._expected_content_remaining: int | None = None
        self._error: BaseException | None = None

    def set_close_callback(self, callback: Any) -> None:
        pass  # a WSGI server gives no notice of closed connections

    def write_headers(
        self,
        start_line: httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
        chunk: bytes | None = None,
    ) -> None:
        if self.method == "HEAD":
            self._expected_content_remaining = 0
        elif "Content-Length" in headers:
            self._expected_content_remaining = int(headers["Content-Length"])
        self.start_response(
            f"{start_line.code} {start_line.reason}",
            [(name, value) for name, value in headers.get_all()],
        )
        if chunk:
            self.write(chunk)

    def write(self, chunk: bytes) -> None:
        if self._expected_content_remaining is not None:
            self._expected_content_remaining -= len(chunk)
            if self._expected_content_remaining < 0:
                self._error = httputil.HTTPOutputError(
                    "Tried to write more data than Content-Length"
                )
                raise self._error
        self._write_buffer.append(chunk)

    def finish(self) -> None:
        if self._expected_content_remaining:
            self._error = httputil.HTTPOutputError(
                f"Tried to write {self._expected_content_remaining} bytes "
                "less than Content-Length"
            )
            raise self._error
        self._finished = True


class WSGIAdapter:
    """Classic: makes a `web.Application` callable as a WSGI application.

    Handlers run synchronously inside the WSGI call; one that has not
    finished when its method returns is an error here.
    """

    def __init__(self, application: web.Application) -> None:
        self.application = application

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> list[bytes]:
        method = environ["REQUEST_METHOD"]
        uri = urllib.parse.quote(from_wsgi_str(environ.get("SCRIPT_NAME", "")))
        uri += urllib.parse.quote(from_wsgi_str(environ.get("PATH_INFO", "")))
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
        length = headers.get("Content-Length")
        body = environ["wsgi.input"].read(int(length)) if length else b""
        host = environ.get("HTTP_HOST") or environ["SERVER_NAME"]
        headers["Host"] = host
        connection = _WSGIConnection(
            method,
            start_response,
            _WSGIRequestContext(
                environ.get("REMOTE_ADDR", ""), environ["wsgi.url_scheme"]
            ),
        )
        request = httputil.HTTPServerRequest(
            method,
            uri,
            "HTTP/1.1",
            headers=headers,
            body=body,
            connection=connection,  # type: ignore[arg-type]
        )
        # web.Application.__call__ (not WSGIApplication's WSGI entry point).
        web.Application.__call__(self.application, request)
        if connection._error is not None:
            raise connection._error
        if not connection._finished:
            raise Exception("request did not finish synchronously")
        return connection._write_buffer


class WSGIApplication(web.Application):
    """Classic: a `web.Application` that is itself a WSGI application::

    application = WSGIApplication([(r"/", MainHandler)], cookie_secret="...")
    wsgiref.simple_server.make_server("", 8888, application).serve_forever()
    """

    def __call__(self, *args: Any) -> Any:
        if len(args) == 2:
            environ, start_response = args
            return WSGIAdapter(self)(environ, start_response)
        # Called by the framework itself with an HTTPServerRequest.
        return super().__call__(*args)
