"""Cookies for `whirlwind.web`: plain, signed, XSRF tokens and cross-origin checks.

Contents:

* `create_signed_value`, `decode_signed_value`, `get_signature_key_version`:
  HMAC-signed values, byte-compatible with Tornado's formats 1 and 2.
* `_CookieMixin`: the cookie, signed-cookie, XSRF and cross-origin methods of
  `RequestHandler` (mixed into it; not meant to be used alone).

Signed value formats (theory of operation)
-------------------------------------------

Version 1 (legacy; HMAC-SHA1, no name binding of the format itself)::

    base64(value) "|" timestamp "|" hex(HMAC-SHA1(secret, name + b64 + timestamp))

Version 2 (default; HMAC-SHA256 over everything before the signature)::

    "2|" "1:" keyver "|" len ":" timestamp "|" len ":" name "|" len ":" b64 "|" hexsig

Each field is length-prefixed, so a value cannot be cut and re-glued, and the
name is inside the signed part, so a cookie cannot move to another name. With
``cookie_secret={version: secret, ...}`` and the ``key_version`` setting, new
values are signed with the current key while values signed with older keys
still verify (key rotation). Decoding is O(len(value)) and never raises on
malformed input: it returns None.

XSRF tokens (version 2) are ``2|hex(mask)|hex(token XOR mask)|timestamp`` with
a fresh 4-byte mask per response, so the token bytes differ on every page
(BREACH defence) while the unmasked 16-byte token stays the cookie's.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import http.cookies
import os
import re
import time
import urllib.parse
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Union

from whirlwind import escape, httputil
from whirlwind.escape import utf8
from whirlwind.log import gen_log

if TYPE_CHECKING:
    from whirlwind._web_handler import RequestHandler  # noqa: F401

__all__ = [
    "create_signed_value",
    "decode_signed_value",
    "get_signature_key_version",
    "MIN_SUPPORTED_SIGNED_VALUE_VERSION",
    "MAX_SUPPORTED_SIGNED_VALUE_VERSION",
    "DEFAULT_SIGNED_VALUE_VERSION",
    "DEFAULT_SIGNED_VALUE_MIN_VERSION",
]

MIN_SUPPORTED_SIGNED_VALUE_VERSION = 1
MAX_SUPPORTED_SIGNED_VALUE_VERSION = 2
DEFAULT_SIGNED_VALUE_VERSION = 2
DEFAULT_SIGNED_VALUE_MIN_VERSION = 1

_CookieSecretTypes = Union[str, bytes, dict[int, str], dict[int, bytes]]

_VERSION_PREFIX = re.compile(rb"^([1-9][0-9]*)\|(.*)$", re.S)
# Control characters, space and ";" may not appear in cookie names/attributes.
_BAD_COOKIE_ATTR = re.compile(r"[\x00-\x20\x3b\x7f]")
_BAD_COOKIE_VALUE = re.compile(r"[\x00-\x20]")


def _sign_v1(secret: str | bytes, *parts: str | bytes) -> bytes:
    mac = hmac.new(utf8(secret), digestmod=hashlib.sha1)
    for part in parts:
        mac.update(utf8(part))
    return mac.hexdigest().encode("ascii")


def _sign_v2(secret: str | bytes, data: bytes) -> bytes:
    return hmac.new(utf8(secret), data, hashlib.sha256).hexdigest().encode("ascii")


# Tornado's test suite reaches these by their Tornado names.
_create_signature_v1 = _sign_v1
_create_signature_v2 = _sign_v2


def _field(data: str | bytes) -> bytes:
    b = utf8(data)
    return b"%d:%s" % (len(b), b)


def create_signed_value(
    secret: _CookieSecretTypes,
    name: str,
    value: str | bytes,
    version: int | None = None,
    clock: Callable[[], float] | None = None,
    key_version: int | None = None,
) -> bytes:
    """Signs and timestamps ``value`` under ``name`` (see the module docstring).

    :arg secret: a key, or ``{key_version: key}`` (version 2 only).
    :arg version: 1 or 2 (default `DEFAULT_SIGNED_VALUE_VERSION`).
    :arg clock: returns the current time (tests pass a fixed clock).
    :arg key_version: which key of a dict ``secret`` to sign with.
    """
    if version is None:
        version = DEFAULT_SIGNED_VALUE_VERSION
    now = int((clock or time.time)())
    timestamp = str(now).encode("ascii")
    encoded = base64.b64encode(utf8(value))
    if version == 1:
        if isinstance(secret, dict):
            raise ValueError("signed value version 1 cannot use a key dict")
        return b"|".join(
            [encoded, timestamp, _sign_v1(secret, name, encoded, timestamp)]
        )
    if version == 2:
        signed = b"|".join(
            [
                b"2",
                _field(str(key_version or 0)),
                _field(timestamp),
                _field(name),
                _field(encoded),
                b"",
            ]
        )
        if isinstance(secret, dict):
            if key_version is None:
                raise ValueError("key_version must be given when the secret is a dict")
            secret = secret[key_version]
        return signed + _sign_v2(secret, signed)
    raise ValueError(f"Unsupported version {version}")


def _value_version(value: bytes) -> int:
    m = _VERSION_PREFIX.match(value)
    if m is None:
        return 1
    version = int(m.group(1))
    # A large number is more likely the timestamp-free v1 base64 than a version.
    return 1 if version > 999 else version


def decode_signed_value(
    secret: _CookieSecretTypes,
    name: str,
    value: None | str | bytes,
    max_age_days: float = 31,
    clock: Callable[[], float] | None = None,
    min_version: int | None = None,
) -> bytes | None:
    """Returns the original value if ``value`` is correctly signed for ``name``
    and not older than ``max_age_days``; None otherwise."""
    if min_version is None:
        min_version = DEFAULT_SIGNED_VALUE_MIN_VERSION
    if min_version > 2:
        raise ValueError(f"Unsupported min_version {min_version}")
    if not value:
        return None
    raw = utf8(value)
    version = _value_version(raw)
    if version < min_version:
        return None
    now = (clock or time.time)()
    if version == 1:
        if isinstance(secret, dict):
            return None
        return _decode_v1(secret, name, raw, max_age_days, now)
    if version == 2:
        return _decode_v2(secret, name, raw, max_age_days, now)
    return None


def _decode_v1(
    secret: str | bytes, name: str, value: bytes, max_age_days: float, now: float
) -> bytes | None:
    parts = value.split(b"|")
    if len(parts) != 3:
        return None
    if not hmac.compare_digest(parts[2], _sign_v1(secret, name, parts[0], parts[1])):
        gen_log.warning("Invalid cookie signature %r", value)
        return None
    try:
        timestamp = int(parts[1])
    except ValueError:
        return None
    if timestamp < now - max_age_days * 86400:
        gen_log.warning("Expired cookie %r", value)
        return None
    if timestamp > now + 31 * 86400:
        # A far-future timestamp lets a value be replayed long after issue.
        gen_log.warning("Cookie timestamp in future; possible tampering %r", value)
        return None
    if parts[1].startswith(b"0"):
        gen_log.warning("Tampered cookie %r", value)
        return None
    try:
        return base64.b64decode(parts[0])
    except Exception:
        return None


def _split_v2(value: bytes) -> tuple[int, bytes, bytes, bytes, bytes]:
    """Splits a v2 value into (key_version, timestamp, name, b64 value, signature).

    Raises ValueError on any malformed field."""
    rest = value[2:]
    fields = []
    for _ in range(4):
        length, sep, rest = rest.partition(b":")
        if not sep or not length.isdigit():
            raise ValueError("malformed signed value")
        n = int(length)
        if rest[n : n + 1] != b"|":
            raise ValueError("malformed signed value")
        fields.append(rest[:n])
        rest = rest[n + 1 :]
    return int(fields[0]), fields[1], fields[2], fields[3], rest


def _decode_v2(
    secret: _CookieSecretTypes,
    name: str,
    value: bytes,
    max_age_days: float,
    now: float,
) -> bytes | None:
    try:
        key_version, timestamp, name_field, b64, signature = _split_v2(value)
    except ValueError:
        return None
    if isinstance(secret, dict):
        if key_version not in secret:
            return None
        secret = secret[key_version]
    signed = value[: len(value) - len(signature)]
    if not hmac.compare_digest(signature, _sign_v2(secret, signed)):
        return None
    if name_field != utf8(name):
        return None
    try:
        ts = int(timestamp)
    except ValueError:
        return None
    if ts < now - max_age_days * 86400:
        return None
    try:
        return base64.b64decode(b64)
    except Exception:
        return None


def get_signature_key_version(value: str | bytes) -> int | None:
    """Returns the signing key version of a v2 signed value (None for v1 or junk)."""
    raw = utf8(value)
    if _value_version(raw) < 2:
        return None
    try:
        return _split_v2(raw)[0]
    except ValueError:
        return None


def _xor_mask(mask: bytes, data: bytes) -> bytes:
    """XORs ``data`` with the 4-byte ``mask`` repeated (the XSRF token masking)."""
    n = len(data)
    if not n:
        return b""
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


class _CookieMixin:
    """Cookie, signed cookie, XSRF and cross-origin methods of `RequestHandler`."""

    # The cookies to send, made on the first set_cookie (a class default, so
    # reading it costs no instance ``__dict__``).
    _new_cookie: Any = None

    if TYPE_CHECKING:
        request: httputil.HTTPServerRequest
        application: Any
        current_user: Any

        @property
        def settings(self) -> dict[str, Any]: ...

        def get_argument(
            self, name: str, default: Any = ..., strip: bool = True
        ) -> Any: ...
        def require_setting(self, name: str, feature: str = ...) -> None: ...

    # -- plain cookies -------------------------------------------------------

    @property
    def cookies(self) -> dict[str, http.cookies.Morsel[str]]:
        """The request's cookies (an alias of ``self.request.cookies``)."""
        return self.request.cookies

    def get_cookie(self, name: str, default: str | None = None) -> str | None:
        """Returns the value of the request cookie ``name``, or ``default``."""
        cookies = self.request.cookies
        if cookies is not None and name in cookies:
            return cookies[name].value  # type: ignore[no-any-return]
        return default

    def set_cookie(
        self,
        name: str,
        value: str | bytes,
        domain: str | None = None,
        expires: float | tuple[int, ...] | datetime.datetime | None = None,
        path: str = "/",
        expires_days: float | None = None,
        *,
        max_age: int | None = None,
        httponly: bool = False,
        secure: bool = False,
        samesite: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Adds a ``Set-Cookie`` header for ``name=value`` to the response.

        Names, values and attributes with control characters, spaces or ``;``
        are refused (they would let a value inject attributes or headers).

        :arg expires: an absolute time (timestamp, time tuple or datetime).
        :arg expires_days: days from now, used when ``expires`` is not given.
        :arg max_age: seconds until expiry (``Max-Age``).
        :arg samesite: ``"Strict"``, ``"Lax"`` or ``"None"``.
        """
        name = escape.native_str(name)
        value = escape.native_str(value)
        if _BAD_COOKIE_VALUE.search(value):
            raise ValueError(f"Invalid cookie {name!r}: {value!r}")
        for attr, attr_value in (
            ("name", name),
            ("domain", domain),
            ("path", path),
            ("samesite", samesite),
        ):
            if attr_value is not None and _BAD_COOKIE_ATTR.search(attr_value):
                raise http.cookies.CookieError(
                    f"Invalid cookie attribute {attr}={attr_value!r} for cookie {name!r}"
                )
        for k, v in kwargs.items():
            if _BAD_COOKIE_ATTR.search(str(v)):
                raise http.cookies.CookieError(
                    f"Invalid cookie attribute {k}={v!r} for cookie {name!r}"
                )
        jar: http.cookies.SimpleCookie | None = self._new_cookie
        if jar is None:
            jar = self._new_cookie = http.cookies.SimpleCookie()
        if name in jar:
            del jar[name]
        jar[name] = value
        morsel = jar[name]
        if domain:
            morsel["domain"] = domain
        if expires_days is not None and not expires:
            expires = _utc_now() + datetime.timedelta(days=expires_days)
        if expires:
            morsel["expires"] = httputil.format_timestamp(expires)
        if path:
            morsel["path"] = path
        if max_age:
            morsel["max-age"] = str(int(max_age))
        if httponly:
            morsel["httponly"] = True
        if secure:
            morsel["secure"] = True
        if samesite:
            morsel["samesite"] = samesite
        if kwargs:
            # Old spellings ("Max-Age", "HttpOnly", ...) still set the attribute.
            for k, v in kwargs.items():
                morsel[k] = v
            warnings.warn(
                f"Deprecated arguments to set_cookie: {set(kwargs)} (should be lowercase)",
                DeprecationWarning,
                stacklevel=2,
            )

    def clear_cookie(self, name: str, **kwargs: Any) -> None:
        """Expires the cookie ``name`` on the client.

        Pass the same ``path``/``domain``/``secure``/``samesite`` the cookie was
        set with, or the browser keeps it.
        """
        for banned in ("expires", "max_age"):
            if banned in kwargs:
                raise TypeError(
                    f"clear_cookie() got an unexpected keyword argument '{banned}'"
                )
        gone = _utc_now() - datetime.timedelta(days=365)
        self.set_cookie(name, value="", expires=gone, **kwargs)

    def clear_all_cookies(self, **kwargs: Any) -> None:
        """Expires every cookie this request carried (see `clear_cookie`)."""
        for name in self.request.cookies:
            self.clear_cookie(name, **kwargs)

    # -- signed cookies -------------------------------------------------------

    def set_signed_cookie(
        self,
        name: str,
        value: str | bytes,
        expires_days: float | None = 30,
        version: int | None = None,
        **kwargs: Any,
    ) -> None:
        """Sets a cookie whose value is signed and timestamped, so the client
        cannot forge it (it can still read it: do not store secrets).

        Needs the ``cookie_secret`` setting. Read it back with `get_signed_cookie`.
        """
        self.set_cookie(
            name,
            self.create_signed_value(name, value, version=version),
            expires_days=expires_days,
            **kwargs,
        )

    set_secure_cookie = set_signed_cookie

    def create_signed_value(
        self, name: str, value: str | bytes, version: int | None = None
    ) -> bytes:
        """Signs ``value`` with the application's ``cookie_secret`` (and
        ``key_version`` when the secret is a dict)."""
        self.require_setting("cookie_secret", "secure cookies")
        secret = self.application.settings["cookie_secret"]
        key_version = None
        if isinstance(secret, dict):
            key_version = self.application.settings.get("key_version")
            if key_version is None:
                raise Exception("key_version setting must be used for secret_key dicts")
        return create_signed_value(
            secret, name, value, version=version, key_version=key_version
        )

    def get_signed_cookie(
        self,
        name: str,
        value: str | None = None,
        max_age_days: float = 31,
        min_version: int | None = None,
    ) -> bytes | None:
        """Returns the verified value of the signed cookie ``name`` (bytes), or
        None if it is missing, forged or older than ``max_age_days``."""
        self.require_setting("cookie_secret", "secure cookies")
        if value is None:
            value = self.get_cookie(name)
        return decode_signed_value(
            self.application.settings["cookie_secret"],
            name,
            value,
            max_age_days=max_age_days,
            min_version=min_version,
        )

    get_secure_cookie = get_signed_cookie

    def get_signed_cookie_key_version(
        self, name: str, value: str | None = None
    ) -> int | None:
        """Returns the key version a signed cookie was signed with (None if absent)."""
        self.require_setting("cookie_secret", "secure cookies")
        if value is None:
            value = self.get_cookie(name)
        if value is None:
            return None
        return get_signature_key_version(value)

    get_secure_cookie_key_version = get_signed_cookie_key_version

    # -- XSRF -----------------------------------------------------------------

    @property
    def xsrf_token(self) -> bytes:
        """This request's XSRF token (bytes), setting the XSRF cookie if the
        client has none. Version 2 tokens are masked afresh on every request."""
        token_bytes: bytes | None = self.__dict__.get("_xsrf_token")
        if token_bytes is not None:
            return token_bytes
        version, token, timestamp = self._get_raw_xsrf_token()
        settings = self.settings
        output_version = settings.get("xsrf_cookie_version", 2)
        cookie_kwargs = dict(settings.get("xsrf_cookie_kwargs", {}))
        if output_version == 1:
            token_bytes = binascii.b2a_hex(token)
        elif output_version == 2:
            mask = os.urandom(4)
            token_bytes = b"|".join(
                [
                    b"2",
                    binascii.b2a_hex(mask),
                    binascii.b2a_hex(_xor_mask(mask, token)),
                    str(int(timestamp)).encode("ascii"),
                ]
            )
        else:
            raise ValueError(f"unknown xsrf cookie version {output_version}")
        self._xsrf_token = token_bytes
        if version is None:
            if self.current_user and "expires_days" not in cookie_kwargs:
                cookie_kwargs["expires_days"] = 30
            self.set_cookie(
                settings.get("xsrf_cookie_name", "_xsrf"), token_bytes, **cookie_kwargs
            )
        return token_bytes

    def _get_raw_xsrf_token(self) -> tuple[int | None, bytes, float]:
        """Returns (version, raw token, timestamp) from the XSRF cookie, or a new
        random token (version None) when the cookie is missing or invalid."""
        raw = self.__dict__.get("_raw_xsrf_token")
        if raw is None:
            cookie = self.get_cookie(self.settings.get("xsrf_cookie_name", "_xsrf"))
            version: int | None = None
            token: bytes | None = None
            timestamp: float | None = None
            if cookie:
                version, token, timestamp = self._decode_xsrf_token(cookie)
            if token is None or timestamp is None:
                version, token, timestamp = None, os.urandom(16), time.time()
            raw = self._raw_xsrf_token = (version, token, timestamp)
        return raw

    def _decode_xsrf_token(
        self, cookie: str
    ) -> tuple[int | None, bytes | None, float | None]:
        """Parses a v1 (hex) or v2 (masked) token; (None, None, None) if invalid."""
        try:
            m = _VERSION_PREFIX.match(utf8(cookie))
            if m is None:
                try:
                    token = binascii.a2b_hex(utf8(cookie))
                except (binascii.Error, TypeError):
                    token = utf8(cookie)
                return 1, token, int(time.time())
            if int(m.group(1)) != 2:
                raise ValueError("Unknown xsrf cookie version")
            _, mask_hex, masked_hex, ts = cookie.split("|")
            mask = binascii.a2b_hex(utf8(mask_hex))
            token = _xor_mask(mask, binascii.a2b_hex(utf8(masked_hex)))
            return 2, token, int(ts)
        except Exception:
            gen_log.debug("Uncaught exception in _decode_xsrf_token", exc_info=True)
            return None, None, None

    def check_xsrf_cookie(self) -> None:
        """Raises 403 unless the ``_xsrf`` argument (or ``X-Xsrftoken`` /
        ``X-Csrftoken`` header) carries the token of the XSRF cookie.

        Called for every non-GET/HEAD/OPTIONS request when ``xsrf_cookies`` is set.
        """
        from whirlwind._web_handler import HTTPError

        headers = self.request.headers
        given = (
            self.get_argument("_xsrf", None)
            or headers.get("X-Xsrftoken")
            or headers.get("X-Csrftoken")
        )
        if not given:
            raise HTTPError(403, "'_xsrf' argument missing from POST")
        _, token, _ = self._decode_xsrf_token(given)
        _, expected, _ = self._get_raw_xsrf_token()
        if not token:
            raise HTTPError(403, "'_xsrf' argument has invalid format")
        if not hmac.compare_digest(utf8(token), utf8(expected)):
            raise HTTPError(403, "XSRF cookie does not match POST argument")

    def xsrf_form_html(self) -> str:
        """A hidden ``<input name="_xsrf">`` carrying `xsrf_token`, for forms."""
        return (
            '<input type="hidden" name="_xsrf" value="'
            + escape.xhtml_escape(self.xsrf_token)
            + '"/>'
        )

    # -- cross-origin protection ---------------------------------------------

    def _cross_origin_protection(self) -> None:
        """Runs the XSRF and cross-origin checks for state-changing methods."""
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return
        settings = self.application.settings
        if settings.get("xsrf_cookies"):
            self.check_xsrf_cookie()
        if settings.get("cross_origin_protection"):
            error = self._check_cross_origin(self.check_trusted_origin)
            if error is not None:
                from whirlwind._web_handler import HTTPError

                raise HTTPError(403, error)

    def _check_cross_origin(self, check: Callable[[str], bool]) -> str | None:
        """Returns None if the request may proceed, else a reason for refusing.

        ``Sec-Fetch-Site: same-origin`` or ``none`` passes. Without that header,
        a missing Origin or one naming our Host passes. Anything else must be
        approved by ``check(origin)``.
        """
        headers = self.request.headers
        site = headers.get("Sec-Fetch-Site")
        if site in ("same-origin", "none"):
            return None
        origin = headers.get("Origin")
        if site is None:
            if origin is None or self._origin_matches_host(origin) or check(origin):
                return None
            return f"Origin {origin!r} not allowed"
        if origin and check(origin):
            return None
        return f"Sec-Fetch-Site {site} & origin {origin!r} not allowed"

    def _origin_matches_host(self, origin: str) -> bool:
        netloc = urllib.parse.urlsplit(origin).netloc.lower()
        host: str = self.request.headers.get("Host", "")
        return netloc == host.lower()

    def check_trusted_origin(self, origin: str) -> bool:
        """Whether a cross-origin request from ``origin`` may proceed.

        The default trusts the origins in the ``trusted_origins`` setting.
        Override for pattern-based rules.
        """
        return bool(origin in self.application.settings.get("trusted_origins", ()))
