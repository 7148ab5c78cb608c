"""Reader, parser and parse tree of `whirlwind.template` (private).

Contents: `ParseError`, `filter_whitespace` (public through
`whirlwind.template`), `_parse` (text -> tree of `_Node`) and the node classes,
each of which writes its own Python through a `_template_code._Writer`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from whirlwind._template_code import _Writer
    from whirlwind.template import BaseLoader, Template

# Theory of operation
# -------------------
# `_parse` scans the text once, left to right, for "{{", "{%" and "{#" (with
# "{{{" the innermost pair counts; `_find_tag`), so parsing is O(n) in the
# template's length. It builds a tree of nodes: text, expressions,
# statements, control blocks (if/for/while/try, whose else/elif/except/
# finally markers sit in their body as `_Intermediate`), named blocks,
# includes, extends and apply blocks. Block directives recurse and return
# at their `{% end %}`. Whitespace filtering of text happens here, as the
# text is read. Errors raise ParseError(message, file, line).
#
# Each node's `generate(writer)` emits its Python lines; `_Body` joins
# adjacent text and `{{ }}` values into one `_tt_emit(...)` (`_Run`).
# Includes and named blocks are resolved through the loader at
# code-generation time, so an include shares the includer's namespace and
# locals (as in Tornado).

_DEFAULT_AUTOESCAPE = "xhtml_escape"

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


# Both are public as `whirlwind.template.<name>`; say so in reprs and pickles.
ParseError.__module__ = "whirlwind.template"
filter_whitespace.__module__ = "whirlwind.template"


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
        run = _Run()
        for node in self.nodes:
            if isinstance(node, _Text):
                if node.value and not run.add_text(node.value, node.line):
                    run.flush(writer)  # text UTF-8 can't hold: as str
                    writer.write(f"_tt_append({node.value!r})", node.line)
                continue
            value = _fusable(node, writer)
            if value is None or not run.add_value(value, node.line):
                run.flush(writer)
                if value is None:
                    node.generate(writer)
                else:
                    run.add_value(value, node.line)
        run.flush(writer)


class _Run:
    """Adjacent text and `{{ }}` values, written as one call.

    `_tt_emit((b"<td>", b"</td><td>", b"</td>"), name, value)` writes the
    three literals with the two values escaped between them, in C, so a
    table row costs one call instead of five appends and two escapes. The
    values are evaluated in template order, then escaped as they are
    written (see `flush` for values whose str() is Python code). A run only
    holds values from one template line (an error then points at the right
    line) and is never made inside `{% try %}` (a failing value must leave
    the text before it written, as in Tornado).
    """

    parts: list[bytes]  # one more than values: the literals around them
    values: list[str]  # source of each value's expression
    line: int  # the values' template line, or the text's

    def __init__(self) -> None:
        self._clear()

    def _clear(self) -> None:
        self.parts = [b""]
        self.values = []
        self.line = 0

    def add_text(self, text: str, line: int) -> bool:
        try:
            self.parts[-1] += text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            return False
        if not self.values:
            self.line = line
        return True

    def add_value(self, expression: str, line: int) -> bool:
        if self.values and line != self.line:
            return False
        self.values.append(expression)
        self.parts.append(b"")
        self.line = line
        return True

    def flush(self, writer: _Writer) -> None:
        if self.values:
            # A value is turned into text before a later expression runs
            # (`_tt_early`) unless no later one can run code (names and
            # constants), or it is a constant itself: so every __str__ runs
            # in template order, as when each value was escaped at once.
            values = self.values
            args = ", ".join(
                f"_tt_early({value})"
                if not _is_constant(value)
                and not all(_is_name_or_constant(v) for v in values[i + 1 :])
                else value
                for i, value in enumerate(values)
            )
            writer.write(f"_tt_emit({tuple(self.parts)!r}, {args})", self.line)
        elif self.parts[0]:
            text = self.parts[0].decode("utf-8", "surrogateescape")
            writer.write(f"_tt_append({text!r})", self.line)
        self._clear()


def _is_constant(expression: str) -> bool:
    return isinstance(ast.parse(expression, mode="eval").body, ast.Constant)


def _is_name_or_constant(expression: str) -> bool:
    return isinstance(ast.parse(expression, mode="eval").body, (ast.Name, ast.Constant))


def _fusable(node: _Node, writer: _Writer) -> str | None:
    """The expression of ``node`` if it can join a `_Run`, else None."""
    if (
        not isinstance(node, _Expression)
        or node.raw
        or not writer.fast
        or writer.try_depth
        or writer.current_template.autoescape != _DEFAULT_AUTOESCAPE
        or not _is_plain_expression(node.expression)
    ):
        return None
    return node.expression


class _File(_Node):
    def __init__(self, template: Template, body: _Body) -> None:
        self.template = template
        self.body = body

    def children(self) -> tuple[_Node, ...]:
        return (self.body,)

    def generate(self, writer: _Writer) -> None:
        writer.write("def _tt_execute():", 0)
        with writer.indented():
            writer.open_buffer(0)
            self.body.generate(writer)
            writer.write("return _tt_buffer.getvalue()", 0)


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
            writer.write(f"_tt_emit((b'', b''), {value})", self.line)
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
        is_try = self.statement.split(None, 1)[0] == "try"
        writer.try_depth += is_try
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
        writer.try_depth -= is_try


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
            writer.open_buffer(self.line)
            self.body.generate(writer)
            writer.write("return _tt_buffer.getvalue()", self.line)
        writer.write(f"_tt_append(_tt_text({self.method}({name}())))", self.line)


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
