"""The websocket wire protocol (RFC 6455) and permessage-deflate (RFC 7692).

Private: `whirlwind.websocket` is the public face and re-exports
`WebSocketProtocol`, `WebSocketProtocol13`, `WebSocketError` and
`WebSocketClosedError`.

Theory of operation:

* Receiving.  One coroutine per connection (`WebSocketProtocol13._receive_loop`)
  parses frames out of a local buffer filled from the stream in chunks of
  up to 64 KiB, so a run of small buffered frames costs no stream read
  each; a payload that is not buffered yet is read with one exact-size
  read.  Every header check happens before the payload is read, and the
  payload size is checked against ``max_message_size`` first (so a peer
  cannot make us buffer a huge frame).  Fragments are collected in a list
  and joined once.  Unmasking never loops per byte in Python: small
  payloads are one big-integer XOR, large ones go lane by lane through
  `bytes.translate`.  A compressed message is inflated with an output
  bound.  ``on_message`` runs inline; if it returns an awaitable, the loop
  awaits it, so a slow consumer stops reading and TCP pushes back on the
  peer.  After 64 frames in a row the loop yields once to the event loop.
* Violations fail the connection with a close frame and then a TCP close:
  1002 for protocol errors (bad masking, reserved bits, fragmented or long
  control frames, stray continuations, unknown opcodes, bad close codes),
  1007 for invalid UTF-8 in text or a close reason, 1009 for a message over
  the limit (before or after inflation).
* Closing.  ``_close_sent``/``_close_received`` track the two halves of the
  closing handshake; once both are done the stream closes after flushing;
  if the peer never answers our close frame, the stream is aborted after
  5 s.  The delegate's ``on_ws_connection_close`` runs exactly once, when
  the receive loop ends.
* Pings.  With ``ping_interval`` a timer sends pings; a pong not received
  within ``ping_timeout`` closes the connection with 1000 "ping timed out".
  While one pong waits for the kernel, further pings only remember the
  newest payload, so a ping flood cannot queue pongs without bound.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import struct
import sys
import zlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from whirlwind import httputil
from whirlwind.escape import json_encode, utf8
from whirlwind.iostream import IOStream, StreamClosedError
from whirlwind.util import _websocket_mask_python

if TYPE_CHECKING:
    from whirlwind.websocket import WebSocketHandler

gen_log = logging.getLogger("whirlwind.general")

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_DEFAULT_MAX_MESSAGE_SIZE = 10 * 1024 * 1024
_CLOSE_WAIT = 5.0  # seconds to wait for the peer's close frame

# Frame bits and opcodes (RFC 6455 section 5.2).
_FIN = 0x80
_RSV1 = 0x40
_RSV_MASK = 0x70
_OPCODE_MASK = 0x0F
_OP_CONT = 0x0
_OP_TEXT = 0x1
_OP_BINARY = 0x2
_OP_CLOSE = 0x8
_OP_PING = 0x9
_OP_PONG = 0xA
_DEFLATE_TAIL = b"\x00\x00\xff\xff"
# Frames handled back to back before the receive loop yields once.
_FRAME_BURST = 64
# Largest chunk the receive loop takes from the stream at once.
_READ_CHUNK = 65536

# XOR tables for masking: _XOR[k] maps each byte b to b ^ k.
_XOR = [bytes(b ^ k for b in range(256)) for k in range(256)]
# Below this size one big-integer XOR beats four strided translations.
_MASK_TRANSLATE_MIN = 512


def _websocket_mask(mask: bytes, data: bytes | bytearray) -> bytes | bytearray:
    """XOR ``data`` with the 4-byte ``mask`` repeated (RFC 6455 section 5.3).

    Large payloads use C-speed primitives only: each of the four byte lanes
    (``data[i::4]``) goes through `bytes.translate` with the XOR table of
    its mask byte and is written back by a strided slice assignment, about
    three linear passes and no per-byte Python work.
    """
    n = len(data)
    if n < _MASK_TRANSLATE_MIN:
        return _websocket_mask_python(mask, bytes(data))
    out = bytearray(n)
    xor = _XOR
    out[0::4] = data[0::4].translate(xor[mask[0]])
    out[1::4] = data[1::4].translate(xor[mask[1]])
    out[2::4] = data[2::4].translate(xor[mask[2]])
    out[3::4] = data[3::4].translate(xor[mask[3]])
    return out


# Client masks come from one urandom read per 1024 frames.
_mask_pool = b""
_mask_pos = 0


def _next_mask() -> bytes:
    global _mask_pool, _mask_pos
    pos = _mask_pos
    if pos >= len(_mask_pool):
        _mask_pool = os.urandom(4096)
        pos = 0
    _mask_pos = pos + 4
    return _mask_pool[pos : pos + 4]


_pack_16 = struct.Struct("!BBH").pack
_pack_64 = struct.Struct("!BBQ").pack


class WebSocketError(Exception):
    """A websocket protocol or handshake error."""


class WebSocketClosedError(WebSocketError):
    """Raised when using a websocket that is closed."""


class _DecompressTooLargeError(Exception):
    pass


class _ProtocolViolation(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class _WebSocketParams:
    __slots__ = (
        "ping_interval",
        "ping_timeout",
        "max_message_size",
        "compression_options",
    )

    def __init__(
        self,
        ping_interval: float | None = None,
        ping_timeout: float | None = None,
        max_message_size: int = _DEFAULT_MAX_MESSAGE_SIZE,
        compression_options: dict[str, Any] | None = None,
    ) -> None:
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.max_message_size = max_message_size
        self.compression_options = compression_options


def _accept_value(key: str | bytes) -> str:
    digest = hashlib.sha1(utf8(key) + _GUID).digest()
    return base64.b64encode(digest).decode("ascii")


def _header_tokens(value: str) -> list[str]:
    return [t.strip().lower() for t in value.split(",")]


def _parse_extensions(value: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for item in value.split(","):
        if item.strip():
            out.append(httputil._parse_header(item))
    return out


def _check_max_wbits(max_wbits: int | None) -> int:
    """The negotiated ``*_max_window_bits`` (default 15); `ValueError` outside 8..15."""
    if max_wbits is None:
        return zlib.MAX_WBITS
    if not 8 <= max_wbits <= zlib.MAX_WBITS:
        raise ValueError(f"Invalid max_wbits value {max_wbits!r}")
    return max_wbits


class _PerMessageDeflateCompressor:
    """Compresses messages for permessage-deflate (RFC 7692)."""

    def __init__(
        self,
        persistent: bool,
        max_wbits: int | None,
        compression_options: dict[str, Any] | None = None,
    ) -> None:
        max_wbits = _check_max_wbits(max_wbits)
        # zlib cannot produce a raw stream with an 8-bit window; 9 is the
        # smallest it accepts.
        self._wbits = max(9, max_wbits)
        opts = compression_options or {}
        self._level = opts.get("compression_level", zlib.Z_DEFAULT_COMPRESSION)
        self._mem_level = opts.get("mem_level", 8)
        self._compressor = self._create() if persistent else None

    def _create(self) -> Any:
        return zlib.compressobj(
            self._level, zlib.DEFLATED, -self._wbits, self._mem_level
        )

    def compress(self, data: bytes) -> bytes:
        c = self._compressor or self._create()
        out: bytes = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(_DEFLATE_TAIL)
        return out[:-4]


class _PerMessageDeflateDecompressor:
    """Inflates messages, refusing any that grow past ``max_message_size``."""

    def __init__(
        self,
        persistent: bool,
        max_wbits: int | None,
        max_message_size: int,
        compression_options: dict[str, Any] | None = None,
    ) -> None:
        _check_max_wbits(max_wbits)  # refused like the compressor's, though unused
        self._max_message_size = max_message_size
        self._decompressor = self._create() if persistent else None

    def _create(self) -> Any:
        # A 15-bit window inflates streams made with any smaller window.
        return zlib.decompressobj(-zlib.MAX_WBITS)

    def decompress(self, data: bytes | bytearray) -> bytes:
        d = self._decompressor or self._create()
        try:
            out: bytes = d.decompress(data + _DEFLATE_TAIL, self._max_message_size)
        except zlib.error as e:
            raise WebSocketError(f"bad compressed data: {e}") from None
        if d.unconsumed_tail:
            raise _DecompressTooLargeError()
        return out


class WebSocketProtocol:
    """Base class of the websocket protocol implementations."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler
        self.stream: IOStream | None = None
        self.client_terminated = False
        self.server_terminated = False


