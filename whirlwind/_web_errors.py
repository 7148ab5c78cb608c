"""The exceptions a `RequestHandler` raises to end a request: `HTTPError`,
`Finish`, `MissingArgumentError` (re-exported by `whirlwind.web`)."""

from __future__ import annotations

from typing import Any

from whirlwind.httputil import responses as _responses

__all__ = ["HTTPError", "Finish", "MissingArgumentError"]


class HTTPError(Exception):
    """Raise to end the request with an HTTP error status.

    :arg status_code: the HTTP status (500 by default).
    :arg log_message: logged (not shown to the client) with ``%`` ``args``.
    :arg reason: the reason phrase, if not the standard one for the code.
    """

    def __init__(
        self,
        status_code: int = 500,
        log_message: str | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        self.status_code = status_code
        self._log_message = log_message
        self.args = args
        self.reason: str | None = kwargs.get("reason")

    @property
    def log_message(self) -> str | None:
        """The message as a format string (``%`` doubled when there are no args)."""
        if self._log_message and not self.args:
            return self._log_message.replace("%", "%%")
        return self._log_message

    def get_message(self) -> str | None:
        """The log message with its arguments substituted."""
        if self._log_message and self.args:
            return self._log_message % self.args
        return self._log_message

    def __str__(self) -> str:
        reason = self.reason or _responses.get(self.status_code, "Unknown")
        text = f"HTTP {self.status_code}: {reason}"
        message = self.get_message()
        return f"{text} ({message})" if message else text


class Finish(Exception):
    """Raise to end the request successfully (``finish()`` with the exception's
    argument, if any) without calling ``write_error``."""


class MissingArgumentError(HTTPError):
    """A required argument was absent: answered with 400."""

    def __init__(self, arg_name: str) -> None:
        super().__init__(400, f"Missing argument {arg_name}")
        self.arg_name = arg_name


for _cls in (HTTPError, Finish, MissingArgumentError):
    _cls.__module__ = "whirlwind.web"
del _cls
