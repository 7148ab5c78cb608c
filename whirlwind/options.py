"""Command-line and config-file options, defined next to the code that uses them.

Contents:

* `define`: declare an option (name, default, type, help, ...) on the global
  `options` object; any module can define its own.
* `parse_command_line`, `parse_config_file`: set values from ``--name=value``
  arguments or from a Python file of ``name = value`` lines.
* `options` (the global `OptionParser`), `print_help`, `add_parse_callback`,
  `Error`.

Option names treat ``-`` and ``_`` alike (``--max-size`` sets
``options.max_size``). Types: str, int, float, bool, `datetime.datetime`,
`datetime.timedelta` (``45s``, ``1h30m``, ``2 days``) and any class whose
constructor takes the string. ``multiple=True`` takes comma lists, and for
ints ``a:b`` ranges (inclusive). Example::

    from whirlwind.options import define, options, parse_command_line

    define("port", default=8888, help="port to listen on")
    parse_command_line()
    print(options.port)

`parse_command_line` also configures logging (see `whirlwind.log`) unless
``--logging=none`` is given.
"""

from __future__ import annotations

import datetime
import numbers
import os
import re
import sys
import textwrap
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO

from whirlwind.log import define_logging_options
from whirlwind.util import basestring_type, exec_in

__all__ = [
    "Error",
    "OptionParser",
    "add_parse_callback",
    "define",
    "options",
    "parse_command_line",
    "parse_config_file",
    "print_help",
]


class Error(Exception):
    """A bad option definition, an unknown option or an invalid value."""


def _norm(name: str) -> str:
    return name.replace("_", "-")


