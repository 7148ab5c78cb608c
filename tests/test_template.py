"""Tests for whirlwind.template, mostly tables of (templates, context,
expected output) and (template, expected error, file, line)."""

from __future__ import annotations

import gc
import os
import threading
import traceback
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whirlwind import _core
from whirlwind._template_code import _py_early_text, _PyTemplateWriter
from whirlwind.escape import to_unicode, utf8
from whirlwind.template import (
    BaseLoader,
    DictLoader,
    Loader,
    ParseError,
    Template,
    filter_whitespace,
)

DATA = os.path.join(os.path.dirname(__file__), "data", "templates")


class _Safe(str):
    """A str subclass, to check that subclasses are treated as text."""


def _shout(data: bytes) -> str:
    assert type(data) is bytes  # apply/autoescape functions receive bytes
    return data.decode("utf-8").upper()


def _py_repr(data: bytes) -> str:
    assert type(data) is bytes
    return repr(data.decode("utf-8"))


def _modules() -> Any:
    class Modules:
        @staticmethod
        def Shout(text: str) -> str:
            return f"<b>{text.upper()}</b>"

    return Modules()


# (id, templates, loader kwargs, context, expected). The entry point is the
# template named "t.html" unless the id names another with "@name".
OUTPUT_CASES: list[
    tuple[str, dict[str, str], dict[str, Any], dict[str, Any], bytes]
] = [
    ("text", {"t.txt": "plain text"}, {}, {}, b"plain text"),
    ("expr", {"t.txt": "Hello {{ name }}!"}, {}, {"name": "Ben"}, b"Hello Ben!"),
    ("arith", {"t.txt": "2 + 2 = {{ 2 + 2 }}"}, {}, {}, b"2 + 2 = 4"),
    (
        "escape",
        {"t.txt": "{{ v }}"},
        {},
        {"v": "<a href=\"x\">'&'</a>"},
        b"&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;",
    ),
    (
        "escape-bytes",
        {"t.txt": "{{ v }}"},
        {},
        {"v": b"<\xc3\xa9>"},
        b"&lt;\xc3\xa9&gt;",
    ),
    ("escape-int", {"t.txt": "{{ v }}"}, {}, {"v": -12}, b"-12"),
    ("escape-float", {"t.txt": "{{ v }}"}, {}, {"v": 2.5}, b"2.5"),
    ("escape-bool", {"t.txt": "{{ v }}"}, {}, {"v": True}, b"True"),
    ("escape-none", {"t.txt": "{{ v }}"}, {}, {"v": None}, b"None"),
    (
        "escape-list",
        {"t.txt": "{{ v }}"},
        {},
        {"v": ["<x>"]},
        b"[&#x27;&lt;x&gt;&#x27;]",
    ),
    ("escape-subclass", {"t.txt": "{{ v }}"}, {}, {"v": _Safe("<i>")}, b"&lt;i&gt;"),
    ("tuple-expr", {"t.txt": "{{ 1, 'a' }}"}, {}, {}, b"(1, &#x27;a&#x27;)"),
    ("expr-comment", {"t.txt": "{{ x # the x\n}}!"}, {}, {"x": 3}, b"3!"),
    (
        "unicode-literal",
        {"t.txt": '{{ "\u00e9" }}\u00e9'},
        {},
        {},
        "\u00e9\u00e9".encode(),
    ),
    ("comment", {"t.txt": "a{# ignored {{ x }} #}b"}, {}, {}, b"ab"),
    (
        "literal-braces",
        {"t.txt": "{{! x }} {%! y %} {#! z #}"},
        {},
        {},
        b"{{ x }} {% y %} {# z #}",
    ),
    ("innermost-braces", {"t.txt": "{{{ 1 }}}"}, {}, {}, b"{1}"),
    ("lone-brace", {"t.txt": "a { b } {"}, {}, {}, b"a { b } {"),
    (
        "if",
        {"t.txt": "{% if x > 4 %}big{% elif x > 2 %}mid{% else %}small{% end %}"},
        {},
        {"x": 3},
        b"mid",
    ),
    ("if-empty", {"t.txt": "{% if True %}{% else %}{% end %}"}, {}, {}, b""),
    (
        "for-else",
        {"t.txt": "{% for i in xs %}{{ i }}{% else %}none{% end %}"},
        {},
        {"xs": []},
        b"none",
    ),
    (
        "for-break-skips-else",
        {
            "t.txt": "{% for i in xs %}{{ i }}{% if i == 2 %}{% break %}{% end %}{% else %}E{% end %}"
        },
        {},
        {"xs": [1, 2, 3]},
        b"12",
    ),
    (
        "while-continue",
        {
            "t.txt": "{% set i = 0 %}{% while i < 5 %}{% set i += 1 %}{% if i % 2 %}{% continue %}{% end %}{{ i }}{% end %}"
        },
        {},
        {},
        b"24",
    ),
    (
        "try",
        {
            "t.txt": "{% try %}{{ 1 // x }}{% except ZeroDivisionError %}zero{% else %}+ok{% finally %};done{% end %}"
        },
        {},
        {"x": 0},
        b"zero;done",
    ),
    (
        "try-else",
        {
            "t.txt": "{% try %}{{ 1 // x }}{% except ZeroDivisionError %}zero{% else %}+ok{% finally %};done{% end %}"
        },
        {},
        {"x": 1},
        b"1+ok;done",
    ),
    ("set", {"t.txt": "{% set a, b = 1, 2 %}{{ a + b }}"}, {}, {}, b"3"),
    ("import", {"t.txt": "{% import math %}{{ math.floor(2.7) }}"}, {}, {}, b"2"),
    (
        "from-import",
        {"t.txt": "{% from os.path import join %}{{ join('a', 'b') }}"},
        {},
        {},
        b"a/b",
    ),
    ("comment-directive", {"t.txt": "{% comment whatever %}x"}, {}, {}, b"x"),
    (
        "apply",
        {"t.txt": "{% apply shout %}a{{ 'b' }}\u00e9{% end %}!"},
        {},
        {"shout": _shout},
        "AB\u00c9!".encode(),
    ),
    (
        "apply-bytes-result",
        {"t.txt": "{% apply f %}x{% end %}"},
        {},
        {"f": lambda b: b + b"\xff"},
        b"x\xff",
    ),
    ("raw", {"t.txt": "{% raw v %}|{{ v }}"}, {}, {"v": "<b>"}, b"<b>|&lt;b&gt;"),
    (
        "raw-nonutf8-bytes",
        {"t.txt": "{% raw v %}"},
        {},
        {"v": b"\xff\xfe"},
        b"\xff\xfe",
    ),
    (
        "autoescape-none-loader",
        {"t.txt": "{{ v }}"},
        {"autoescape": None},
        {"v": "<b>"},
        b"<b>",
    ),
    (
        "autoescape-directive-off",
        {"t.txt": "{% autoescape None %}{{ v }}"},
        {},
        {"v": "<b>"},
        b"<b>",
    ),
    (
        "autoescape-directive-on",
        {"t.txt": "{% autoescape xhtml_escape %}{{ v }}"},
        {"autoescape": None},
        {"v": "<b>"},
        b"&lt;b&gt;",
    ),
    (
        "autoescape-custom",
        {"t.txt": "{% autoescape py_repr %}s = {{ v }}"},
        {},
        {"py_repr": _py_repr, "v": ["<x>"]},
        b"s = \"['<x>']\"",
    ),
    (
        "autoescape-file-wide",
        {"t.txt": "{{ v }}{% autoescape None %}{{ v }}"},
        {},
        {"v": "<b>"},
        b"<b><b>",
    ),
    (
        "escape-overridden-by-kwargs",
        {"t.txt": "{{ v }}"},
        {},
        {"v": "x", "xhtml_escape": _shout},
        b"X",
    ),
    (
        "escape-assigned-in-template",
        {"t.txt": "{% set xhtml_escape = shout %}{{ v }}"},
        {},
        {"v": "<x>", "shout": _shout},
        b"<X>",
    ),
    (
        "module",
        {"t.txt": "{% module Shout('hi') %}"},
        {},
        {"_tt_modules": _modules()},
        b"<b>HI</b>",
    ),
    (
        "namespace-defaults",
        {
            "t.txt": "{{ url_escape('a b') }} {% raw json_encode('</') %} {{ squeeze(' a  b ') }} {{ datetime.date(2024, 1, 2) }}"
        },
        {},
        {},
        b'a+b "<\\/" a b 2024-01-02',
    ),
    (
        "namespace-linkify",
        {"t.txt": "{% raw linkify('see http://x.example') %}"},
        {},
        {},
        b'see <a href="http://x.example">http://x.example</a>',
    ),
    (
        "loader-namespace",
        {"t.txt": "{{ inc(5) }}"},
        {"namespace": {"inc": lambda x: x + 1}},
        {},
        b"6",
    ),
    (
        "kwargs-beat-loader-namespace",
        {"t.txt": "{{ inc(5) }}"},
        {"namespace": {"inc": lambda x: x + 1}},
        {"inc": lambda x: x - 1},
        b"4",
    ),
    (
        "include",
        {"t.txt": "{% include 'h.txt' %}\nbody", "h.txt": "header"},
        {},
        {},
        b"header\nbody",
    ),
    (
        "include-shares-locals",
        {
            "t.txt": "{% set who = 'you' %}{% include 'h.txt' %}/{{ after }}",
            "h.txt": "hi {{ who }}{% set after = 1 %}",
        },
        {},
        {},
        b"hi you/1",
    ),
    (
        "include-relative",
        {
            "t.txt": "{% include 'a/1.txt' %}",
            "a/1.txt": "{% include '2.txt' %}",
            "a/2.txt": "{% include '../b/3.txt' %}",
            "b/3.txt": "ok",
        },
        {},
        {},
        b"ok",
    ),
    (
        "include-own-autoescape",
        {
            "t.txt": "{{ v }}|{% include 'u.txt' %}",
            "u.txt": "{% autoescape None %}{{ v }}",
        },
        {},
        {"v": "<b>"},
        b"&lt;b&gt;|<b>",
    ),
    (
        "extends",
        {
            "base.txt": "<t>{% block title %}default{% end %}</t><b>{% block body %}body{% end %}</b>",
            "t.txt": "{% extends 'base.txt' %}ignored{% block title %}mine{% end %}",
        },
        {},
        {},
        b"<t>mine</t><b>body</b>",
    ),
    (
        "extends-two-levels",
        {
            "base.txt": "[{% block a %}A{% end %}|{% block b %}B{% end %}|{% block c %}C{% end %}]",
            "mid.txt": "{% extends 'base.txt' %}{% block b %}b{% end %}{% block c %}c{% end %}",
            "t.txt": "{% extends 'mid.txt' %}{% block c %}z{% end %}",
        },
        {},
        {},
        b"[A|b|z]",
    ),
    (
        "extends-block-autoescape",
        {
            "base.txt": "{% autoescape None %}{% block x %}{{ v }}{% end %}{% block y %}{{ v }}{% end %}",
            "t.txt": "{% extends 'base.txt' %}{% block y %}{{ v }}{% end %}",
        },
        {},
        {"v": "<i>"},
        b"<i>&lt;i&gt;",
    ),
    (
        "block-in-include",
        {
            "base.txt": "({% include 'inc.txt' %})",
            "inc.txt": "{% block x %}inc{% end %}",
            "t.txt": "{% extends 'base.txt' %}{% block x %}child{% end %}",
        },
        {},
        {},
        b"(child)",
    ),
    ("ws-html-single", {"t.html": "   \n\t\n asdf\t   "}, {}, {}, b"\nasdf "),
    ("ws-js-single", {"t.js": " \n\n\n\t qwer     "}, {}, {}, b"\nqwer "),
    ("ws-txt-all", {"t.txt": "\t    zxcv\n\n"}, {}, {}, b"\t    zxcv\n\n"),
    (
        "ws-pre-kept",
        {"t.html": "<pre>  a\n\n  b</pre>"},
        {},
        {},
        b"<pre>  a\n\n  b</pre>",
    ),
    (
        "ws-loader-oneline",
        {"t.html": "\t\tfoo\n\n"},
        {"whitespace": "oneline"},
        {},
        b" foo ",
    ),
    (
        "ws-loader-all",
        {"t.html": "\t\tfoo\n\n"},
        {"whitespace": "all"},
        {},
        b"\t\tfoo\n\n",
    ),
    (
        "ws-directive",
        {
            "t.html": "{% whitespace oneline %}\n    {% for i in range(3) %}\n        {{ i }}\n    {% end %}\n{% whitespace all %}\n    pre\tformatted\n"
        },
        {},
        {},
        b"  0  1  2  \n    pre\tformatted\n",
    ),
    (
        "ws-each-file-own-mode",
        {"t.txt": "\t\t{% include 'f.html' %}    ", "f.html": "   \n\t\n asdf\t   "},
        {},
        {},
        b"\t\t\nasdf     ",
    ),
    (
        "run-escapes-utf8",
        {"t.txt": "<td>{{ a }}</td><td>{{ b }}</td>"},
        {},
        {"a": "\u00e9<\u4e2d>\U0001f600&", "b": "\udcff'"},
        "<td>\u00e9&lt;\u4e2d&gt;\U0001f600&amp;</td><td>".encode()
        + b"\xff&#x27;</td>",
    ),
    (
        "run-over-lines",
        {"t.txt": "{{ a }}|{{ b }}\n{{ a }}\u00e9\n"},
        {},
        {"a": 1, "b": "<"},
        "1|&lt;\n1\u00e9\n".encode(),
    ),
    ("text-surrogateescaped", {"t.txt": "a\udcffb{{ 1 }}"}, {}, {}, b"a\xffb1"),
    (
        "try-keeps-text-before-error",
        {"t.txt": "{% try %}a{{ v }}{{ 1/0 }}b{% except %}c{% end %}"},
        {},
        {"v": "<"},
        b"a&lt;c",
    ),
    (
        "values-evaluated-in-order",
        {"t.txt": "{% set log = [] %}{{ log.append(1) }}{{ log.append(2) }}{{ log }}"},
        {},
        {},
        b"NoneNone[1, 2]",
    ),
    (
        "str-runs-in-template-order",
        {
            "t.txt": "{% set xs = [] %}{{ xs }}{{ xs.append(1) }}{{ xs }}|{{ xs }}{{ 2 }}"
        },
        {},
        {},
        b"[]None[1]|[1]2",
    ),
    (
        "tags-span-lines",
        {
            "t.txt": "{% for i in items\n  %}{% if i > 0 %}, {% end %}{#\n  #}{{i\n  }}{% end\n%}"
        },
        {},
        {"items": range(5)},
        b"0, 1, 2, 3, 4",
    ),
]


