"""A template language that compiles to Python: fast, small and familiar.

Contents:

* `Template`: one compiled template; ``generate(**kwargs)`` returns `bytes`.
* `BaseLoader`, `Loader` (files under a directory), `DictLoader` (a dict):
  resolve ``{% include %}`` / ``{% extends %}`` and cache compiled templates.
* `ParseError`: a syntax error, with ``filename`` and ``lineno``.
* `filter_whitespace`: the ``all`` / ``single`` / ``oneline`` whitespace modes.

Syntax, as in Tornado::

    {{ expression }}          output, escaped by the autoescape function
    {# comment #}             ignored
    {% directive ... %}       see below
    {{!  {%!  {#!             output "{{", "{%", "{#" literally

Directives: ``apply f`` / ``autoescape f|None`` / ``block name`` / ``break`` /
``comment ...`` / ``continue`` / ``extends "file"`` / ``for ...`` (with
``else``) / ``from x import y`` / ``if`` / ``elif`` / ``else`` / ``import x`` /
``include "file"`` / ``module expr`` / ``raw expr`` / ``set x = y`` / ``try``
/ ``except`` / ``else`` / ``finally`` / ``while ...`` (with ``else``) /
``whitespace mode`` / ``end``. Block directives close with ``{% end %}``.

Templates run arbitrary Python and must be trusted like source code.
Autoescaping applies to ``{{ }}`` only; ``raw`` and ``module`` output is
written as is.
"""

from __future__ import annotations

import datetime
import os
import posixpath
import threading
import types
from collections.abc import Callable
from typing import Any

from whirlwind import escape
from whirlwind._template_code import (
    _all_code,
    _early_text,
    _escape_with,
    _escaper,
    _find_function,
    _Origin,
    _raw_text_result,
    _raw_value,
    _SourceLoader,
    _TemplateWriter,
    _Writer,
    release_helpers,
    rewrite_traceback,
)
from whirlwind._template_parse import (
    _DEFAULT_AUTOESCAPE,
    ParseError,
    _Extends,
    _File,
    _NamedBlock,
    _parse,
    _Reader,
    filter_whitespace,
)

__all__ = [
    "BaseLoader",
    "DictLoader",
    "Loader",
    "ParseError",
    "Template",
    "filter_whitespace",
]

# Theory of operation
# -------------------
# 1. Parsing (`_template_parse`): one left-to-right scan builds a tree of
#    nodes; whitespace filtering and syntax errors (ParseError with file and
#    line) happen there.
# 2. Inheritance. A template that extends another is rendered as its root
#    ancestor's tree, with every `{% block %}` replaced by the most derived
#    definition of that name; includes are inlined, sharing the namespace
#    and local variables of the includer, exactly as in Tornado.
# 3. Code generation (`_template_code`): the tree becomes the source of one
#    function, `_tt_execute`, whose lines each remember their template line.
# 4. Compilation happens once per Template; loaders cache Templates. A call
#    to generate() builds the namespace dict, makes a function over the
#    cached code object with that dict as globals, and calls it.
# 5. Errors at run time: generate() rewrites the traceback so that after
#    each frame of generated code comes a frame at the template's own line.


# Filled in after `Loader` and `DictLoader` (see `BaseLoader._lookup_by_name`).
_NAME_KEEPING: tuple[Callable[..., str], ...] = ()


_FunctionType = types.FunctionType


class _Unset:
    """Marks an argument that was not passed (None has a meaning)."""


_UNSET: Any = _Unset()


