"""whirlwind.options: define, parse_command_line, parse_config_file."""

from __future__ import annotations

import datetime
import io
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from whirlwind.options import Error, OptionParser


def test_command_line_types_and_rest() -> None:
    opts = OptionParser()
    opts.define("port", default=80)
    opts.define("debug", default=False)
    opts.define("ratio", type=float)
    opts.define("name")
    opts.define("when", type=datetime.datetime)
    opts.define("every", type=datetime.timedelta)
    rest = opts.parse_command_line(
        [
            "prog",
            "--port=8080",
            "--debug",
            "--ratio=0.25",
            "--name=x=y",
            "--when=2024-02-29 12:30",
            "--every=1h30m",
            "subcommand",
            "--not-ours",
        ]
    )
    assert rest == ["subcommand", "--not-ours"]
    assert opts.port == 8080 and opts.debug is True and opts.ratio == 0.25
    assert opts.name == "x=y"
    assert opts.when == datetime.datetime(2024, 2, 29, 12, 30)
    assert opts.every == datetime.timedelta(hours=1, minutes=30)
    assert opts.parse_command_line(["prog", "--", "--port=1"]) == ["--port=1"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45s", datetime.timedelta(seconds=45)),
        ("2 days", datetime.timedelta(days=2)),
        ("1.5", datetime.timedelta(seconds=1.5)),
        (
            "1w 2d 3h 4m 5s 6ms 7us",
            datetime.timedelta(1 * 7 + 2, 3 * 3600 + 4 * 60 + 5, 6007),
        ),
        ("-5m", datetime.timedelta(minutes=-5)),
    ],
)
def test_timedelta_spellings(text: str, expected: datetime.timedelta) -> None:
    opts = OptionParser()
    opts.define("d", type=datetime.timedelta)
    opts.parse_command_line(["prog", f"--d={text}"])
    assert opts.d == expected


def test_bad_values_and_unknown_options() -> None:
    opts = OptionParser()
    opts.define("port", default=80)
    opts.define("d", type=datetime.timedelta)
    opts.define("t", type=datetime.datetime)
    with pytest.raises(ValueError):
        opts.parse_command_line(["prog", "--port=eighty"])
    with pytest.raises(ValueError):
        opts.parse_command_line(["prog", "--d=5 fortnights"])
    with pytest.raises(Error):
        opts.parse_command_line(["prog", "--t=yesterday"])
    with pytest.raises(Error, match="requires a value"):
        opts.parse_command_line(["prog", "--port"])
    with mock.patch("sys.stderr", io.StringIO()):
        with pytest.raises(Error, match="Unrecognized"):
            opts.parse_command_line(["prog", "--nope=1"])
    with pytest.raises(Error, match="already defined"):
        opts.define("port")


def test_multiple_values_and_ranges() -> None:
    opts = OptionParser()
    opts.define("ports", type=int, multiple=True)
    opts.define("hosts", type=str, multiple=True)
    assert opts.ports == [] and opts.hosts == []
    opts.parse_command_line(["prog", "--ports=80,8000:8003", "--hosts=a,b"])
    assert opts.ports == [80, 8000, 8001, 8002, 8003]
    assert opts.hosts == ["a", "b"]
    opts.ports = [1, 2]
    with pytest.raises(Error):
        opts.ports = [1, "2"]


def test_dashes_and_underscores_are_one_name() -> None:
    opts = OptionParser()
    opts.define("max-size", default=1)
    opts.parse_command_line(["prog", "--max_size=5"])
    assert opts.max_size == 5 and opts["max-size"] == 5 and opts["max_size"] == 5
    assert "max_size" in opts
    assert sorted(opts) == ["help", "max-size"]  # the defined spelling is kept
    with pytest.raises(Error):
        opts.define("max_size")


def test_setattr_type_check_and_callbacks() -> None:
    changes: list[Any] = []
    opts = OptionParser()
    opts.define("level", default=1, callback=changes.append)
    opts.level = 2
    opts["level"] = 3
    opts.parse_command_line(["prog", "--level=4"])
    assert changes == [2, 3, 4]
    with pytest.raises(Error):
        opts.level = "5"
    with pytest.raises(AttributeError):
        opts.undefined = 1
    with pytest.raises(AttributeError):
        opts.undefined  # noqa: B018


def test_parse_callbacks_run_on_final_parse_only() -> None:
    calls: list[str] = []
    opts = OptionParser()
    opts.add_parse_callback(lambda: calls.append("parsed"))
    opts.parse_command_line(["prog"], final=False)
    assert calls == []
    opts.parse_command_line(["prog"])
    opts.parse_command_line(["prog"])
    assert calls == ["parsed", "parsed"]


def test_config_file(tmp_path: Path) -> None:
    path = tmp_path / "app.cfg"
    path.write_text(
        "import datetime\n"
        "port = 443\n"
        "user = 'li kang'\n"
        "when = '2013-04-28 05:16'\n"
        "every = datetime.timedelta(seconds=45)\n"
        "tags = 'a,b'\n"
        "my_path = __file__\n"
        "ignored_name = 1\n",
        encoding="utf-8",
    )
    opts = OptionParser()
    opts.define("port", default=80)
    opts.define("user", default="x")
    opts.define("when", type=datetime.datetime)
    opts.define("every", type=datetime.timedelta)
    opts.define("tags", multiple=True)
    opts.define("my-path")
    opts.parse_config_file(str(path))
    assert (opts.port, opts.user) == (443, "li kang")
    assert opts.when == datetime.datetime(2013, 4, 28, 5, 16)
    assert opts.every == datetime.timedelta(seconds=45)
    assert opts.tags == ["a", "b"]
    assert opts.my_path == str(path)


def test_introspection_groups_and_help() -> None:
    opts = OptionParser()
    opts.define("a", default=1, help="the a option")
    opts.define("b", default=2, group="network", metavar="N")
    assert opts.groups() == {"", __file__, "network"}
    assert opts.group_dict("network") == {"b": 2}
    assert opts.group_dict("nothing") == {}
    assert opts.as_dict() == {"a": 1, "b": 2, "help": None}
    assert sorted(opts.items()) == [("a", 1), ("b", 2), ("help", None)]
    buf = io.StringIO()
    opts.print_help(buf)
    text = buf.getvalue()
    assert "Usage:" in text and "--a" in text and "the a option (default 1)" in text
    assert "--b=N" in text and "network options" in text


def test_mockable() -> None:
    opts = OptionParser()
    opts.define("foo", default=1)
    with mock.patch.object(opts.mockable(), "foo", 2):
        assert opts.foo == 2
        with mock.patch.object(opts.mockable(), "foo", 3):
            assert opts.foo == 3
        assert opts.foo == 2
    assert opts.foo == 1


def test_help_flag_prints_usage_and_exits_in_a_subprocess() -> None:
    program = (
        "from whirlwind.options import define, parse_command_line\n"
        "define('port', default=8888, help='port to listen on')\n"
        "parse_command_line()\n"
        "print('not reached')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", program, "--help"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0
    assert "not reached" not in proc.stdout
    assert "Usage:" in proc.stderr
    assert "--port" in proc.stderr and "port to listen on (default 8888)" in proc.stderr
    assert "--logging" in proc.stderr  # the global parser has logging options
