"""Tests for whirlwind._web_cookies: signed values, cookies, XSRF, cross-origin."""

from __future__ import annotations

import binascii
import hashlib
import hmac
import http.cookies
import re
import urllib.parse

import pytest

from tests._web_support import LogCapture, no_unexpected_logs, serve  # noqa: F401
from whirlwind import web
from whirlwind._web_cookies import _xor_mask
from whirlwind.log import gen_log

NOW = 1700000000

# Known answers (Tornado 6 produces the same bytes for these inputs).
KAT_V2 = (
    b"2|1:0|10:1700000000|4:name|8:dmFsdWU=|"
    b"a10442fe9dfd04c38d66405499eca973aa061c03364bdc2e4d993487049011fd"
)
KAT_V1 = b"dmFsdWU=|1700000000|0fdcc7055dd9242041ca1f067de1d163701396e0"
KAT_V2_KEY1 = (
    b"2|1:1|10:1700000000|4:name|8:dmFsdWU=|"
    b"538698372c017503b0dbbc7bd07187af54230ff10e7a5239ab5662fcca0d19a8"
)


def clock() -> float:
    return NOW


def test_signed_value_v2_known_answer() -> None:
    value = web.create_signed_value("secret", "name", "value", version=2, clock=clock)
    assert value == KAT_V2
    signed, _, sig = value.rpartition(b"|")
    expected = hmac.new(b"secret", signed + b"|", hashlib.sha256).hexdigest().encode()
    assert sig == expected
    assert web.decode_signed_value("secret", "name", value, clock=clock) == b"value"


def test_signed_value_v1_known_answer() -> None:
    value = web.create_signed_value("secret", "name", "value", version=1, clock=clock)
    assert value == KAT_V1
    assert web.decode_signed_value("secret", "name", value, clock=clock) == b"value"
    assert (
        web.decode_signed_value("secret", "name", value, clock=clock, min_version=2)
        is None
    )


def test_signed_value_key_rotation() -> None:
    keys = {0: "old", 1: "new"}
    value = web.create_signed_value(keys, "name", "value", clock=clock, key_version=1)
    assert value == KAT_V2_KEY1
    assert web.get_signature_key_version(value) == 1
    assert web.decode_signed_value(keys, "name", value, clock=clock) == b"value"
    old = web.create_signed_value(keys, "name", "value", clock=clock, key_version=0)
    assert web.decode_signed_value(keys, "name", old, clock=clock) == b"value"
    # A key version the server no longer has is refused.
    assert web.decode_signed_value({1: "new"}, "name", old, clock=clock) is None
    assert web.get_signature_key_version(KAT_V1) is None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda v: v[:-1] + (b"0" if v[-1:] != b"0" else b"1"),  # signature
        lambda v: v.replace(b"4:name", b"4:nbme"),  # name field
        lambda v: v.replace(b"8:dmFsdWU=", b"8:dmFsdWX="),  # value
        lambda v: v.replace(b"10:1700000000", b"10:1700000001"),  # timestamp
        lambda v: v.replace(b"|8:", b"|9:"),  # length prefix
        lambda v: v[:20],  # truncated
        lambda v: b"",
    ],
)
def test_signed_value_v2_tampering_refused(mangle: object) -> None:
    assert (
        web.decode_signed_value("secret", "name", mangle(KAT_V2), clock=clock) is None
    )  # type: ignore[operator]


def test_signed_value_bound_to_name_and_age() -> None:
    assert web.decode_signed_value("secret", "other", KAT_V2, clock=clock) is None
    later = lambda: NOW + 32 * 86400  # noqa: E731
    assert web.decode_signed_value("secret", "name", KAT_V2, clock=later) is None
    assert (
        web.decode_signed_value("secret", "name", KAT_V2, clock=later, max_age_days=40)
        == b"value"
    )


def test_signed_value_v1_rejects_future_and_bad_signature() -> None:
    future = web.create_signed_value(
        "secret", "name", "v", version=1, clock=lambda: NOW + 40 * 86400
    )
    with LogCapture(gen_log.name) as logs:
        assert web.decode_signed_value("secret", "name", future, clock=clock) is None
        assert web.decode_signed_value("secret", "name", b"x|1|y", clock=clock) is None
    assert any("future" in m for m in logs.messages())
    assert any("Invalid cookie signature" in m for m in logs.messages())


def test_xor_mask_is_an_involution() -> None:
    mask = b"\x01\x02\x03\x04"
    token = bytes(range(16))
    masked = _xor_mask(mask, token)
    assert masked != token
    assert _xor_mask(mask, masked) == token
    assert masked[:4] == bytes([0 ^ 1, 1 ^ 2, 2 ^ 3, 3 ^ 4])


