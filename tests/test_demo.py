"""The demo application (``demo/``), driven over real HTTP.

Most tests serve `demo.app.make_app()` from whirlwind's `HTTPServer` on a
loop in a background thread (port 0) and talk to it with `http.client`,
keeping cookies by hand; one runs ``python -m demo`` as a subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import email.utils
import hashlib
import http.client
import http.cookies
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from demo.app import make_app
from whirlwind.httpserver import HTTPServer
from whirlwind.loop import new_event_loop
from whirlwind.testing import bind_unused_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATIC = os.path.join(ROOT, "demo", "static")
PASSWORD = "open sesame"


class Response:
    def __init__(self, r: http.client.HTTPResponse, body: bytes) -> None:
        self.status = r.status
        self.reason = r.reason
        self.headers = r.msg
        self.body = body
        self.text = body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


def _expired(morsel: http.cookies.Morsel[str]) -> bool:
    if morsel["max-age"] and int(morsel["max-age"]) <= 0:
        return True
    if morsel["expires"]:
        return email.utils.parsedate_to_datetime(morsel["expires"]) <= (
            datetime.datetime.now(datetime.timezone.utc)
        )
    return False


class Browser:
    """An HTTP client that keeps the cookies the server sets, like a browser."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def fetch(
        self,
        path: str,
        method: str = "GET",
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
        finally:
            conn.close()
        for value in r.msg.get_all("Set-Cookie") or []:
            jar = http.cookies.SimpleCookie()
            jar.load(value)
            for name, morsel in jar.items():
                if _expired(morsel):
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return Response(r, data)

    def post_form(self, path: str, fields: dict[str, str]) -> Response:
        return self.fetch(
            path,
            "POST",
            urllib.parse.urlencode(fields),
            {"Content-Type": "application/x-www-form-urlencoded"},
        )

    def xsrf_from(self, page: Response) -> str:
        m = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
        assert m, page.text
        return m.group(1)


@contextlib.contextmanager
def serve_demo(**settings: Any) -> Iterator[int]:
    """Serves the demo on a whirlwind loop in a thread; yields the port."""
    sock, port = bind_unused_port()
    loop = new_event_loop()
    ready = threading.Event()
    servers: list[HTTPServer] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        server = HTTPServer(make_app(demo_password=PASSWORD, **settings))
        server.add_sockets([sock])
        servers.append(server)
        loop.call_soon(ready.set)
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield port
    finally:

        async def stop() -> None:
            servers[0].stop()
            await servers[0].close_all_connections()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture
def browser() -> Iterator[Browser]:
    with serve_demo() as port:
        yield Browser(port)


def sign_in(b: Browser, name: str = "ada") -> Response:
    token = b.xsrf_from(b.fetch("/login"))
    return b.post_form(
        "/login?next=/notes", {"_xsrf": token, "name": name, "password": PASSWORD}
    )


def test_home_page_extends_the_base_template(browser: Browser) -> None:
    r = browser.fetch("/")
    assert r.status == 200
    assert r.headers["Content-Type"] == "text/html; charset=UTF-8"
    # title block from index.html inside base.html, the footer from base.html,
    # the note list from an {% include %}
    assert "<title>Notes · whirlwind demo</title>" in r.text
    assert "Served by whirlwind" in r.text
    assert '<p class="empty">No notes yet.</p>' in r.text
    assert '<a href="/login">sign in</a>' in r.text


def test_static_file_is_served_with_a_version_hash(browser: Browser) -> None:
    page = browser.fetch("/")
    m = re.search(r'href="(/static/style\.css\?v=([0-9a-f]+))"', page.text)
    assert m, page.text
    url, version = m.groups()
    with open(os.path.join(STATIC, "style.css"), "rb") as f:
        content = f.read()
    assert version in (
        hashlib.sha512(content).hexdigest(),
        hashlib.md5(content).hexdigest(),
    )
    r = browser.fetch(url)
    assert r.status == 200
    assert r.body == content
    assert r.headers["Content-Type"].startswith("text/css")
    # a versioned URL may be cached for long
    assert "max-age=" in r.headers["Cache-Control"]
    again = browser.fetch(url, headers={"If-None-Match": r.headers["Etag"]})
    assert again.status == 304
    assert again.body == b""
    robots = browser.fetch("/robots.txt")
    assert robots.status == 200
    assert b"Disallow: /api/" in robots.body


