"""Templates, UI modules, locale and user identity for `whirlwind.web`.

Contents:

* `_RenderMixin`: `RequestHandler`'s ``render``/``render_string`` family, the
  template namespace and loaders, ``locale``, ``current_user``, ``static_url``
  and the ``ui`` namespace (mixed into `RequestHandler`).
* `UIModule`, `TemplateModule` and the built-in ``linkify`` and
  ``xsrf_form_html`` modules.

Template loaders are cached per template directory for the whole process
(``RequestHandler._template_loaders``), so a template is parsed and compiled
once; ``compiled_template_cache=False`` (or ``debug``) resets them per request.

Rendering, fast paths. `render_string` skips work no override can observe:

* With a ``template_loader`` setting, the default `create_template_loader`
  returns it whatever the directory, so that loader is used directly: no
  stack walk to find the caller's directory and no process-wide cache
  (which could hand this application another application's loader).
  Not under ``compiled_template_cache=False``, whose per-request reset
  goes through that cache.
* With the default `get_template_namespace`, only the entries the compiled
  template can read (`Template._global_names`: every name its code spells
  out) are computed, so a page that never says ``locale``/``_`` or
  ``current_user`` doesn't parse ``Accept-Language`` or call
  `get_current_user`, and the ``ui`` namespace is built only for templates
  that call UI methods or modules. Templates that could read names
  dynamically (``eval``, ``globals()``...) get the whole namespace.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, cast

from whirlwind import escape, template
from whirlwind import locale as _locales
from whirlwind.escape import to_unicode as _unicode
from whirlwind.escape import utf8
from whirlwind.util import ObjectDict

if TYPE_CHECKING:
    from whirlwind import httputil
    from whirlwind._web_handler import RequestHandler

__all__ = ["UIModule", "TemplateModule"]


class _NoUserYet:
    """`current_user` before `get_current_user` was called (None is a user
    value: "nobody")."""


_NO_USER_YET: Any = _NoUserYet()


def is_absolute(path: str) -> bool:
    """Whether a static resource path is already a URL (absolute or rooted)."""
    return path.startswith(("/", "http:", "https:"))


class _RenderMixin:
    """The template, UI, locale and identity methods of `RequestHandler`."""

    # Process-wide: one loader per template directory (see module docstring).
    _template_loaders: dict[str, template.BaseLoader] = {}
    _template_loader_lock = threading.Lock()
    # The UI modules a rendering used, by name; set on first use. Read as an
    # attribute (class default None): `self.__dict__` would make CPython
    # build the instance dict of every handler that renders.
    _active_modules: dict[str, UIModule] | None = None
    # Cached `locale` and `current_user`, class defaults until first use.
    _locale: _locales.Locale | None = None
    _current_user: Any = _NO_USER_YET

    if TYPE_CHECKING:
        request: httputil.HTTPServerRequest
        application: Any
        _finished: bool
        _ui: ObjectDict | None

        @property
        def settings(self) -> dict[str, Any]: ...

        def finish(self, chunk: Any = None) -> Any: ...
        def require_setting(self, name: str, feature: str = ...) -> None: ...
        def reverse_url(self, name: str, *args: Any) -> str: ...
        def xsrf_form_html(self) -> str: ...

    # -- ui namespace -----------------------------------------------------------

    @property
    def ui(self) -> ObjectDict:
        """UI methods and modules for templates, built on first use."""
        ui: ObjectDict | None = self._ui
        if ui is None:
            app = self.application
            ui = ObjectDict(
                (name, self._ui_method(fn)) for name, fn in app.ui_methods.items()
            )
            ui["_tt_modules"] = ui["modules"] = _UIModuleNamespace(
                cast("RequestHandler", self), app.ui_modules
            )
            self._ui = ui
        return ui

    @ui.setter
    def ui(self, value: ObjectDict | None) -> None:
        self._ui = value

    def _ui_module(self, name: str, module: type[UIModule]) -> Callable[..., str]:
        def render(*args: Any, **kwargs: Any) -> str:
            active = self._active_modules
            if active is None:
                active = self._active_modules = {}
            if name not in active:
                active[name] = module(self)  # type: ignore[arg-type]
            return _unicode(active[name].render(*args, **kwargs))

        return render

    def _ui_method(self, method: Callable[..., str]) -> Callable[..., str]:
        return lambda *args, **kwargs: method(self, *args, **kwargs)

    # -- rendering --------------------------------------------------------------

    def render(self, template_name: str, **kwargs: Any) -> Any:
        """Renders the template and finishes the response with it.

        JavaScript and CSS that UI modules asked for are inserted before
        ``</body>`` and ``</head>``. Returns the Future of `finish`.
        """
        if self._finished:
            raise RuntimeError("Cannot render() after finish()")
        if type(self).render_string is _DEFAULT_RENDER_STRING:
            html = self._render_string(template_name, kwargs)  # no ** repacking
        else:
            html = self.render_string(template_name, **kwargs)
        modules = self._active_modules
        if not modules:
            return self.finish(html)  # no UI module asked for page resources
        js_embed: list[bytes] = []
        js_files: list[str] = []
        css_embed: list[bytes] = []
        css_files: list[str] = []
        heads: list[bytes] = []
        bodies: list[bytes] = []
        for module in modules.values():
            part = module.embedded_javascript()
            if part:
                js_embed.append(utf8(part))
            files = module.javascript_files()
            if files:
                _extend_files(js_files, files)
            part = module.embedded_css()
            if part:
                css_embed.append(utf8(part))
            files = module.css_files()
            if files:
                _extend_files(css_files, files)
            part = module.html_head()
            if part:
                heads.append(utf8(part))
            part = module.html_body()
            if part:
                bodies.append(utf8(part))
        if js_files:
            html = _insert_before(
                html, b"</body>", utf8(self.render_linked_js(js_files)), last=True
            )
        if js_embed:
            html = _insert_before(
                html, b"</body>", self.render_embed_js(js_embed), last=True
            )
        if css_files:
            html = _insert_before(
                html, b"</head>", utf8(self.render_linked_css(css_files))
            )
        if css_embed:
            html = _insert_before(html, b"</head>", self.render_embed_css(css_embed))
        if heads:
            html = _insert_before(html, b"</head>", b"".join(heads))
        if bodies:
            html = _insert_before(html, b"</body>", b"".join(bodies))
        return self.finish(html)

    def _static_paths(self, files: Iterable[str]) -> list[str]:
        seen: set[str] = set()
        out: list[str] = []
        for path in files:
            if not is_absolute(path):
                path = self.static_url(path)
            if path not in seen:
                seen.add(path)
                out.append(path)
        return out

    def render_linked_js(self, js_files: Iterable[str]) -> str:
        """``<script src=...>`` tags for ``js_files`` (deduplicated, in order)."""
        return "".join(
            '<script src="'
            + escape.xhtml_escape(p)
            + '" type="text/javascript"></script>'
            for p in self._static_paths(js_files)
        )

    def render_embed_js(self, js_embed: Iterable[bytes]) -> bytes:
        """One ``<script>`` block holding the modules' embedded JavaScript."""
        return (
            b'<script type="text/javascript">\n//<![CDATA[\n'
            + b"\n".join(js_embed)
            + b"\n//]]>\n</script>"
        )

    def render_linked_css(self, css_files: Iterable[str]) -> str:
        """``<link rel="stylesheet">`` tags for ``css_files`` (deduplicated)."""
        return "".join(
            '<link href="'
            + escape.xhtml_escape(p)
            + '" type="text/css" rel="stylesheet"/>'
            for p in self._static_paths(css_files)
        )

    def render_embed_css(self, css_embed: Iterable[bytes]) -> bytes:
        """One ``<style>`` block holding the modules' embedded CSS."""
        return b'<style type="text/css">\n' + b"\n".join(css_embed) + b"\n</style>"

    def render_string(self, template_name: str, **kwargs: Any) -> bytes:
        """Renders a template to bytes with `get_template_namespace` plus ``kwargs``.

        Templates are looked up in `get_template_path`, or else next to the
        file of the code that called this method.
        """
        return self._render_string(template_name, kwargs)

    def _render_string(self, template_name: str, kwargs: dict[str, Any]) -> bytes:
        """`render_string` with its keywords as a dict (not modified)."""
        # Fast paths, taken only where no override could tell the difference
        # (see "Rendering" in the module docstring).
        cls = type(self)
        settings = self.application.settings
        if (
            "template_loader" in settings
            and cls.create_template_loader is _DEFAULT_CREATE_LOADER
            and settings.get("compiled_template_cache", True)
        ):
            loader: template.BaseLoader = settings["template_loader"]
        else:
            loader = self._template_loader()
        # A compiled template is read from the loader's cache directly when
        # that is all `load` would do (`BaseLoader._lookup_by_name`).
        tmpl = loader.templates.get(template_name) if loader._lookup_by_name else None
        if tmpl is None:
            tmpl = loader.load(template_name)
        names: frozenset[str] | None = (
            getattr(tmpl, "_global_names", None)
            if cls.get_template_namespace is _DEFAULT_NAMESPACE
            else None
        )
        if names is None:
            namespace = self.get_template_namespace()
            namespace.update(kwargs)
        else:
            app = self.application
            if names.isdisjoint(_NAMESPACE_KEYS) and (
                not app.ui_methods or names.isdisjoint(app.ui_methods)
            ):
                namespace = kwargs  # the common page: no handler names
            else:
                namespace = self._namespace_for(names, kwargs)
                namespace.update(kwargs)
        if tmpl.__class__ is template.Template:
            return tmpl._generate(namespace)  # generate() minus ** repacking
        return tmpl.generate(**namespace)

    def _template_loader(self) -> template.BaseLoader:
        """The loader for `get_template_path` (or the caller's directory),
        made by `create_template_loader` once per directory per process."""
        path = self.get_template_path()
        if not path:
            # The first frame outside this file is the code that rendered.
            frame = sys._getframe(0)
            here = frame.f_code.co_filename
            while frame.f_code.co_filename == here and frame.f_back is not None:
                frame = frame.f_back
            path = os.path.dirname(frame.f_code.co_filename)
        loaders = _RenderMixin._template_loaders
        loader = loaders.get(path)
        if loader is None:
            with _RenderMixin._template_loader_lock:
                loader = loaders.get(path)
                if loader is None:
                    loader = loaders[path] = self.create_template_loader(path)
        return loader

    def _namespace_for(
        self, names: frozenset[str], kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        """The entries of `get_template_namespace` that a template reading
        only ``names`` can see, minus those ``kwargs`` replace anyway."""
        namespace = {
            key: _NAMESPACE_GETTERS[key](self)
            for key in names.intersection(_HANDLER_KEYS)
            if key not in kwargs
        }
        ui_keys = self.application.ui_methods.keys() | _UI_KEYS
        if not names.isdisjoint(ui_keys):
            namespace.update(self.ui)
        return namespace

    def get_template_namespace(self) -> dict[str, Any]:
        """The names every template sees: ``handler``, ``request``,
        ``current_user``, ``locale``, ``_``, ``pgettext``, ``static_url``,
        ``xsrf_form_html``, ``reverse_url`` and the UI methods and modules.

        Unless this method is overridden, `render_string` computes only the
        entries the template can read: a page that never names
        ``current_user`` or ``locale`` doesn't call `get_current_user` or
        parse ``Accept-Language``.
        """
        loc = self.locale
        namespace = {
            "handler": self,
            "request": self.request,
            "current_user": self.current_user,
            "locale": loc,
            "_": loc.translate,
            "pgettext": loc.pgettext,
            "static_url": self.static_url,
            "xsrf_form_html": self.xsrf_form_html,
            "reverse_url": self.reverse_url,
        }
        namespace.update(self.ui)
        return namespace

    def create_template_loader(self, template_path: str) -> template.BaseLoader:
        """Returns the loader for ``template_path``: the ``template_loader``
        setting if given, else a `template.Loader` honouring ``autoescape``
        and ``template_whitespace``."""
        settings = self.application.settings
        if "template_loader" in settings:
            return settings["template_loader"]  # type: ignore[no-any-return]
        kwargs: dict[str, Any] = {}
        if "autoescape" in settings:
            kwargs["autoescape"] = settings["autoescape"]
        if "template_whitespace" in settings:
            kwargs["whitespace"] = settings["template_whitespace"]
        return template.Loader(template_path, **kwargs)

    def get_template_path(self) -> str | None:
        """The template directory (the ``template_path`` setting by default)."""
        return self.application.settings.get("template_path")  # type: ignore[no-any-return]

    # -- locale and identity ----------------------------------------------------

    @property
    def locale(self) -> _locales.Locale:
        """The user's locale: `get_user_locale`, else `get_browser_locale`."""
        loc = self._locale
        if loc is None:
            loc = self.get_user_locale()
            if loc is None:
                loc = self.get_browser_locale()
            self._locale = loc
        return loc

    @locale.setter
    def locale(self, value: _locales.Locale) -> None:
        self._locale = value

    def get_user_locale(self) -> _locales.Locale | None:
        """Override to pick the locale from the user (e.g. a profile setting)."""
        return None

    def get_browser_locale(self, default: str = "en_US") -> _locales.Locale:
        """The best supported locale from ``Accept-Language`` (q-values honoured)."""
        header = self.request.headers.get("Accept-Language")
        if header:
            codes = _ACCEPT_LANGUAGE.get(header)
            if codes is None:
                codes = _parse_accept_language(header)
                if len(_ACCEPT_LANGUAGE) >= _ACCEPT_LANGUAGE_MAX:
                    _ACCEPT_LANGUAGE.clear()  # headers come from clients
                _ACCEPT_LANGUAGE[header] = codes
            if codes:
                return _locales.get(*codes)
        return _locales.get(default)

    @property
    def current_user(self) -> Any:
        """The authenticated user: `get_current_user` called once, then cached.

        May be assigned (e.g. in an async ``prepare``)."""
        user = self._current_user
        if user is _NO_USER_YET:
            user = self._current_user = self.get_current_user()
        return user

    @current_user.setter
    def current_user(self, value: Any) -> None:
        self._current_user = value

    def get_current_user(self) -> Any:
        """Override to find the user (e.g. from a signed cookie)."""
        return None

    def get_login_url(self) -> str:
        """Where `authenticated` sends anonymous users (the ``login_url`` setting)."""
        self.require_setting("login_url", "@whirlwind.web.authenticated")
        return self.application.settings["login_url"]  # type: ignore[no-any-return]

    def static_url(
        self, path: str, include_host: bool | None = None, **kwargs: Any
    ) -> str:
        """The URL of a static file, with a ``?v=`` content version so it can
        be cached forever. Needs the ``static_path`` setting.

        :arg include_host: prefix ``scheme://host`` (default: the handler's
            ``include_host`` attribute, else False).
        """
        self.require_setting("static_path", "static_url")
        from whirlwind._web_static import StaticFileHandler

        make = self.settings.get(
            "static_handler_class", StaticFileHandler
        ).make_static_url
        if include_host is None:
            include_host = getattr(self, "include_host", False)
        base = self.request.protocol + "://" + self.request.host if include_host else ""
        return base + make(self.settings, path, **kwargs)  # type: ignore[no-any-return]


_DEFAULT_CREATE_LOADER = _RenderMixin.create_template_loader
_DEFAULT_NAMESPACE = _RenderMixin.get_template_namespace
_DEFAULT_RENDER_STRING = _RenderMixin.render_string

# How `get_template_namespace` computes each of its handler entries.
_NAMESPACE_GETTERS: dict[str, Callable[[_RenderMixin], Any]] = {
    "handler": lambda h: h,
    "request": lambda h: h.request,
    "current_user": lambda h: h.current_user,
    "locale": lambda h: h.locale,
    "_": lambda h: h.locale.translate,
    "pgettext": lambda h: h.locale.pgettext,
    "static_url": lambda h: h.static_url,
    "xsrf_form_html": lambda h: h.xsrf_form_html,
    "reverse_url": lambda h: h.reverse_url,
}
_HANDLER_KEYS = frozenset(_NAMESPACE_GETTERS)
# Besides the UI methods' own names, `ui` holds the modules under these.
_UI_KEYS = frozenset({"modules", "_tt_modules"})
_NAMESPACE_KEYS = _HANDLER_KEYS | _UI_KEYS


# Accept-Language header -> its language codes, best first. A browser sends
# the same value on every request, so each distinct value is parsed once.
_ACCEPT_LANGUAGE: dict[str, tuple[str, ...]] = {}
_ACCEPT_LANGUAGE_MAX = 512


def _parse_accept_language(header: str) -> tuple[str, ...]:
    """The codes of ``header`` with a q-value above 0, highest q first
    (ties keep their order; a malformed q counts as 0)."""
    scored: list[tuple[str, float]] = []
    for item in header.split(","):
        parts = item.strip().split(";")
        score = 1.0
        if len(parts) > 1 and parts[1].strip().startswith("q="):
            try:
                score = float(parts[1].strip()[2:])
            except ValueError:
                score = 0.0
            if score < 0:
                score = 0.0
        if score > 0:
            scored.append((parts[0], score))
    scored.sort(key=lambda pair: pair[1], reverse=True)
    return tuple(code for code, _ in scored)


def _extend_files(out: list[str], files: Any) -> None:
    if isinstance(files, (str, bytes)):
        out.append(_unicode(files))
    else:
        out.extend(files)


def _insert_before(
    html: bytes, marker: bytes, piece: bytes, last: bool = False
) -> bytes:
    at = html.rindex(marker) if last else html.index(marker)
    return html[:at] + piece + b"\n" + html[at:]


class UIModule:
    """A reusable piece of page, used in templates as ``{% module Name(...) %}``.

    Subclasses implement `render` and may ask for JavaScript/CSS files or
    snippets, which `RequestHandler.render` adds to the page once.
    """

    def __init__(self, handler: RequestHandler) -> None:
        self.handler = handler
        self.request = handler.request
        self.ui = handler.ui

    @property
    def locale(self) -> _locales.Locale:
        """The handler's locale, resolved when first asked for (may be set)."""
        loc: _locales.Locale | None = self.__dict__.get("_locale")
        return self.handler.locale if loc is None else loc

    @locale.setter
    def locale(self, value: _locales.Locale) -> None:
        self.__dict__["_locale"] = value

    @property
    def current_user(self) -> Any:
        return self.handler.current_user

    def render(self, *args: Any, **kwargs: Any) -> str | bytes:
        """Returns this module's HTML."""
        raise NotImplementedError()

    def embedded_javascript(self) -> str | None:
        """JavaScript to put at the end of the page."""
        return None

    def javascript_files(self) -> Iterable[str] | None:
        """JavaScript files to link (paths relative to static_path, or URLs)."""
        return None

    def embedded_css(self) -> str | None:
        """CSS to put in the page's head."""
        return None

    def css_files(self) -> Iterable[str] | None:
        """CSS files to link (paths relative to static_path, or URLs)."""
        return None

    def html_head(self) -> str | None:
        """HTML to put before ``</head>``."""
        return None

    def html_body(self) -> str | None:
        """HTML to put before ``</body>``."""
        return None

    def render_string(self, path: str, **kwargs: Any) -> bytes:
        """Renders a template through the handler."""
        return self.handler.render_string(path, **kwargs)


class _linkify(UIModule):
    def render(self, text: str, **kwargs: Any) -> str:
        return escape.linkify(text, **kwargs)


class _xsrf_form_html(UIModule):
    def render(self) -> str:
        return self.handler.xsrf_form_html()


class TemplateModule(UIModule):
    """``{% module Template("path", **kw) %}``: renders another template in its
    own namespace. That template may call ``set_resources(javascript_files=...,
    embedded_css=..., ...)`` to ask for page resources like a UIModule does.
    """

    def __init__(self, handler: RequestHandler) -> None:
        super().__init__(handler)
        self._resource_list: list[dict[str, Any]] = []
        self._resource_dict: dict[str, dict[str, Any]] = {}

    def render(self, path: str, **kwargs: Any) -> bytes:
        def set_resources(**resources: Any) -> str:
            known = self._resource_dict.get(path)
            if known is None:
                self._resource_list.append(resources)
                self._resource_dict[path] = resources
            elif known != resources:
                raise ValueError(
                    "set_resources called with different resources for the same template"
                )
            return ""

        return self.render_string(path, set_resources=set_resources, **kwargs)

    def _get_resources(self, key: str) -> Iterable[Any]:
        return (r[key] for r in self._resource_list if key in r)

    def _files(self, key: str) -> list[str]:
        out: list[str] = []
        for f in self._get_resources(key):
            _extend_files(out, f)
        return out

    def embedded_javascript(self) -> str:
        return "\n".join(self._get_resources("embedded_javascript"))

    def javascript_files(self) -> Iterable[str]:
        return self._files("javascript_files")

    def embedded_css(self) -> str:
        return "\n".join(self._get_resources("embedded_css"))

    def css_files(self) -> Iterable[str]:
        return self._files("css_files")

    def html_head(self) -> str:
        return "".join(self._get_resources("html_head"))

    def html_body(self) -> str:
        return "".join(self._get_resources("html_body"))


class _UIModuleNamespace:
    """``ui.modules``: attribute or item access gives a module's render function."""

    def __init__(
        self, handler: RequestHandler, ui_modules: dict[str, type[UIModule]]
    ) -> None:
        self.handler = handler
        self.ui_modules = ui_modules

    def __getitem__(self, key: str) -> Callable[..., str]:
        return self.handler._ui_module(key, self.ui_modules[key])

    def __getattr__(self, key: str) -> Callable[..., str]:
        try:
            return self[key]
        except KeyError as e:
            raise AttributeError(str(e)) from e
