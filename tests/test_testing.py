"""whirlwind.testing: AsyncTestCase, gen_test, ExpectLog, bind_unused_port.

The test cases under test are unittest classes run through a unittest runner
from plain pytest functions (``__test__ = False`` keeps pytest from
collecting them itself).
"""

from __future__ import annotations

import asyncio
import io
import logging
import socket
import ssl
import subprocess
import sys
import unittest
from typing import Any

import pytest

from whirlwind import gen, testing
from whirlwind.ioloop import IOLoop
from whirlwind.testing import (
    AsyncTestCase,
    ExpectLog,
    bind_unused_port,
    gen_test,
    get_async_test_timeout,
    setup_with_context_manager,
)


def _run(case: type[unittest.TestCase]) -> unittest.TestResult:
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(case)
    result = unittest.TextTestRunner(stream=io.StringIO(), verbosity=0).run(suite)
    return result


def _outcomes(result: unittest.TestResult) -> dict[str, str]:
    out: dict[str, str] = {}
    for test, _ in result.failures:
        out[test.id().rsplit(".", 1)[-1]] = "failure"
    for test, _ in result.errors:
        out[test.id().rsplit(".", 1)[-1]] = "error"
    return out


def test_gen_test_runs_native_and_generator_tests() -> None:
    seen: dict[str, Any] = {}

    class Case(AsyncTestCase):
        __test__ = False

        @gen_test
        async def test_native(self) -> None:
            await asyncio.sleep(0)
            seen["native_loop"] = IOLoop.current()
            seen["io_loop"] = self.io_loop

        @gen_test(timeout=2)
        def test_generator(self) -> Any:
            value = yield gen.maybe_future(3)
            seen["generator"] = value

    result = _run(Case)
    assert result.wasSuccessful(), result.failures + result.errors
    assert seen["native_loop"] is seen["io_loop"]
    assert seen["generator"] == 3
    # The loop was closed in tearDown.
    assert seen["io_loop"].asyncio_loop.is_closed()


def test_gen_test_timeout_fails_the_test() -> None:
    class Case(AsyncTestCase):
        __test__ = False

        @gen_test(timeout=0.05)
        async def test_stuck_native(self) -> None:
            await asyncio.Event().wait()

        @gen_test(timeout=0.05)
        def test_stuck_generator(self) -> Any:
            yield gen.sleep(10)  # the line the traceback must point at

    result = _run(Case)
    assert _outcomes(result) == {
        "test_stuck_native": "error",
        "test_stuck_generator": "error",
    }
    for _, tb in result.errors:
        assert "TimeoutError" in tb
    generator_tb = [tb for t, tb in result.errors if "generator" in t.id()][0]
    assert "the line the traceback must point at" in generator_tb


def test_undecorated_coroutine_and_return_values_are_errors() -> None:
    class Case(AsyncTestCase):
        __test__ = False

        async def test_forgot_decorator(self) -> None:
            pass

        def test_returns_value(self) -> int:
            return 1

    result = _run(Case)
    assert _outcomes(result) == {
        "test_forgot_decorator": "error",
        "test_returns_value": "error",
    }
    messages = " ".join(tb for _, tb in result.errors)
    assert "should be decorated" in messages and "Return value" in messages


def test_stop_and_wait_with_a_real_socket() -> None:
    class Case(AsyncTestCase):
        __test__ = False

        def test_wait(self) -> None:
            a, b = socket.socketpair()
            self.io_loop.add_handler(
                a.fileno(), lambda fd, ev: self.stop(a.recv(10)), IOLoop.READ
            )
            self.io_loop.call_later(0.01, b.send, b"data")
            self.assertEqual(self.wait(), b"data")
            self.io_loop.remove_handler(a.fileno())
            self.io_loop.add_callback(self.stop, key="value")
            self.assertEqual(self.wait(), {"key": "value"})
            a.close()
            b.close()

        def test_wait_times_out(self) -> None:
            self.wait(timeout=0.05)

    result = _run(Case)
    assert _outcomes(result) == {"test_wait_times_out": "failure"}
    assert "timed out after 0.05 seconds" in result.failures[0][1]


def test_teardown_cancels_leftover_tasks_and_closes_fds() -> None:
    state: dict[str, Any] = {}

    class Case(AsyncTestCase):
        __test__ = False

        @gen_test
        async def test_leave_things_behind(self) -> None:
            async def forever() -> None:
                try:
                    await asyncio.Event().wait()
                finally:
                    state["cleaned"] = True

            state["task"] = asyncio.ensure_future(forever())
            a, b = socket.socketpair()
            state["sockets"] = (a, b)
            self.io_loop.add_handler(a, lambda *_: None, IOLoop.READ)
            await asyncio.sleep(0)

    result = _run(Case)
    assert result.wasSuccessful(), result.errors
    assert state["task"].cancelled() and state["cleaned"]
    a, b = state["sockets"]
    assert a.fileno() == -1  # closed with all_fds=True
    b.close()


