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

import ast
import datetime
import linecache
import os
import posixpath
import re
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from whirlwind import escape

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
# 1. Parsing. `_parse` scans the text once, left to right, for "{{", "{%" and
#    "{#" (with "{{{" the innermost pair counts) and builds a tree of nodes:
#    text, expressions, statements, control blocks (if/for/while/try, whose
#    else/elif/except/finally markers sit in their body), named blocks,
#    includes, extends and apply blocks. Whitespace filtering of text happens
#    here. Errors raise ParseError(message, file, line).
# 2. Inheritance. A template that extends another is rendered as its root
#    ancestor's tree, with every `{% block %}` replaced by the most derived
#    definition of that name; includes are inlined, sharing the namespace
#    and local variables of the includer, exactly as in Tornado.
# 3. Code generation. `_Writer` emits the source of one function,
#    `_tt_execute`, that appends `str` pieces to a list and returns them
#    joined and UTF-8 encoded. Hot names (`_tt_append`, the escape function)
#    are locals; escaping of the default `xhtml_escape` is a fused function
#    that skips the bytes round trips Tornado's generated code makes. Every
#    generated line remembers the template, line and include chain it came
#    from, and carries them as a trailing "# file:line (via ...)" comment.
# 4. Compilation happens once per Template; loaders cache Templates. A call
#    to generate() builds the namespace dict, makes a function over the
#    cached code object with that dict as globals, and calls it.
# 5. Errors at run time: generate() rewrites the traceback so that after
#    each frame of generated code comes a frame whose file and line are the
#    template's own, e.g. `File "page.html", line 4, in <template>`.
#
# Bytes vs str: the output is built as str. Values that are bytes are
# decoded with "surrogateescape" so that even non-UTF-8 bytes written with
# `{% raw %}` survive the final encode unchanged. Custom autoescape
# functions and `{% apply %}` functions still receive UTF-8 bytes, which is
# what Tornado passes them.

_DEFAULT_AUTOESCAPE = "xhtml_escape"


class _Unset:
    """Marks an argument that was not passed (None has a meaning)."""


_UNSET: Any = _Unset()

_SPACES_TABS = re.compile(r"[\t ]+")
_WS_WITH_NEWLINE = re.compile(r"\s*\n\s*")
_ANY_WS = re.compile(r"\s+")


def filter_whitespace(mode: str, text: str) -> str:
    """Apply whitespace ``mode`` to ``text``.

    * ``all``: keep every whitespace character.
    * ``single``: runs of spaces and tabs become one space, and whitespace
      around a newline collapses to that newline.
    * ``oneline``: each run of whitespace, newlines included, becomes a space.
    """
    if mode == "all":
        return text
    if mode == "single":
        return _WS_WITH_NEWLINE.sub("\n", _SPACES_TABS.sub(" ", text))
    if mode == "oneline":
        return _ANY_WS.sub(" ", text)
    raise ValueError(f"invalid whitespace mode {mode}")


class ParseError(Exception):
    """A template could not be parsed or compiled.

    ``filename`` and ``lineno`` say where (named like `SyntaxError`'s).
    """

    def __init__(
        self, message: str, filename: str | None = None, lineno: int = 0
    ) -> None:
        super().__init__(message, filename, lineno)
        self.message = message
        self.filename = filename
        self.lineno = lineno

    def __str__(self) -> str:
        return f"{self.message} at {self.filename}:{self.lineno}"


# --------------------------------------------------------------------------
# Run-time helpers, placed in every template namespace under _tt_ names.

_xhtml_escape = escape.xhtml_escape
_escape_any = escape._escape_any


def _raw_value(value: Any) -> str:
    """Output of `{% raw %}` and `{% module %}`: value -> str, unescaped."""
    if type(value) is str:
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    if isinstance(value, str):
        return value
    return str(value)


def _escape_with(func: Callable[[Any], Any], value: Any) -> str:
    """Apply a custom autoescape function the way Tornado does: it receives
    UTF-8 bytes and may return str or bytes."""
    if func is _xhtml_escape:
        return _escape_any(value)
    if isinstance(value, str):
        data = value.encode("utf-8")
    elif isinstance(value, bytes):
        data = value
    else:
        data = str(value).encode("utf-8")
    return _raw_text_result(func(data))


