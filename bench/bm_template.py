"""Template rendering: whirlwind.template vs tornado.template vs Jinja2.

Measured, per rendering (pyperf reports the time of one rendering):

* bigtable_ints: a ROWS x COLS HTML table whose cells are small ints, the
  classic "bigtable" template benchmark.
* bigtable_text: the same table with text cells, half of them holding `<`,
  `>` and `&`, so that escaping really replaces characters.

Every engine autoescapes ``{{ cell }}`` and produces the page as UTF-8 bytes
(Jinja2's str result is encoded, which is what a web framework sends). The
templates are compiled once, outside the timed loop, and the outputs are
checked to be identical before timing.

Run: ``python bench/bm_template.py --fast -o template.json`` and
``python -m pyperf show template.json`` (``--engines`` picks engines).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyperf

ROWS = 1000
COLS = 10

TORNADO_SYNTAX = """<table>
{% for row in table %}<tr>{% for cell in row.values() %}<td>{{ cell }}</td>{% end %}</tr>
{% end %}</table>
"""
JINJA_SYNTAX = """<table>
{% for row in table %}<tr>{% for cell in row.values() %}<td>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</table>
"""

Render = Callable[[list[dict[str, Any]]], bytes]


def _tables() -> dict[str, list[dict[str, Any]]]:
    columns = "abcdefghij"[:COLS]
    ints = [{c: i + j for j, c in enumerate(columns)} for i in range(ROWS)]
    text = [
        {
            c: (f"<cell {i}:{j}> & co" if (i + j) % 2 else f"cell {i}:{j}")
            for j, c in enumerate(columns)
        }
        for i in range(ROWS)
    ]
    return {"ints": ints, "text": text}


def _engines() -> dict[str, Render]:
    engines: dict[str, Render] = {}

    from whirlwind.template import Template as WTemplate

    whirl = WTemplate(TORNADO_SYNTAX)
    engines["whirlwind"] = lambda table: whirl.generate(table=table)
    try:
        from tornado.template import Template as TTemplate
    except ImportError:
        pass
    else:
        tornado = TTemplate(TORNADO_SYNTAX)
        engines["tornado"] = lambda table: tornado.generate(table=table)
    try:
        import jinja2
    except ImportError:
        pass
    else:
        env = jinja2.Environment(autoescape=True, keep_trailing_newline=True)
        jinja = env.from_string(JINJA_SYNTAX)
        engines["jinja2"] = lambda table: jinja.render(table=table).encode("utf-8")
    return engines


def bm_render(loops: int, render: Render, table: list[dict[str, Any]]) -> float:
    t0 = pyperf.perf_counter()
    for _ in range(loops):
        render(table)
    return pyperf.perf_counter() - t0


def _check_same_output(engines: dict[str, Render], tables: dict[str, Any]) -> None:
    for table in tables.values():
        reference = engines["whirlwind"](table)
        for name, render in engines.items():
            # Jinja2 spells the (absent here) single quote differently; the
            # rest of the escaping is the same.
            if render(table) != reference:
                raise SystemExit(f"{name} renders a different page")


def main() -> None:
    runner = pyperf.Runner()
    runner.argparser.add_argument(
        "--engines",
        default="whirlwind,tornado,jinja2",
        help="comma-separated engines to run (default: all available)",
    )
    runner.metadata["description"] = (
        f"Render a {ROWS}x{COLS} HTML table with autoescaping, to UTF-8 bytes"
    )
    args = runner.parse_args()
    wanted = set(args.engines.split(","))
    engines = {k: v for k, v in _engines().items() if k in wanted or k == "whirlwind"}
    tables = _tables()
    _check_same_output(engines, tables)
    for kind, table in tables.items():
        for name, render in engines.items():
            if name in wanted:
                runner.bench_time_func(
                    f"bigtable_{kind}[{name}]", bm_render, render, table
                )


if __name__ == "__main__":
    main()
