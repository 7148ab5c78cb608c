"""Support for testing asynchronous code with `unittest` (or pytest).

Contents:

* `AsyncTestCase`: a `unittest.TestCase` with a fresh `.IOLoop` per test
  (``self.io_loop``), plus the classic `AsyncTestCase.stop` / `AsyncTestCase.wait`.
* `gen_test`: run a generator or ``async def`` test method on that loop, with
  a timeout (``ASYNC_TEST_TIMEOUT`` in the environment sets the default, 5 s).
* `AsyncHTTPTestCase`, `AsyncHTTPSTestCase`: a test case with an HTTP server
  and client (the HTTP modules are imported only when such a test runs).
* `ExpectLog`: assert that a log message is emitted, and swallow it.
* `bind_unused_port`, `get_async_test_timeout`, `setup_with_context_manager`,
  `main`.

Importing this module imports no server or client module.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import os
import re
import signal
import socket
import sys
import unittest
import warnings
from collections.abc import Callable, Coroutine, Generator
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from whirlwind import gen
from whirlwind.ioloop import AsyncIOMainLoop, IOLoop
from whirlwind.log import app_log
from whirlwind.util import TimeoutError, raise_exc_info

if TYPE_CHECKING:
    from whirlwind.httpclient import AsyncHTTPClient, HTTPResponse
    from whirlwind.httpserver import HTTPServer
    from whirlwind.web import Application

_ExcInfo = tuple[type[BaseException] | None, BaseException | None, TracebackType | None]


def bind_unused_port(
    reuse_port: bool = False, address: str = "127.0.0.1"
) -> tuple[socket.socket, int]:
    """Bind a listening, non-blocking IPv4 socket to a free port of ``address``.

    Returns ``(socket, port)``. Keep the socket and hand it to the server
    (``add_sockets([sock])``): probing for a free port and binding it later
    races with other processes.
    """
    info = socket.getaddrinfo(
        address, 0, socket.AF_INET, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
    )[0]
    sock = socket.socket(info[0], info[1], info[2])
    try:
        if os.name != "nt":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setblocking(False)
        sock.bind(info[4])
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock, sock.getsockname()[1]


def get_async_test_timeout() -> float:
    """The default async test timeout: ``$ASYNC_TEST_TIMEOUT`` or 5 seconds."""
    env = os.environ.get("ASYNC_TEST_TIMEOUT")
    if env is not None:
        try:
            return float(env)
        except ValueError:
            pass
    return 5


class AsyncTestCase(unittest.TestCase):
    """A `~unittest.TestCase` that runs each test with its own `.IOLoop`.

    ``self.io_loop`` is created in `setUp` (by `get_new_ioloop`), made the
    thread's current asyncio loop, and closed in `tearDown` (with the fds
    still registered on it) after cancelling the tasks left behind. Write
    tests as ``async def`` or generator methods decorated with `gen_test`,
    or use the classic style: start something with ``callback=self.stop`` and
    call ``self.wait()``, which runs the loop until `stop` is called and
    returns what was passed to it.
    """

    def __init__(self, methodName: str = "runTest") -> None:
        super().__init__(methodName)
        self.__stopped = False
        self.__running = False
        self.__failure: _ExcInfo | None = None
        self.__stop_args: Any = None
        self.__timeout: object | None = None
        # The generator/coroutine of the running gen_test, so a timeout can
        # be thrown into it and show where it was stuck.
        self._test_generator: (
            Generator[Any, Any, Any] | Coroutine[Any, Any, Any] | None
        ) = None

    def setUp(self) -> None:
        super().setUp()
        if type(self).get_new_ioloop is not AsyncTestCase.get_new_ioloop:
            warnings.warn(
                "get_new_ioloop is deprecated", DeprecationWarning, stacklevel=2
            )
        self.io_loop = self.get_new_ioloop()
        asyncio.set_event_loop(self.io_loop.asyncio_loop)

    def tearDown(self) -> None:
        loop = self.io_loop.asyncio_loop
        leftover = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in leftover:
            task.cancel()
        if leftover:
            done, pending = self.io_loop.run_sync(lambda: asyncio.wait(leftover))
            assert not pending
            for task in done:
                try:
                    task.result()
                except asyncio.CancelledError:
                    pass
        # The process module (if used) holds a SIGCHLD handler on this loop.
        process = sys.modules.get("whirlwind.process")
        if process is not None and hasattr(process, "Subprocess"):
            process.Subprocess.uninitialize()
        asyncio.set_event_loop(None)
        if not isinstance(self.io_loop, AsyncIOMainLoop):
            self.io_loop.close(all_fds=True)
        super().tearDown()
        # A failure recorded in a callback fails the test even if the test
        # never called wait().
        self.__rethrow()

    def get_new_ioloop(self) -> IOLoop:
        """Build the loop for one test (a new whirlwind loop by default)."""
        return cast(IOLoop, IOLoop(make_current=False))

    def _handle_exception(
        self, typ: type[Exception], value: Exception, tb: TracebackType
    ) -> bool:
        if self.__failure is None:
            self.__failure = (typ, value, tb)
        else:
            app_log.error(
                "multiple unhandled exceptions in test", exc_info=(typ, value, tb)
            )
        self.stop()
        return True

    def __rethrow(self) -> None:
        if self.__failure is not None:
            failure, self.__failure = self.__failure, None
            raise_exc_info(failure)

    def run(
        self, result: unittest.TestResult | None = None
    ) -> unittest.TestResult | None:
        ret = super().run(result)
        # An exception may have been recorded after tearDown (e.g. by a
        # callback run while closing); surface it rather than lose it.
        self.__rethrow()
        return ret

    def _callTestMethod(self, method: Callable[[], Any]) -> None:
        result = method()
        if isinstance(result, Generator) or inspect.iscoroutine(result):
            if inspect.iscoroutine(result):
                result.close()  # avoid "never awaited" noise
            raise TypeError(
                "Generator and coroutine test methods should be"
                " decorated with whirlwind.testing.gen_test"
            )
        if result is not None:
            raise ValueError(f"Return value from test method ignored: {result!r}")

    def stop(self, _arg: Any = None, **kwargs: Any) -> None:
        """Make a pending (or the next) `wait` return.

        Its argument (or keyword arguments, as a dict) becomes `wait`'s
        result. Deprecated style, kept for classic tests.
        """
        assert _arg is None or not kwargs
        self.__stop_args = kwargs or _arg
        if self.__running:
            self.io_loop.stop()
            self.__running = False
        self.__stopped = True

    def wait(
        self,
        condition: Callable[..., bool] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Run the loop until `stop` is called (and ``condition()`` holds).

        Fails the test after ``timeout`` seconds (default
        `get_async_test_timeout`; 0 or a negative value means no limit).
        """
        if timeout is None:
            timeout = get_async_test_timeout()
        if not self.__stopped:
            if timeout:

                def on_timeout() -> None:
                    try:
                        raise self.failureException(
                            f"Async operation timed out after {timeout} seconds"
                        )
                    except Exception:
                        self.__failure = sys.exc_info()
                    self.stop()

                self.__timeout = self.io_loop.add_timeout(
                    self.io_loop.time() + timeout, on_timeout
                )
            while True:
                self.__running = True
                self.io_loop.start()
                if self.__failure is not None or condition is None or condition():
                    break
            if self.__timeout is not None:
                self.io_loop.remove_timeout(self.__timeout)
                self.__timeout = None
        assert self.__stopped
        self.__stopped = False
        self.__rethrow()
        result, self.__stop_args = self.__stop_args, None
        return result


