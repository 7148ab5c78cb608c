"""Code writer, run-time helpers and traceback rewriting of
`whirlwind.template` (private).

Contents: `_Writer` (the source of one `_tt_execute` function, with an
`_Origin` per line), the `_tt_*` helpers every template namespace holds, and
`rewrite_traceback` / `release_helpers`, which put template lines into the
tracebacks of errors raised by generated code.
"""

from __future__ import annotations

import ast
import linecache
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from whirlwind import escape

if TYPE_CHECKING:
    from whirlwind._template_parse import _Body, _NamedBlock
    from whirlwind.template import BaseLoader, Template

# Theory of operation
# -------------------
# Code generation. `_Writer` collects the lines of one function,
# `_tt_execute`, that writes into a `TemplateWriter` (`_tt_buffer`; compiled,
# it keeps the output as UTF-8 bytes) and returns its bytes. A run of text
# and `{{ }}` values becomes one `_tt_emit(parts, *values)` call, which
# escapes each value as it copies it (see `_template_parse._Body`); other
# output goes through `_tt_append(str)`. Hot names are locals. Escaping
# with the default `xhtml_escape` skips the bytes round trips Tornado's
# generated code makes.
# Every generated line remembers the template, line and include chain it
# came from (`_Origin`), and carries them as a trailing
# "# file:line (via ...)" comment.
#
# Errors at run time: `rewrite_traceback` rebuilds the traceback so that
# after each frame of generated code comes a frame whose file and line are
# the template's own, e.g. `File "page.html", line 4, in <template>`. Such
# a frame is made by raising a marker from a tiny code object compiled at
# that template line (`_Origin.frame`).
#
# Bytes vs str: the output is built as str. Values that are bytes are
# decoded with "surrogateescape" so that even non-UTF-8 bytes written with
# `{% raw %}` survive the final encode unchanged. Custom autoescape
# functions and `{% apply %}` functions still receive UTF-8 bytes, which is
# what Tornado passes them.

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


class _PyTemplateWriter:
    """The output of one rendering: the Python reference of (and stand-in
    for) the compiled `whirlwind._core.TemplateWriter`. Pieces are encoded
    as they are written, so errors surface at the same call."""

    __slots__ = ("_pieces", "_custom")

    def __init__(self, custom: Callable[[Any], str] | None = None) -> None:
        self._pieces: list[bytes] = []
        self._custom = custom

    def append(self, text: str) -> None:
        if not isinstance(text, str):
            raise TypeError(f"append() needs str, not {type(text).__name__}")
        self._pieces.append(text.encode("utf-8", "surrogateescape"))

    def emit(self, parts: tuple[bytes, ...], *values: Any) -> None:
        if type(parts) is not tuple:
            raise TypeError("emit() needs a tuple of parts first")
        if len(parts) != len(values) + 1:
            raise ValueError("emit() needs one more part than values")
        pieces = self._pieces
        escape_value = self._custom or _escape_any
        for i, part in enumerate(parts):
            if type(part) is not bytes:
                raise TypeError("emit() parts must be bytes")
            pieces.append(part)
            if i < len(values):
                text = escape_value(values[i])
                if not isinstance(text, str):
                    raise TypeError("a template's escape function must give str")
                pieces.append(text.encode("utf-8", "surrogateescape"))

    def getvalue(self) -> bytes:
        return b"".join(self._pieces)


def _py_early_text(value: Any) -> Any:
    """Python reference of `whirlwind._core.early_text`: ``value`` if it is
    str, int, float or bytes (exactly) or a str or bytes subclass, else
    ``str(value)``."""
    if type(value) in (str, int, float, bytes) or isinstance(value, (str, bytes)):
        return value
    return str(value)


_TemplateWriter: type[Any]
_early_text: Callable[[Any], Any]
try:
    from whirlwind._core import TemplateWriter as _CTemplateWriter
    from whirlwind._core import early_text as _c_early_text
except ImportError:  # a source tree without the extension
    _TemplateWriter = _PyTemplateWriter
    _early_text = _py_early_text
else:
    _TemplateWriter = _CTemplateWriter
    _early_text = _c_early_text


class _SourceLoader:
    """`__loader__` of the template namespace: lets `linecache` (and so
    tracebacks) show the generated source."""

    __slots__ = ("_source",)

    def __init__(self, source: str) -> None:
        self._source = source

    def get_source(self, name: str) -> str:
        return self._source


# --------------------------------------------------------------------------
# Tracebacks


def rewrite_traceback(
    template: Template, tb: types.TracebackType | None
) -> types.TracebackType | None:
    """Return ``tb``, minus its first entry (generate's own frame), with
    a template frame after each frame of generated code."""
    rest = tb.tb_next if tb is not None else None
    try:
        return _add_template_frames(template, rest)
    except Exception:  # never hide the template's error behind ours
        return rest


def _add_template_frames(
    template: Template, tb: types.TracebackType | None
) -> types.TracebackType | None:
    entries: list[types.TracebackType] = []
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    if entries:
        linecache.cache[template._generated_filename] = (
            len(template.code),
            None,
            template.code.splitlines(keepends=True),
            template._generated_filename,
        )
    rebuilt: types.TracebackType | None = None
    for entry in reversed(entries):
        if id(entry.tb_frame.f_code) in template._code_ids:
            lineno = entry.tb_lineno
            if 0 < lineno <= len(template._origins):
                fake = template._origins[lineno - 1].frame()
                if fake is not None:
                    rebuilt = types.TracebackType(
                        rebuilt, fake.tb_frame, fake.tb_lasti, fake.tb_lineno
                    )
        rebuilt = types.TracebackType(
            rebuilt, entry.tb_frame, entry.tb_lasti, entry.tb_lineno
        )
    return rebuilt


def release_helpers(
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
        rewrite_traceback.__code__,
        _add_template_frames.__code__,
        _Origin.frame.__code__,
    }
)

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
        # Inside how many `{% try %}` blocks the code being written is.
        self.try_depth = 0
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

    def open_buffer(self, line: int) -> None:
        """Start a function's output: `_tt_buffer` and its bound methods.

        In fast mode values are escaped by the writer itself, with the
        compiled escape unless the namespace replaces `xhtml_escape`.
        """
        if self.fast:
            self.write(
                "_tt_buffer = _tt_writer(None if xhtml_escape is _tt_default_escape"
                " else _tt_escaper(xhtml_escape))",
                line,
            )
            self.write("_tt_emit = _tt_buffer.emit", line)
        else:
            self.write("_tt_buffer = _tt_writer()", line)
        self.write("_tt_append = _tt_buffer.append", line)

    def clause(self, body: _Body, line: int) -> None:
        """Write one clause of a control block, or `pass` if it is empty."""
        before = len(self.lines)
        body.generate(self)
        if len(self.lines) == before:
            self.write("pass", line)