# -- through HTTP ---------------------------------------------------------------


class SetCookies(web.RequestHandler):
    def get(self) -> None:
        self.set_cookie("plain", "v1")
        self.set_cookie(
            "attrs",
            "v2",
            domain="example.com",
            path="/p",
            max_age=10,
            httponly=True,
            secure=True,
            samesite="Lax",
        )
        self.set_cookie("days", "v3", expires_days=1)
        self.set_signed_cookie("signed", "s3cr3t")
        self.write("ok")


class GetCookies(web.RequestHandler):
    def get(self) -> None:
        signed = self.get_signed_cookie("signed")
        self.write(
            {
                "plain": self.get_cookie("plain"),
                "missing": self.get_cookie("missing", "dflt"),
                "signed": signed.decode() if signed else None,
                "secure_alias": (self.get_secure_cookie("signed") or b"").decode(),
                "key_version": self.get_signed_cookie_key_version("signed"),
            }
        )


class BadCookie(web.RequestHandler):
    def get(self) -> None:
        which = self.get_argument("which")
        try:
            if which == "value":
                self.set_cookie("a", "x;y z")
            elif which == "domain":
                self.set_cookie("a", "x", domain="evil;com")
            elif which == "name":
                self.set_cookie("a b", "x")
        except (ValueError, http.cookies.CookieError) as e:
            self.write("refused: " + type(e).__name__)
            return
        self.write("accepted")


class ClearCookies(web.RequestHandler):
    def get(self) -> None:
        if self.get_argument("all", None):
            self.clear_all_cookies()
        else:
            self.clear_cookie("plain", path="/")


def cookie_app(**settings: object) -> web.Application:
    return web.Application(
        [
            ("/set", SetCookies),
            ("/get", GetCookies),
            ("/bad", BadCookie),
            ("/clear", ClearCookies),
        ],
        cookie_secret="0123456789abcdef",
        **settings,
    )


def _cookie_header(set_cookies: list[str]) -> str:
    jar = http.cookies.SimpleCookie()
    for line in set_cookies:
        jar.load(line)
    return "; ".join(f"{k}={m.value}" for k, m in jar.items())


def test_set_cookie_attributes_and_signed_roundtrip() -> None:
    with serve(cookie_app()) as c:
        r = c.fetch("/set")
        lines = r.header_list("Set-Cookie")
        by_name = {line.split("=", 1)[0]: line for line in lines}
        assert by_name["plain"] == "plain=v1; Path=/"
        attrs = by_name["attrs"]
        for part in (
            "Domain=example.com",
            "Path=/p",
            "Max-Age=10",
            "HttpOnly",
            "Secure",
            "SameSite=Lax",
        ):
            assert part in attrs
        assert "expires=" in by_name["days"]
        assert by_name["signed"].startswith("signed=2|1:0|")
        r = c.fetch("/get", headers={"Cookie": _cookie_header(lines)})
        data = r.body.decode()
        assert '"plain": "v1"' in data
        assert '"missing": "dflt"' in data
        assert '"signed": "s3cr3t"' in data
        assert '"secure_alias": "s3cr3t"' in data
        assert '"key_version": 0' in data
        # A forged value fails verification.
        forged = _cookie_header(lines).replace("czNjcjN0", "czNjcjN1")
        assert '"signed": null' in c.fetch("/get", headers={"Cookie": forged}).text


def test_set_cookie_refuses_injection() -> None:
    with serve(cookie_app()) as c:
        assert c.fetch("/bad?which=value").text == "refused: ValueError"
        assert c.fetch("/bad?which=domain").text == "refused: CookieError"
        assert c.fetch("/bad?which=name").text == "refused: CookieError"


def test_clear_cookie_and_clear_all() -> None:
    with serve(cookie_app()) as c:
        lines = c.fetch("/clear").header_list("Set-Cookie")
        assert len(lines) == 1 and lines[0].startswith('plain="";')
        assert "expires=" in lines[0]
        lines = c.fetch("/clear?all=1", headers={"Cookie": "a=1; b=2"}).header_list(
            "Set-Cookie"
        )
        assert sorted(line.split("=", 1)[0] for line in lines) == ["a", "b"]


