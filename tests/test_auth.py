"""Tests for whirlwind.auth against a fake provider served on 127.0.0.1.

The provider is a whirlwind web application with its own, independent OAuth
1.0a signature check (RFC 5849 section 3.4, written out below); the login
handlers talk to it with AsyncHTTPClient, and the "browser" is
``http.client`` driven by the test, following redirects and carrying cookies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import logging
import urllib.parse
from typing import Any

import pytest

from tests._http_support import serve
from whirlwind import web
from whirlwind.auth import (
    AuthError,
    FacebookGraphMixin,
    GoogleOAuth2Mixin,
    OAuthMixin,
    OpenIdMixin,
    TwitterMixin,
    _oauth10a_signature,
)
from whirlwind.httputil import url_concat

CONSUMER = {"key": "ck", "secret": "c s&cret"}
TOKENS = {"req-token": "req secret", "acc-token": "acc~secret"}


def rfc5849_signature(
    method: str,
    url: str,
    params: dict[str, str],
    consumer_secret: str,
    token_secret: str,
) -> str:
    """An independent HMAC-SHA1 OAuth 1.0a signature (RFC 5849 section 3.4)."""

    def enc(s: str) -> str:
        return urllib.parse.quote(s, safe="-._~")

    pairs = sorted((enc(k), enc(v)) for k, v in params.items())
    norm = "&".join(f"{k}={v}" for k, v in pairs)
    base = "&".join(enc(p) for p in (method.upper(), url, norm))
    key = f"{enc(consumer_secret)}&{enc(token_secret)}"
    return base64.b64encode(
        hmac.new(key.encode(), base.encode(), hashlib.sha1).digest()
    ).decode()


class FakeProvider(web.RequestHandler):
    """Common check: the request carries a valid OAuth 1.0a signature."""

    def check_signature(self, token_secret: str) -> dict[str, str]:
        params = {k: self.get_argument(k) for k in self.request.arguments}
        sig = params.pop("oauth_signature")
        url = f"{self.request.protocol}://{self.request.host}{self.request.path}"
        expected = rfc5849_signature(
            self.request.method, url, params, CONSUMER["secret"], token_secret
        )
        if not hmac.compare_digest(sig, expected):
            raise web.HTTPError(401, "bad signature")
        assert params["oauth_consumer_key"] == CONSUMER["key"]
        assert params["oauth_signature_method"] == "HMAC-SHA1"
        return params


class O1RequestToken(FakeProvider):
    def get(self) -> None:
        params = self.check_signature("")
        self.application.settings["seen_callback"] = params.get("oauth_callback")
        self.write("oauth_token=req-token&oauth_token_secret=req+secret&x=1")


class O1Authorize(web.RequestHandler):
    def get(self) -> None:
        # The user approves: back to the consumer with a verifier.
        back = self.get_argument("oauth_callback")
        token = self.get_argument("oauth_token")
        self.redirect(url_concat(back, {"oauth_token": token, "oauth_verifier": "v1"}))


class O1AccessToken(FakeProvider):
    def get(self) -> None:
        params = self.check_signature(TOKENS["req-token"])
        assert params["oauth_token"] == "req-token"
        assert params["oauth_verifier"] == "v1"
        self.write(
            "oauth_token=acc-token&oauth_token_secret=acc~secret&screen_name=ann"
        )


class O1Me(FakeProvider):
    def get(self) -> None:
        params = self.check_signature(TOKENS["acc-token"])
        assert params["oauth_token"] == "acc-token"
        self.write({"screen_name": "ann", "name": "Ann", "q": params.get("q")})


class O2Authorize(web.RequestHandler):
    def get(self) -> None:
        assert self.get_argument("response_type") == "code"
        assert self.get_argument("client_id") == "cid"
        assert self.get_argument("scope") == "profile email"
        self.redirect(
            url_concat(
                self.get_argument("redirect_uri"),
                {"code": "the-code", "state": self.get_argument("state")},
            )
        )


class O2Token(web.RequestHandler):
    def post(self) -> None:
        args = {k: self.get_body_argument(k) for k in self.request.body_arguments}
        if args.get("code") != "the-code" or args.get("client_secret") != "csecret":
            raise web.HTTPError(400)
        assert args["grant_type"] == "authorization_code"
        assert args["client_id"] == "cid"
        self.write({"access_token": "at-1", "expires_in": 3600})


class O2UserInfo(web.RequestHandler):
    def get(self) -> None:
        if self.get_argument("access_token") != "at-1":
            raise web.HTTPError(401)
        self.write({"name": "Ann", "email": "ann@example.com"})


class FBToken(web.RequestHandler):
    def get(self) -> None:
        assert self.get_argument("client_secret") == "fbsecret"
        self.write({"access_token": "fb-at", "expires_in": 60})


class FBMe(web.RequestHandler):
    def get(self) -> None:
        proof = hmac.new(b"fbsecret", b"fb-at", hashlib.sha256).hexdigest()
        assert self.get_argument("appsecret_proof") == proof
        assert "email" in self.get_argument("fields").split(",")
        self.write({"id": "7", "name": "Ann", "email": "a@x"})


class OpenIdCheck(web.RequestHandler):
    def post(self) -> None:
        assert self.get_argument("openid.mode") == "check_authentication"
        self.write("ns:http://specs.openid.net/auth/2.0\nis_valid:true\n")


# -- consumers (the application under test) -------------------------------------------


def provider_url(handler: web.RequestHandler, path: str) -> str:
    return f"{handler.request.protocol}://{handler.request.host}{path}"


class OAuth1Login(web.RequestHandler, TwitterMixin):
    def initialize(self) -> None:
        self._OAUTH_REQUEST_TOKEN_URL = provider_url(self, "/o1/request_token")
        self._OAUTH_AUTHORIZE_URL = provider_url(self, "/o1/authorize")
        self._OAUTH_ACCESS_TOKEN_URL = provider_url(self, "/o1/access_token")
        self._TWITTER_BASE_URL = provider_url(self, "/o1")

    async def get(self) -> None:
        if self.get_argument("oauth_token", None):
            user = await self.get_authenticated_user()
            me = await self.twitter_request("/me", user["access_token"], q="a b")
            self.write({"user": user, "me": me})
        else:
            await self.authorize_redirect(callback_uri="/o1/login")


class ClassicOAuth1Login(OAuth1Login):
    @web.asynchronous
    def get(self) -> None:  # type: ignore[override]
        if self.get_argument("oauth_token", None):
            self.get_authenticated_user(self._on_auth)
        else:
            self.authorize_redirect(callback_uri="/o1/classic")

    def _on_auth(self, user: dict[str, Any] | None) -> None:
        if user is None:
            raise web.HTTPError(403, "auth failed")
        self.finish({"classic": user["username"]})


class GoogleLogin(web.RequestHandler, GoogleOAuth2Mixin):
    def initialize(self) -> None:
        self._OAUTH_AUTHORIZE_URL = provider_url(self, "/o2/authorize")
        self._OAUTH_ACCESS_TOKEN_URL = provider_url(self, "/o2/token")

    async def get(self) -> None:
        redirect_uri = provider_url(self, self.request.path)
        code = self.get_argument("code", None)
        if code is None:
            self.authorize_redirect(
                redirect_uri=redirect_uri,
                client_id=self.get_google_oauth_settings()["key"],
                scope=["profile", "email"],
                extra_params={"state": "s1"},
            )
            return
        assert self.get_argument("state") == "s1"
        tokens = await self.get_authenticated_user(redirect_uri=redirect_uri, code=code)
        user = await self.oauth2_request(
            provider_url(self, "/o2/userinfo"), access_token=tokens["access_token"]
        )
        self.write({"user": user, "expires_in": tokens["expires_in"]})


class ClassicGoogleLogin(GoogleLogin):
    @web.asynchronous
    def get(self) -> None:  # type: ignore[override]
        self.get_authenticated_user(
            provider_url(self, "/o2/login"), self.get_argument("code"), self._on_auth
        )

    def _on_auth(self, tokens: dict[str, Any] | None) -> None:
        self.finish({"tokens": tokens})


class FacebookLogin(web.RequestHandler, FacebookGraphMixin):
    def initialize(self) -> None:
        self._OAUTH_ACCESS_TOKEN_URL = provider_url(self, "/fb/token")
        self._FACEBOOK_BASE_URL = provider_url(self, "/fb")

    async def get(self) -> None:
        user = await self.get_authenticated_user(
            redirect_uri=provider_url(self, "/fb/login"),
            client_id="fbid",
            client_secret="fbsecret",
            code=self.get_argument("code"),
            extra_fields=["email"],
        )
        self.write(user)


class OpenIdLogin(web.RequestHandler, OpenIdMixin):
    def initialize(self) -> None:
        self._OPENID_ENDPOINT = provider_url(self, "/openid/check")

    async def get(self) -> None:
        if self.get_argument("openid.mode", None):
            self.write(await self.get_authenticated_user())
        else:
            self.authenticate_redirect()


def make_app() -> web.Application:
    return web.Application(
        [
            ("/o1/request_token", O1RequestToken),
            ("/o1/authorize", O1Authorize),
            ("/o1/access_token", O1AccessToken),
            (r"/o1/(?:me|account/verify_credentials)\.json", O1Me),
            ("/o1/login", OAuth1Login),
            ("/o1/classic", ClassicOAuth1Login),
            ("/o2/authorize", O2Authorize),
            ("/o2/token", O2Token),
            ("/o2/userinfo", O2UserInfo),
            ("/o2/login", GoogleLogin),
            ("/o2/classic", ClassicGoogleLogin),
            ("/fb/token", FBToken),
            ("/fb/me", FBMe),
            ("/fb/login", FacebookLogin),
            ("/openid/check", OpenIdCheck),
            ("/openid/login", OpenIdLogin),
        ],
        twitter_consumer_key=CONSUMER["key"],
        twitter_consumer_secret=CONSUMER["secret"],
        google_oauth={"key": "cid", "secret": "csecret"},
    )


class Browser:
    """Follows redirects and keeps cookies, over http.client."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def get(self, url: str, max_hops: int = 5) -> tuple[int, bytes, list[str]]:
        hops: list[str] = []
        for _ in range(max_hops):
            parts = urllib.parse.urlsplit(url)
            path = parts.path + ("?" + parts.query if parts.query else "")
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            headers = {}
            if self.cookies:
                headers["Cookie"] = "; ".join(
                    f"{k}={v}" for k, v in self.cookies.items()
                )
            conn.request("GET", path, headers=headers)
            r = conn.getresponse()
            body = r.read()
            conn.close()
            for value in r.msg.get_all("Set-Cookie") or []:
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";")[0]
            if r.status in (301, 302, 303):
                url = urllib.parse.urljoin(url, r.msg["Location"])
                hops.append(url)
                continue
            return r.status, body, hops
        raise AssertionError("too many redirects")