class Template:
    """A compiled template.

    :arg template_string: the template text (`str`, or UTF-8 `bytes`).
    :arg name: the template's name, used in errors and tracebacks; loaders
        pass the path relative to their root.
    :arg loader: the `BaseLoader` that resolves ``{% include %}`` and
        ``{% extends %}``; it also supplies defaults for ``autoescape``,
        ``whitespace`` and extra namespace entries.
    :arg compress_whitespace: deprecated; True means ``whitespace="single"``
        and False ``whitespace="all"``.
    :arg autoescape: the name of the namespace function that escapes
        ``{{ }}`` output, or None for no escaping. Default ``"xhtml_escape"``.
    :arg whitespace: a `filter_whitespace` mode. Default: the loader's, else
        ``"single"`` for names ending in ``.html`` or ``.js`` and ``"all"``
        otherwise.
    """

    def __init__(
        self,
        template_string: str | bytes,
        name: str = "<string>",
        loader: BaseLoader | None = None,
        compress_whitespace: bool = _UNSET,
        autoescape: str | None = _UNSET,
        whitespace: str | None = None,
    ) -> None:
        self.name = escape.native_str(name)
        if compress_whitespace is not _UNSET:
            if whitespace is not None:
                raise ValueError("cannot set both whitespace and compress_whitespace")
            whitespace = "single" if compress_whitespace else "all"
        if whitespace is None:
            if loader is not None and loader.whitespace:
                whitespace = loader.whitespace
            elif self.name.endswith((".html", ".js")):
                whitespace = "single"
            else:
                whitespace = "all"
        filter_whitespace(whitespace, "")  # validates the mode
        if autoescape is not _UNSET:
            self.autoescape: str | None = autoescape
        elif loader is not None:
            self.autoescape = loader.autoescape
        else:
            self.autoescape = _DEFAULT_AUTOESCAPE
        self.namespace: dict[str, Any] = loader.namespace if loader is not None else {}
        self.loader = loader
        # Set by Loader to the template's real path, so tracebacks can show
        # its lines; other templates are known only by name.
        self.filename: str | None = None
        text = escape.to_unicode(template_string)
        reader = _Reader(self.name, text, whitespace)
        self.file = _File(self, _parse(reader, self))
        self._source_lines = text.splitlines()
        self.code, self._origins, self.compiled = self._compile(loader, fast=True)
        if any("xhtml_escape" in c.co_varnames for c in _all_code(self.compiled)):
            # The template assigns `xhtml_escape` itself, so it can't be read
            # once at the start: look it up at every expression instead.
            self.code, self._origins, self.compiled = self._compile(loader, fast=False)
        execute = _find_function(self.compiled, "_tt_execute")
        self._execute_code = execute
        self._code_ids = frozenset(id(c) for c in _all_code(self.compiled))
        # Read by `RequestHandler.render_string` to compute only the
        # namespace entries this template can see.
        self._global_names = _global_names(self.compiled)
        self._generated_filename = self.compiled.co_filename
        self._defaults: dict[str, Any] = {
            "escape": escape.xhtml_escape,
            "xhtml_escape": escape.xhtml_escape,
            "url_escape": escape.url_escape,
            "json_encode": escape.json_encode,
            "squeeze": escape.squeeze,
            "linkify": escape.linkify,
            "datetime": datetime,
            "_tt_utf8": escape.utf8,
            "_tt_string_types": (str, bytes),
            "_tt_escaper": _escaper,
            "_tt_escape_with": _escape_with,
            "_tt_raw": _raw_value,
            "_tt_writer": _TemplateWriter,
            "_tt_early": _early_text,
            "_tt_default_escape": escape.xhtml_escape,
            "_tt_text": _raw_text_result,
            "__name__": self.name.replace(".", "_"),
            "__loader__": _SourceLoader(self.code),
        }

    def generate(self, **kwargs: Any) -> bytes:
        """Render the template with ``kwargs`` added to its namespace."""
        return self._generate(kwargs)

    def _generate(self, kwargs: dict[str, Any]) -> bytes:
        """`generate` with its keywords as a dict (read, not modified)."""
        # The loader's namespace is read at every call: it may be changed.
        loader_namespace = self.namespace
        namespace = (
            {**self._defaults, **loader_namespace, **kwargs}
            if loader_namespace
            else {**self._defaults, **kwargs}
        )
        execute = _FunctionType(self._execute_code, namespace)
        try:
            return execute()  # type: ignore[no-any-return]
        except Exception as exc:
            # The same exception, re-raised with the rewritten traceback.
            # (No local may hold the new traceback: that would be a cycle.)
            raise exc.with_traceback(  # noqa: B904
                release_helpers(rewrite_traceback(self, exc.__traceback__))
            )

    # -- compilation -------------------------------------------------------

    def _compile(
        self, loader: BaseLoader | None, fast: bool
    ) -> tuple[str, list[_Origin], types.CodeType]:
        ancestors = self._ancestors(loader)
        named_blocks: dict[str, _NamedBlock] = {}
        for ancestor in reversed(ancestors):
            ancestor.find_named_blocks(loader, named_blocks)
        root = ancestors[-1]
        writer = _Writer(named_blocks, loader, root.template, fast)
        root.generate(writer)
        code = "\n".join(writer.lines) + "\n"
        filename = self.name.replace(".", "_") + ".generated.py"
        try:
            compiled = compile(code, filename, "exec", dont_inherit=True)
        except SyntaxError as err:
            index = min(max(err.lineno or 1, 1), len(writer.origins)) - 1
            origin = writer.origins[index]
            raise ParseError(
                f"invalid Python in template: {err.msg}", origin.name, origin.line
            ) from err
        return code, writer.origins, compiled

    def _ancestors(self, loader: BaseLoader | None) -> list[_File]:
        chain = [self.file]
        for node in self.file.body:
            if isinstance(node, _Extends):
                if loader is None:
                    raise ParseError(
                        "{% extends %} block found, but no template loader",
                        self.name,
                        node.line,
                    )
                parent = loader.load(node.name, self.name)
                chain.extend(parent._ancestors(loader))
        return chain