def _entry(templates: dict[str, str]) -> str:
    for name in templates:
        if name.startswith("t."):
            return name
    raise AssertionError("no entry template")


@pytest.mark.parametrize(
    ("templates", "loader_kwargs", "context", "expected"),
    [case[1:] for case in OUTPUT_CASES],
    ids=[case[0] for case in OUTPUT_CASES],
)
def test_output_table(
    templates: dict[str, str],
    loader_kwargs: dict[str, Any],
    context: dict[str, Any],
    expected: bytes,
) -> None:
    loader = DictLoader(templates, **loader_kwargs)
    template = loader.load(_entry(templates))
    assert template.generate(**context) == expected
    # The compiled code is reused: a second rendering gives the same bytes.
    assert template.generate(**context) == expected
    # So do the Python references of the compiled writer and early_text
    # (what a source tree without the extension runs).
    for loaded in loader.templates.values():
        loaded._defaults["_tt_writer"] = _PyTemplateWriter
        loaded._defaults["_tt_early"] = _py_early_text
    assert template.generate(**context) == expected


# (template text, message fragment, line). Loaded as "e.html" from a
# DictLoader that also holds "other.html".
PARSE_ERRORS: list[tuple[str, str, str, int]] = [
    ("{{", "Missing end expression }}", "e.html", 1),
    ("\n\nx {{ y", "Missing end expression }}", "e.html", 3),
    ("{%", "Missing end block %}", "e.html", 1),
    ("a\n{# b", "Missing end comment #}", "e.html", 2),
    ("{{ }}", "Empty expression", "e.html", 1),
    ("{%  %}", "Empty block tag", "e.html", 1),
    ("a\n{% if x %}\n\nyes", "Missing {% end %} block for if", "e.html", 2),
    ("x\n{% end %}", "Extra {% end %} block", "e.html", 2),
    ("{% else %}", "else outside", "e.html", 1),
    (
        "{% for x in y %}\n{% except %}{% end %}",
        "cannot be attached to for block",
        "e.html",
        2,
    ),
    ("{% if x %}{% finally %}{% end %}", "cannot be attached to if block", "e.html", 1),
    ("\n{% break %}", "break outside", "e.html", 2),
    (
        "{% while x %}{% apply f %}{% continue %}{% end %}{% end %}",
        "continue outside",
        "e.html",
        1,
    ),
    ("{% frobnicate x %}", "unknown operator: 'frobnicate'", "e.html", 1),
    ("{% block %}{% end %}", "block missing name", "e.html", 1),
    ("{% apply %}{% end %}", "apply missing method name", "e.html", 1),
    ("{% include %}", "include missing file path", "e.html", 1),
    ("{% extends '' %}", "extends missing file path", "e.html", 1),
    ("{% set %}", "set missing statement", "e.html", 1),
    ("{% import %}", "import missing statement", "e.html", 1),
    ("{% raw %}", "raw missing expression", "e.html", 1),
    ("\n{% whitespace sideways %}", "invalid whitespace mode sideways", "e.html", 2),
    ("one\ntwo {{ 1 + }}", "invalid Python", "e.html", 2),
    ("{% if x %}\n{% elif %}\n{% end %}", "invalid Python", "e.html", 2),
    ("{% include 'other.html' %}", "invalid Python", "other.html", 3),
    (
        "{% if True %}{% extends 'other.html' %}{% end %}",
        "must be at the top level",
        "e.html",
        1,
    ),
]