def test_rfc5849_known_answer() -> None:
    # The worked example of Twitter's "creating a signature" guide.
    params = {
        "status": "Hello Ladies + Gentlemen, a signed OAuth request!",
        "include_entities": "true",
        "oauth_consumer_key": "xvz1evFS4wEEPTGEFPHBog",
        "oauth_nonce": "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg",
        "oauth_signature_method": "HMAC-SHA1",
        "oauth_timestamp": "1318622958",
        "oauth_token": "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
        "oauth_version": "1.0",
    }
    url = "https://api.twitter.com/1.1/statuses/update.json"
    consumer = {"key": "", "secret": "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw"}
    token = {"key": "", "secret": "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE"}
    ours = _oauth10a_signature(consumer, "POST", url, params, token)
    assert ours == b"hCtSmYh+iHYCEqBWrE7C7hYmtUk="
    assert (
        rfc5849_signature("POST", url, params, consumer["secret"], token["secret"])
        == ours.decode()
    )


def test_oauth1a_flow_with_signed_requests() -> None:
    with serve(make_app()) as st:
        browser = Browser(st.port)
        status, body, hops = browser.get(f"http://127.0.0.1:{st.port}/o1/login")
        assert status == 200, body
        assert hops[0].startswith(
            f"http://127.0.0.1:{st.port}/o1/authorize?oauth_token=req-token"
        )
        data = json.loads(body)
        assert data["user"]["username"] == "ann"
        assert data["user"]["access_token"] == {
            "key": "acc-token",
            "secret": "acc~secret",
            "screen_name": "ann",
        }
        assert data["me"] == {"screen_name": "ann", "name": "Ann", "q": "a b"}
        assert st.call(lambda: None) is None
        # The request-token cookie was consumed (cleared) at the end.
        assert browser.cookies["_oauth_request_token"] in ('""', "")