def test_login_needs_the_xsrf_token_then_signs_the_user_in(browser: Browser) -> None:
    form = browser.fetch("/login")
    assert form.status == 200
    assert "_xsrf" in browser.cookies
    token = browser.xsrf_from(form)

    fields = {"name": "ada", "password": PASSWORD}
    no_token = browser.post_form("/login", fields)
    assert no_token.status == 403
    assert "user" not in browser.cookies

    wrong = browser.post_form("/login", {**fields, "_xsrf": token, "password": "x"})
    assert wrong.status == 403
    assert "Wrong name or password." in wrong.text
    assert "user" not in browser.cookies

    ok = browser.post_form("/login?next=/notes", {**fields, "_xsrf": token})
    assert ok.status == 302
    assert ok.headers["Location"] == "/notes"
    assert "user" in browser.cookies
    # a signed value (format 2), the name base64-encoded inside, not plain
    assert browser.cookies["user"].startswith("2|")
    assert "|4:YWRh|" in browser.cookies["user"]

    notes = browser.fetch("/notes")
    assert notes.status == 200
    assert '<b class="user">ada</b>' in notes.text
    assert "<title>Write a note · whirlwind demo</title>" in notes.text


def test_protected_page_redirects_to_login(browser: Browser) -> None:
    r = browser.fetch("/notes")
    assert r.status == 302
    assert r.headers["Location"] == "/login?next=%2Fnotes"
    # a cookie the server did not sign is ignored
    browser.cookies["user"] = "admin"
    assert browser.fetch("/notes").status == 302


def test_login_refuses_open_redirects(browser: Browser) -> None:
    token = browser.xsrf_from(browser.fetch("/login"))
    for target in ("//evil.example/", "http://evil.example/", "/\\evil.example"):
        query = urllib.parse.urlencode({"next": target})
        r = browser.post_form(
            "/login?" + query, {"_xsrf": token, "name": "ada", "password": PASSWORD}
        )
        assert r.status == 302
        assert r.headers["Location"] == "/"


def test_form_post_adds_an_escaped_note_and_logout_clears_the_cookie(
    browser: Browser,
) -> None:
    sign_in(browser)
    page = browser.fetch("/notes")
    token = browser.xsrf_from(page)
    r = browser.post_form("/notes", {"_xsrf": token, "text": "<b>bold</b> & co"})
    assert r.status == 302
    home = browser.fetch("/")
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in home.text
    assert "<b>bold</b>" not in home.text
    assert "by ada" in home.text

    out = browser.post_form("/logout", {"_xsrf": token})
    assert out.status == 302
    assert "user" not in browser.cookies
    assert browser.fetch("/notes").status == 302


def test_json_api(browser: Browser) -> None:
    empty = browser.fetch("/api/notes")
    assert empty.status == 200
    assert empty.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert empty.json() == {"notes": []}

    body = json.dumps({"text": "from the API"})
    json_type = {"Content-Type": "application/json"}
    # anonymous and without a token: the XSRF check comes first
    r = browser.fetch("/api/notes", "POST", body, json_type)
    assert r.status == 403
    assert r.json()["status"] == 403

    browser.fetch("/login")  # sets the _xsrf cookie
    xsrf = {**json_type, "X-XSRFToken": browser.cookies["_xsrf"]}
    r = browser.fetch("/api/notes", "POST", body, xsrf)
    assert r.status == 401
    assert r.json() == {"error": "sign in first", "status": 401}

    sign_in(browser, "grace")
    xsrf["X-XSRFToken"] = browser.cookies["_xsrf"]
    r = browser.fetch("/api/notes", "POST", body, xsrf)
    assert r.status == 201
    note = r.json()
    assert note["text"] == "from the API"
    assert note["author"] == "grace"
    assert r.headers["Location"] == f"/api/notes/{note['id']}"

    assert browser.fetch(r.headers["Location"]).json() == note
    assert browser.fetch("/api/notes").json() == {"notes": [note]}

    missing = browser.fetch("/api/notes/999")
    assert missing.status == 404
    assert missing.json() == {"error": "no such note", "status": 404}
    bad = browser.fetch("/api/notes", "POST", b"{not json", xsrf)
    assert bad.status == 400
    assert bad.json()["error"] == "the body is not JSON"
    empty_text = browser.fetch("/api/notes", "POST", json.dumps({"text": " "}), xsrf)
    assert empty_text.status == 400