@pytest.mark.parametrize(("text", "message", "filename", "line"), PARSE_ERRORS)
def test_parse_error_table(text: str, message: str, filename: str, line: int) -> None:
    loader = DictLoader({"e.html": text, "other.html": "\n\n{{ ) }}"})
    with pytest.raises(ParseError) as info:
        loader.load("e.html")
    assert message in info.value.message
    assert info.value.filename == filename
    assert info.value.lineno == line
    assert str(info.value) == f"{info.value.message} at {filename}:{line}"


def test_parse_error_compat_signature() -> None:
    assert str(ParseError("oops")) == "oops at None:0"
    err = ParseError("bad", "f.html", 7)
    assert (err.message, err.filename, err.lineno) == ("bad", "f.html", 7)


def test_extends_and_include_need_a_loader() -> None:
    with pytest.raises(ParseError, match="no template loader"):
        Template("{% extends 'base.html' %}")
    with pytest.raises(ParseError, match="no template loader"):
        Template("{% include 'x.html' %}")


def _template_frames(exc: BaseException) -> list[tuple[str, int, str | None]]:
    return [
        (os.path.basename(frame.filename), frame.lineno or 0, frame.line)
        for frame in traceback.extract_tb(exc.__traceback__)
        if frame.name == "<template>"
    ]