# The HTTP test cases below import the HTTP layer only inside their methods,
# so this module stays importable (and cheap) without it.
# TODO(http): the HTTP helper owns these two classes' behaviour; check them
# against whirlwind.httpserver / httpclient once those land.


class AsyncHTTPTestCase(AsyncTestCase):
    """A test case that starts an HTTP server for `get_app` on a free port.

    ``self.http_client`` is an `.AsyncHTTPClient`; `fetch` runs a request
    synchronously and returns the response. Override `get_app`.
    """

    def setUp(self) -> None:
        super().setUp()
        sock, port = bind_unused_port()
        self.__port = port
        self.http_client = self.get_http_client()
        self._app = self.get_app()
        self.http_server = self.get_http_server()
        self.http_server.add_sockets([sock])

    def get_http_client(self) -> AsyncHTTPClient:
        from whirlwind.httpclient import AsyncHTTPClient

        return AsyncHTTPClient()

    def get_http_server(self) -> HTTPServer:
        from whirlwind.httpserver import HTTPServer

        return HTTPServer(self._app, **self.get_httpserver_options())

    def get_app(self) -> Application:
        """The application to serve; override this."""
        raise NotImplementedError()

    def fetch(
        self, path: str, raise_error: bool = False, **kwargs: Any
    ) -> HTTPResponse:
        """Fetch ``path`` (or a full URL) from the test server, synchronously.

        Unlike the client's own ``fetch``, ``raise_error`` defaults to False:
        error responses are returned, not raised.
        """
        if path.lower().startswith(("http://", "https://")):
            url = path
        else:
            url = self.get_url(path)
        response = self.io_loop.run_sync(
            lambda: self.http_client.fetch(url, raise_error=raise_error, **kwargs),
            timeout=get_async_test_timeout(),
        )
        return cast("HTTPResponse", response)

    def get_httpserver_options(self) -> dict[str, Any]:
        """Keyword arguments for the `.HTTPServer`."""
        return {}

    def get_http_port(self) -> int:
        """The port the test server listens on."""
        return self.__port

    def get_protocol(self) -> str:
        return "http"

    def get_url(self, path: str) -> str:
        """An absolute URL on the test server for ``path``."""
        return f"{self.get_protocol()}://127.0.0.1:{self.get_http_port()}{path}"

    def tearDown(self) -> None:
        self.http_server.stop()
        self.io_loop.run_sync(
            self.http_server.close_all_connections, timeout=get_async_test_timeout()
        )
        self.http_client.close()
        del self.http_server
        del self._app
        super().tearDown()


