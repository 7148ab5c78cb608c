"""whirlwind.util: ObjectDict, GzipDecompressor, import_object, Configurable, ..."""

from __future__ import annotations

import asyncio
import builtins
import datetime
import errno
import gzip
import os
import re
import socket
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest

from whirlwind.util import (
    ArgReplacer,
    Configurable,
    GzipDecompressor,
    ObjectDict,
    TimeoutError,
    errno_from_exception,
    exec_in,
    import_object,
    raise_exc_info,
    re_unescape,
    timedelta_to_seconds,
)


def test_object_dict() -> None:
    d = ObjectDict(a=1)
    d.b = 2
    assert d == {"a": 1, "b": 2}
    assert d.a == 1
    with pytest.raises(AttributeError):
        d.missing  # noqa: B018


def test_timeout_error_is_the_standard_one() -> None:
    assert TimeoutError is asyncio.TimeoutError
    if sys.version_info >= (3, 11):
        assert TimeoutError is builtins.TimeoutError


def _drain(data: bytes, read_size: int, max_length: int) -> bytes:
    """Feed ``data`` in chunks the way an HTTP body reader does."""
    dec = GzipDecompressor()
    out = bytearray()
    for i in range(0, len(data), read_size):
        chunk = data[i : i + read_size]
        while chunk:
            piece = dec.decompress(chunk, max_length)
            assert len(piece) <= max_length
            tail = dec.unconsumed_tail
            assert piece or len(tail) < len(chunk), "no progress"
            chunk = tail
            out += piece
    assert dec.flush() == b""
    return bytes(out)


def test_gzip_file_on_disk_bounded_chunks(tmp_path: Path) -> None:
    payload = os.urandom(3000) + b"text " * 5000
    path = tmp_path / "body.gz"
    with gzip.open(path, "wb") as f:
        f.write(payload)
    data = path.read_bytes()
    for read_size in (1, 333, len(data)):
        for max_length in (1, 1000, 1 << 20):
            assert _drain(data, read_size, max_length) == payload


def test_gzip_multiple_members_and_empty_stream() -> None:
    parts = [b"first ", b"", b"second " * 100, b"x"]
    data = b"".join(gzip.compress(p) for p in parts)
    assert _drain(data, 50, 64) == b"".join(parts)
    assert GzipDecompressor().flush() == b""  # e.g. a HEAD response body


@pytest.mark.parametrize(
    "data",
    [
        gzip.compress(b"hello")[:-1],  # truncated trailer
        gzip.compress(b"hello") + b"\0",  # trailing garbage
        gzip.compress(b"hello") + b"\x1f",  # half a magic number, then nothing
        b"<html>",  # not gzip at all
        zlib.compress(b"zlib, not gzip"),
    ],
)
def test_gzip_rejects_bad_streams(data: bytes) -> None:
    with pytest.raises(zlib.error):
        _drain(data, 7, 100)


def test_gzip_bomb_stays_bounded() -> None:
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    bomb = b"".join(comp.compress(b"\0" * (1 << 20)) for _ in range(8)) + comp.flush()
    dec = GzipDecompressor()
    assert len(dec.decompress(bomb, 4096)) == 4096
    assert dec.unconsumed_tail
    with pytest.raises(ValueError):
        dec.flush()  # flush must not expand the rest


def test_gzip_without_max_length_is_deprecated_but_complete() -> None:
    data = gzip.compress(b"a") + gzip.compress(b"b")
    dec = GzipDecompressor()
    with pytest.warns(DeprecationWarning):
        assert dec.decompress(data) == b"ab"
    assert dec.flush() == b""


def test_import_object() -> None:
    assert import_object("os.path") is os.path
    assert import_object("os.path.join") is os.path.join
    assert import_object("os") is os
    import whirlwind.util as util_module

    assert import_object("whirlwind.util") is util_module
    with pytest.raises(ImportError):
        import_object("os.no_such_name")
    with pytest.raises(ImportError):
        import_object("no_such_module_ww")


