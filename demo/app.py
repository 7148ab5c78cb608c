"""The demo's handlers and `make_app`.

Pages (HTML, rendered from ``templates/`` which extend ``base.html``):

* ``/``: the notes, newest first, visible to everyone.
* ``/login``: a form; the password is the ``demo_password`` setting. Success
  stores the user name in a signed cookie (``set_secure_cookie``).
* ``/logout`` (POST): clears that cookie.
* ``/notes`` (login required, ``@web.authenticated``): add a note with a form.
* ``/slow?delay=0.2``: a classic ``@web.asynchronous`` handler; the request
  stays open after ``get()`` returns and a timer callback finishes it
  (``&fail=1`` makes the callback raise ``HTTPError(503)``).

JSON API (errors are JSON too):

* ``GET /api/notes``: ``{"notes": [...]}``.
* ``POST /api/notes`` with ``{"text": "..."}`` (login and the XSRF token in
  the ``X-XSRFToken`` header required): 201 and the new note.
* ``GET /api/notes/<id>``: one note, or 404.
* ``GET /api/status``: ``{"notes": <count>, "waiting": <open /slow requests>}``.

Every POST needs the XSRF token (``xsrf_cookies=True``): forms carry it as a
hidden ``_xsrf`` field (``xsrf_form_html``), scripts send the ``_xsrf``
cookie's value in ``X-XSRFToken`` (see ``static/app.js``).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from typing import Any

from whirlwind import web
from whirlwind.ioloop import IOLoop

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_NOTE_LENGTH = 500
MAX_DELAY = 5.0


class NoteStore:
    """The notes, kept in memory: the demo needs no database."""

    def __init__(self) -> None:
        self._notes: list[dict[str, Any]] = []
        self.waiting = 0  # /slow requests held open right now

    def add(self, text: str, author: str) -> dict[str, Any]:
        note = {
            "id": len(self._notes) + 1,
            "text": text,
            "author": author,
            "created": time.time(),
        }
        self._notes.append(note)
        return note

    def get(self, note_id: int) -> dict[str, Any] | None:
        if 1 <= note_id <= len(self._notes):
            return self._notes[note_id - 1]
        return None

    def count(self) -> int:
        return len(self._notes)

    def newest_first(self) -> list[dict[str, Any]]:
        return self._notes[::-1]


class BaseHandler(web.RequestHandler):
    @property
    def store(self) -> NoteStore:
        # User settings are reachable from every handler.
        return self.application.settings["store"]  # type: ignore[no-any-return]

    def get_current_user(self) -> str | None:
        # Signed cookies expire after a day here (the default is 31 days).
        name = self.get_secure_cookie("user", max_age_days=1)
        return name.decode("utf-8") if name else None

    def clean_text(self, text: str) -> str:
        text = text.strip()
        if not text or len(text) > MAX_NOTE_LENGTH:
            raise web.HTTPError(
                400, reason=f"a note has 1 to {MAX_NOTE_LENGTH} characters"
            )
        return text


class HomeHandler(BaseHandler):
    def get(self) -> None:
        self.render("index.html", notes=self.store.newest_first())


class LoginHandler(BaseHandler):
    def get(self) -> None:
        self.render("login.html", error=None, next=self._next())

    def post(self) -> None:
        name = self.get_body_argument("name", "").strip()
        password = self.get_body_argument("password", "")
        expected = self.settings["demo_password"]
        if not name or not secrets.compare_digest(
            password.encode("utf-8"), expected.encode("utf-8")
        ):
            self.set_status(403)
            self.render(
                "login.html", error="Wrong name or password.", next=self._next()
            )
            return
        self.set_secure_cookie("user", name, expires_days=1, httponly=True)
        self.redirect(self._next())

    def _next(self) -> str:
        # Only local paths: "//evil.example" or "http://..." would make the
        # login page an open redirect.
        target = self.get_argument("next", "/")
        if not target.startswith("/") or target.startswith(("//", "/\\")):
            return "/"
        return target


class LogoutHandler(BaseHandler):
    def post(self) -> None:
        self.clear_cookie("user")
        self.redirect("/")


class NotesHandler(BaseHandler):
    @web.authenticated
    def get(self) -> None:
        self.render("notes.html", notes=self.store.newest_first())

    @web.authenticated
    def post(self) -> None:
        assert self.current_user is not None
        self.store.add(
            self.clean_text(self.get_body_argument("text")), self.current_user
        )
        self.redirect(self.reverse_url("notes"))


class SlowHandler(BaseHandler):
    """The classic callback style: the request stays open after ``get``
    returns, until the timer callback calls ``finish`` (here via ``render``)."""

    @web.asynchronous
    def get(self) -> None:
        try:
            delay = float(self.get_argument("delay", "0.1"))
        except ValueError:
            raise web.HTTPError(400, reason="delay must be a number") from None
        if not 0 <= delay <= MAX_DELAY:
            raise web.HTTPError(400, reason=f"delay must be within 0..{MAX_DELAY}")
        self.delay = delay
        self.started = time.time()
        self.store.waiting += 1
        io_loop = IOLoop.current()
        assert io_loop is not None
        io_loop.add_timeout(self.started + delay, self.on_timer)

    def on_finish(self) -> None:
        if hasattr(self, "started"):
            self.store.waiting -= 1

    def on_timer(self) -> None:
        if self.get_argument("fail", ""):
            # Raised inside a callback, far from get(): the request still
            # ends with this status.
            raise web.HTTPError(503, reason="the timer was told to fail")
        self.render("slow.html", delay=self.delay, waited=time.time() - self.started)


class ApiHandler(BaseHandler):
    """JSON in, JSON out, errors included."""

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.finish({"error": self._reason, "status": status_code})

    def json_body(self) -> dict[str, Any]:
        try:
            body = json.loads(self.request.body)
        except ValueError:
            raise web.HTTPError(400, reason="the body is not JSON") from None
        if not isinstance(body, dict):
            raise web.HTTPError(400, reason="the body must be a JSON object")
        return body


class ApiNotesHandler(ApiHandler):
    def get(self) -> None:
        self.write({"notes": self.store.newest_first()})

    def post(self) -> None:
        if self.current_user is None:
            raise web.HTTPError(401, reason="sign in first")
        text = self.json_body().get("text")
        if not isinstance(text, str):
            raise web.HTTPError(400, reason='"text" must be a string')
        note = self.store.add(self.clean_text(text), self.current_user)
        self.set_status(201)
        self.set_header("Location", self.reverse_url("api_note", note["id"]))
        self.write(note)


class ApiStatusHandler(ApiHandler):
    def get(self) -> None:
        self.write({"notes": self.store.count(), "waiting": self.store.waiting})


class ApiNoteHandler(ApiHandler):
    def get(self, note_id: str) -> None:
        note = self.store.get(int(note_id))
        if note is None:
            raise web.HTTPError(404, reason="no such note")
        self.write(note)


def make_app(
    *,
    debug: bool = False,
    cookie_secret: str | None = None,
    demo_password: str = "whirlwind",
    **settings: Any,
) -> web.Application:
    """The demo `Application`. Extra keyword arguments become settings."""
    return web.Application(
        [
            web.url(r"/", HomeHandler, name="home"),
            web.url(r"/login", LoginHandler, name="login"),
            web.url(r"/logout", LogoutHandler, name="logout"),
            web.url(r"/notes", NotesHandler, name="notes"),
            web.url(r"/slow", SlowHandler, name="slow"),
            web.url(r"/api/notes", ApiNotesHandler, name="api_notes"),
            web.url(r"/api/notes/([0-9]{1,9})", ApiNoteHandler, name="api_note"),
            web.url(r"/api/status", ApiStatusHandler, name="api_status"),
        ],
        template_path=os.path.join(HERE, "templates"),
        static_path=os.path.join(HERE, "static"),
        # A fresh secret per process unless one is given: restarting the
        # demo signs everybody out, which is fine for a demo.
        cookie_secret=cookie_secret or secrets.token_hex(32),
        login_url="/login",
        xsrf_cookies=True,
        debug=debug,
        store=NoteStore(),
        demo_password=demo_password,
        **settings,
    )