def test_oauth1a_classic_callback_form() -> None:
    with serve(make_app()) as st:
        status, body, _ = Browser(st.port).get(f"http://127.0.0.1:{st.port}/o1/classic")
        assert status == 200
        assert json.loads(body) == {"classic": "ann"}


def test_oauth1a_refuses_forged_token_and_missing_cookie(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with serve(make_app()) as st:
        browser = Browser(st.port)
        with caplog.at_level(logging.ERROR):
            # No request-token cookie at all.
            status, _, _ = browser.get(
                f"http://127.0.0.1:{st.port}/o1/login?oauth_token=x"
            )
            assert status == 500
            # A cookie for another token.
            browser.cookies["_oauth_request_token"] = (
                base64.b64encode(b"other").decode()
                + "|"
                + base64.b64encode(b"s").decode()
            )
            status, _, _ = browser.get(
                f"http://127.0.0.1:{st.port}/o1/login?oauth_token=req-token"
            )
            assert status == 500
        errors = [r for r in caplog.records if r.exc_info]
        assert any(isinstance(r.exc_info[1], AuthError) for r in errors if r.exc_info)
        # Classic form: the callback gets None.
        with caplog.at_level(logging.ERROR):
            status, _, _ = Browser(st.port).get(
                f"http://127.0.0.1:{st.port}/o1/classic?oauth_token=x"
            )
        assert status == 403


def test_oauth2_code_flow_google() -> None:
    with serve(make_app()) as st:
        status, body, hops = Browser(st.port).get(
            f"http://127.0.0.1:{st.port}/o2/login"
        )
        assert status == 200, body
        auth_url = urllib.parse.urlsplit(hops[0])
        assert auth_url.path == "/o2/authorize"
        q = urllib.parse.parse_qs(auth_url.query)
        assert q["redirect_uri"] == [f"http://127.0.0.1:{st.port}/o2/login"]
        assert "client_secret" not in q
        assert json.loads(body) == {
            "user": {"name": "Ann", "email": "ann@example.com"},
            "expires_in": 3600,
        }


def test_oauth2_classic_callback_and_bad_code(caplog: pytest.LogCaptureFixture) -> None:
    with serve(make_app()) as st:
        status, body, _ = Browser(st.port).get(
            f"http://127.0.0.1:{st.port}/o2/classic?code=the-code"
        )
        assert status == 200
        assert json.loads(body)["tokens"]["access_token"] == "at-1"
        with caplog.at_level(logging.ERROR):
            status, body, _ = Browser(st.port).get(
                f"http://127.0.0.1:{st.port}/o2/classic?code=forged"
            )
        # The provider refused the code: the classic callback gets None.
        assert status == 200
        assert json.loads(body) == {"tokens": None}


def test_facebook_graph_login() -> None:
    with serve(make_app()) as st:
        status, body, _ = Browser(st.port).get(
            f"http://127.0.0.1:{st.port}/fb/login?code=c"
        )
        assert status == 200, body
        user = json.loads(body)
        assert user["id"] == "7"
        assert user["email"] == "a@x"
        assert user["access_token"] == "fb-at"
        assert user["session_expires"] == "60"


def test_openid_login() -> None:
    with serve(make_app()) as st:
        base = f"http://127.0.0.1:{st.port}/openid/login"
        conn = http.client.HTTPConnection("127.0.0.1", st.port, timeout=10)
        conn.request("GET", "/openid/login")
        r = conn.getresponse()
        r.read()
        conn.close()
        assert r.status == 302
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(r.msg["Location"]).query)
        assert q["openid.mode"] == ["checkid_setup"]
        assert q["openid.return_to"] == [base]
        back = url_concat(
            base,
            {
                "openid.mode": "id_res",
                "openid.ns.ax": "http://openid.net/srv/ax/1.0",
                "openid.ax.type.email": "http://axschema.org/contact/email",
                "openid.ax.value.email": "ann@example.com",
                "openid.claimed_id": "https://id.example/ann",
            },
        )
        status, body, _ = Browser(st.port).get(back)
        assert status == 200
        assert json.loads(body) == {
            "name": "ann",
            "email": "ann@example.com",
            "claimed_id": "https://id.example/ann",
        }


def test_oauth_mixin_requires_consumer_token() -> None:
    class Incomplete(OAuthMixin):
        pass

    with pytest.raises(NotImplementedError):
        Incomplete()._oauth_consumer_token()
