"""Logging: whirlwind's three loggers and a compact, optionally coloured formatter.

Contents:

* `access_log` (``whirlwind.access``): one record per HTTP request.
* `app_log` (``whirlwind.application``): errors from application code
  (uncaught exceptions in handlers and callbacks).
* `gen_log` (``whirlwind.general``): everything else whirlwind reports.
* `LogFormatter`: ``[L yymmdd hh:mm:ss module:line] message``, coloured by
  level on a terminal.
* `enable_pretty_logging`, `define_logging_options`: set up the root logger
  from command-line options (used by `whirlwind.options.parse_command_line`).

whirlwind configures nothing by itself: an application that never calls
`enable_pretty_logging` (directly or via ``parse_command_line``) keeps Python's
default logging configuration.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from whirlwind.options import OptionParser

try:
    import curses
except ImportError:  # Windows, or a Python built without curses
    curses = None  # type: ignore[assignment]

try:
    import colorama  # optional: colours on Windows consoles
except ImportError:
    colorama = None

access_log = logging.getLogger("whirlwind.access")
app_log = logging.getLogger("whirlwind.application")
gen_log = logging.getLogger("whirlwind.general")


def _stderr_supports_color() -> bool:
    """True when stderr is a terminal that understands colour escapes."""
    try:
        if not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()):
            return False
        if curses is not None:
            curses.setupterm()
            return bool(curses.tigetnum("colors") > 0)
        # Without curses (Windows), trust colorama when it wraps stderr.
        return colorama is not None and sys.stderr is getattr(
            colorama.initialise, "wrapped_stderr", object()
        )
    except Exception:
        return False


def _to_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


class LogFormatter(logging.Formatter):
    """Formats records as ``[L yymmdd hh:mm:ss module:line] message``.

    ``L`` is the first letter of the level name. On a colour terminal the
    bracketed prefix is coloured by level (``colors`` maps a level number to an
    ANSI colour number). Tracebacks follow on the next lines. Any ``logging``
    format string may be given as ``fmt``; it can use ``%(color)s`` and
    ``%(end_color)s``.
    """

    DEFAULT_FORMAT = (
        "%(color)s[%(levelname)1.1s %(asctime)s %(module)s:%(lineno)d]"
        "%(end_color)s %(message)s"
    )
    DEFAULT_DATE_FORMAT = "%y%m%d %H:%M:%S"
    DEFAULT_COLORS = {
        logging.DEBUG: 4,  # blue
        logging.INFO: 2,  # green
        logging.WARNING: 3,  # yellow
        logging.ERROR: 1,  # red
        logging.CRITICAL: 5,  # magenta
    }

    def __init__(
        self,
        fmt: str = DEFAULT_FORMAT,
        datefmt: str = DEFAULT_DATE_FORMAT,
        style: str = "%",
        color: bool = True,
        colors: dict[int, int] = DEFAULT_COLORS,
    ) -> None:
        super().__init__(datefmt=datefmt)
        self._fmt = fmt
        self._layout = fmt
        self._colors: dict[int, str] = {}
        self._normal = ""
        if color and _stderr_supports_color():
            self._colors, self._normal = self._terminal_codes(colors)

    @staticmethod
    def _terminal_codes(colors: dict[int, int]) -> tuple[dict[int, str], str]:
        if curses is not None:
            fg = curses.tigetstr("setaf") or curses.tigetstr("setf") or b""
            return (
                {
                    level: curses.tparm(fg, code).decode("ascii")
                    for level, code in colors.items()
                },
                (curses.tigetstr("sgr0") or b"").decode("ascii"),
            )
        return (
            {level: f"\033[2;3{code}m" for level, code in colors.items()},
            "\033[0m",
        )

    def format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
            record.message = _to_text(message)
        except Exception as e:
            # A broken format string must not lose the record.
            record.message = f"Bad message ({e!r}): {record.__dict__!r}"
        record.asctime = self.formatTime(record, self.datefmt)
        color = self._colors.get(record.levelno)
        if color is not None:
            record.color, record.end_color = color, self._normal
        else:
            record.color = record.end_color = ""
        formatted = self._layout % record.__dict__
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            # Keep each traceback line intact (no escaping of the newlines).
            lines = [formatted.rstrip()]
            lines.extend(_to_text(line) for line in record.exc_text.split("\n"))
            formatted = "\n".join(lines)
        return formatted.replace("\n", "\n    ")


def enable_pretty_logging(
    options: Any = None, logger: logging.Logger | None = None
) -> None:
    """Configure ``logger`` (default: the root logger) from logging options.

    ``options`` defaults to `whirlwind.options.options`. ``options.logging``
    sets the level (``none`` leaves logging alone); ``log_file_prefix`` adds a
    rotating file handler (by size or by time, per ``log_rotate_mode``);
    ``log_to_stderr`` (default: when there is no file) adds a stderr handler.
    """
    if options is None:
        from whirlwind.options import options as global_options

        options = global_options
    if options.logging is None or options.logging.lower() == "none":
        return
    if logger is None:
        logger = logging.getLogger()
    logger.setLevel(getattr(logging, options.logging.upper()))
    if options.log_file_prefix:
        mode = options.log_rotate_mode
        handler: logging.Handler
        if mode == "size":
            handler = logging.handlers.RotatingFileHandler(
                filename=options.log_file_prefix,
                mode="a",
                maxBytes=options.log_file_max_size,
                backupCount=options.log_file_num_backups,
                encoding="utf-8",
            )
        elif mode == "time":
            handler = logging.handlers.TimedRotatingFileHandler(
                filename=options.log_file_prefix,
                when=options.log_rotate_when,
                interval=options.log_rotate_interval,
                backupCount=options.log_file_num_backups,
                encoding="utf-8",
            )
        else:
            raise ValueError(
                "The value of log_rotate_mode option should be "
                f'"size" or "time", not "{mode}".'
            )
        handler.setFormatter(LogFormatter(color=False))
        logger.addHandler(handler)
    to_stderr = options.log_to_stderr
    if to_stderr or (to_stderr is None and not logger.handlers):
        stderr_handler = logging.StreamHandler()
        stderr_handler.setFormatter(LogFormatter())
        logger.addHandler(stderr_handler)


def define_logging_options(options: OptionParser | None = None) -> None:
    """Define the logging options on ``options`` (default: the global parser).

    They are: ``logging``, ``log_to_stderr``, ``log_file_prefix``,
    ``log_file_max_size``, ``log_file_num_backups``, ``log_rotate_when``,
    ``log_rotate_interval`` and ``log_rotate_mode``. A parse callback then calls
    `enable_pretty_logging` once the command line has been parsed.
    """
    if options is None:
        from whirlwind.options import options as global_options

        options = global_options
    opts = options
    opts.define(
        "logging",
        default="info",
        help="Set the Python log level. If 'none', whirlwind won't touch the "
        "logging configuration.",
        metavar="debug|info|warning|error|none",
    )
    opts.define(
        "log_to_stderr",
        type=bool,
        default=None,
        help="Send log output to stderr (colorized if possible). By default "
        "use stderr if --log_file_prefix is not set and no other logging "
        "is configured.",
    )
    opts.define(
        "log_file_prefix",
        type=str,
        default=None,
        metavar="PATH",
        help="Path prefix for log files. Note that if you are running multiple "
        "whirlwind processes, log_file_prefix must be different for each of them "
        "(e.g. include the port number)",
    )
    opts.define(
        "log_file_max_size",
        type=int,
        default=100 * 1000 * 1000,
        help="max size of log files before rollover",
    )
    opts.define(
        "log_file_num_backups", type=int, default=10, help="number of log files to keep"
    )
    opts.define(
        "log_rotate_when",
        type=str,
        default="midnight",
        help="specify the type of TimedRotatingFileHandler interval "
        "other options:('S', 'M', 'H', 'D', 'W0'-'W6')",
    )
    opts.define(
        "log_rotate_interval",
        type=int,
        default=1,
        help="The interval value of timed rotating",
    )
    opts.define(
        "log_rotate_mode",
        type=str,
        default="size",
        help="The mode of rotating files(time or size)",
    )
    opts.add_parse_callback(lambda: enable_pretty_logging(opts))