# (templates, entry, exception, [(file, line), ...] template frames in order,
# fragment expected in the formatted traceback).
RUNTIME_ERRORS: list[
    tuple[dict[str, str], str, type[Exception], list[tuple[str, int]], str]
] = [
    (
        {"a.html": "one\ntwo{{1/0}}\nthree"},
        "a.html",
        ZeroDivisionError,
        [("a.html", 2)],
        "# a.html:2",
    ),
    (
        {"a.html": "one\ntwo{%if 1/0%}\nthree{%end%}"},
        "a.html",
        ZeroDivisionError,
        [("a.html", 2)],
        "# a.html:2",
    ),
    (
        {"a.html": "x\n\n{{ missing_name }}"},
        "a.html",
        NameError,
        [("a.html", 3)],
        "# a.html:3",
    ),
    (
        {"base.html": "{% include 'sub.html' %}", "sub.html": "\n{{1/0}}"},
        "base.html",
        ZeroDivisionError,
        [("sub.html", 2)],
        "# sub.html:2 (via base.html:1)",
    ),
    (
        {
            "a.html": "{% include 'b.html' %}",
            "b.html": "\n{% include 'c.html' %}",
            "c.html": "{{1/0}}",
        },
        "a.html",
        ZeroDivisionError,
        [("c.html", 1)],
        "# c.html:1 (via b.html:2, a.html:1)",
    ),
    (
        {"base.html": "{{1/0}}", "sub.html": "{% extends 'base.html' %}"},
        "sub.html",
        ZeroDivisionError,
        [("base.html", 1)],
        "# base.html:1",
    ),
    (
        {
            "base.html": "{% block 'block' %}{% end %}",
            "sub.html": "\n{% extends 'base.html' %}\n{% block 'block' %}\n{{1/0}}\n{% end %}\n",
        },
        "sub.html",
        ZeroDivisionError,
        [("sub.html", 4)],
        "# sub.html:4 (via base.html:1)",
    ),
    (
        {"a.html": "<td>{{ 1 }}</td>\n<td>{{ 2 }}</td><td>{{ 1/0 }}</td>"},
        "a.html",
        ZeroDivisionError,
        [("a.html", 2)],
        "# a.html:2",
    ),
    (
        {"a.html": "x\n<b>{{ type('B', (), {'__str__': lambda s: 1/0})() }}</b>"},
        "a.html",
        ZeroDivisionError,
        [("a.html", 2), ("a.html", 2)],
        "# a.html:2",
    ),
    (
        {"a.html": "{% apply f %}\n{{ [][1] }}{% end %}"},
        "a.html",
        IndexError,
        [("a.html", 1), ("a.html", 2)],
        "# a.html:2",
    ),
    (
        {"a.html": "{% module Template('sub.html') %}", "sub.html": "\n{{ 1/0 }}"},
        "a.html",
        ZeroDivisionError,
        [("a.html", 1), ("sub.html", 2)],
        "# sub.html:2",
    ),
]