def _raw_text_result(result: Any) -> str:
    if isinstance(result, str):
        return result
    if isinstance(result, bytes):
        return result.decode("utf-8", "surrogateescape")
    raise TypeError(
        f"template function returned {type(result).__name__}, not str or bytes"
    )


def _escaper(func: Callable[[Any], Any]) -> Callable[[Any], str]:
    """Pick the escape function for `{{ }}` under autoescape xhtml_escape,
    honouring a namespace that replaces `xhtml_escape`."""
    if func is _xhtml_escape:
        return _escape_any
    return lambda value: _escape_with(func, value)


def _finish(pieces: list[str]) -> bytes:
    return "".join(pieces).encode("utf-8", "surrogateescape")


class _SourceLoader:
    """`__loader__` of the template namespace: lets `linecache` (and so
    tracebacks) show the generated source."""

    __slots__ = ("_source",)

    def __init__(self, source: str) -> None:
        self._source = source

    def get_source(self, name: str) -> str:
        return self._source


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
            "_tt_bytes": _finish,
            "_tt_text": _raw_text_result,
            "__name__": self.name.replace(".", "_"),
            "__loader__": _SourceLoader(self.code),
        }

    def generate(self, **kwargs: Any) -> bytes:
        """Render the template with ``kwargs`` added to its namespace."""
        namespace = self._defaults.copy()
        namespace.update(self.namespace)
        namespace.update(kwargs)
        execute = types.FunctionType(self._execute_code, namespace)
        try:
            return execute()  # type: ignore[no-any-return]
        except Exception as exc:
            # The same exception, re-raised with the rewritten traceback.
            # (No local may hold the new traceback: that would be a cycle.)
            raise exc.with_traceback(  # noqa: B904
                _release_helpers(self._rewrite_traceback(exc.__traceback__))
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

    # -- tracebacks --------------------------------------------------------

    def _rewrite_traceback(
        self, tb: types.TracebackType | None
    ) -> types.TracebackType | None:
        """Return ``tb``, minus its first entry (generate's own frame), with
        a template frame after each frame of generated code."""
        rest = tb.tb_next if tb is not None else None
        try:
            return self._add_template_frames(rest)
        except Exception:  # never hide the template's error behind ours
            return rest

    def _add_template_frames(
        self, tb: types.TracebackType | None
    ) -> types.TracebackType | None:
        entries: list[types.TracebackType] = []
        while tb is not None:
            entries.append(tb)
            tb = tb.tb_next
        if entries:
            linecache.cache[self._generated_filename] = (
                len(self.code),
                None,
                self.code.splitlines(keepends=True),
                self._generated_filename,
            )
        rebuilt: types.TracebackType | None = None
        for entry in reversed(entries):
            if id(entry.tb_frame.f_code) in self._code_ids:
                lineno = entry.tb_lineno
                if 0 < lineno <= len(self._origins):
                    fake = self._origins[lineno - 1].frame()
                    if fake is not None:
                        rebuilt = types.TracebackType(
                            rebuilt, fake.tb_frame, fake.tb_lasti, fake.tb_lineno
                        )
            rebuilt = types.TracebackType(
                rebuilt, entry.tb_frame, entry.tb_lasti, entry.tb_lineno
            )
        return rebuilt


def _release_helpers(
    tb: types.TracebackType | None,
) -> types.TracebackType | None:
    """Clear the locals of the finished helper frames that each template
    frame links back to (its ``f_back``): they hold the traceback being
    built, which would make a reference cycle for the garbage collector."""
    entry = tb
    while entry is not None:
        back = (
            entry.tb_frame.f_back
            if entry.tb_frame.f_code.co_name == "<template>"
            else None
        )
        while back is not None and back.f_code in _HELPER_CODES:
            back.clear()
            back = back.f_back
        entry = entry.tb_next
    return tb


def _all_code(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _all_code(const)


def _find_function(code: types.CodeType, name: str) -> types.CodeType:
    for const in code.co_consts:
        if isinstance(const, types.CodeType) and const.co_name == name:
            return const
    raise AssertionError(f"generated code lacks {name}")


class _FrameMarker(Exception):
    pass


class _Origin:
    """Where a generated line came from: template, line, include chain."""

    __slots__ = ("template", "name", "line", "via")

    def __init__(self, template: Template, line: int, via: str) -> None:
        self.template = template
        self.name = template.name
        self.line = line
        self.via = via

    def comment(self) -> str:
        return f"  # {self.name}:{self.line}{self.via}"

    def frame(self) -> types.TracebackType | None:
        """A traceback entry whose frame is at this template line."""
        template = self.template
        filename = template.filename or template.name
        if template.filename is None and not filename.startswith("<"):
            lines = [line + "\n" for line in template._source_lines]
            linecache.cache[filename] = (sum(map(len, lines)), None, lines, filename)
        line = max(self.line, 1)
        source = template._source_lines
        text = source[line - 1] if line <= len(source) else ""
        # A `raise` whose position spans the whole template line, so the
        # traceback shows the line without misleading ^^^ markers.
        start = len(text.encode()) - len(text.lstrip().encode())
        stmt = ast.Raise(exc=ast.Name(id="_tt_marker", ctx=ast.Load()), cause=None)
        module = ast.Module(body=[stmt], type_ignores=[])
        for node in ast.walk(stmt):
            node.lineno = node.end_lineno = line  # type: ignore[attr-defined]
            node.col_offset = start  # type: ignore[attr-defined]
            node.end_col_offset = max(len(text.rstrip().encode()), start)  # type: ignore[attr-defined]
        code = compile(module, filename, "exec").replace(co_name="<template>")
        try:
            exec(code, {"_tt_marker": _FrameMarker, "__name__": template.name})
        except _FrameMarker as marker:
            # Skip this function's own entry; the next one is the exec'd
            # frame. (No local keeps the head: that would be a cycle.)
            return marker.__traceback__.tb_next if marker.__traceback__ else None
        return None


_HELPER_CODES = frozenset(
    {
        Template._rewrite_traceback.__code__,
        Template._add_template_frames.__code__,
        _Origin.frame.__code__,
    }
)

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


# --------------------------------------------------------------------------
# Parse tree


class _Node:
    line = 0

    def children(self) -> tuple[_Node, ...]:
        return ()

    def generate(self, writer: _Writer) -> None:
        raise NotImplementedError()

    def find_named_blocks(
        self, loader: BaseLoader | None, named: dict[str, _NamedBlock]
    ) -> None:
        for child in self.children():
            child.find_named_blocks(loader, named)


class _Body(_Node):
    def __init__(self, nodes: list[_Node]) -> None:
        self.nodes = nodes

    def __iter__(self) -> Iterator[_Node]:
        return iter(self.nodes)

    def children(self) -> tuple[_Node, ...]:
        return tuple(self.nodes)

    def generate(self, writer: _Writer) -> None:
        pending: list[str] = []  # adjacent text is written as one piece
        pending_line = 0
        for node in self.nodes:
            if isinstance(node, _Text):
                if node.value:
                    pending.append(node.value)
                    pending_line = node.line
                continue
            if pending:
                writer.write(f"_tt_append({''.join(pending)!r})", pending_line)
                pending = []
            node.generate(writer)
        if pending:
            writer.write(f"_tt_append({''.join(pending)!r})", pending_line)


class _File(_Node):
    def __init__(self, template: Template, body: _Body) -> None:
        self.template = template
        self.body = body

    def children(self) -> tuple[_Node, ...]:
        return (self.body,)

    def generate(self, writer: _Writer) -> None:
        writer.write("def _tt_execute():", 0)
        with writer.indented():
            writer.write("_tt_buffer = []", 0)
            writer.write("_tt_append = _tt_buffer.append", 0)
            if writer.fast:
                writer.write("_tt_xesc = _tt_escaper(xhtml_escape)", 0)
            self.body.generate(writer)
            writer.write("return _tt_bytes(_tt_buffer)", 0)


class _Text(_Node):
    def __init__(self, value: str, line: int) -> None:
        self.value = value
        self.line = line


class _Expression(_Node):
    def __init__(self, expression: str, line: int, raw: bool = False) -> None:
        self.expression = expression
        self.line = line
        self.raw = raw

    def generate(self, writer: _Writer) -> None:
        # Plain expressions go straight into the call; others through
        # `_tt_tmp = ...`, where `a, b` means a tuple as in Tornado.
        value = self.expression
        if not _is_plain_expression(value):
            writer.write(f"_tt_tmp = {value}", self.line)
            value = "_tt_tmp"
        autoescape = writer.current_template.autoescape
        if self.raw or autoescape is None:
            writer.write(f"_tt_append(_tt_raw({value}))", self.line)
        elif autoescape == _DEFAULT_AUTOESCAPE and writer.fast:
            writer.write(f"_tt_append(_tt_xesc({value}))", self.line)
        else:
            writer.write(
                f"_tt_append(_tt_escape_with({autoescape}, {value}))", self.line
            )


def _is_plain_expression(expression: str) -> bool:
    """True if ``expression`` can be used as a call argument unchanged.

    Anything else (a bare tuple `a, b`, a trailing comment, several lines,
    invalid syntax) first goes through `_tt_tmp = ...`, which also gives the
    compiler's error the template line.
    """
    if "#" in expression or "\n" in expression:
        return False
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        return False
    return not isinstance(
        tree.body, (ast.Tuple, ast.Yield, ast.YieldFrom, ast.NamedExpr)
    )


class _Statement(_Node):
    def __init__(self, statement: str, line: int) -> None:
        self.statement = statement
        self.line = line

    def generate(self, writer: _Writer) -> None:
        writer.write(self.statement, self.line)


class _Intermediate(_Node):
    """`else`, `elif`, `except`, `finally` inside a control block's body."""

    def __init__(self, statement: str, line: int) -> None:
        self.statement = statement
        self.line = line


class _Control(_Node):
    """if / for / while / try, with their intermediate clauses in `body`."""

    def __init__(self, statement: str, line: int, body: _Body) -> None:
        self.statement = statement
        self.line = line
        self.body = body

    def children(self) -> tuple[_Node, ...]:
        return (self.body,)

    def generate(self, writer: _Writer) -> None:
        writer.write(f"{self.statement}:", self.line)
        with writer.indented():
            clause = _Body([])
            clause_line = self.line
            for node in self.body.nodes:
                if isinstance(node, _Intermediate):
                    writer.clause(clause, clause_line)
                    writer.write(f"{node.statement}:", node.line, writer.indent - 1)
                    clause = _Body([])
                    clause_line = node.line
                else:
                    clause.nodes.append(node)
            writer.clause(clause, clause_line)


class _NamedBlock(_Node):
    def __init__(self, name: str, body: _Body, template: Template, line: int) -> None:
        self.name = name
        self.body = body
        self.template = template
        self.line = line

    def children(self) -> tuple[_Node, ...]:
        return (self.body,)

    def find_named_blocks(
        self, loader: BaseLoader | None, named: dict[str, _NamedBlock]
    ) -> None:
        named[self.name] = self
        super().find_named_blocks(loader, named)

    def generate(self, writer: _Writer) -> None:
        block = writer.named_blocks[self.name]
        with writer.including(block.template, self.line):
            block.body.generate(writer)


class _Extends(_Node):
    def __init__(self, name: str, line: int) -> None:
        self.name = name
        self.line = line

    def generate(self, writer: _Writer) -> None:
        raise ParseError(
            "{% extends %} must be at the top level of the rendered template",
            writer.current_template.name,
            self.line,
        )


class _Include(_Node):
    def __init__(self, name: str, parent: str, line: int) -> None:
        self.name = name
        self.parent = parent
        self.line = line

    def _load(self, loader: BaseLoader | None) -> Template:
        if loader is None:
            raise ParseError(
                "{% include %} block found, but no template loader",
                self.parent,
                self.line,
            )
        return loader.load(self.name, self.parent)

    def find_named_blocks(
        self, loader: BaseLoader | None, named: dict[str, _NamedBlock]
    ) -> None:
        self._load(loader).file.find_named_blocks(loader, named)

    def generate(self, writer: _Writer) -> None:
        included = self._load(writer.loader)
        with writer.including(included, self.line):
            included.file.body.generate(writer)


class _Apply(_Node):
    def __init__(self, method: str, line: int, body: _Body) -> None:
        self.method = method
        self.line = line
        self.body = body

    def children(self) -> tuple[_Node, ...]:
        return (self.body,)

    def generate(self, writer: _Writer) -> None:
        name = f"_tt_apply{writer.apply_count}"
        writer.apply_count += 1
        writer.write(f"def {name}():", self.line)
        with writer.indented():
            writer.write("_tt_buffer = []", self.line)
            writer.write("_tt_append = _tt_buffer.append", self.line)
            self.body.generate(writer)
            writer.write("return _tt_bytes(_tt_buffer)", self.line)
        writer.write(f"_tt_append(_tt_text({self.method}({name}())))", self.line)


# --------------------------------------------------------------------------
# Code writer


class _Writer:
    def __init__(
        self,
        named_blocks: dict[str, _NamedBlock],
        loader: BaseLoader | None,
        template: Template,
        fast: bool,
    ) -> None:
        self.named_blocks = named_blocks
        self.loader = loader
        self.current_template = template
        self.fast = fast
        self.apply_count = 0
        self.indent = 0
        self.lines: list[str] = []
        self.origins: list[_Origin] = []
        self._stack: list[tuple[Template, int]] = []
        self._via = ""

    @contextmanager
    def indented(self) -> Iterator[None]:
        self.indent += 1
        try:
            yield
        finally:
            self.indent -= 1

    @contextmanager
    def including(self, template: Template, line: int) -> Iterator[None]:
        self._stack.append((self.current_template, line))
        saved_via = self._via
        self._via = " (via {})".format(
            ", ".join(f"{t.name}:{n}" for t, n in reversed(self._stack))
        )
        self.current_template = template
        try:
            yield
        finally:
            self.current_template = self._stack.pop()[0]
            self._via = saved_via

    def write(self, code: str, line: int, indent: int | None = None) -> None:
        origin = _Origin(self.current_template, line, self._via)
        prefix = "    " * (self.indent if indent is None else indent)
        physical = code.split("\n")
        for part in physical[:-1]:
            self.lines.append(prefix + part)
            self.origins.append(origin)
        self.lines.append(prefix + physical[-1] + origin.comment())
        self.origins.append(origin)

    def clause(self, body: _Body, line: int) -> None:
        """Write one clause of a control block, or `pass` if it is empty."""
        before = len(self.lines)
        body.generate(self)
        if len(self.lines) == before:
            self.write("pass", line)


# --------------------------------------------------------------------------
# Parser


class _Reader:
    def __init__(self, name: str, text: str, whitespace: str) -> None:
        self.name = name
        self.text = text
        self.whitespace = whitespace
        self.pos = 0
        self.line = 1

    def advance(self, to: int) -> str:
        """Consume up to index ``to``, keeping the line count."""
        chunk = self.text[self.pos : to]
        self.line += chunk.count("\n")
        self.pos = to
        return chunk

    def text_node(self, to: int) -> _Text:
        value = self.advance(to)
        # Crude but Tornado's: leave text containing <pre> alone.
        if "<pre>" not in value:
            value = filter_whitespace(self.whitespace, value)
        return _Text(value, self.line)

    def error(self, message: str, line: int | None = None) -> ParseError:
        return ParseError(message, self.name, self.line if line is None else line)


# Clauses allowed inside each block directive.
_INTERMEDIATE_PARENTS = {
    "else": ("if", "for", "while", "try"),
    "elif": ("if",),
    "except": ("try",),
    "finally": ("try",),
}
_BLOCK_DIRECTIVES = frozenset({"apply", "block", "try", "if", "for", "while"})


def _find_tag(text: str, start: int) -> int:
    """Index of the next "{{", "{%" or "{#" at or after ``start``, or -1.

    With three or more "{" in a row the innermost pair opens the tag, so
    languages that use braces themselves (LaTeX) can surround tags.
    """
    end = len(text)
    i = start
    while True:
        i = text.find("{", i)
        if i < 0 or i + 1 >= end:
            return -1
        nxt = text[i + 1]
        if nxt not in "{%#":
            i += 1
        elif nxt == "{" and i + 2 < end and text[i + 2] == "{":
            i += 1
        else:
            return i


def _parse(
    reader: _Reader,
    template: Template,
    in_block: str | None = None,
    in_loop: str | None = None,
    block_line: int = 0,
) -> _Body:
    body = _Body([])
    nodes = body.nodes
    text = reader.text
    while True:
        tag = _find_tag(text, reader.pos)
        if tag < 0:
            if in_block:
                raise reader.error(
                    f"Missing {{% end %}} block for {in_block}", block_line
                )
            nodes.append(reader.text_node(len(text)))
            return body
        if tag > reader.pos:
            nodes.append(reader.text_node(tag))
        opener = reader.advance(tag + 2)
        line = reader.line

        if text.startswith("!", reader.pos):  # {{! {%! {#! are literal
            reader.advance(reader.pos + 1)
            nodes.append(_Text(opener, line))
            continue

        closer = {"{#": "#}", "{{": "}}", "{%": "%}"}[opener]
        end = text.find(closer, reader.pos)
        if end < 0:
            what = {"{#": "comment", "{{": "expression", "{%": "block"}[opener]
            raise reader.error(f"Missing end {what} {closer}")
        contents = reader.advance(end).strip()
        reader.advance(end + 2)

        if opener == "{#":
            continue
        if opener == "{{":
            if not contents:
                raise reader.error("Empty expression", line)
            nodes.append(_Expression(contents, line))
            continue

        if not contents:
            raise reader.error("Empty block tag ({% %})", line)
        operator, _, suffix = contents.partition(" ")
        suffix = suffix.strip()

        parents = _INTERMEDIATE_PARENTS.get(operator)
        if parents is not None:
            if in_block is None:
                raise reader.error(
                    f"{operator} outside {'/'.join(parents)} block", line
                )
            if in_block not in parents:
                raise reader.error(
                    f"{operator} block cannot be attached to {in_block} block", line
                )
            nodes.append(_Intermediate(contents, line))
        elif operator == "end":
            if in_block is None:
                raise reader.error("Extra {% end %} block", line)
            return body
        elif operator == "comment":
            pass
        elif operator in ("extends", "include"):
            path = suffix.strip("\"'")
            if not path:
                raise reader.error(f"{operator} missing file path", line)
            if operator == "extends":
                nodes.append(_Extends(path, line))
            else:
                nodes.append(_Include(path, reader.name, line))
        elif operator in ("import", "from"):
            if not suffix:
                raise reader.error("import missing statement", line)
            nodes.append(_Statement(contents, line))
        elif operator == "set":
            if not suffix:
                raise reader.error("set missing statement", line)
            nodes.append(_Statement(suffix, line))
        elif operator == "autoescape":
            # Applies to the whole file, wherever it appears (as in Tornado).
            template.autoescape = None if suffix == "None" else suffix
        elif operator == "whitespace":
            try:
                filter_whitespace(suffix, "")
            except ValueError:
                raise reader.error(f"invalid whitespace mode {suffix}", line) from None
            reader.whitespace = suffix
        elif operator in ("raw", "module"):
            if not suffix:
                raise reader.error(f"{operator} missing expression", line)
            expression = suffix if operator == "raw" else "_tt_modules." + suffix
            nodes.append(_Expression(expression, line, raw=True))
        elif operator in _BLOCK_DIRECTIVES:
            if operator in ("for", "while"):
                inner = _parse(reader, template, operator, operator, line)
            elif operator == "apply":
                # The body becomes a nested function: break/continue can't
                # reach an enclosing loop from there.
                inner = _parse(reader, template, operator, None, line)
            else:
                inner = _parse(reader, template, operator, in_loop, line)
            if operator == "apply":
                if not suffix:
                    raise reader.error("apply missing method name", line)
                nodes.append(_Apply(suffix, line, inner))
            elif operator == "block":
                if not suffix:
                    raise reader.error("block missing name", line)
                nodes.append(_NamedBlock(suffix, inner, template, line))
            else:
                nodes.append(_Control(contents, line, inner))
        elif operator in ("break", "continue"):
            if in_loop is None:
                raise reader.error(f"{operator} outside for/while block", line)
            nodes.append(_Statement(contents, line))
        else:
            raise reader.error(f"unknown operator: {operator!r}", line)