class WebSocketProtocol13(WebSocketProtocol):
    """RFC 6455 framing, for the server (``mask_outgoing=False``) and the
    client (``mask_outgoing=True``)."""

    def __init__(
        self, handler: Any, mask_outgoing: bool, params: _WebSocketParams
    ) -> None:
        super().__init__(handler)
        self.mask_outgoing = mask_outgoing
        self.params = params
        self._selected_subprotocol: str | None = None
        self._compressor: _PerMessageDeflateCompressor | None = None
        self._decompressor: _PerMessageDeflateDecompressor | None = None
        self._fragments: list[bytes | bytearray] = []
        self._fragments_size = 0
        self._fragment_opcode = 0
        self._fragment_compressed = False
        self._close_sent = False
        self._close_received = False
        self._aborted = False
        self._close_timer: asyncio.TimerHandle | None = None
        self._ping_timer: asyncio.TimerHandle | None = None
        self._pong_in_flight = False
        self._rbuf = b""  # bytes taken from the stream, parsed from _rpos
        self._rpos = 0
        self._pending_pong: bytes | None = None
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.last_ping = 0.0
        self.last_pong = 0.0
        self._message_bytes_in = 0
        self._message_bytes_out = 0
        self._wire_bytes_in = 0
        self._wire_bytes_out = 0

    # -- state ---------------------------------------------------------------

    @property
    def selected_subprotocol(self) -> str | None:
        return self._selected_subprotocol

    @selected_subprotocol.setter
    def selected_subprotocol(self, value: str | None) -> None:
        self._selected_subprotocol = value

    def is_closing(self) -> bool:
        """True once the stream closed or either side sent a close frame."""
        return (
            self.stream is None
            or self.stream.closed()
            or self._close_sent
            or self._close_received
        )

    def set_nodelay(self, value: bool) -> None:
        assert self.stream is not None
        self.stream.set_nodelay(value)

    @staticmethod
    def compute_accept_value(key: str | bytes) -> str:
        """The ``Sec-WebSocket-Accept`` value answering ``key``."""
        return _accept_value(key)

    # -- server handshake ----------------------------------------------------

    async def accept_connection(self, handler: WebSocketHandler) -> None:
        """Validate the request, write ``101``, run ``open`` and the loop."""
        headers = handler.request.headers
        key = headers.get("Sec-WebSocket-Key", "")
        try:
            raw_key = base64.b64decode(key, validate=True)
        except ValueError:
            raw_key = b""
        if len(raw_key) != 16 or "Host" not in headers:
            handler._refuse(400, "Missing/Invalid WebSocket headers")
            return
        out = handler._headers
        for name in ("Content-Type", "Content-Length", "Etag", "Transfer-Encoding"):
            out.pop(name, None)
        proto_header = headers.get("Sec-WebSocket-Protocol", "")
        offered = [p.strip() for p in proto_header.split(",") if p.strip()]
        chosen = handler.select_subprotocol(offered)
        if chosen:
            if chosen not in offered:
                raise ValueError(f"subprotocol {chosen!r} was not offered")
            self._selected_subprotocol = chosen
            out["Sec-WebSocket-Protocol"] = chosen
        ext_header = headers.get("Sec-WebSocket-Extensions")
        if ext_header and self.params.compression_options is not None:
            for name, ext_params in _parse_extensions(ext_header):
                if name == "permessage-deflate":
                    try:
                        self._setup_compression("server", ext_params)
                    except ValueError:
                        continue
                    if ext_params.get("client_max_window_bits", 1) is None:
                        # A bare offer means "you may limit me"; we don't.
                        del ext_params["client_max_window_bits"]
                    out["Sec-WebSocket-Extensions"] = httputil._encode_header(
                        "permessage-deflate", ext_params
                    )
                    break
        out["Upgrade"] = "websocket"
        out["Connection"] = "Upgrade"
        out["Sec-WebSocket-Accept"] = _accept_value(key)
        lines = [b"HTTP/1.1 101 Switching Protocols"]
        for name, value in out.get_all():
            lines.append(f"{name}: {value}".encode("latin1"))
        lines.append(b"\r\n")
        handler.set_status(101)
        stream = handler.detach()
        self.stream = stream
        stream.set_close_callback(self.on_connection_close)
        try:
            stream.write(b"\r\n".join(lines))
        except StreamClosedError:
            self._abort()
            return
        handler._log()
        # The HTTP response is gone: output methods now raise RuntimeError.
        for name in _HTTP_OUTPUT_METHODS:
            setattr(handler, name, _raise_not_supported_for_websockets)
        self.start_pinging()
        try:
            result = handler.open(*handler.open_args, **handler.open_kwargs)
            if result is not None:
                await result
        except Exception:
            handler.log_exception(*sys.exc_info())
            self._abort()
            handler.on_ws_connection_close(self.close_code, self.close_reason)
            return
        await self._receive_loop()

    def _setup_compression(self, side: str, params: dict[str, Any]) -> None:
        """Create the (de)compressor from negotiated extension ``params``.

        ``side`` is who we are; our compressor uses our side's parameters and
        the decompressor the peer's.  Raises ValueError on unknown ones.
        """
        allowed = {
            "server_no_context_takeover",
            "client_no_context_takeover",
            "server_max_window_bits",
            "client_max_window_bits",
        }
        for k in params:
            if k not in allowed:
                raise ValueError(f"unsupported compression parameter {k!r}")
        other = "client" if side == "server" else "server"

        def bits(name: str) -> int | None:
            v = params.get(name)
            return None if v is None else int(v)

        self._compressor = _PerMessageDeflateCompressor(
            f"{side}_no_context_takeover" not in params,
            bits(f"{side}_max_window_bits"),
            self.params.compression_options,
        )
        self._decompressor = _PerMessageDeflateDecompressor(
            f"{other}_no_context_takeover" not in params,
            bits(f"{other}_max_window_bits"),
            self.params.max_message_size,
            self.params.compression_options,
        )

    # -- writing -------------------------------------------------------------

    def _write_frame(
        self, fin: bool, opcode: int, data: bytes, flags: int = 0
    ) -> asyncio.Future[None]:
        stream = self.stream
        if stream is None:
            raise StreamClosedError()
        n = len(data)
        b0 = (_FIN if fin else 0) | flags | opcode
        if self.mask_outgoing:
            mask = _next_mask()
            if n < 126:
                head = bytes((b0, 0x80 | n)) + mask
            elif n <= 0xFFFF:
                head = _pack_16(b0, 0xFE, n) + mask
            else:
                head = _pack_64(b0, 0xFF, n) + mask
            data = _websocket_mask(mask, data)  # type: ignore[assignment]
        elif n < 126:
            head = bytes((b0, n))
        elif n <= 0xFFFF:
            head = _pack_16(b0, 126, n)
        else:
            head = _pack_64(b0, 127, n)
        self._wire_bytes_out += len(head) + n
        if n < 4096:
            return stream.write(head + data)  # type: ignore[no-any-return]
        stream.write(head)
        return stream.write(data)  # type: ignore[no-any-return]

    def write_message(
        self, message: str | bytes | dict[str, Any], binary: bool = False
    ) -> asyncio.Future[None]:
        """Send one message; see `WebSocketHandler.write_message`."""
        opcode = _OP_BINARY if binary else _OP_TEXT
        data: bytes
        kind = type(message)
        if kind is bytes:
            data = message  # type: ignore[assignment]
        elif kind is str:
            data = message.encode("utf-8")  # type: ignore[union-attr]
        elif isinstance(message, dict):
            data = json_encode(message).encode("utf-8")
        elif isinstance(message, (str, bytes, bytearray, memoryview)):
            data = utf8(message) if isinstance(message, str) else bytes(message)
        else:
            raise TypeError(f"can't write message of type {type(message)!r}")
        self._message_bytes_out += len(data)
        flags = 0
        if self._compressor is not None:
            data = self._compressor.compress(data)
            flags = _RSV1
        if self._close_sent:
            raise WebSocketClosedError()
        try:
            fut = self._write_frame(True, opcode, data, flags)
        except StreamClosedError:
            raise WebSocketClosedError() from None
        if fut.done() and not fut.cancelled() and fut.exception() is None:
            return fut
        # Report a stream failure as a WebSocketClosedError.
        out: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.add_done_callback(lambda f: _chain_write(f, out))
        return out

    def write_ping(self, data: bytes) -> None:
        """Send a ping frame."""
        if len(data) > 125:
            raise ValueError("ping data must be at most 125 bytes")
        self._write_frame(True, _OP_PING, data)

    # -- receiving -----------------------------------------------------------

    async def _receive_loop(self) -> None:
        try:
            burst = 0
            while not self._close_received:
                await self._receive_frame()
                burst += 1
                if burst >= _FRAME_BURST:
                    # Frames that were all buffered would hold the loop.
                    burst = 0
                    await asyncio.sleep(0)
        except _ProtocolViolation as e:
            self._fail(e.code, e.reason)
        except StreamClosedError:
            self._abort()
        finally:
            self._stop_pinging()
            self.handler.on_ws_connection_close(self.close_code, self.close_reason)

    async def _fill(self, n: int) -> None:
        """Make at least ``n`` unparsed bytes available in ``_rbuf``."""
        stream = self.stream
        assert stream is not None
        while len(self._rbuf) - self._rpos < n:
            chunk = await stream.read_bytes(_READ_CHUNK, partial=True)
            self._rbuf = self._rbuf[self._rpos :] + chunk
            self._rpos = 0

    async def _receive_frame(self) -> None:
        # Frames are parsed out of ``_rbuf`` (bytes taken from the stream in
        # chunks of up to _READ_CHUNK), so a run of small buffered frames
        # costs no stream read each; a payload that is not buffered yet is
        # read with one exact-size read.
        buf = self._rbuf
        pos = self._rpos
        if len(buf) - pos < 2:
            await self._fill(2)
            buf = self._rbuf
            pos = self._rpos
        b0 = buf[pos]
        b1 = buf[pos + 1]
        fin = b0 & _FIN
        rsv = b0 & _RSV_MASK
        opcode = b0 & _OPCODE_MASK
        masked = b1 & 0x80
        length = b1 & 0x7F
        wire = 2
        if rsv:
            # RSV1 marks the first frame of a compressed message, only when
            # compression was negotiated.
            if (
                rsv != _RSV1
                or self._decompressor is None
                or opcode not in (_OP_TEXT, _OP_BINARY)
            ):
                raise _ProtocolViolation(1002, "reserved bits set")
        if opcode >= 0x8:
            if not fin:
                raise _ProtocolViolation(1002, "fragmented control frame")
            if length > 125:
                raise _ProtocolViolation(1002, "control frame too long")
            if opcode > _OP_PONG:
                raise _ProtocolViolation(1002, "unknown opcode")
        elif opcode > _OP_BINARY:
            raise _ProtocolViolation(1002, "unknown opcode")
        # Servers must receive masked frames and clients unmasked ones.
        if bool(masked) == self.mask_outgoing:
            raise _ProtocolViolation(1002, "bad masking")
        extra = (2 if length == 126 else 8 if length == 127 else 0) + (
            4 if masked else 0
        )
        pos += 2
        mask = b""
        if extra:
            if len(buf) - pos < extra:
                self._rpos = pos
                await self._fill(extra)
                buf = self._rbuf
                pos = self._rpos
            wire += extra
            if length == 126:
                length = int.from_bytes(buf[pos : pos + 2], "big")
                pos += 2
            elif length == 127:
                length = int.from_bytes(buf[pos : pos + 8], "big")
                if length >> 63:
                    raise _ProtocolViolation(1002, "bad frame length")
                pos += 8
            if masked:
                mask = buf[pos : pos + 4]
                pos += 4
        self._rpos = pos
        if opcode == _OP_CONT:
            if not self._fragments and not self._fragment_opcode:
                raise _ProtocolViolation(1002, "unexpected continuation frame")
        elif opcode < 0x8 and self._fragment_opcode:
            raise _ProtocolViolation(1002, "expected a continuation frame")
        if (
            opcode < 0x8
            and self._fragments_size + length > self.params.max_message_size
        ):
            raise _ProtocolViolation(1009, "message too big")
        end = pos + length
        data: bytes | bytearray
        if end <= len(buf):
            data = buf[pos:end]
            self._rpos = end
        else:
            # Take what is buffered, then read the rest exactly.
            data = buf[pos:]
            self._rbuf = b""
            self._rpos = 0
            stream = self.stream
            assert stream is not None
            data += await stream.read_bytes(end - len(buf))
        self._wire_bytes_in += wire + length
        if masked and length:
            if length < _MASK_TRANSLATE_MIN:
                # Small payload: one big-integer XOR, inline (hot path).
                key = int.from_bytes((mask * ((length >> 2) + 1))[:length], "little")
                data = (int.from_bytes(data, "little") ^ key).to_bytes(length, "little")
            else:
                data = _websocket_mask(mask, data)
        if opcode >= 0x8:
            result = self._handle_message(opcode, data)
            if result is not None:
                await result
            return
        if opcode == _OP_CONT:
            self._fragments.append(data)
            self._fragments_size += length
            if not fin:
                return
            opcode = self._fragment_opcode
            compressed = self._fragment_compressed
            data = b"".join(self._fragments)
            self._fragments = []
            self._fragments_size = 0
            self._fragment_opcode = 0
        else:
            compressed = bool(rsv)
            if not fin:
                self._fragments = [data]
                self._fragments_size = length
                self._fragment_opcode = opcode
                self._fragment_compressed = compressed
                return
        if compressed:
            assert self._decompressor is not None
            try:
                data = self._decompressor.decompress(data)
            except _DecompressTooLargeError:
                raise _ProtocolViolation(1009, "message too big") from None
            except WebSocketError:
                raise _ProtocolViolation(1007, "bad compressed data") from None
        result = self._handle_message(opcode, data)
        if result is not None:
            await result

    def _handle_message(
        self, opcode: int, data: bytes | bytearray
    ) -> Awaitable[None] | None:
        """Deliver one complete message or control frame to the handler."""
        if opcode >= 0x8:
            return self._handle_control(opcode, data)
        if self._close_sent:
            return None  # we are closing: drop data messages
        self._message_bytes_in += len(data)
        message: str | bytes
        if opcode == _OP_TEXT:
            try:
                message = data.decode("utf-8")
            except UnicodeDecodeError:
                raise _ProtocolViolation(1007, "invalid UTF-8") from None
        elif type(data) is bytes:
            message = data
        else:
            message = bytes(data)  # unmasked in a bytearray
        return self._run_callback(self.handler.on_message, message)

    def _handle_control(
        self, opcode: int, data: bytes | bytearray
    ) -> Awaitable[None] | None:
        data = bytes(data)  # at most 125 bytes
        if opcode == _OP_CLOSE:
            self._close_received = True
            if len(data) == 1:
                raise _ProtocolViolation(1002, "bad close frame")
            if len(data) >= 2:
                code = int.from_bytes(data[:2], "big")
                if (
                    code < 1000
                    or code in (1004, 1005, 1006, 1015)
                    or (1016 <= code < 3000)
                ):
                    raise _ProtocolViolation(1002, "invalid close code")
                try:
                    reason = data[2:].decode("utf-8")
                except UnicodeDecodeError:
                    raise _ProtocolViolation(1007, "invalid UTF-8") from None
                self.close_code = code
                self.close_reason = reason
            # Answer with the same code (RFC 6455 section 5.5.1).
            self.close(self.close_code)
            return None
        if opcode == _OP_PING:
            if not self._close_sent:
                self._send_pong(data)
            return self._run_callback(self.handler.on_ping, data)
        self.last_pong = asyncio.get_running_loop().time()
        return self._run_callback(self.handler.on_pong, data)

    def _send_pong(self, data: bytes) -> None:
        # While one pong waits for the kernel, later pings only keep the
        # newest payload: a ping flood cannot queue unbounded pongs.
        if self._pong_in_flight:
            self._pending_pong = data
            return
        try:
            fut = self._write_frame(True, _OP_PONG, data)
        except StreamClosedError:
            self._abort()
            return
        if not fut.done():
            self._pong_in_flight = True
            fut.add_done_callback(self._on_pong_sent)

    def _on_pong_sent(self, fut: asyncio.Future[None]) -> None:
        self._pong_in_flight = False
        if fut.cancelled() or fut.exception() is not None:
            return
        data = self._pending_pong
        if data is not None and not self._close_sent:
            self._pending_pong = None
            self._send_pong(data)

    def _run_callback(
        self, callback: Callable[..., Any], *args: Any
    ) -> Awaitable[None] | None:
        try:
            result = callback(*args)
        except Exception:
            self.handler.log_exception(*sys.exc_info())
            self._abort()
            return None
        if result is None:
            return None
        return self._await_callback(result)

    async def _await_callback(self, result: Awaitable[Any]) -> None:
        try:
            await result
        except Exception:
            self.handler.log_exception(*sys.exc_info())
            self._abort()

    # -- closing -------------------------------------------------------------

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Send a close frame (once); close the stream when both sides did."""
        stream = self.stream
        if not self._close_sent:
            self._close_sent = True
            if stream is not None and not stream.closed():
                if code is None and reason is not None:
                    code = 1000
                if code is None:
                    payload = b""
                else:
                    payload = code.to_bytes(2, "big")
                    if reason is not None:
                        payload += utf8(reason)[:123]
                try:
                    self._write_frame(True, _OP_CLOSE, payload)
                except StreamClosedError:
                    self._abort()
                    return
        if stream is None:
            return
        if self._close_received:
            if self._close_timer is not None:
                self._close_timer.cancel()
                self._close_timer = None
            _close_after_flush(stream)
        elif self._close_timer is None:
            self._close_timer = asyncio.get_event_loop().call_later(
                _CLOSE_WAIT, self._abort
            )

    def _fail(self, code: int, reason: str) -> None:
        """Fail the connection: close frame with ``code``, then TCP close."""
        gen_log.debug("websocket protocol error: %s", reason)
        self._close_received = True
        self.close(code, reason)

    def on_connection_close(self) -> None:
        self._abort()

    def _abort(self) -> None:
        """Close the stream now, without (more of) the closing handshake."""
        self._close_sent = True
        self._close_received = True
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        self._stop_pinging()
        if self.stream is not None:
            self.stream.close()

    # -- keep-alive pings ----------------------------------------------------

    @property
    def ping_interval(self) -> float:
        return self.params.ping_interval or 0.0

    @property
    def ping_timeout(self) -> float:
        interval = self.ping_interval
        timeout = self.params.ping_timeout
        if timeout is None or timeout <= 0:
            return interval
        return min(timeout, interval) if interval else timeout

    def start_pinging(self) -> None:
        """Start the periodic ping, if ``ping_interval`` is set."""
        if self.ping_interval > 0:
            loop = asyncio.get_event_loop()
            self.last_ping = self.last_pong = loop.time()
            self._ping_timer = loop.call_later(self.ping_interval, self._on_ping_timer)

    def _stop_pinging(self) -> None:
        if self._ping_timer is not None:
            self._ping_timer.cancel()
            self._ping_timer = None

    @staticmethod
    def ping_sleep_time(*, last_ping_time: float, interval: float, now: float) -> float:
        """Seconds until the next ping is due."""
        return max(0.0, last_ping_time + interval - now)

    def _on_ping_timer(self) -> None:
        self._ping_timer = None
        if self.is_closing():
            return
        loop = asyncio.get_event_loop()
        now = loop.time()
        if (
            self.last_ping > self.last_pong
            and now - self.last_ping >= self.ping_timeout
        ):
            # The peer did not answer the last ping in time: tell it why,
            # then drop the connection without waiting for its reply.
            self.close_code, self.close_reason = 1000, "ping timed out"
            self._close_received = True
            self.close(1000, "ping timed out")
            return
        if self.last_ping <= self.last_pong:
            try:
                self.write_ping(b"")
            except StreamClosedError:
                self._abort()
                return
            self.last_ping = now
            delay = min(self.ping_timeout, self.ping_interval)
        else:
            delay = max(0.0, self.last_ping + self.ping_timeout - now)
        if delay <= 0:
            delay = self.ping_interval
        self._ping_timer = loop.call_later(delay, self._on_ping_timer)


_HTTP_OUTPUT_METHODS = (
    "write",
    "redirect",
    "set_header",
    "set_cookie",
    "set_status",
    "flush",
    "finish",
)


def _raise_not_supported_for_websockets(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("Method not supported for Web Sockets")


def _chain_write(src: asyncio.Future[None], dst: asyncio.Future[None]) -> None:
    if dst.done():
        return
    if src.cancelled():
        dst.cancel()
        return
    exc = src.exception()
    if exc is None:
        dst.set_result(None)
    elif isinstance(exc, StreamClosedError):
        dst.set_exception(WebSocketClosedError())
    else:
        dst.set_exception(exc)


def _close_after_flush(stream: IOStream) -> None:
    if stream.closed():
        return
    if not stream.writing():
        stream.close()
        return
    fut = stream.write(b"")

    def done(f: asyncio.Future[None]) -> None:
        if not f.cancelled():
            f.exception()  # retrieved: a failed flush closes all the same
        stream.close()

    fut.add_done_callback(done)
