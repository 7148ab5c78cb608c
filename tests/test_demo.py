"""Drives the demo application (demo/) over HTTP."""

from __future__ import annotations

import http.client
import http.cookies
import json
import os
import re
import subprocess
import sys
import urllib.parse

from demo.app import make_app
from tests._web_support import Client, LogCapture, Response, no_unexpected_logs, serve  # noqa: F401
from whirlwind.log import gen_log


class Browser:
    """Keeps cookies between requests like a browser would."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.jar: dict[str, str] = {}

    def request(
        self, path: str, method: str = "GET", form: dict[str, str] | None = None
    ) -> Response:
        headers = {}
        if self.jar:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.jar.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        r = self.client.fetch(path, method, body=body, headers=headers)
        for line in r.header_list("Set-Cookie"):
            c = http.cookies.SimpleCookie()
            c.load(line)
            for name, morsel in c.items():
                if morsel.value:
                    self.jar[name] = morsel.value
                else:
                    self.jar.pop(name, None)
        return r

    def xsrf(self, path: str) -> str:
        html = self.request(path).text
        m = re.search(r'name="_xsrf" value="([^"]+)"', html)
        assert m is not None
        return m.group(1).replace("&#124;", "|")


def test_demo_login_notes_api_static_and_classic_async() -> None:
    with serve(make_app(cookie_secret="test-secret")) as c:
        b = Browser(c)
        home = b.request("/")
        assert home.status == 200 and "No notes yet." in home.text
        css = re.search(r'href="(/static/style\.css\?v=[0-9a-f]+)"', home.text)
        assert css is not None
        r = b.request(css.group(1))
        assert r.status == 200 and r.headers["Cache-Control"] == "max-age=315360000"

        token = b.xsrf("/login")
        with LogCapture(gen_log.name):
            assert b.request("/login", "POST", {"name": "ann"}).status == 403
            assert (
                b.request("/notes", "POST", {"text": "x", "_xsrf": token}).status == 403
            )
        r = b.request(
            "/login", "POST", {"name": "ann", "next": "//evil.example/", "_xsrf": token}
        )
        assert r.status == 302 and r.headers["Location"] == "/"
        assert "user" in b.jar

        r = b.request("/notes", "POST", {"text": "<b>hi</b> & bye", "_xsrf": token})
        assert r.status == 302
        home = b.request("/").text
        assert "signed in as <b>ann</b>" in home
        assert "&lt;b&gt;hi&lt;/b&gt; &amp; bye" in home

        data = json.loads(b.request("/api/notes").body)
        assert data == {
            "notes": [{"id": 1, "author": "ann", "text": "<b>hi</b> & bye"}]
        }
        r = b.request("/api/notes/1")
        assert r.headers["Content-Type"] == "application/json; charset=UTF-8"
        assert json.loads(r.body)["author"] == "ann"
        r = b.request("/api/notes/9")
        assert r.status == 404 and json.loads(r.body) == {"error": "no such note"}

        slow = b.request("/slow?delay=0.05")
        assert slow.status == 200 and json.loads(slow.body)["waited"] >= 0.04

        r = b.request("/logout", "POST", {"_xsrf": token})
        assert r.status == 302 and "user" not in b.jar
        assert "Sign in" in b.request("/").text


def test_demo_rejects_bad_login_name() -> None:
    with serve(make_app(cookie_secret="test-secret")) as c:
        b = Browser(c)
        token = b.xsrf("/login")
        r = b.request("/login", "POST", {"name": "a b<", "_xsrf": token})
        assert r.status == 400 and "Letters and digits only." in r.text
        assert "user" not in b.jar


def test_demo_runs_as_a_module() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "demo", "--port", "0"],
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert m is not None, line
        conn = http.client.HTTPConnection("127.0.0.1", int(m.group(1)), timeout=5)
        conn.request("GET", "/")
        r = conn.getresponse()
        assert r.status == 200 and b"whirlwind demo" in r.read()
        conn.close()
    finally:
        proc.kill()
        proc.communicate()  # reaps it and closes the pipe