def test_signed_cookie_key_rotation_over_http() -> None:
    app_old = cookie_app()
    app_old.settings["cookie_secret"] = {0: "k0", 1: "k1"}
    app_old.settings["key_version"] = 0
    with serve(app_old) as c:
        lines = c.fetch("/set").header_list("Set-Cookie")
    app_new = cookie_app()
    app_new.settings["cookie_secret"] = {0: "k0", 1: "k1"}
    app_new.settings["key_version"] = 1
    with serve(app_new) as c:
        text = c.fetch("/get", headers={"Cookie": _cookie_header(lines)}).text
        assert '"signed": "s3cr3t"' in text and '"key_version": 0' in text


# -- XSRF --------------------------------------------------------------------------


class XsrfForm(web.RequestHandler):
    def get(self) -> None:
        self.write(self.xsrf_form_html())

    def post(self) -> None:
        self.write("posted")


def _token_from_form(html: str) -> str:
    m = re.search(r'value="([^"]+)"', html)
    assert m is not None
    return m.group(1).replace("&#124;", "|")


def test_xsrf_masked_tokens_and_checks() -> None:
    app = web.Application([("/", XsrfForm)], xsrf_cookies=True)
    with serve(app) as c:
        r = c.fetch("/")
        cookie = _cookie_header(r.header_list("Set-Cookie"))
        assert cookie.startswith("_xsrf=2|")
        token1 = _token_from_form(c.fetch("/", headers={"Cookie": cookie}).text)
        token2 = _token_from_form(c.fetch("/", headers={"Cookie": cookie}).text)
        # Masked afresh each time, same underlying token.
        assert token1 != token2
        v, mask1, masked1, _ = token1.split("|")
        _, mask2, masked2, _ = token2.split("|")
        raw1 = _xor_mask(binascii.a2b_hex(mask1), binascii.a2b_hex(masked1))
        raw2 = _xor_mask(binascii.a2b_hex(mask2), binascii.a2b_hex(masked2))
        assert v == "2" and raw1 == raw2 and len(raw1) == 16

        form = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
        with LogCapture(gen_log.name) as logs:
            assert c.fetch("/", "POST", body="", headers=form).status == 403
            bad = urllib.parse.urlencode({"_xsrf": "2|00000000|" + "00" * 16 + "|1"})
            assert c.fetch("/", "POST", body=bad, headers=form).status == 403
        assert any("'_xsrf' argument missing" in m for m in logs.messages())
        assert any("XSRF cookie does not match" in m for m in logs.messages())
        good = urllib.parse.urlencode({"_xsrf": token1})
        r = c.fetch("/", "POST", body=good, headers=form)
        assert (r.status, r.text) == (200, "posted")
        r = c.fetch(
            "/", "POST", body="", headers={"Cookie": cookie, "X-Xsrftoken": token2}
        )
        assert r.status == 200
        r = c.fetch(
            "/", "POST", body="", headers={"Cookie": cookie, "X-Csrftoken": token2}
        )
        assert r.status == 200


def test_xsrf_version_1_token() -> None:
    app = web.Application([("/", XsrfForm)], xsrf_cookies=True, xsrf_cookie_version=1)
    with serve(app) as c:
        r = c.fetch("/")
        cookie = _cookie_header(r.header_list("Set-Cookie"))
        token = cookie.split("=", 1)[1]
        assert re.fullmatch("[0-9a-f]{32}", token)
        r = c.fetch(
            "/", "POST", body="", headers={"Cookie": cookie, "X-Xsrftoken": token}
        )
        assert r.status == 200


# -- cross-origin ------------------------------------------------------------------


class Post(web.RequestHandler):
    def post(self) -> None:
        self.write("ok")


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 200),
        ({"Sec-Fetch-Site": "same-origin"}, 200),
        ({"Sec-Fetch-Site": "none"}, 200),
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Sec-Fetch-Site": "cross-site", "Origin": "https://friend.example"}, 200),
        ({"Sec-Fetch-Site": "same-site", "Origin": "https://evil.example"}, 403),
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "https://friend.example"}, 200),
    ],
)
def test_cross_origin_protection(headers: dict[str, str], status: int) -> None:
    app = web.Application(
        [("/", Post)],
        cross_origin_protection=True,
        trusted_origins=["https://friend.example"],
    )
    with serve(app) as c:
        with LogCapture(gen_log.name) as logs:
            r = c.fetch("/", "POST", body="", headers=headers)
        assert r.status == status
        if status == 403:
            assert any("not allowed" in m for m in logs.messages())


def test_cross_origin_allows_origin_matching_host() -> None:
    app = web.Application([("/", Post)], cross_origin_protection=True)
    with serve(app) as c:
        origin = f"http://127.0.0.1:{c.port}"
        assert c.fetch("/", "POST", body="", headers={"Origin": origin}).status == 200
