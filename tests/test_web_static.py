"""Tests for whirlwind._web_static.StaticFileHandler, with real files over HTTP."""

from __future__ import annotations

import email.utils
import hashlib
import os
import pathlib
from collections.abc import Iterator

import pytest

from tests._web_support import Client, LogCapture, no_unexpected_logs, serve  # noqa: F401
from whirlwind import web
from whirlwind.log import gen_log

CONTENT = b"0123456789abcdefghijklmnopqrstuvwxyz"  # 36 bytes


class StaticUrl(web.RequestHandler):
    def get(self) -> None:
        self.write(self.static_url(self.get_argument("p")))


@pytest.fixture
def site(tmp_path: pathlib.Path) -> Iterator[tuple[Client, pathlib.Path]]:
    root = tmp_path / "root"
    root.mkdir()
    (root / "robots.txt").write_bytes(CONTENT)
    (root / "style.css").write_text("body{}")
    (root / "big.bin").write_bytes(os.urandom(200_000))
    (root / "dir").mkdir()
    (root / "dir" / "index.html").write_text("<p>index</p>")
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    os.symlink(outside, root / "escape.txt")
    os.symlink(root / "style.css", root / "inside.css")
    if hasattr(os, "mkfifo"):
        os.mkfifo(root / "fifo")
    web.StaticFileHandler.reset()
    app = web.Application(
        [
            ("/url", StaticUrl),
            (
                r"/files/(.*)",
                web.StaticFileHandler,
                {"path": str(root), "default_filename": "index.html"},
            ),
            (
                r"/+(.*)",
                web.StaticFileHandler,
                {"path": str(root), "default_filename": "index.html"},
            ),
        ],
        static_path=str(root),
    )
    with serve(app) as c:
        yield c, root


def test_serves_file_with_headers(site: tuple[Client, pathlib.Path]) -> None:
    c, root = site
    r = c.fetch("/static/robots.txt")
    assert (r.status, r.body) == (200, CONTENT)
    assert r.headers["Content-Type"] == "text/plain"
    assert r.headers["Accept-Ranges"] == "bytes"
    assert r.headers["Content-Length"] == "36"
    assert r.headers["Etag"] == '"' + hashlib.sha512(CONTENT).hexdigest() + '"'
    mtime = int(os.stat(root / "robots.txt").st_mtime)
    assert (
        email.utils.parsedate_to_datetime(r.headers["Last-Modified"]).timestamp()
        == mtime
    )
    assert "Cache-Control" not in r.headers
    # Installed by static_path as well:
    assert c.fetch("/robots.txt").body == CONTENT
    assert c.fetch("/static/style.css").headers["Content-Type"] == "text/css"


def test_versioned_url_and_cache_headers(site: tuple[Client, pathlib.Path]) -> None:
    c, _ = site
    url = c.fetch("/url?p=robots.txt").text
    assert url == "/static/robots.txt?v=" + hashlib.sha512(CONTENT).hexdigest()
    r = c.fetch(url)
    assert r.headers["Cache-Control"] == "max-age=315360000"
    assert "Expires" in r.headers
    with LogCapture(gen_log.name):
        # A file that does not exist gets an unversioned URL.
        assert c.fetch("/url?p=missing.txt").text == "/static/missing.txt"


def test_conditional_requests(site: tuple[Client, pathlib.Path]) -> None:
    c, _ = site
    r = c.fetch("/static/robots.txt")
    etag, modified = r.headers["Etag"], r.headers["Last-Modified"]
    assert c.fetch("/static/robots.txt", headers={"If-None-Match": etag}).status == 304
    assert (
        c.fetch("/static/robots.txt", headers={"If-Modified-Since": modified}).status
        == 304
    )
    old = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert (
        c.fetch("/static/robots.txt", headers={"If-Modified-Since": old}).status == 200
    )
    # If-None-Match wins over If-Modified-Since.
    r = c.fetch(
        "/static/robots.txt",
        headers={"If-None-Match": '"nope"', "If-Modified-Since": modified},
    )
    assert r.status == 200


