"""Request arguments for `whirlwind.web`: the ``get_*argument*`` methods.

`_ArgumentsMixin` is mixed into `RequestHandler` (not meant to be used
alone). Values come from the request's lazily parsed ``arguments``,
``query_arguments`` and ``body_arguments``; each is decoded with the
handler's `decode_argument`, control characters become spaces, and the
last value wins for the singular getters.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from whirlwind._web_errors import HTTPError, MissingArgumentError
from whirlwind.escape import to_unicode

if TYPE_CHECKING:
    from whirlwind import httputil

# Control characters in form input only ever cause trouble (tab, LF, VT, FF
# and CR are kept).
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f]")


class _ArgDefaultMarker:
    pass


_ARG_DEFAULT = _ArgDefaultMarker()


class _ArgumentsMixin:
    """The argument getters of `RequestHandler`."""

    if TYPE_CHECKING:
        request: httputil.HTTPServerRequest

    def get_argument(
        self, name: str, default: Any = _ARG_DEFAULT, strip: bool = True
    ) -> Any:
        """The last value of query or body argument ``name``, decoded to str.

        Without a default, a missing argument raises `MissingArgumentError` (400).
        """
        return self._get_argument(name, default, self.request.arguments, strip)

    def get_arguments(self, name: str, strip: bool = True) -> list[str]:
        """Every value of query and body argument ``name`` (possibly empty)."""
        return self._get_arguments(name, self.request.arguments, strip)

    def get_body_argument(
        self, name: str, default: Any = _ARG_DEFAULT, strip: bool = True
    ) -> Any:
        """Like `get_argument`, looking only at the request body."""
        return self._get_argument(name, default, self.request.body_arguments, strip)

    def get_body_arguments(self, name: str, strip: bool = True) -> list[str]:
        """Like `get_arguments`, looking only at the request body."""
        return self._get_arguments(name, self.request.body_arguments, strip)

    def get_query_argument(
        self, name: str, default: Any = _ARG_DEFAULT, strip: bool = True
    ) -> Any:
        """Like `get_argument`, looking only at the query string."""
        return self._get_argument(name, default, self.request.query_arguments, strip)

    def get_query_arguments(self, name: str, strip: bool = True) -> list[str]:
        """Like `get_arguments`, looking only at the query string."""
        return self._get_arguments(name, self.request.query_arguments, strip)

    def _get_argument(
        self, name: str, default: Any, source: dict[str, list[bytes]], strip: bool
    ) -> Any:
        values = self._get_arguments(name, source, strip)
        if not values:
            if default is _ARG_DEFAULT:
                raise MissingArgumentError(name)
            return default
        return values[-1]

    def _get_arguments(
        self, name: str, source: dict[str, list[bytes]], strip: bool = True
    ) -> list[str]:
        out = []
        for raw in source.get(name, ()):
            value = self.decode_argument(raw, name=name)
            if isinstance(value, str):
                # Control characters in form input only ever cause trouble.
                value = _CONTROL_CHARS.sub(" ", value)
            if strip:
                value = value.strip()
            out.append(value)
        return out

    def decode_argument(self, value: bytes, name: str | None = None) -> str:
        """Decodes an argument (or path group) from bytes; UTF-8 by default.

        Invalid UTF-8 is a 400. Override for other encodings.
        """
        try:
            return to_unicode(value)
        except UnicodeDecodeError:
            raise HTTPError(
                400, "Invalid unicode in {}: {!r}".format(name or "url", value[:40])
            ) from None