def test_get_async_test_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASYNC_TEST_TIMEOUT", raising=False)
    assert get_async_test_timeout() == 5
    monkeypatch.setenv("ASYNC_TEST_TIMEOUT", "0.5")
    assert get_async_test_timeout() == 0.5
    monkeypatch.setenv("ASYNC_TEST_TIMEOUT", "junk")
    assert get_async_test_timeout() == 5


def test_async_test_timeout_env_applies_to_gen_test(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ASYNC_TEST_TIMEOUT", "0.05")

    class Case(AsyncTestCase):
        __test__ = False

        @gen_test
        async def test_stuck(self) -> None:
            await asyncio.sleep(10)

    result = _run(Case)
    assert "0.05 seconds" in result.errors[0][1]


def test_expect_log() -> None:
    logger = logging.getLogger("whirlwind.test.expectlog")
    with ExpectLog(logger, "expected .*") as expect:
        logger.warning("expected message")
        try:
            raise ValueError
        except ValueError:
            logger.error("expected with stack", exc_info=True)
    assert expect.matched == 2 and expect.logged_stack
    with pytest.raises(Exception, match="did not get expected log message"):
        with ExpectLog("whirlwind.test.expectlog", "never"):
            pass
    with ExpectLog(logger, "optional", required=False):
        pass
    # With a level, the logger is opened up for the block if needed.
    logger.setLevel(logging.WARNING)
    with ExpectLog(logger, "debug detail", level=logging.DEBUG) as expect:
        logger.debug("debug detail")
    assert expect.matched == 1 and logger.level == logging.WARNING
    with pytest.warns(DeprecationWarning):
        logger.setLevel(logging.INFO)
        with ExpectLog(logger, "info"):
            logger.info("info without level")
    logger.setLevel(logging.NOTSET)


def test_bind_unused_port_listens() -> None:
    sock, port = bind_unused_port()
    try:
        assert sock.getsockname() == ("127.0.0.1", port)
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.setblocking(True)
        conn, _ = sock.accept()
        client.sendall(b"x")
        assert conn.recv(1) == b"x"
        conn.close()
        client.close()
    finally:
        sock.close()


def test_setup_with_context_manager() -> None:
    events: list[str] = []

    class Manager:
        def __enter__(self) -> str:
            events.append("enter")
            return "value"

        def __exit__(self, *args: Any) -> None:
            events.append("exit")

    class Case(unittest.TestCase):
        __test__ = False

        def setUp(self) -> None:
            events.append(setup_with_context_manager(self, Manager()))

        def test_it(self) -> None:
            events.append("test")

    assert _run(Case).wasSuccessful()
    assert events == ["enter", "value", "test", "exit"]


def test_importing_testing_imports_no_http_layer() -> None:
    program = (
        "import sys, whirlwind.testing\n"
        "heavy = [m for m in ('whirlwind.httpserver', 'whirlwind.httpclient',"
        " 'whirlwind.web', 'whirlwind.netutil', 'whirlwind.iostream') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    assert hasattr(testing, "AsyncHTTPTestCase") and hasattr(
        testing, "AsyncHTTPSTestCase"
    )


def test_https_test_case_serves_tls_with_the_shipped_certificate() -> None:
    # AsyncHTTPSTestCase works out of the box: the default certificate and key
    # ship with the package, and the server really speaks TLS.
    from whirlwind import web

    opts = testing.AsyncHTTPSTestCase.default_ssl_options()
    seen: dict[str, Any] = {}

    class Hello(web.RequestHandler):
        def get(self) -> None:
            self.write(self.request.protocol)

    class Case(testing.AsyncHTTPSTestCase):
        __test__ = False

        def get_app(self) -> web.Application:
            return web.Application([("/", Hello)])

        def test_fetch(self) -> None:
            seen["url"] = self.get_url("/")
            response = self.fetch("/")
            seen["body"] = response.body

    result = _run(Case)
    assert result.wasSuccessful(), result.failures + result.errors
    assert seen["url"].startswith("https://127.0.0.1:")
    assert seen["body"] == b"https"
    ctx = ssl.create_default_context(cafile=opts["certfile"])
    ctx.load_cert_chain(opts["certfile"], opts["keyfile"])  # the pair matches