class OptionParser:
    """A set of options; attributes read and write their values.

    Most programs use the global `options` instance and the module-level
    functions; separate parsers suit subcommands and tests.
    """

    def __init__(self) -> None:
        # Go through __dict__: our own __setattr__ sets option values.
        self.__dict__["_options"] = {}
        self.__dict__["_parse_callbacks"] = []
        self.define(
            "help",
            type=bool,
            help="show this help information",
            callback=self._help_callback,
        )

    # --- attribute and mapping access -------------------------------------

    def __getattr__(self, name: str) -> Any:
        opt = self._options.get(_norm(name))
        if opt is None:
            raise AttributeError(f"Unrecognized option {name!r}")
        return opt.value()

    def __setattr__(self, name: str, value: Any) -> None:
        opt = self._options.get(_norm(name))
        if opt is None:
            raise AttributeError(f"Unrecognized option {name!r}")
        opt.set(value)

    def __iter__(self) -> Iterator[str]:
        return (opt.name for opt in self._options.values())

    def __contains__(self, name: str) -> bool:
        return _norm(name) in self._options

    def __getitem__(self, name: str) -> Any:
        return self.__getattr__(name)

    def __setitem__(self, name: str, value: Any) -> None:
        self.__setattr__(name, value)

    def items(self) -> Iterable[tuple[str, Any]]:
        """(name, value) pairs of every option."""
        return [(opt.name, opt.value()) for opt in self._options.values()]

    def groups(self) -> set[str]:
        """The names of the option groups (by default, defining file names)."""
        return {opt.group_name for opt in self._options.values()}

    def group_dict(self, group: str) -> dict[str, Any]:
        """{name: value} of the options in ``group`` (for e.g. app settings)."""
        return {
            opt.name: opt.value()
            for opt in self._options.values()
            if not group or group == opt.group_name
        }

    def as_dict(self) -> dict[str, Any]:
        """{name: value} of every option."""
        return {opt.name: opt.value() for opt in self._options.values()}

    # --- definition ---------------------------------------------------------

    def define(
        self,
        name: str,
        default: Any = None,
        type: type | None = None,
        help: str | None = None,
        metavar: str | None = None,
        multiple: bool = False,
        group: str | None = None,
        callback: Callable[[Any], None] | None = None,
    ) -> None:
        """Declare option ``name``.

        ``type`` defaults to the type of ``default`` (str if there is none).
        With ``multiple=True`` the value is a list. ``group`` groups the
        option in `print_help` (default: the defining file). ``callback`` is
        called with each new value.
        """
        key = _norm(name)
        if key in self._options:
            raise Error(
                f"Option {key!r} already defined in {self._options[key].file_name}"
            )
        caller = sys._getframe(1)
        # Calls made through the module-level define() report their caller;
        # options defined by this module itself (help) get the group "".
        if (
            caller.f_code.co_name == "define"
            and caller.f_code.co_filename == __file__
            and caller.f_back is not None
        ):
            caller = caller.f_back
        file_name = caller.f_code.co_filename
        if file_name == __file__:
            file_name = ""
        if type is None:
            if not multiple and default is not None:
                type = default.__class__
            else:
                type = str
        self._options[key] = _Option(
            name,
            file_name=file_name,
            default=default,
            type=type,
            help=help,
            metavar=metavar,
            multiple=multiple,
            group_name=group if group else file_name,
            callback=callback,
        )

    # --- parsing -------------------------------------------------------------

    def parse_command_line(
        self, args: list[str] | None = None, final: bool = True
    ) -> list[str]:
        """Set options from ``args`` (default `sys.argv`; ``args[0]`` is skipped).

        Parsing stops at the first argument that is not an option (or after
        ``--``); the rest is returned. A bare ``--flag`` sets a bool option.
        With ``final=False`` the parse callbacks do not run yet, so several
        sources can be combined.
        """
        if args is None:
            args = sys.argv
        rest: list[str] = []
        for i in range(1, len(args)):
            arg = args[i]
            if not arg.startswith("-"):
                rest = args[i:]
                break
            if arg == "--":
                rest = args[i + 1 :]
                break
            name, has_value, value = arg.lstrip("-").partition("=")
            key = _norm(name)
            opt = self._options.get(key)
            if opt is None:
                self.print_help()
                raise Error(f"Unrecognized command line option: {key!r}")
            if not has_value:
                if opt.type is bool:
                    value = "true"
                else:
                    raise Error(f"Option {key!r} requires a value")
            opt.parse(value)
        if final:
            self.run_parse_callbacks()
        return rest

    def parse_config_file(self, path: str, final: bool = True) -> None:
        """Set options from the Python file at ``path``.

        The file runs as Python code (``__file__`` is set to its absolute
        path); each global whose name is an option sets that option. A string
        value is parsed like a command-line value when the option is not a
        str option (or is ``multiple``). Never use an untrusted file.
        """
        config: dict[str, Any] = {"__file__": os.path.abspath(path)}
        with open(path, "rb") as f:
            exec_in(f.read().decode("utf-8"), config, config)
        for name, value in config.items():
            opt = self._options.get(_norm(name))
            if opt is None:
                continue
            if isinstance(value, str) and (opt.multiple or opt.type is not str):
                opt.parse(value)
            else:
                opt.set(value)
        if final:
            self.run_parse_callbacks()

    def print_help(self, file: TextIO | None = None) -> None:
        """Write a usage summary of every option (to stderr by default)."""
        out = sys.stderr if file is None else file
        print(f"Usage: {sys.argv[0] if sys.argv else ''} [OPTIONS]", file=out)
        print("\nOptions:\n", file=out)
        by_group: dict[str, list[_Option]] = {}
        for opt in self._options.values():
            by_group.setdefault(opt.group_name, []).append(opt)
        for group, opts in sorted(by_group.items()):
            if group:
                print(f"\n{os.path.normpath(group)} options:\n", file=out)
            for opt in sorted(opts, key=lambda o: o.name):
                prefix = _norm(opt.name)
                if opt.metavar:
                    prefix += "=" + opt.metavar
                description = opt.help or ""
                if opt.default is not None and opt.default != "":
                    description += f" (default {opt.default})"
                lines = textwrap.wrap(description, 79 - 35) or [""]
                if len(prefix) > 30 or not lines:
                    lines.insert(0, "")
                print(f"  --{prefix:<30} {lines[0]}", file=out)
                for line in lines[1:]:
                    print(f"{'':<34}{line}", file=out)
        print(file=out)

    def _help_callback(self, value: bool) -> None:
        if value:
            self.print_help()
            sys.exit(0)

    def add_parse_callback(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after each final parse."""
        self._parse_callbacks.append(callback)

    def run_parse_callbacks(self) -> None:
        for callback in self._parse_callbacks:
            callback()

    def mockable(self) -> _Mockable:
        """An object for ``mock.patch.object(options.mockable(), "name", value)``.

        Patching the parser directly does not work because its attributes are
        options, not plain attributes.
        """
        return _Mockable(self)


class _Mockable:
    """Adapts `OptionParser` to `mock.patch`'s setattr/delattr protocol."""

    def __init__(self, parser: OptionParser) -> None:
        self.__dict__["_parser"] = parser
        self.__dict__["_saved"] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)

    def __setattr__(self, name: str, value: Any) -> None:
        assert name not in self._saved, "don't patch the same option twice"
        self._saved[name] = getattr(self._parser, name)
        setattr(self._parser, name, value)

    def __delattr__(self, name: str) -> None:
        setattr(self._parser, name, self._saved.pop(name))


_UNSET: Any = object()

_DATETIME_FORMATS = [
    "%a %b %d %H:%M:%S %Y",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y%m%d %H:%M:%S",
    "%Y%m%d %H:%M",
    "%Y-%m-%d",
    "%Y%m%d",
    "%H:%M:%S",
    "%H:%M",
]

_TIMEDELTA_UNITS = {
    "weeks": ("w", "wk", "wks", "week", "weeks"),
    "days": ("d", "day", "days"),
    "hours": ("h", "hr", "hrs", "hour", "hours"),
    "minutes": ("m", "min", "mins", "minute", "minutes"),
    "seconds": ("s", "sec", "secs", "second", "seconds"),
    "milliseconds": ("ms", "msec", "msecs", "millisecond", "milliseconds"),
    "microseconds": ("us", "usec", "usecs", "microsecond", "microseconds"),
}
_UNIT_OF = {
    alias: unit for unit, aliases in _TIMEDELTA_UNITS.items() for alias in aliases
}
_TIMEDELTA_PART = re.compile(
    r"\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*([a-zA-Z]*)\s*"
)