class AsyncHTTPSTestCase(AsyncHTTPTestCase):
    """`AsyncHTTPTestCase` over TLS with a self-signed test certificate."""

    def get_http_client(self) -> AsyncHTTPClient:
        from whirlwind.httpclient import AsyncHTTPClient

        return AsyncHTTPClient(force_instance=True, defaults=dict(validate_cert=False))

    def get_httpserver_options(self) -> dict[str, Any]:
        return dict(ssl_options=self.get_ssl_options())

    def get_ssl_options(self) -> dict[str, Any]:
        """The server's ``ssl_options``; override to use your own certificate."""
        return AsyncHTTPSTestCase.default_ssl_options()

    @staticmethod
    def default_ssl_options() -> dict[str, Any]:
        """A self-signed certificate for ``localhost``/127.0.0.1 shipped with
        whirlwind (``whirlwind/test/test.crt``, as Tornado ships its own). Its
        private key is public: use it for tests only."""
        here = os.path.dirname(__file__)
        return dict(
            certfile=os.path.join(here, "test", "test.crt"),
            keyfile=os.path.join(here, "test", "test.key"),
        )

    def get_protocol(self) -> str:
        return "https"


def gen_test(
    func: Callable[..., Any] | None = None, timeout: float | None = None
) -> Any:
    """Run a generator or ``async def`` test method on ``self.io_loop``.

    Use bare (``@gen_test``) or with a timeout in seconds
    (``@gen_test(timeout=10)``); the default is `get_async_test_timeout`.
    On timeout the test fails with `TimeoutError`, thrown into the test so the
    traceback shows where it was waiting.
    """
    if timeout is None:
        timeout = get_async_test_timeout()

    def wrap(f: Callable[..., Any]) -> Callable[..., None]:
        @functools.wraps(f)
        def remember(self: AsyncTestCase, *args: Any, **kwargs: Any) -> Any:
            result = f(self, *args, **kwargs)
            if isinstance(result, Generator) or inspect.iscoroutine(result):
                self._test_generator = result
            else:
                self._test_generator = None
            return result

        coro: Callable[..., Any] = (
            remember if inspect.iscoroutinefunction(f) else gen.coroutine(remember)
        )

        @functools.wraps(coro)
        def run_test(self: AsyncTestCase, *args: Any, **kwargs: Any) -> None:
            try:
                self.io_loop.run_sync(
                    functools.partial(coro, self, *args, **kwargs), timeout=timeout
                )
            except TimeoutError as e:
                # Throw the timeout into the test body so its traceback points
                # at the line that was waiting (unless it already finished).
                stuck = self._test_generator
                if stuck is not None and getattr(stuck, "cr_running", True):
                    stuck.throw(e)
                raise

        return run_test

    if func is not None:
        return wrap(func)
    return wrap


