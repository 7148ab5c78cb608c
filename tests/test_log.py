"""whirlwind.log: logger names, LogFormatter, enable_pretty_logging."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from whirlwind.log import (
    LogFormatter,
    access_log,
    app_log,
    define_logging_options,
    enable_pretty_logging,
    gen_log,
)
from whirlwind.options import OptionParser

LINE = re.compile(r"^\[(\w) \d{6} \d\d:\d\d:\d\d (\w+):(\d+)\] (.*)$", re.S)


def test_logger_names() -> None:
    assert access_log.name == "whirlwind.access"
    assert app_log.name == "whirlwind.application"
    assert gen_log.name == "whirlwind.general"


def _file_logger(path: Path, formatter: logging.Formatter) -> logging.Logger:
    logger = logging.Logger("ww-test-" + path.name)  # not cached, not propagated
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(formatter)
    logger.addHandler(handler)
    return logger


def _close(logger: logging.Logger) -> None:
    for h in logger.handlers:
        h.close()


def test_formatter_layout_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "plain.log"
    logger = _file_logger(path, LogFormatter(color=False))
    logger.warning("héllo %s", "wörld")
    logger.error(b"\xe9")  # bytes messages are shown as their repr
    _close(logger)
    first, second = path.read_text(encoding="utf-8").splitlines()
    m = LINE.match(first)
    assert m is not None
    assert m.group(1) == "W" and m.group(2) == "test_log"
    assert m.group(4) == "héllo wörld"
    assert second.endswith("] b'\\xe9'")


def test_formatter_indents_tracebacks(tmp_path: Path) -> None:
    path = tmp_path / "exc.log"
    logger = _file_logger(path, LogFormatter(color=False))
    try:
        raise ValueError("broken\nacross lines")
    except ValueError:
        logger.exception("failed")
    _close(logger)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert LINE.match(lines[0]) and lines[0].endswith("] failed")
    assert lines[1].startswith("    Traceback")
    assert all(line.startswith("    ") for line in lines[1:])
    assert any("ValueError: broken" in line for line in lines)


def test_formatter_colors_prefix_only(tmp_path: Path) -> None:
    formatter = LogFormatter(color=False)
    formatter._colors = {logging.ERROR: "<red>"}
    formatter._normal = "<normal>"
    path = tmp_path / "color.log"
    logger = _file_logger(path, formatter)
    logger.error("bad")
    logger.info("fine")  # no color configured for INFO
    _close(logger)
    err, info = path.read_text(encoding="utf-8").splitlines()
    assert err.startswith("<red>[E ") and err.endswith("]<normal> bad")
    assert info.startswith("[I ") and info.endswith("] fine")


def test_custom_format() -> None:
    formatter = LogFormatter(fmt="%(levelname)s|%(message)s", color=False)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m %d", (5,), None)
    assert formatter.format(record) == "INFO|m 5"


def _options(**values: object) -> OptionParser:
    opts = OptionParser()
    define_logging_options(opts)
    for name, value in values.items():
        setattr(opts, name, value)
    return opts


@pytest.mark.parametrize("mode", ["size", "time"])
def test_enable_pretty_logging_to_rotating_file(tmp_path: Path, mode: str) -> None:
    opts = _options(log_file_prefix=str(tmp_path / "app"), log_rotate_mode=mode)
    logger = logging.Logger("ww-pretty-" + mode)
    enable_pretty_logging(options=opts, logger=logger)
    assert logger.level == logging.INFO
    assert len(logger.handlers) == 1  # no stderr handler when logging to a file
    logger.error("to the file")
    _close(logger)
    files = list(tmp_path.glob("app*"))
    assert len(files) == 1
    assert re.match(r"^\[E [^]]*\] to the file$", files[0].read_text().strip())


def test_enable_pretty_logging_errors_and_none() -> None:
    with pytest.raises(ValueError):
        enable_pretty_logging(
            options=_options(log_file_prefix="x", log_rotate_mode="hourly"),
            logger=logging.Logger("ww-bad"),
        )
    untouched = logging.Logger("ww-none")
    enable_pretty_logging(options=_options(logging="none"), logger=untouched)
    assert untouched.handlers == [] and untouched.level == logging.NOTSET
    to_stderr = logging.Logger("ww-stderr")
    enable_pretty_logging(options=_options(logging="warning"), logger=to_stderr)
    assert to_stderr.level == logging.WARNING
    assert isinstance(to_stderr.handlers[0], logging.StreamHandler)


def _logs_hello(statement: str, *args: str) -> bool:
    program = (
        "from whirlwind.options import options, parse_command_line; "
        + statement
        + "; import logging; logging.info('hello')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", program, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stdout
    return b"hello" in proc.stdout


def test_parse_command_line_configures_logging_in_a_subprocess() -> None:
    assert not _logs_hello("pass")
    assert _logs_hello("parse_command_line()")
    assert not _logs_hello("parse_command_line()", "--logging=None")
    assert not _logs_hello("options.logging = None; parse_command_line()")
    assert _logs_hello("options.logging = None; parse_command_line()", "--logging=info")
