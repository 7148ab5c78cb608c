"""Small utilities shared by the rest of whirlwind (Tornado's ``util`` module).

Contents:

* `ObjectDict`: a dict whose keys are also attributes.
* `GzipDecompressor`: streaming gzip decoding with an output bound per call.
* `import_object`: import a dotted name.
* `Configurable`: a base class whose constructor returns a configurable subclass.
* `ArgReplacer`: find and replace one argument of a call by name.
* `TimeoutError`, `errno_from_exception`, `re_unescape`, `timedelta_to_seconds`,
  `exec_in`, `raise_exc_info`.
"""

from __future__ import annotations

import asyncio
import datetime
import importlib
import inspect
import re
import types
import warnings
import zlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    import unittest

# Aliases kept for code written for Python 2 era Tornado.
bytes_type = bytes
unicode_type = str
basestring_type = str

#: Raised by `.IOLoop.run_sync`, `.gen.with_timeout` and the lock and queue
#: timeouts. It is asyncio's class (the builtin ``TimeoutError`` since 3.11), so
#: ``except TimeoutError`` and ``except asyncio.TimeoutError`` both catch it.
TimeoutError = asyncio.TimeoutError


class ObjectDict(dict[str, Any]):
    """A `dict` that also exposes its keys as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


class GzipDecompressor:
    """Decode a gzip stream chunk by chunk, with bounded output per call.

    ``decompress(data, max_length)`` returns at most ``max_length`` bytes;
    the input it did not get to stays in `unconsumed_tail`, which the caller
    must pass back in (until it is empty) before feeding new data. This bound
    is what keeps a small compressed body from expanding without limit in
    memory (a "zip bomb"). Streams of several gzip members (RFC 1952 2.2) are
    decoded in full. `flush` checks that the stream ended cleanly between
    members: trailing garbage or a truncated member raises `zlib.error`.

    Theory of operation: one zlib object decodes the current member; it is
    None before the first member and between members (the only places a
    stream may end). Each `_step` makes exactly one zlib call. When a member
    ends, the bytes after it (zlib's ``unused_data``) become the unconsumed
    tail, so the caller feeds the next member back like any held-back input.
    """

    def __init__(self) -> None:
        self._member: Any = None
        self._tail = b""

    def decompress(self, value: bytes, max_length: int = 0) -> bytes:
        """Decode ``value``; at most ``max_length`` bytes come out (0: no limit).

        A call may return little or nothing while `unconsumed_tail` is not
        empty (e.g. at a member boundary): keep passing the tail back.
        Calling without ``max_length`` is deprecated (unbounded output).
        """
        if not max_length:
            warnings.warn(
                "GzipDecompressor.decompress without max_length is deprecated",
                DeprecationWarning,
                stacklevel=2,
            )
            out = self._step(value, 0)
            while self._tail:
                out += self._step(self._tail, 0)
            return out
        return self._step(value, max_length)

    def _step(self, value: bytes, max_length: int) -> bytes:
        if not value:
            self._tail = b""
            return b""
        if self._member is None:
            # A member must start with the gzip magic; value may hold just
            # its first byte.
            if not b"\x1f\x8b".startswith(bytes(value[:2])):
                raise zlib.error(f"expected a gzip member, got {bytes(value[:2])!r}")
            # wbits 16+MAX_WBITS: zlib parses and checks the gzip header/trailer.
            self._member = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out: bytes = self._member.decompress(value, max_length)
        if self._member.eof:
            # unconsumed_tail may hold stale bytes at eof; unused_data is right.
            self._tail = self._member.unused_data
            self._member = None
        else:
            self._tail = self._member.unconsumed_tail
        return out

    @property
    def unconsumed_tail(self) -> bytes:
        """The input left over by the last `decompress` call."""
        return self._tail

    def flush(self) -> bytes:
        """Declare the end of the input; always returns ``b""``.

        Raises `ValueError` if `unconsumed_tail` was not fed back first, and
        `zlib.error` if the stream stopped in the middle of a member.
        """
        if self._tail:
            raise ValueError(
                "unconsumed_tail must be passed to decompress before flush"
            )
        if self._member is not None:
            # With max_length, zlib leaves undecoded input in the tail rather
            # than buffering output, so an open member here means truncation.
            raise zlib.error("incomplete or truncated gzip stream")
        return b""


def import_object(name: str) -> Any:
    """Import ``"package.module"`` or ``"package.module.attribute"`` by name.

    Raises `ImportError` when neither the module nor the attribute exists.
    """
    if "." not in name:
        return importlib.import_module(name)
    module_name, _, attr = name.rpartition(".")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError:
        pass
    # The last part may itself be a submodule that the package does not import.
    try:
        return importlib.import_module(name)
    except ImportError:
        raise ImportError(f"No module named {attr}") from None


def exec_in(code: Any, glob: dict[str, Any], loc: dict[str, Any] | None = None) -> None:
    """Execute ``code`` (source text or a code object) in the given namespaces."""
    if isinstance(code, str):
        # compile() with dont_inherit so this module's __future__ flags stay out.
        code = compile(code, "<string>", "exec", dont_inherit=True)
    exec(code, glob, loc)


def raise_exc_info(
    exc_info: tuple[
        type[BaseException] | None, BaseException | None, types.TracebackType | None
    ],
) -> NoReturn:
    """Re-raise an exception captured with `sys.exc_info`."""
    exc = exc_info[1]
    if exc is None:
        raise TypeError("raise_exc_info called with no exception")
    try:
        raise exc.with_traceback(exc_info[2])
    finally:
        # Break the frame -> exception -> traceback -> frame cycle.
        exc = None


def errno_from_exception(e: BaseException) -> int | None:
    """Return the errno of an `OSError`-like exception, or None.

    Works for exceptions that carry ``errno`` and for those that only hold it
    as their first argument.
    """
    err = getattr(e, "errno", None)
    if err is not None:
        return int(err)
    if e.args:
        first = e.args[0]
        return first if isinstance(first, int) else None
    return None


_RE_ESCAPE_SEQ = re.compile(r"\\(.)", re.DOTALL)
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def _unescape_one(m: re.Match[str]) -> str:
    ch = m.group(1)
    if ch in _ALNUM:
        # \d, \w, \1 ... are classes or references, not escaped literals.
        raise ValueError(f"cannot unescape '\\\\{ch}'")
    return ch


def re_unescape(s: str) -> str:
    """Undo `re.escape`: turn ``\\.`` back into ``.``.

    Raises `ValueError` on escapes that mean something else in a pattern
    (``\\d``, ``\\1``, ...).
    """
    return _RE_ESCAPE_SEQ.sub(_unescape_one, s)


def timedelta_to_seconds(td: datetime.timedelta) -> float:
    """Return a `datetime.timedelta` as seconds (float)."""
    return td.total_seconds()


class Configurable:
    """A base class whose constructor returns an instance of a chosen subclass.

    Theory of operation: a family of classes has one *base* (named by
    `configurable_base`). Calling the base class (``Base(...)``) builds the class
    picked with ``Base.configure(Impl, **defaults)``, or `configurable_default`
    when nothing was configured; calling a subclass builds that subclass. The
    constructor arguments go to `initialize` (not ``__init__``), merged over the
    configured defaults. The choice is stored on the base class only, in
    ``_ww_impl`` / ``_ww_impl_kwargs``, so sibling families do not interfere.
    """

    _ww_impl: type[Configurable] | None = None
    _ww_impl_kwargs: dict[str, Any] | None = None

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        base = cls.configurable_base()
        init_kwargs: dict[str, Any] = {}
        if cls is base:
            impl = cls.configured_class()
            stored = base.__dict__.get("_ww_impl_kwargs")
            if stored:
                init_kwargs.update(stored)
        else:
            impl = cls
        init_kwargs.update(kwargs)
        if impl.configurable_base() is not base:
            # The implementation is itself the base of another family.
            return impl(*args, **init_kwargs)
        instance = super().__new__(impl)
        instance.initialize(*args, **init_kwargs)
        return instance

    @classmethod
    def configurable_base(cls) -> type[Configurable]:
        """The class at the top of this family (the one `configure` affects)."""
        raise NotImplementedError()

    @classmethod
    def configurable_default(cls) -> type[Configurable]:
        """The implementation used when `configure` was never called."""
        raise NotImplementedError()

    def initialize(self) -> None:
        """Set the instance up; subclasses override this instead of ``__init__``."""

    @classmethod
    def configure(cls, impl: str | type[Configurable] | None, **kwargs: Any) -> None:
        """Choose the class (or dotted class name) that ``Base()`` builds.

        ``kwargs`` become default keyword arguments for its `initialize`.
        """
        base = cls.configurable_base()
        if isinstance(impl, str):
            impl = import_object(impl)
        if impl is not None and not (isinstance(impl, type) and issubclass(impl, cls)):
            raise ValueError(f"Invalid subclass of {cls}")
        base._ww_impl = impl
        base._ww_impl_kwargs = kwargs

    @classmethod
    def configured_class(cls) -> type[Configurable]:
        """The class ``Base()`` currently builds."""
        base = cls.configurable_base()
        impl = base.__dict__.get("_ww_impl")
        if impl is None:
            impl = cls.configurable_default()
            base._ww_impl = impl
        return impl

    @classmethod
    def _save_configuration(
        cls,
    ) -> tuple[type[Configurable] | None, dict[str, Any] | None]:
        base = cls.configurable_base()
        return (base.__dict__.get("_ww_impl"), base.__dict__.get("_ww_impl_kwargs"))

    @classmethod
    def _restore_configuration(
        cls, saved: tuple[type[Configurable] | None, dict[str, Any] | None]
    ) -> None:
        base = cls.configurable_base()
        base._ww_impl, base._ww_impl_kwargs = saved


class ArgReplacer:
    """Find, read and replace one named argument of calls to ``func``.

    The argument may be passed by position or by keyword; ``ArgReplacer``
    handles both, which decorators that inject or intercept a ``callback=``
    argument need.
    """

    def __init__(self, func: Callable[..., Any], name: str) -> None:
        self.name = name
        try:
            self.arg_pos: int | None = self._positional_names(func).index(name)
        except ValueError:
            self.arg_pos = None

    @staticmethod
    def _positional_names(func: Callable[..., Any]) -> list[str]:
        try:
            sig = inspect.signature(func)
        except (TypeError, ValueError):
            # Builtins without a signature: fall back to the code object.
            code = getattr(func, "__code__", None)
            if code is None:
                return []
            return list(code.co_varnames[: code.co_argcount])
        kinds = (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        )
        return [p.name for p in sig.parameters.values() if p.kind in kinds]

    def get_old_value(
        self, args: Sequence[Any], kwargs: dict[str, Any], default: Any = None
    ) -> Any:
        """The argument's value in this call, or ``default`` if it was not given."""
        if self.arg_pos is not None and len(args) > self.arg_pos:
            return args[self.arg_pos]
        return kwargs.get(self.name, default)

    def replace(
        self, new_value: Any, args: Sequence[Any], kwargs: dict[str, Any]
    ) -> tuple[Any, Sequence[Any], dict[str, Any]]:
        """Set the argument to ``new_value``; return (old value, args, kwargs).

        The old value is None when the argument was absent; then the new value
        is passed by keyword.
        """
        if self.arg_pos is not None and len(args) > self.arg_pos:
            old = args[self.arg_pos]
            new_args = list(args)
            new_args[self.arg_pos] = new_value
            return old, new_args, kwargs
        old = kwargs.get(self.name)
        kwargs[self.name] = new_value
        return old, args, kwargs


def _websocket_mask_python(mask: bytes, data: bytes) -> bytes:
    """XOR ``data`` with the 4-byte websocket ``mask`` repeated."""
    if len(mask) != 4:
        raise ValueError("websocket mask must be 4 bytes")
    if not data:
        return b""
    n = len(data)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "little")
    return (int.from_bytes(data, "little") ^ key).to_bytes(n, "little")


_websocket_mask = _websocket_mask_python


def doctests() -> unittest.TestSuite:
    """The doctests of this module, for test runners that collect them."""
    import doctest

    return doctest.DocTestSuite()
