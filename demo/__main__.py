"""``python -m demo``: serve the demo application.

Options (``--help`` lists them all): ``--port`` (8888; 0 picks a free port),
``--address`` (127.0.0.1), ``--debug`` (autoreload, templates re-read,
tracebacks in error pages), ``--cookie_secret``, ``--password``.

The first line on stdout names the URL served, port included, so a script
that passes ``--port 0`` can read where to connect.
"""

from __future__ import annotations

import os
import sys


def _prefer_built_whirlwind() -> None:
    # `python -m demo` from a source checkout puts the checkout first on
    # sys.path, where whirlwind/ has no compiled _core unless it was built in
    # place; `pip install .` built and installed one elsewhere. Import that one.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    source = os.path.join(root, "whirlwind")
    if "whirlwind" in sys.modules or not os.path.isdir(source):
        return
    if any(
        name.startswith("_core.") and name.endswith((".so", ".pyd"))
        for name in os.listdir(source)
    ):
        return
    saved = sys.path[:]
    sys.path[:] = [p for p in saved if os.path.abspath(p or os.curdir) != root]
    try:
        import whirlwind  # noqa: F401  (the installed copy, if any)
    except ImportError:
        pass  # nothing installed: importing the checkout explains what is missing
    finally:
        sys.path[:] = saved


_prefer_built_whirlwind()

import asyncio  # noqa: E402
import signal  # noqa: E402

import whirlwind  # noqa: E402
from demo.app import make_app  # noqa: E402
from whirlwind.httpserver import HTTPServer  # noqa: E402
from whirlwind.netutil import bind_sockets  # noqa: E402
from whirlwind.options import define, options, parse_command_line  # noqa: E402

define("port", default=8888, type=int, help="port to listen on (0: a free one)")
define("address", default="127.0.0.1", help="address to listen on")
define("debug", default=False, type=bool, help="autoreload, tracebacks, no caches")
define("cookie_secret", default="", help="signing secret (default: random)")
define("password", default="whirlwind", help="the password of every demo user")


async def serve() -> None:
    app = make_app(
        debug=options.debug,
        cookie_secret=options.cookie_secret or None,
        demo_password=options.password,
    )
    server = HTTPServer(app)
    sockets = bind_sockets(options.port, options.address)
    server.add_sockets(sockets)
    host, port = sockets[0].getsockname()[:2]
    if ":" in host:
        host = f"[{host}]"
    print(f"demo: serving on http://{host}:{port}/", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows
            pass
    try:
        await stop.wait()
    finally:
        server.stop()
        await server.close_all_connections()


def _join_option_values(argv: list[str]) -> list[str]:
    # whirlwind.options (like Tornado's) wants --port=8000; also accept the
    # common "--port 8000" spelling for options that take a value.
    out = argv[:1]
    i = 1
    while i < len(argv):
        arg = argv[i]
        name = arg[2:].replace("-", "_")
        if (
            arg.startswith("--")
            and "=" not in arg
            and name in ("port", "address", "cookie_secret", "password")
            and i + 1 < len(argv)
        ):
            out.append(f"{arg}={argv[i + 1]}")
            i += 2
        else:
            out.append(arg)
            i += 1
    return out


def main() -> None:
    parse_command_line(_join_option_values(sys.argv))
    try:
        whirlwind.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