@pytest.mark.parametrize(
    ("templates", "entry", "exc_type", "frames", "fragment"), RUNTIME_ERRORS
)
def test_runtime_error_table(
    templates: dict[str, str],
    entry: str,
    exc_type: type[Exception],
    frames: list[tuple[str, int]],
    fragment: str,
) -> None:
    loader: DictLoader

    class Modules:
        @staticmethod
        def Template(name: str) -> bytes:
            return loader.load(name).generate()

    loader = DictLoader(
        templates, namespace={"_tt_modules": Modules(), "f": lambda b: b}
    )
    with pytest.raises(exc_type) as info:
        loader.load(entry).generate()
    assert [(name, line) for name, line, _ in _template_frames(info.value)] == frames
    formatted = "".join(traceback.format_exception(info.type, info.value, info.tb))
    assert fragment in formatted
    # The template frames show the template's own source line.
    for (name, line), (_, _, text) in zip(
        frames, _template_frames(info.value), strict=True
    ):
        assert text == templates[name].splitlines()[line - 1].strip()


def test_runtime_error_frames_of_called_functions_are_kept() -> None:
    def helper() -> str:
        raise KeyError("deep")

    loader = Loader(DATA)
    with pytest.raises(KeyError) as info:
        loader.load("calls.html").generate(helper=helper)
    summary = traceback.extract_tb(info.value.__traceback__)
    names = [frame.name for frame in summary]
    # ... generated code, then the template's own frame, then the helper.
    assert names[-2:] == ["<template>", "helper"]
    template_frame = summary[-2]
    assert template_frame.filename == os.path.join(DATA, "calls.html")
    assert template_frame.lineno == 3
    assert template_frame.line == "<p>{{ helper() }}</p>"


