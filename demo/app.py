"""The demo's handlers and `make_app`.

Pages render templates that extend ``base.html``; signing in sets a signed
cookie; every form carries the XSRF token; ``/api/notes`` speaks JSON;
``/slow`` is written in the classic callback style with ``@asynchronous``.
Notes live in memory (a real application would use a database, reachable
from handlers as ``self.settings["store"]``).
"""

from __future__ import annotations

import os
import time
from typing import Any

from whirlwind import web
from whirlwind.ioloop import IOLoop

HERE = os.path.dirname(os.path.abspath(__file__))


class NoteStore:
    """A tiny in-memory list of notes."""

    def __init__(self) -> None:
        self.notes: list[dict[str, Any]] = []

    def add(self, author: str, text: str) -> dict[str, Any]:
        note = {"id": len(self.notes) + 1, "author": author, "text": text}
        self.notes.append(note)
        return note

    def get(self, note_id: int) -> dict[str, Any] | None:
        if 1 <= note_id <= len(self.notes):
            return self.notes[note_id - 1]
        return None


class BaseHandler(web.RequestHandler):
    @property
    def store(self) -> NoteStore:
        return self.settings["store"]  # type: ignore[no-any-return]

    def get_current_user(self) -> str | None:
        name = self.get_secure_cookie("user")
        return name.decode() if name else None


class HomeHandler(BaseHandler):
    def get(self) -> None:
        self.render("index.html", notes=self.store.notes)


class LoginHandler(BaseHandler):
    def get(self) -> None:
        self.render("login.html", next=self.get_argument("next", "/"), error=None)

    def post(self) -> None:
        name = self.get_argument("name", "")
        target = self.get_argument("next", "/")
        if not name.isalnum() or len(name) > 32:
            self.set_status(400)
            self.render("login.html", next=target, error="Letters and digits only.")
            return
        self.set_secure_cookie("user", name, httponly=True, samesite="Lax")
        # Only local paths: never an open redirect.
        self.redirect(
            target if target.startswith("/") and not target.startswith("//") else "/"
        )


class LogoutHandler(BaseHandler):
    def post(self) -> None:
        self.clear_cookie("user")
        self.redirect("/")


class NewNoteHandler(BaseHandler):
    @web.authenticated
    def post(self) -> None:
        text = self.get_argument("text").strip()
        if not text:
            raise web.HTTPError(400, "empty note")
        self.store.add(self.current_user, text[:500])
        self.redirect("/")


class NotesApiHandler(BaseHandler):
    def get(self, note_id: str | None = None) -> None:
        if note_id is None:
            self.write({"notes": self.store.notes})
            return
        note = self.store.get(int(note_id))
        if note is None:
            self.set_status(404)
            self.write({"error": "no such note"})
            return
        self.write(note)


class SlowHandler(BaseHandler):
    """Classic style: the request stays open until the timer's callback
    calls finish()."""

    @web.asynchronous
    def get(self) -> None:
        self.started = time.monotonic()
        delay = min(float(self.get_argument("delay", "0.05")), 2.0)
        IOLoop.current().call_later(delay, self.on_timer)

    def on_timer(self) -> None:
        waited = time.monotonic() - self.started
        self.finish({"waited": round(waited, 3)})


def make_app(**settings: Any) -> web.Application:
    """Builds the application; ``settings`` override the defaults."""
    defaults: dict[str, Any] = {
        "template_path": os.path.join(HERE, "templates"),
        "static_path": os.path.join(HERE, "static"),
        "cookie_secret": os.environ.get("DEMO_COOKIE_SECRET") or os.urandom(32).hex(),
        "login_url": "/login",
        "xsrf_cookies": True,
        "store": NoteStore(),
    }
    defaults.update(settings)
    return web.Application(
        [
            web.url(r"/", HomeHandler, name="home"),
            web.url(r"/login", LoginHandler, name="login"),
            web.url(r"/logout", LogoutHandler, name="logout"),
            web.url(r"/notes", NewNoteHandler, name="new_note"),
            web.url(r"/api/notes", NotesApiHandler, name="notes_api"),
            web.url(r"/api/notes/(\d+)", NotesApiHandler, name="note_api"),
            web.url(r"/slow", SlowHandler, name="slow"),
        ],
        **defaults,
    )