class Base(Configurable):
    @classmethod
    def configurable_base(cls) -> type[Configurable]:
        return Base

    @classmethod
    def configurable_default(cls) -> type[Configurable]:
        return ImplA

    def initialize(self, pos: Any = None, a: Any = None, b: Any = None) -> None:  # type: ignore[override]
        self.pos, self.a, self.b = pos, a, b


class ImplA(Base):
    pass


class ImplB(Base):
    pass


class Unrelated(Configurable):
    @classmethod
    def configurable_base(cls) -> type[Configurable]:
        return Unrelated

    @classmethod
    def configurable_default(cls) -> type[Configurable]:
        return Unrelated


def test_configurable() -> None:
    saved = Base._save_configuration()
    try:
        obj = Base(1, a=2)
        assert type(obj) is ImplA and (obj.pos, obj.a, obj.b) == (1, 2, None)
        Base.configure(ImplB, b="default-b")
        obj = Base(a=3)
        assert type(obj) is ImplB and (obj.a, obj.b) == (3, "default-b")
        # Calling a subclass directly builds that subclass, without defaults.
        direct = ImplA(b=4)
        assert type(direct) is ImplA and direct.b == 4
        Base.configure(f"{__name__}.ImplA")
        assert Base.configured_class() is ImplA
        with pytest.raises(ValueError):
            Base.configure(Unrelated)  # type: ignore[arg-type]
        assert Unrelated.configured_class() is Unrelated  # families are separate
    finally:
        Base._restore_configuration(saved)
    assert type(Base()) is ImplA


def test_arg_replacer() -> None:
    def func(a: Any, b: Any, callback: Any = None) -> None:
        pass

    rep = ArgReplacer(func, "callback")
    assert rep.get_old_value((1, 2, "cb"), {}) == "cb"
    assert rep.get_old_value((1, 2), {"callback": "kw"}) == "kw"
    assert rep.get_old_value((1, 2), {}, default="d") == "d"
    old, args, kwargs = rep.replace("new", (1, 2, "cb"), {})
    assert (old, list(args), kwargs) == ("cb", [1, 2, "new"], {})
    old, args, kwargs = rep.replace("new", (1, 2), {})
    assert (old, list(args), kwargs) == (None, [1, 2], {"callback": "new"})


def test_errno_from_exception_with_a_real_refused_connection() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    client = socket.socket()
    try:
        with pytest.raises(OSError) as info:
            client.connect(("127.0.0.1", port))
    finally:
        client.close()
    assert errno_from_exception(info.value) == errno.ECONNREFUSED
    assert errno_from_exception(Exception(errno.EPIPE, "x")) == errno.EPIPE
    assert errno_from_exception(Exception()) is None


def test_re_unescape() -> None:
    for text in ["a.b", "x*y?", "/path/(with)[brackets]", "tab\tnew\nline", "ü"]:
        assert re_unescape(re.escape(text)) == text
    with pytest.raises(ValueError):
        re_unescape(r"\d")


def test_timedelta_to_seconds_exec_in_raise_exc_info() -> None:
    assert timedelta_to_seconds(datetime.timedelta(minutes=1, milliseconds=500)) == 60.5
    ns: dict[str, Any] = {}
    exec_in("x = 1 + 1", ns)
    assert ns["x"] == 2

    class TwoArgs(Exception):
        def __init__(self, a: int, b: int) -> None:
            super().__init__()
            self.a, self.b = a, b

    try:
        raise TwoArgs(1, 2)
    except TwoArgs:
        info = sys.exc_info()
    with pytest.raises(TwoArgs) as caught:
        raise_exc_info(info)
    assert caught.value is info[1]


def test_websocket_mask_matches_a_naive_xor() -> None:
    from whirlwind.util import _websocket_mask_python

    mask = b"\x01\x80\xff\x3c"
    for size in (0, 1, 3, 4, 5, 127, 1000):
        data = os.urandom(size)
        expected = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        assert _websocket_mask_python(mask, data) == expected
        assert _websocket_mask_python(mask, expected) == data