# Names through which generated code could read any global, not only the
# ones it names: with one of these, `global_names` can't be known.
_DYNAMIC_NAMES = frozenset(
    {"eval", "exec", "globals", "vars", "locals", "dir", "f_globals", "__globals__"}
)


def _global_names(compiled: types.CodeType) -> frozenset[str] | None:
    """Every name the code may look up in its namespace, or None if it
    could look up names it doesn't spell out (`_DYNAMIC_NAMES`).

    `co_names` holds global and attribute names alike, so this is a
    superset of the namespace entries a rendering can read: enough for a
    caller to skip computing entries the template never uses.
    """
    names: set[str] = set()
    for code in _all_code(compiled):
        names.update(code.co_names)
    if not names.isdisjoint(_DYNAMIC_NAMES):
        return None
    return frozenset(names)


# --------------------------------------------------------------------------
# Loaders


class BaseLoader:
    """Base class of template loaders, which compile each template once and
    cache it. ``{% include %}`` and ``{% extends %}`` need a loader.

    :arg autoescape: default autoescape function name (None: no escaping).
    :arg namespace: extra names for every template's namespace.
    :arg whitespace: default whitespace mode (see `filter_whitespace`).
    """

    def __init__(
        self,
        autoescape: str | None = _DEFAULT_AUTOESCAPE,
        namespace: dict[str, Any] | None = None,
        whitespace: str | None = None,
    ) -> None:
        self.autoescape = autoescape
        self.namespace = namespace or {}
        self.whitespace = whitespace
        self.templates: dict[str, Template] = {}
        # Reentrant: compiling a template loads the templates it includes.
        self.lock = threading.RLock()

    # Whether ``load(name)`` without a parent is a plain read of
    # ``templates[name]`` once cached: the base `load` with a `resolve_path`
    # that keeps top-level names. `RequestHandler.render_string` then reads
    # the cache itself. Recomputed for every subclass, which may override.
    _lookup_by_name = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._lookup_by_name = (
            cls.load is BaseLoader.load and cls.resolve_path in _NAME_KEEPING
        )

    def reset(self) -> None:
        """Forget every compiled template."""
        with self.lock:
            self.templates = {}

    def resolve_path(self, name: str, parent_path: str | None = None) -> str:
        """Turn ``name``, relative to the template ``parent_path`` that
        refers to it, into the name the loader caches it under."""
        raise NotImplementedError()

    def load(self, name: str, parent_path: str | None = None) -> Template:
        """Return the compiled template ``name`` (cached)."""
        name = self.resolve_path(name, parent_path=parent_path)
        # A cached template is read without the lock: a dict lookup is
        # atomic, and reset() swaps in a new dict rather than emptying it.
        template = self.templates.get(name)
        if template is not None:
            return template
        with self.lock:
            template = self.templates.get(name)
            if template is None:
                template = self.templates[name] = self._create_template(name)
            return template

    def _create_template(self, name: str) -> Template:
        raise NotImplementedError()


def _is_relative_ref(name: str, parent_path: str | None) -> bool:
    return bool(
        parent_path
        and not parent_path.startswith(("<", "/"))
        and not name.startswith("/")
    )


class Loader(BaseLoader):
    """Loads templates from files under ``root_directory``.

    Names in ``load()`` are relative to the root (absolute paths also work);
    names in ``{% include %}`` and ``{% extends %}`` are relative to the
    directory of the template that contains them.
    """

    def __init__(self, root_directory: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root = os.path.abspath(root_directory)

    def resolve_path(self, name: str, parent_path: str | None = None) -> str:
        if parent_path is not None and _is_relative_ref(name, parent_path):
            parent_dir = os.path.dirname(os.path.join(self.root, parent_path))
            candidate = os.path.abspath(os.path.join(parent_dir, name))
            if candidate.startswith(self.root + os.sep):
                name = candidate[len(self.root) + 1 :]
        return name

    def _create_template(self, name: str) -> Template:
        path = os.path.join(self.root, name)
        with open(path, "rb") as f:
            data = f.read()
        template = Template(data, name=name, loader=self)
        template.filename = os.path.abspath(path)
        return template


class DictLoader(BaseLoader):
    """Loads templates from a dict of ``{name: template text}``."""

    def __init__(self, dict: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dict = dict

    def resolve_path(self, name: str, parent_path: str | None = None) -> str:
        if parent_path is not None and _is_relative_ref(name, parent_path):
            name = posixpath.normpath(
                posixpath.join(posixpath.dirname(parent_path), name)
            )
        return name

    def _create_template(self, name: str) -> Template:
        return Template(self.dict[name], name=name, loader=self)


# The `resolve_path` methods that return a name without parent unchanged.
_NAME_KEEPING = (Loader.resolve_path, DictLoader.resolve_path)
Loader._lookup_by_name = DictLoader._lookup_by_name = True