def test_asynchronous_handler_finishes_from_a_timer(browser: Browser) -> None:
    r = browser.fetch("/slow?delay=0.05")
    assert r.status == 200
    assert '<span id="delay">0.05</span>' in r.text
    m = re.search(r"waited ([0-9.]+) s", r.text)
    assert m and float(m.group(1)) >= 0.05


def test_asynchronous_handler_does_not_block_other_requests(browser: Browser) -> None:
    # While a /slow request is held open, the server keeps answering others.
    slow = http.client.HTTPConnection("127.0.0.1", browser.port, timeout=10)
    try:
        slow.request("GET", "/slow?delay=1")
        for _ in range(200):
            status = browser.fetch("/api/status").json()
            if status["waiting"] == 1:
                break
        assert status == {"notes": 0, "waiting": 1}
        r = slow.getresponse()
        assert r.status == 200
        assert b'<span id="delay">1.0</span>' in r.read()
    finally:
        slow.close()
    assert browser.fetch("/api/status").json() == {"notes": 0, "waiting": 0}


def test_asynchronous_handler_error_in_callback(browser: Browser) -> None:
    r = browser.fetch("/slow?delay=0.01&fail=1")
    assert r.status == 503
    assert r.reason == "the timer was told to fail"
    assert browser.fetch("/slow?delay=99").status == 400
    assert browser.fetch("/slow?delay=abc").status == 400


def test_python_m_demo_serves_on_the_port_it_prints() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "demo", "--port", "0", "--password", PASSWORD],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        m = re.fullmatch(r"demo: serving on http://127\.0\.0\.1:(\d+)/\n", first)
        assert m, first
        b = Browser(int(m.group(1)))
        assert "whirlwind demo" in b.fetch("/").text
        assert sign_in(b).status == 302
        assert b.fetch("/api/notes").json() == {"notes": []}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            assert proc.stdout is not None and proc.stderr is not None
            proc.stdout.close()
            proc.stderr.close()
    assert code == 0


def test_debug_mode_shows_tracebacks_and_restarts_after_an_edit(
    tmp_path: Path,
) -> None:
    # A copy of the demo package, so the test can edit its source.
    shutil.copytree(
        os.path.join(ROOT, "demo"),
        tmp_path / "demo",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "demo", "--port=0", "--debug"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = re.fullmatch(
            r"demo: serving on http://[^:]+:(\d+)/\n", proc.stdout.readline()
        )
        assert first
        b = Browser(int(first.group(1)))
        r = b.fetch("/slow?delay=0&fail=1")
        assert r.status == 503
        assert "Traceback (most recent call last)" in r.text
        assert "on_timer" in r.text

        app_py = tmp_path / "demo" / "app.py"
        later = app_py.stat().st_mtime_ns + 2_000_000_000
        app_py.write_text(app_py.read_text() + "\n# edited\n")
        os.utime(app_py, ns=(later, later))
        again = re.fullmatch(
            r"demo: serving on http://[^:]+:(\d+)/\n", proc.stdout.readline()
        )
        assert again  # the same process, re-executed
        assert proc.poll() is None
        assert "whirlwind demo" in Browser(int(again.group(1))).fetch("/").text
    finally:
        proc.kill()
        proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()