def test_loader_reads_files_and_inherits() -> None:
    loader = Loader(DATA)
    page = loader.load("page.html").generate(title="<Fruit>", items=["a", "b&c"])
    assert page == (
        b"<html><head><title>&lt;Fruit&gt;</title></head>\n"
        b"<body><ul><li>a</li><li>b&amp;c</li>\n</ul></body></html>\n"
    )
    assert (
        to_unicode(loader.load("utf8.html").generate(name="\u00e9"))
        == "H\u00e9llo \u00e9\n"
    )


def test_loader_error_points_at_real_file() -> None:
    loader = Loader(DATA)
    with pytest.raises(ZeroDivisionError) as info:
        loader.load("broken.html").generate(divisor=0)
    frame = [
        f
        for f in traceback.extract_tb(info.value.__traceback__)
        if f.name == "<template>"
    ][-1]
    assert frame.filename == os.path.join(DATA, "broken.html")
    assert frame.lineno == 3
    assert frame.line == "{{ 1 // divisor }} is on line three"


def test_loader_caches_and_resets() -> None:
    loader = Loader(DATA)
    first = loader.load("parts/item.html")
    assert loader.load("parts/item.html") is first
    assert loader.load("item.html", parent_path="parts/list.html") is first
    loader.reset()
    second = loader.load("parts/item.html")
    assert second is not first
    assert second.generate(item=1) == first.generate(item=1) == b"<li>1</li>"