# Keep test collectors from treating gen_test itself as a test.
gen_test.__test__ = False  # type: ignore[attr-defined]


class ExpectLog(logging.Filter):
    """Context manager that swallows expected log records (and requires them).

    ``ExpectLog(logger_or_name, regex, required=True, level=None)``: records
    whose message matches ``regex`` (``re.match``) are dropped; with
    ``required`` the block fails if none arrived. With ``level`` only records
    of that level match, and the logger's level is lowered for the block if
    needed. ``logged_stack`` tells whether a traceback was logged.
    """

    def __init__(
        self,
        logger: logging.Logger | str,
        regex: str,
        required: bool = True,
        level: int | None = None,
    ) -> None:
        if isinstance(logger, str):
            logger = logging.getLogger(logger)
        self.logger = logger
        self.regex = re.compile(regex)
        self.required = required
        self.matched = 0
        # Matches at INFO or below without an explicit level (deprecated use).
        self.deprecated_level_matched = 0
        self.logged_stack = False
        self.level = level
        self.orig_level: int | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            self.logged_stack = True
        message = record.getMessage()
        if not self.regex.match(message):
            return True
        if self.level is None and record.levelno < logging.WARNING:
            self.deprecated_level_matched += 1
        if self.level is not None and record.levelno != self.level:
            app_log.warning(
                "Got expected log message %r at unexpected level (%s vs %s)",
                message,
                logging.getLevelName(self.level),
                record.levelname,
            )
            return True
        self.matched += 1
        return False

    def __enter__(self) -> ExpectLog:
        if self.level is not None and self.level < self.logger.getEffectiveLevel():
            self.orig_level = self.logger.level
            self.logger.setLevel(self.level)
        self.logger.addFilter(self)
        return self

    def __exit__(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.orig_level is not None:
            self.logger.setLevel(self.orig_level)
        self.logger.removeFilter(self)
        if typ is None and self.required:
            if not self.matched:
                raise Exception("did not get expected log message")
            if self.deprecated_level_matched >= self.matched:
                warnings.warn(
                    "ExpectLog matched at INFO or below without level argument",
                    DeprecationWarning,
                    stacklevel=2,
                )


def setup_with_context_manager(testcase: unittest.TestCase, cm: Any) -> Any:
    """Enter ``cm`` now and exit it in ``testcase``'s cleanup; returns its value."""
    value = cm.__enter__()
    testcase.addCleanup(cm.__exit__, None, None, None)
    return value


def main(**kwargs: Any) -> None:
    """Run tests like `unittest.main`, with whirlwind options and logging.

    ``python -m whirlwind.testing my.test_module`` runs the named modules;
    ``--verbose``, ``--quiet``, ``--failfast``, ``--catch``, ``--buffer`` and
    ``--exception_on_interrupt=false`` are accepted.
    """
    from whirlwind.options import define, options, parse_command_line

    define(
        "exception_on_interrupt",
        type=bool,
        default=True,
        help="If true (default), ctrl-c raises KeyboardInterrupt (with a stack "
        "trace); if false, the process is killed more reliably.",
    )
    define("verbose", type=bool)
    define("quiet", type=bool)
    define("failfast", type=bool)
    define("catch", type=bool)
    define("buffer", type=bool)
    argv = [sys.argv[0]] + parse_command_line(sys.argv)
    if not options.exception_on_interrupt:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    for flag, key, value in (
        ("verbose", "verbosity", 2),
        ("quiet", "verbosity", 0),
        ("failfast", "failfast", True),
        ("catch", "catchbreak", True),
        ("buffer", "buffer", True),
    ):
        if options[flag] is not None:
            kwargs[key] = value
    if __name__ == "__main__" and len(argv) == 1:
        print("No tests specified", file=sys.stderr)
        sys.exit(1)
    if len(argv) > 1:
        unittest.main(module=None, argv=argv, **kwargs)
    else:
        unittest.main(defaultTest="all", argv=argv, **kwargs)


if __name__ == "__main__":
    main()
