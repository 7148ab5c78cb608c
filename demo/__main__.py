"""Serves the demo on 127.0.0.1:8888 (``python -m demo [--port N] [--debug]``)."""

from __future__ import annotations

import argparse
import asyncio
import logging

from demo.app import make_app


async def serve(port: int, debug: bool) -> None:
    app = make_app(debug=debug)
    server = app.listen(port, "127.0.0.1")
    bound = next(iter(server._sockets.values())).getsockname()[1]  # port 0 picks one
    print(f"whirlwind demo on http://127.0.0.1:{bound}/", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m demo")
    parser.add_argument("--port", type=int, default=8888)
    parser.add_argument("--debug", action="store_true", help="reload on changes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    try:
        from whirlwind.loop import run
    except ImportError:  # pragma: no cover - the loop is part of whirlwind
        run = asyncio.run
    run(serve(args.port, args.debug))


if __name__ == "__main__":
    main()
