"""Tests for whirlwind._web_render: how `RequestHandler.render_string` finds
the loader and builds the template namespace, through real HTTP requests."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests._web_support import no_unexpected_logs, serve  # noqa: F401
from whirlwind import locale, template, web

# Which handler hooks ran during the request, by handler.
CALLS: list[str] = []


@pytest.fixture(autouse=True)
def _reset() -> Any:
    CALLS.clear()
    web.RequestHandler._template_loaders.clear()
    yield
    web.RequestHandler._template_loaders.clear()


class Recording(web.RequestHandler):
    """Renders ?t=<template> and reports which namespace hooks ran."""

    def prepare(self) -> None:
        CALLS.clear()

    def get_current_user(self) -> Any:
        CALLS.append("current_user")
        return "ann"

    def get_user_locale(self) -> Any:
        CALLS.append("locale")
        return None

    def get(self) -> None:
        body = self.render_string(self.get_argument("t"), title="<T>")
        self.set_header("X-Calls", ",".join(CALLS) or "-")
        self.write(body)


def shout(handler: web.RequestHandler, text: str) -> str:
    CALLS.append("shout")
    return text.upper()


class Tag(web.UIModule):
    def render(self, text: str) -> str:
        return f"<b>{text}</b>"


class Code(web.UIModule):
    def render(self) -> str:
        return self.locale.code


TEMPLATES = {
    "plain.html": "<h1>{{ title }}</h1>",
    "user.html": "{{ current_user }}",
    "translated.html": "{{ _('Hello') }} {{ locale.code }}",
    "method.html": "{{ shout('hi') }}",
    "module.html": "{% module Tag(title) %}",
    "module_locale.html": "{% module Code() %}",
    "handler.html": "{{ handler.request.path }} {{ request.method }}",
    "dynamic.html": "{{ eval('current_user') }}",
    "kwarg.html": "{{ locale }}",
    "include.html": '{% include "user.html" %}',
}


def _app(**settings: Any) -> web.Application:
    return web.Application(
        [("/", Recording)],
        template_loader=template.DictLoader(TEMPLATES),
        ui_methods={"shout": shout},
        ui_modules={"Tag": Tag, "Code": Code},
        **settings,
    )


def _fetch(c: Any, name: str, **headers: str) -> tuple[str, str]:
    r = c.fetch(f"/?t={name}", headers=headers)
    assert r.status == 200, r.text
    return r.text, r.headers["X-Calls"]


def test_namespace_entries_are_computed_only_when_the_template_names_them() -> None:
    with serve(_app()) as c:
        assert _fetch(c, "plain.html") == ("<h1>&lt;T&gt;</h1>", "-")
        assert _fetch(c, "user.html") == ("ann", "current_user")
        # Included templates are compiled into the includer's code.
        assert _fetch(c, "include.html") == ("ann", "current_user")
        text, calls = _fetch(c, "translated.html", **{"Accept-Language": "fr"})
        assert (text, calls) == ("Hello en_US", "locale")
        assert _fetch(c, "method.html") == ("HI", "shout")
        assert _fetch(c, "module.html") == ("<b><T></b>", "-")
        assert _fetch(c, "module_locale.html") == ("en_US", "locale")
        assert _fetch(c, "handler.html") == ("/ GET", "-")


def test_dynamic_lookups_see_the_whole_namespace() -> None:
    with serve(_app()) as c:
        # eval() could read any name: everything is computed, as in Tornado.
        assert _fetch(c, "dynamic.html") == ("ann", "locale,current_user")


class KwargLocale(Recording):
    def get(self) -> None:
        self.write(self.render_string("kwarg.html", locale="mine"))
        self.set_header("X-Calls", ",".join(CALLS) or "-")


def test_render_keyword_wins_and_skips_the_entry() -> None:
    app = web.Application(
        [("/", KwargLocale)], template_loader=template.DictLoader(TEMPLATES)
    )
    with serve(app) as c:
        r = c.fetch("/")
        assert (r.text, r.headers["X-Calls"]) == ("mine", "-")


class ExtraNamespace(Recording):
    def get_template_namespace(self) -> dict[str, Any]:
        namespace = super().get_template_namespace()
        namespace["title"] = "from override"
        namespace["extra"] = namespace["locale"].code
        return namespace

    def get(self) -> None:
        self.write(self.render_string("over.html"))
        self.set_header("X-Calls", ",".join(CALLS))


def test_overridden_get_template_namespace_is_called_in_full() -> None:
    loader = template.DictLoader({"over.html": "{{ title }} {{ extra }}"})
    app = web.Application([("/", ExtraNamespace)], template_loader=loader)
    with serve(app) as c:
        r = c.fetch("/")
        assert r.text == "from override en_US"
        assert r.headers["X-Calls"] == "locale,current_user"


def test_each_application_uses_its_own_template_loader() -> None:
    first = web.Application(
        [("/", Recording)], template_loader=template.DictLoader({"p.html": "one"})
    )
    second = web.Application(
        [("/", Recording)], template_loader=template.DictLoader({"p.html": "two"})
    )
    with serve(first) as c1, serve(second) as c2:
        assert c1.fetch("/?t=p.html").text == "one"
        assert c2.fetch("/?t=p.html").text == "two"
        assert c1.fetch("/?t=p.html").text == "one"


class OwnLoader(Recording):
    def create_template_loader(self, template_path: str) -> template.BaseLoader:
        CALLS.append("loader:" + os.path.basename(template_path))
        return template.DictLoader({"p.html": "{{ title }} own"})


def test_overridden_create_template_loader_gets_the_caller_directory() -> None:
    app = web.Application(
        [("/", OwnLoader)], template_loader=template.DictLoader({"p.html": "app"})
    )
    with serve(app) as c:
        r = c.fetch("/?t=p.html")
        assert r.text == "&lt;T&gt; own"
        # Called once for this file's directory, then cached.
        assert r.headers["X-Calls"] == "loader:tests"
        assert c.fetch("/?t=p.html").headers["X-Calls"] == "-"


def test_template_loader_is_reset_per_request_without_compiled_cache() -> None:
    source = {"p.html": "v1"}
    app = web.Application(
        [("/", Recording)],
        template_loader=template.DictLoader(source),
        compiled_template_cache=False,
    )
    with serve(app) as c:
        assert c.fetch("/?t=p.html").text == "v1"
        source["p.html"] = "v2"
        assert c.fetch("/?t=p.html").text == "v2"


class CountingLoader(template.DictLoader):
    """Overrides `load`: render_string must keep calling it."""

    def load(self, name: str, parent_path: str | None = None) -> template.Template:
        CALLS.append("load:" + name)
        return super().load(name, parent_path)


class AliasLoader(template.DictLoader):
    """Overrides `resolve_path`: top-level names are aliases."""

    def resolve_path(self, name: str, parent_path: str | None = None) -> str:
        return {"alias.html": "p.html"}.get(name, name)


def test_overridden_loader_lookups_are_honoured() -> None:
    counting = CountingLoader({"p.html": "{{ title }}"})
    with serve(web.Application([("/", Recording)], template_loader=counting)) as c:
        assert _fetch(c, "p.html") == ("&lt;T&gt;", "load:p.html")
        assert _fetch(c, "p.html") == ("&lt;T&gt;", "load:p.html")
    alias = AliasLoader({"p.html": "real"})
    with serve(web.Application([("/", Recording)], template_loader=alias)) as c:
        assert c.fetch("/?t=p.html").text == "real"  # now cached as p.html
        assert c.fetch("/?t=alias.html").text == "real"


def test_loader_reset_and_namespace_changes_are_seen() -> None:
    source = {"p.html": "{{ title }} {{ extra }}"}
    loader = template.DictLoader(source, namespace={"extra": "e1"})
    with serve(web.Application([("/", Recording)], template_loader=loader)) as c:
        assert c.fetch("/?t=p.html").text == "&lt;T&gt; e1"
        source["p.html"] = "v2 {{ extra }}"
        loader.namespace["extra"] = "e2"
        assert c.fetch("/?t=p.html").text == "&lt;T&gt; e2"  # still compiled v1
        loader.reset()
        assert c.fetch("/?t=p.html").text == "v2 e2"


class Shouting(template.Template):
    def generate(self, **kwargs: Any) -> bytes:
        CALLS.append("generate:" + ",".join(sorted(kwargs)))
        return super().generate(**kwargs).upper()


class ShoutingLoader(template.DictLoader):
    def _create_template(self, name: str) -> template.Template:
        return Shouting(self.dict[name], name=name, loader=self)


class Framed(web.RequestHandler):
    def render_string(self, template_name: str, **kwargs: Any) -> bytes:
        return b"[" + super().render_string(template_name, **kwargs) + b"]"

    def get(self) -> None:
        self.render("p.html", title="<t>")


def test_overridden_render_string_and_generate_are_called() -> None:
    app = web.Application(
        [("/", Framed)], template_loader=ShoutingLoader({"p.html": "{{ title }}"})
    )
    with serve(app) as c:
        assert c.fetch("/").text == "[&LT;T&GT;]"
        assert CALLS == ["generate:title"]


class CountedWrites(web.RequestHandler):
    def write(self, chunk: Any) -> None:
        CALLS.append(f"write:{len(chunk)}")
        super().write(chunk)

    def get(self) -> None:
        if self.get_argument("finish", ""):
            self.finish(b"raw bytes")
        else:
            self.render("p.html", title="<t>")


def test_overridden_write_sees_rendered_and_finished_chunks() -> None:
    app = web.Application(
        [("/", CountedWrites)],
        template_loader=template.DictLoader({"p.html": "{{ title }}!"}),
    )
    with serve(app) as c:
        assert c.fetch("/").text == "&lt;t&gt;!"
        assert CALLS == ["write:10"]
        CALLS.clear()
        assert c.fetch("/?finish=1").text == "raw bytes"
        assert CALLS == ["write:9"]


class Nobody(web.RequestHandler):
    def get_current_user(self) -> Any:
        CALLS.append("current_user")
        return None

    def get(self) -> None:
        first = self.render_string("who.html")
        assert self.current_user is None
        self.current_user = "late"
        second = self.render_string("who.html")
        self.write(first + b"|" + second)


def test_current_user_none_is_cached_and_assignable() -> None:
    loader = template.DictLoader({"who.html": "{{ current_user }} {{ locale.code }}"})
    with serve(web.Application([("/", Nobody)], template_loader=loader)) as c:
        assert c.fetch("/").text == "None en_US|late en_US"
        assert CALLS == ["current_user"]


def test_browser_locale_follows_accept_language_q_values(tmp_path: Any) -> None:
    (tmp_path / "es_ES.csv").write_text('"Hello","Hola"\n')
    (tmp_path / "fr_FR.csv").write_text('"Hello","Bonjour"\n')
    saved = (locale._translations, locale._supported_locales, locale._use_gettext)
    locale.Locale._cache = {}
    locale.load_translations(str(tmp_path))
    try:
        with serve(_app()) as c:
            header = "es;q=0.5, fr-FR;q=0.9, de"
            for _ in range(2):  # the second time from the parse cache
                text, _calls = _fetch(
                    c, "translated.html", **{"Accept-Language": header}
                )
                assert text == "Bonjour fr_FR"
            text, _calls = _fetch(c, "translated.html", **{"Accept-Language": "es-es"})
            assert text == "Hola es_ES"
            text, _calls = _fetch(c, "translated.html", **{"Accept-Language": "x;q=a"})
            assert text == "Hello en_US"
    finally:
        locale._translations, locale._supported_locales, locale._use_gettext = saved
        locale.Locale._cache = {}


def test_get_closest_answers_follow_the_loaded_locales(tmp_path: Any) -> None:
    saved = (locale._translations, locale._supported_locales, locale._use_gettext)
    try:
        assert locale.get("de-DE", "en").code == "en_US"
        (tmp_path / "de.csv").write_text('"Hello","Hallo"\n')
        locale.load_translations(str(tmp_path))
        assert locale.get("de-DE", "en").code == "de"
        assert locale.get("de-DE", "en").translate("Hello") == "Hallo"
        old = locale.get("de-DE", "en")
        locale.Locale._cache = {}  # a fresh cache means fresh Locale objects
        assert locale.get("de-DE", "en") is not old
        locale.set_default_locale("en_GB")
        assert locale.get("xx").code == "en_GB"
    finally:
        locale._translations, locale._supported_locales, locale._use_gettext = saved
        locale.set_default_locale("en_US")
        locale.Locale._cache = {}