def test_loader_resolve_path() -> None:
    loader = Loader(DATA)
    assert loader.resolve_path("item.html", "parts/list.html") == os.path.join(
        "parts", "item.html"
    )
    assert loader.resolve_path("../base.html", "parts/list.html") == "base.html"
    # Leaving the root keeps the name as written.
    assert loader.resolve_path("../../x.html", "parts/list.html") == "../../x.html"
    assert loader.resolve_path("/abs.html", "parts/list.html") == "/abs.html"
    assert loader.resolve_path("x.html", "<string>") == "x.html"
    dict_loader = DictLoader({})
    assert dict_loader.resolve_path("../b/3.html", "a/1.html") == "b/3.html"
    assert dict_loader.resolve_path("x.html") == "x.html"


def test_loader_is_thread_safe_and_compiles_once() -> None:
    compiled: list[str] = []

    class CountingLoader(DictLoader):
        def _create_template(self, name: str) -> Template:
            compiled.append(name)
            return super()._create_template(name)

    loader = CountingLoader({"t.html": "{% for i in range(3) %}{{ i }}{% end %}"})
    results: list[bytes] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(loader.load("t.html").generate())
        )
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [b"012"] * 8
    assert compiled == ["t.html"]


def test_base_loader_is_abstract() -> None:
    with pytest.raises(NotImplementedError):
        BaseLoader().load("x")


def test_template_arguments() -> None:
    assert Template("  a  \n\n b", whitespace="single").generate() == b" a\nb"
    assert Template("  a  \n\n b", compress_whitespace=True).generate() == b" a\nb"
    assert (
        Template("  a  \n\n b", compress_whitespace=False).generate() == b"  a  \n\n b"
    )
    assert Template("  a  ", name="x.html").generate() == b" a "
    assert Template("{{ v }}", autoescape=None).generate(v="<") == b"<"
    with pytest.raises(ValueError):
        Template("x", whitespace="single", compress_whitespace=True)
    with pytest.raises(ValueError):
        Template("x", whitespace="sideways")
    template = Template(utf8("{{ x }}"), name="n.html")
    assert template.name == "n.html"
    assert template.autoescape == "xhtml_escape"
    assert "_tt_execute" in template.code
    assert template.compiled.co_filename == "n_html.generated.py"


@pytest.mark.parametrize(
    ("mode", "text", "expected"),
    [
        ("all", " a \t\n\n b ", " a \t\n\n b "),
        ("single", " a \t\n\n b ", " a\nb "),
        ("single", "a\t\tb", "a b"),
        ("oneline", " a \t\n\n b ", " a b "),
    ],
)
def test_filter_whitespace(mode: str, text: str, expected: str) -> None:
    assert filter_whitespace(mode, text) == expected


def test_generated_code_is_lean() -> None:
    # The benchmark's shape: a row of text and values is one emit call that
    # escapes in C; no per-value escape calls, no bytes round trips.
    template = Template(
        "{% for r in rows %}<td>{{ r }}</td><td>{{ r }}</td>\n{% end %}"
    )
    body = [line.split("  #")[0].strip() for line in template.code.splitlines()]
    assert "_tt_emit((b'<td>', b'</td><td>', b'</td>\\n'), r, r)" in body
    assert not any(
        "_tt_utf8" in line or "_tt_xesc" in line or "_tt_early" in line for line in body
    )
    assert template.generate(rows=[1, "<"]) == (
        b"<td>1</td><td>1</td>\n<td>&lt;</td><td>&lt;</td>\n"
    )


def test_custom_xhtml_escape_reaches_every_value() -> None:
    # A namespace (or loader namespace) that replaces xhtml_escape is used
    # for values inside fused runs too, and the default comes back after.
    template = Template("<i>{{ a }}</i>{{ b }}!")
    assert template.generate(a="x<", b=2, xhtml_escape=_shout) == b"<i>X<</i>2!"
    assert template.generate(a="x<", b=2) == b"<i>x&lt;</i>2!"
    loader = DictLoader(
        {"t.html": "<i>{{ a }}</i>"}, namespace={"xhtml_escape": _py_repr}
    )
    assert loader.load("t.html").generate(a="<") == b"<i>'<'</i>"