class _Option:
    """One defined option: its metadata and current value."""

    def __init__(
        self,
        name: str,
        default: Any = None,
        type: type | None = None,
        help: str | None = None,
        metavar: str | None = None,
        multiple: bool = False,
        file_name: str | None = None,
        group_name: str | None = None,
        callback: Callable[[Any], None] | None = None,
    ) -> None:
        if default is None and multiple:
            default = []
        self.name = name
        if type is None:
            raise ValueError("type must not be None")
        self.type = type
        self.help = help
        self.metavar = metavar
        self.multiple = multiple
        self.file_name = file_name
        self.group_name = group_name or ""
        self.callback = callback
        self.default = default
        self._value: Any = _UNSET

    def value(self) -> Any:
        return self.default if self._value is _UNSET else self._value

    def parse(self, text: str) -> Any:
        """Set the value from its command-line spelling."""
        convert: Callable[[str], Any] = {
            datetime.datetime: self._parse_datetime,
            datetime.timedelta: self._parse_timedelta,
            bool: self._parse_bool,
            basestring_type: self._parse_string,
        }.get(self.type, self.type)
        if not self.multiple:
            self._value = convert(text)
        else:
            self._value = []
            for part in text.split(","):
                if issubclass(self.type, numbers.Integral) and ":" in part:
                    lo, _, hi = part.partition(":")
                    first, last = convert(lo), convert(hi or lo)
                    self._value.extend(range(first, last + 1))
                else:
                    self._value.append(convert(part))
        if self.callback is not None:
            self.callback(self._value)
        return self.value()

    def set(self, value: Any) -> None:
        """Set the value from Python code, checking its type."""
        if self.multiple:
            if not isinstance(value, list):
                raise Error(
                    f"Option {self.name!r} is required to be a list of "
                    f"{self.type.__name__}"
                )
            for item in value:
                if item is not None and not isinstance(item, self.type):
                    raise Error(
                        f"Option {self.name!r} is required to be a list of "
                        f"{self.type.__name__}"
                    )
        elif value is not None and not isinstance(value, self.type):
            raise Error(
                f"Option {self.name!r} is required to be a {self.type.__name__} "
                f"({type(value)} given)"
            )
        self._value = value
        if self.callback is not None:
            self.callback(self._value)

    def _parse_datetime(self, text: str) -> datetime.datetime:
        for fmt in _DATETIME_FORMATS:
            try:
                return datetime.datetime.strptime(text, fmt)
            except ValueError:
                pass
        raise Error(f"Unrecognized date/time format: {text!r}")

    def _parse_timedelta(self, text: str) -> datetime.timedelta:
        # "1h30m", "45s", "2 days 3 hours", "1.5" (seconds by default).
        total = datetime.timedelta()
        pos = 0
        text = text.strip()
        if not text:
            raise ValueError("empty timedelta")
        while pos < len(text):
            m = _TIMEDELTA_PART.match(text, pos)
            if m is None or m.end() == pos:
                raise ValueError(f"Invalid timedelta: {text!r}")
            number, unit = float(m.group(1)), (m.group(2) or "s").lower()
            if unit not in _UNIT_OF:
                raise ValueError(f"Invalid timedelta unit {unit!r} in {text!r}")
            total += datetime.timedelta(**{_UNIT_OF[unit]: number})
            pos = m.end()
        return total

    def _parse_bool(self, text: str) -> bool:
        return text.lower() not in ("false", "0", "f")

    def _parse_string(self, text: str) -> str:
        return text


#: The global option set that `define` and friends use.
options = OptionParser()


def define(
    name: str,
    default: Any = None,
    type: type | None = None,
    help: str | None = None,
    metavar: str | None = None,
    multiple: bool = False,
    group: str | None = None,
    callback: Callable[[Any], None] | None = None,
) -> None:
    """Define an option on the global `options` (see `OptionParser.define`)."""
    return options.define(
        name,
        default=default,
        type=type,
        help=help,
        metavar=metavar,
        multiple=multiple,
        group=group,
        callback=callback,
    )


def parse_command_line(args: list[str] | None = None, final: bool = True) -> list[str]:
    """Parse the command line into the global `options`."""
    return options.parse_command_line(args, final=final)


def parse_config_file(path: str, final: bool = True) -> None:
    """Read a config file into the global `options`."""
    return options.parse_config_file(path, final=final)


def print_help(file: TextIO | None = None) -> None:
    """Print the global options' help."""
    return options.print_help(file)


def add_parse_callback(callback: Callable[[], None]) -> None:
    """Run ``callback`` after the global options are parsed."""
    options.add_parse_callback(callback)


# Logging options live here so parse_command_line() configures logging.
define_logging_options(options)