@pytest.mark.parametrize(
    ("range_header", "status", "body", "content_range"),
    [
        ("bytes=0-4", 206, CONTENT[:5], "bytes 0-4/36"),
        ("bytes=30-", 206, CONTENT[30:], "bytes 30-35/36"),
        ("bytes=-6", 206, CONTENT[-6:], "bytes 30-35/36"),
        ("bytes=10-1000", 206, CONTENT[10:], "bytes 10-35/36"),
        ("bytes=0-", 200, CONTENT, None),
        ("bytes=-100", 200, CONTENT, None),
        ("bytes=36-", 416, b"", "bytes */36"),
        ("bytes=10-3", 416, b"", "bytes */36"),
        ("bytes=-0", 416, b"", "bytes */36"),
        ("bytes=0-1,5-6", 200, CONTENT, None),
        ("pages=1-2", 200, CONTENT, None),
        ("bytes=x-y", 200, CONTENT, None),
    ],
)
def test_ranges(
    site: tuple[Client, pathlib.Path],
    range_header: str,
    status: int,
    body: bytes,
    content_range: str | None,
) -> None:
    c, _ = site
    r = c.fetch("/static/robots.txt", headers={"Range": range_header})
    assert r.status == status
    assert r.body == body
    assert r.headers.get("Content-Range") == content_range
    if status != 416:
        assert r.headers["Content-Length"] == str(len(body))


def test_head_and_large_file(site: tuple[Client, pathlib.Path]) -> None:
    c, root = site
    r = c.fetch("/static/big.bin", "HEAD")
    assert r.status == 200 and r.body == b""
    assert r.headers["Content-Length"] == "200000"
    r = c.fetch("/static/big.bin")
    assert r.body == (root / "big.bin").read_bytes()
    assert r.headers["Content-Type"] == "application/octet-stream"


def test_refusals(site: tuple[Client, pathlib.Path]) -> None:
    c, _ = site
    with LogCapture(gen_log.name) as logs:
        assert c.fetch("/static/../secret.txt").status == 403
        assert c.fetch("/static/%2e%2e/secret.txt").status == 403
        assert c.fetch("/static/escape.txt").status == 403
        if hasattr(os, "mkfifo"):
            assert c.fetch("/static/fifo").status == 403
        # "//dir" would redirect to "//dir/", which browsers treat as a host.
        assert c.fetch("//dir").status == 403
    assert any("is not in root static directory" in m for m in logs.messages())
    assert c.fetch("/static/nothing-here").status == 404
    assert c.fetch("/static/inside.css").body == b"body{}"


def test_directory_default_filename(site: tuple[Client, pathlib.Path]) -> None:
    c, _ = site
    r = c.fetch("/files/dir")
    assert r.status == 301 and r.headers["Location"] == "/files/dir/"
    assert c.fetch("/files/dir/").text == "<p>index</p>"


def test_allowed_symlink_directory(tmp_path: pathlib.Path) -> None:
    root = tmp_path / "root"
    shared = tmp_path / "shared"
    root.mkdir()
    shared.mkdir()
    (shared / "lib.js").write_text("js")
    os.symlink(shared / "lib.js", root / "lib.js")
    app = web.Application(
        [
            (r"/a/(.*)", web.StaticFileHandler, {"path": str(root)}),
            (
                r"/b/(.*)",
                web.StaticFileHandler,
                {
                    "path": str(root),
                    "allowed_symlink_directory": [str(root), str(shared)],
                },
            ),
        ]
    )
    with serve(app) as c:
        with LogCapture(gen_log.name):
            assert c.fetch("/a/lib.js").status == 403
        assert c.fetch("/b/lib.js").text == "js"


def test_version_cache_and_reset(tmp_path: pathlib.Path) -> None:
    (tmp_path / "f.txt").write_bytes(b"one")
    settings = {"static_path": str(tmp_path)}
    web.StaticFileHandler.reset()
    v1 = web.StaticFileHandler.get_version(settings, "f.txt")
    (tmp_path / "f.txt").write_bytes(b"two")
    assert web.StaticFileHandler.get_version(settings, "f.txt") == v1  # cached
    web.StaticFileHandler.reset()
    assert (
        web.StaticFileHandler.get_version(settings, "f.txt")
        == hashlib.sha512(b"two").hexdigest()
    )
    assert (
        web.StaticFileHandler.make_static_url(settings, "f.txt", include_version=False)
        == "/static/f.txt"
    )