def test_template_errors_leave_no_reference_cycles() -> None:
    loader = DictLoader({"a.html": "{% include 'b.html' %}", "b.html": "x\n{{ 1/0 }}"})
    template = loader.load("a.html")

    def fail_once() -> str:
        try:
            template.generate()
        except ZeroDivisionError as exc:
            return _template_frames(exc)[-1][0]
        return ""

    assert fail_once() == "b.html"
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            assert fail_once() == "b.html"
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_loader_namespace_is_read_at_each_rendering() -> None:
    namespace: dict[str, Any] = {"greeting": "hi"}
    loader = DictLoader({"t.txt": "{{ greeting }} {{ name }}"}, namespace=namespace)
    template = loader.load("t.txt")
    assert template.generate(name="a") == b"hi a"
    namespace["greeting"] = "<hello>"
    assert template.generate(name="b") == b"&lt;hello&gt; b"
    # Names passed to generate() win over the loader's namespace.
    assert template.generate(name="c", greeting="yo") == b"yo c"


def test_escape_assigned_inside_apply_is_honoured() -> None:
    template = Template(
        "{{ v }}{% apply f %}{% set xhtml_escape = shout %}{{ v }}{% end %}{{ v }}"
    )
    out = template.generate(v="<x>", shout=_shout, f=lambda b: b)
    assert out == b"&lt;x&gt;<X>&lt;x&gt;"


# The compiled output buffer (whirlwind._core.TemplateWriter) against its
# Python reference: the same bytes for any sequence of appends and emits.

_WRITER_TEXT = st.text(
    st.one_of(
        st.sampled_from("&<>\"'"), st.characters(), st.characters(max_codepoint=255)
    )
)
_WRITER_VALUE = st.one_of(
    _WRITER_TEXT,
    _WRITER_TEXT.map(_Safe),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.text().map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.lists(st.integers(max_value=3), max_size=2),
)
_WRITER_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), _WRITER_TEXT),
        st.tuples(
            st.just("emit"),
            st.tuples(
                st.lists(st.binary(max_size=8), min_size=1, max_size=4),
                st.lists(_WRITER_VALUE, max_size=3),
            ),
        ),
    ),
    max_size=12,
)


def _write(writer: Any, ops: list[Any]) -> bytes | str:
    try:
        for op, arg in ops:
            if op == "append":
                writer.append(arg)
            else:
                parts, values = arg  # as many values as parts allow
                writer.emit(tuple(parts), *values[: len(parts) - 1])
        return writer.getvalue()
    except (UnicodeError, ValueError) as exc:
        return type(exc).__name__


@settings(deadline=None, max_examples=300)
@given(_WRITER_OPS, st.booleans())
def test_compiled_writer_matches_python(ops: list[Any], custom: bool) -> None:
    escape_value = (lambda value: f"[{value!r}]") if custom else None
    compiled = _write(_core.TemplateWriter(escape_value), ops)
    reference = _write(_PyTemplateWriter(escape_value), ops)
    assert compiled == reference


@settings(deadline=None)
@given(_WRITER_VALUE)
def test_compiled_early_text_matches_python(value: Any) -> None:
    compiled = _core.early_text(value)
    reference = _py_early_text(value)
    assert compiled == reference
    assert type(compiled) is type(reference)
    if isinstance(value, (str, bytes, int, float)) and type(value) is not bool:
        assert compiled is value


def test_writer_refuses_what_it_cannot_write() -> None:
    for writer_type in (_core.TemplateWriter, _PyTemplateWriter):
        writer = writer_type()
        with pytest.raises(TypeError):
            writer.append(b"bytes")
        with pytest.raises(ValueError, match="one more part"):
            writer.emit((b"a",), 1)
        with pytest.raises(TypeError, match="bytes"):
            writer.emit(("a", "b"), 1)
        with pytest.raises(TypeError, match="must give str"):
            writer_type(lambda value: b"x").emit((b"", b""), 1)
        assert writer_type().getvalue() == b""
        with pytest.raises(UnicodeEncodeError):  # at once, or at the end
            writer.append("\ud800")
            writer.getvalue()


def test_writer_grows_to_large_output() -> None:
    # Far past the writer's first buffer: many runs, and one value whose
    # escaped form is four times its size.
    value = "<&>" * 1000
    template = Template("{% for i in range(n) %}<b>{{ i }}{{ v }}</b>{% end %}{{ w }}")
    out = template.generate(n=2000, v=value, w="<" * 1_000_000)
    row = "&lt;&amp;&gt;" * 1000
    expected = "".join(f"<b>{i}{row}</b>" for i in range(2000)) + "&lt;" * 1_000_000
    assert out == expected.encode()
