"""Tests for whirlwind.simple_httpclient's connection pool, body reading and
request defaults, against whirlwind's HTTPServer on a background thread."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Iterator

import pytest

from tests._http_support import ServerThread, run_async, serve
from whirlwind.httpclient import AsyncHTTPClient, HTTPRequest, HTTPResponse
from whirlwind.httputil import HTTPHeaders, HTTPServerRequest, ResponseStartLine


def _pattern(n: int) -> bytes:
    # Not one repeated byte: a misplaced or repeated piece changes it.
    return bytes(range(251)) * (n // 251) + bytes(range(n % 251))


def _app(request: HTTPServerRequest) -> None:
    """``/port``: the client's port; ``/bytes/N``: N pattern bytes (gzip with
    ``?gzip``); ``/ua``: the User-Agent header."""
    path = request.path
    headers = HTTPHeaders()
    if path == "/port":
        body = str(request.connection.context.address[1]).encode()  # type: ignore[union-attr]
    elif path.startswith("/bytes/"):
        body = _pattern(int(path[7:]))
        if request.query == "gzip":
            body = gzip.compress(body, 1)
            headers["Content-Encoding"] = "gzip"
    elif path == "/ua":
        body = request.headers.get("User-Agent", "").encode()
    else:
        body = b"?"
    headers["Content-Length"] = str(len(body))
    conn = request.connection
    assert conn is not None
    conn.write_headers(ResponseStartLine("HTTP/1.1", 200, "OK"), headers, body)
    conn.finish()


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with serve(_app) as st:
        yield st


_run = run_async


async def _ports(client: AsyncHTTPClient, url: str, n: int) -> set[int]:
    responses = await asyncio.gather(*[client.fetch(url) for _ in range(n)])
    return {int(r.body) for r in responses}


def test_a_concurrent_batch_finds_its_connections_again(server: ServerThread) -> None:
    url = f"http://127.0.0.1:{server.port}/port"

    async def main() -> None:
        # Idle connections kept per origin default to max_clients, so a
        # second full batch opens no new connection.
        client = AsyncHTTPClient(force_instance=True, max_clients=8)
        first = await _ports(client, url, 8)
        second = await _ports(client, url, 8)
        client.close()
        assert 1 <= len(first) <= 8
        assert second <= first
        # An explicit smaller pool keeps fewer: the next batch reconnects.
        client = AsyncHTTPClient(
            force_instance=True, max_clients=8, max_idle_per_host=2
        )
        first = await _ports(client, url, 8)
        second = await _ports(client, url, 8)
        client.close()
        assert len(first) == 8
        assert len(second - first) >= 6

    _run(main())


@pytest.mark.parametrize("size", [0, 13, 65537, 1 << 20, (1 << 20) + 1, (3 << 20) + 7])
def test_buffered_bodies_arrive_whole(server: ServerThread, size: int) -> None:
    base = f"http://127.0.0.1:{server.port}/bytes/{size}"

    async def main() -> tuple[HTTPResponse, HTTPResponse]:
        client = AsyncHTTPClient(force_instance=True)
        plain = await client.fetch(base)
        zipped = await client.fetch(base + "?gzip")
        client.close()
        return plain, zipped

    plain, zipped = _run(main())
    assert plain.body == _pattern(size)
    assert zipped.body == _pattern(size)
    assert zipped.headers.get("X-Consumed-Content-Encoding") == "gzip"


def test_streaming_callback_gets_64k_pieces(server: ServerThread) -> None:
    size = (2 << 20) + 3
    pieces: list[bytes] = []

    async def main() -> HTTPResponse:
        client = AsyncHTTPClient(force_instance=True)
        try:
            return await client.fetch(
                f"http://127.0.0.1:{server.port}/bytes/{size}",
                streaming_callback=pieces.append,
            )
        finally:
            client.close()

    response = _run(main())
    assert response.body == b""
    assert b"".join(pieces) == _pattern(size)
    assert len(pieces) >= size // 65536 and max(map(len, pieces)) <= 65536


def test_client_defaults_fill_only_unset_fields(server: ServerThread) -> None:
    url = f"http://127.0.0.1:{server.port}/ua"

    async def main() -> list[HTTPResponse]:
        client = AsyncHTTPClient(
            force_instance=True, defaults={"user_agent": "from-defaults"}
        )
        plain = HTTPRequest(url)
        mine = HTTPRequest(url, user_agent="mine")
        responses = [await client.fetch(plain), await client.fetch(mine)]
        client.close()
        # The caller's request objects are left as they were.
        assert plain.user_agent is None and mine.user_agent == "mine"
        assert responses[0].request is plain and responses[1].request is mine
        return responses

    first, second = _run(main())
    assert first.body == b"from-defaults"
    assert second.body == b"mine"


def test_fetch_resolves_before_the_next_fetch_starts(server: ServerThread) -> None:
    # The response reaches the Future at once; a fetch started from the
    # awaiting coroutine reuses the connection the first one gave back.
    url = f"http://127.0.0.1:{server.port}/port"

    async def main() -> list[bytes]:
        client = AsyncHTTPClient(force_instance=True)
        bodies = [(await client.fetch(url)).body for _ in range(20)]
        client.close()
        return bodies

    assert len(set(_run(main()))) == 1
