"""Third-party login: OpenID, OAuth 1.0/1.0a, OAuth 2 and provider mixins.

Mix these into a `.RequestHandler`.  Every network step is a coroutine
(``user = await self.get_authenticated_user(...)``), and the classic
callback form still works: pass a callable where Tornado 2-4 code did
(``self.get_authenticated_user(self._on_auth)``) and it is called with the
user dict, or None if authentication failed.

Contents:

* `OpenIdMixin` (OpenID 2.0 with attribute exchange).
* `OAuthMixin` (OAuth 1.0 and 1.0a, HMAC-SHA1 signatures), `TwitterMixin`.
* `OAuth2Mixin` (authorization-code flow), `GoogleOAuth2Mixin`,
  `FacebookGraphMixin`.
* `AuthError`.

Example (Google)::

    class GoogleLogin(web.RequestHandler, auth.GoogleOAuth2Mixin):
        async def get(self):
            code = self.get_argument("code", None)
            if code:
                token = await self.get_authenticated_user(
                    redirect_uri="https://example.com/login", code=code)
                user = await self.oauth2_request(
                    "https://www.googleapis.com/oauth2/v1/userinfo",
                    access_token=token["access_token"])
                ...  # remember the user, e.g. in a signed cookie
            else:
                self.authorize_redirect(
                    redirect_uri="https://example.com/login",
                    client_id=self.get_google_oauth_settings()["key"],
                    scope=["profile", "email"])
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import re
import secrets
import time
import urllib.parse
from collections.abc import Callable, Coroutine
from typing import Any, cast

from whirlwind import escape, httpclient
from whirlwind.httputil import url_concat

__all__ = [
    "AuthError",
    "OpenIdMixin",
    "OAuthMixin",
    "OAuth2Mixin",
    "TwitterMixin",
    "GoogleOAuth2Mixin",
    "FacebookGraphMixin",
]

app_log = logging.getLogger("whirlwind.application")

_UserCallback = Callable[[Any], Any]


class AuthError(Exception):
    """Authentication with the provider failed."""


def _with_callback(
    handler: Any, coro: Coroutine[Any, Any, Any], callback: _UserCallback | None
) -> Any:
    """Start ``coro`` as a Task (so classic code that never awaits it still
    runs it) and return the Task; with a classic ``callback``, call
    ``callback(result)`` when done (None on failure, which is logged)."""
    task = asyncio.ensure_future(coro)
    if callback is None:
        return task

    def done(fut: asyncio.Future[Any]) -> None:
        result = None
        if not fut.cancelled():
            exc = fut.exception()
            if exc is None:
                result = fut.result()
            else:
                app_log.warning("Authentication failed: %s", exc, exc_info=exc)
        try:
            callback(result)
        except Exception as e:
            on_error = getattr(handler, "_handle_request_exception", None)
            if on_error is None:
                raise
            on_error(e)

    task.add_done_callback(done)
    return task


def _ignore_result(callback: Callable[[], Any] | None) -> _UserCallback | None:
    if callback is None:
        return None
    return lambda _: callback()


def _shift_callback(value: Any, callback: _UserCallback | None) -> tuple[Any, Any]:
    """Classic signatures put ``callback`` where Tornado 6 has another
    argument; a callable there is taken as the callback."""
    if callable(value) and not isinstance(value, httpclient.AsyncHTTPClient):
        return None, value
    return value, callback


class OpenIdMixin:
    """OpenID 2.0 login with the Attribute Exchange extension.

    Set the class attribute ``_OPENID_ENDPOINT`` to the provider's URL.
    """

    _OPENID_ENDPOINT = ""

    def authenticate_redirect(
        self,
        callback_uri: str | None = None,
        ax_attrs: list[str] = ["name", "email", "language", "username"],  # noqa: B006
    ) -> None:
        """Redirect to the provider; it sends the user back to
        ``callback_uri`` (default: this URL) with the result."""
        handler = cast(Any, self)
        callback_uri = callback_uri or handler.request.uri
        assert callback_uri is not None
        args = self._openid_args(callback_uri, ax_attrs=ax_attrs)
        endpoint = self._OPENID_ENDPOINT
        sep = "&" if "?" in endpoint else "?"
        handler.redirect(endpoint + sep + urllib.parse.urlencode(args))

    def get_authenticated_user(
        self,
        http_client: httpclient.AsyncHTTPClient | _UserCallback | None = None,
        callback: _UserCallback | None = None,
    ) -> Any:
        """On the return from the provider, verify the assertion with it and
        return the user (``name``, ``email``, ``locale``, ``username``,
        ``claimed_id``, as available).  Raises `AuthError` if invalid."""
        client, callback = _shift_callback(http_client, callback)
        return _with_callback(self, self._verify(client), callback)

    async def _verify(
        self, http_client: httpclient.AsyncHTTPClient | None
    ) -> dict[str, Any]:
        handler = cast(Any, self)
        args = {k: v[-1] for k, v in handler.request.arguments.items()}
        args["openid.mode"] = b"check_authentication"
        client = http_client or self.get_auth_http_client()
        response = await client.fetch(
            self._OPENID_ENDPOINT,
            method="POST",
            body=urllib.parse.urlencode(args),
        )
        return self._on_authentication_verified(response)

    def _openid_args(
        self,
        callback_uri: str,
        ax_attrs: list[str] | None = None,
        oauth_scope: str | None = None,
    ) -> dict[str, str]:
        handler = cast(Any, self)
        url = urllib.parse.urljoin(handler.request.full_url(), callback_uri)
        select = "http://specs.openid.net/auth/2.0/identifier_select"
        args = {
            "openid.ns": "http://specs.openid.net/auth/2.0",
            "openid.claimed_id": select,
            "openid.identity": select,
            "openid.return_to": url,
            "openid.realm": urllib.parse.urljoin(url, "/"),
            "openid.mode": "checkid_setup",
        }
        if ax_attrs:
            args["openid.ns.ax"] = "http://openid.net/srv/ax/1.0"
            args["openid.ax.mode"] = "fetch_request"
            wanted = set(ax_attrs)
            required: list[str] = []
            if "name" in wanted:
                wanted -= {"name", "firstname", "fullname", "lastname"}
                for part, uri in _AX_NAME_TYPES.items():
                    args["openid.ax.type." + part] = uri
                    required.append(part)
            for name in sorted(wanted):
                args["openid.ax.type." + name] = _AX_TYPES[name]
                required.append(name)
            args["openid.ax.required"] = ",".join(required)
        if oauth_scope:
            args["openid.ns.oauth"] = "http://specs.openid.net/extensions/oauth/1.0"
            args["openid.oauth.consumer"] = handler.request.host.split(":")[0]
            args["openid.oauth.scope"] = oauth_scope
        return args

    def _on_authentication_verified(
        self, response: httpclient.HTTPResponse
    ) -> dict[str, Any]:
        handler = cast(Any, self)
        body = escape.to_unicode(response.body)
        if not re.search(r"^is_valid:true$", body, re.MULTILINE):
            raise AuthError(f"Invalid OpenID response: {body!r}")
        arguments = handler.request.arguments
        ax_ns = None
        for key in arguments:
            if (
                key.startswith("openid.ns.")
                and handler.get_argument(key) == "http://openid.net/srv/ax/1.0"
            ):
                ax_ns = key[len("openid.ns.") :]
                break

        def ax(uri: str) -> str:
            if ax_ns is None:
                return ""
            prefix = f"openid.{ax_ns}.type."
            for name in arguments:
                if name.startswith(prefix) and handler.get_argument(name) == uri:
                    value_key = f"openid.{ax_ns}.value.{name[len(prefix) :]}"
                    return handler.get_argument(value_key, "")  # type: ignore[no-any-return]
            return ""

        email = ax(_AX_TYPES["email"])
        name = ax(_AX_NAME_TYPES["fullname"])
        first = ax(_AX_NAME_TYPES["firstname"])
        last = ax(_AX_NAME_TYPES["lastname"])
        username = ax(_AX_TYPES["username"])
        locale = ax(_AX_TYPES["language"]).lower()
        user: dict[str, Any] = {}
        if first:
            user["first_name"] = first
        if last:
            user["last_name"] = last
        if name:
            user["name"] = name
        elif first or last:
            user["name"] = " ".join(p for p in (first, last) if p)
        elif email:
            user["name"] = email.split("@")[0]
        if email:
            user["email"] = email
        if locale:
            user["locale"] = locale
        if username:
            user["username"] = username
        claimed_id = handler.get_argument("openid.claimed_id", None)
        if claimed_id:
            user["claimed_id"] = claimed_id
        return user

    def get_auth_http_client(self) -> httpclient.AsyncHTTPClient:
        """The HTTP client used to talk to the provider (override for tests
        or custom settings)."""
        return httpclient.AsyncHTTPClient()


_AX_NAME_TYPES = {
    "firstname": "http://axschema.org/namePerson/first",
    "fullname": "http://axschema.org/namePerson",
    "lastname": "http://axschema.org/namePerson/last",
}
_AX_TYPES = {
    "email": "http://axschema.org/contact/email",
    "language": "http://axschema.org/pref/language",
    "username": "http://axschema.org/namePerson/friendly",
}


class OAuthMixin:
    """OAuth 1.0 / 1.0a: request token -> user authorization -> access token.

    Subclasses set ``_OAUTH_REQUEST_TOKEN_URL``, ``_OAUTH_ACCESS_TOKEN_URL``,
    ``_OAUTH_AUTHORIZE_URL``, optionally ``_OAUTH_VERSION`` ("1.0a" or
    "1.0") and ``_OAUTH_NO_CALLBACKS``, and implement
    `_oauth_consumer_token` and `_oauth_get_user_future`.
    """

    _OAUTH_REQUEST_TOKEN_URL = ""
    _OAUTH_ACCESS_TOKEN_URL = ""
    _OAUTH_AUTHORIZE_URL = ""
    _OAUTH_VERSION = "1.0a"
    _OAUTH_NO_CALLBACKS = False

    def authorize_redirect(
        self,
        callback_uri: str | None = None,
        extra_params: dict[str, Any] | None = None,
        http_client: httpclient.AsyncHTTPClient | None = None,
        callback: Callable[[], Any] | None = None,
    ) -> Any:
        """Get a request token, store it in a cookie and redirect the user
        to the provider.  ``callback_uri`` is where the provider sends the
        user back (``"oob"`` for out-of-band: the URL is written instead).
        Awaitable; the classic ``callback`` is called when done."""
        if callback_uri and self._OAUTH_NO_CALLBACKS:
            raise Exception("This service does not support oauth_callback")
        coro = self._authorize_redirect(callback_uri, extra_params, http_client)
        return _with_callback(self, coro, _ignore_result(callback))

    async def _authorize_redirect(
        self,
        callback_uri: str | None,
        extra_params: dict[str, Any] | None,
        http_client: httpclient.AsyncHTTPClient | None,
    ) -> None:
        client = http_client or self.get_auth_http_client()
        if self._OAUTH_VERSION == "1.0a":
            url = self._oauth_request_token_url(
                callback_uri=callback_uri, extra_params=extra_params
            )
        else:
            url = self._oauth_request_token_url()
        response = await client.fetch(url)
        self._on_request_token(self._OAUTH_AUTHORIZE_URL, callback_uri, response)

    def get_authenticated_user(
        self,
        http_client: httpclient.AsyncHTTPClient | _UserCallback | None = None,
        callback: _UserCallback | None = None,
    ) -> Any:
        """On the return from the provider, trade the request token (from
        the cookie) for an access token and fetch the user.

        The user dict carries ``access_token`` (``key``, ``secret``) for
        later signed requests.  Raises `AuthError` on mismatch or failure.
        """
        client, callback = _shift_callback(http_client, callback)
        return _with_callback(self, self._get_user(client), callback)

    async def _get_user(
        self, http_client: httpclient.AsyncHTTPClient | None
    ) -> dict[str, Any]:
        handler = cast(Any, self)
        request_key = escape.utf8(handler.get_argument("oauth_token"))
        verifier = handler.get_argument("oauth_verifier", None)
        cookie = handler.get_cookie("_oauth_request_token")
        if not cookie:
            raise AuthError("Missing OAuth request token cookie")
        handler.clear_cookie("_oauth_request_token")
        try:
            key_b64, secret_b64 = cookie.split("|")
            cookie_key = base64.b64decode(escape.utf8(key_b64))
            cookie_secret = base64.b64decode(escape.utf8(secret_b64))
        except ValueError:
            raise AuthError("Malformed OAuth request token cookie") from None
        if not hmac.compare_digest(cookie_key, request_key):
            raise AuthError("Request token does not match cookie")
        token: dict[str, Any] = {"key": cookie_key, "secret": cookie_secret}
        if verifier:
            token["verifier"] = verifier
        client = http_client or self.get_auth_http_client()
        response = await client.fetch(self._oauth_access_token_url(token))
        access_token = _oauth_parse_response(response.body)
        user = await self._oauth_get_user_future(access_token)
        if not user:
            raise AuthError("Error getting user")
        user["access_token"] = access_token
        return user

    def _oauth_base_args(self, consumer_token: dict[str, Any]) -> dict[str, str]:
        return {
            "oauth_consumer_key": escape.to_unicode(consumer_token["key"]),
            "oauth_signature_method": "HMAC-SHA1",
            "oauth_timestamp": str(int(time.time())),
            "oauth_nonce": secrets.token_hex(16),
            "oauth_version": "1.0",
        }

    def _sign(
        self,
        consumer_token: dict[str, Any],
        method: str,
        url: str,
        args: dict[str, Any],
        token: dict[str, Any] | None = None,
    ) -> str:
        sign = (
            _oauth10a_signature if self._OAUTH_VERSION == "1.0a" else _oauth_signature
        )
        return escape.to_unicode(sign(consumer_token, method, url, args, token))

    def _oauth_request_token_url(
        self,
        callback_uri: str | None = None,
        extra_params: dict[str, Any] | None = None,
    ) -> str:
        handler = cast(Any, self)
        consumer_token = self._oauth_consumer_token()
        url = self._OAUTH_REQUEST_TOKEN_URL
        args = self._oauth_base_args(consumer_token)
        if self._OAUTH_VERSION == "1.0a":
            if callback_uri == "oob":
                args["oauth_callback"] = "oob"
            elif callback_uri:
                args["oauth_callback"] = urllib.parse.urljoin(
                    handler.request.full_url(), callback_uri
                )
            if extra_params:
                args.update(extra_params)
        args["oauth_signature"] = self._sign(consumer_token, "GET", url, args)
        return url + "?" + urllib.parse.urlencode(args)

    def _on_request_token(
        self,
        authorize_url: str,
        callback_uri: str | None,
        response: httpclient.HTTPResponse,
    ) -> None:
        handler = cast(Any, self)
        request_token = _oauth_parse_response(response.body)
        data = (
            base64.b64encode(escape.utf8(request_token["key"]))
            + b"|"
            + base64.b64encode(escape.utf8(request_token["secret"]))
        )
        handler.set_cookie("_oauth_request_token", data.decode("ascii"))
        args = {"oauth_token": request_token["key"]}
        if callback_uri == "oob":
            handler.finish(authorize_url + "?" + urllib.parse.urlencode(args))
            return
        if callback_uri:
            args["oauth_callback"] = urllib.parse.urljoin(
                handler.request.full_url(), callback_uri
            )
        handler.redirect(authorize_url + "?" + urllib.parse.urlencode(args))

    def _oauth_access_token_url(self, request_token: dict[str, Any]) -> str:
        consumer_token = self._oauth_consumer_token()
        url = self._OAUTH_ACCESS_TOKEN_URL
        args = self._oauth_base_args(consumer_token)
        args["oauth_token"] = escape.to_unicode(request_token["key"])
        if "verifier" in request_token:
            args["oauth_verifier"] = request_token["verifier"]
        args["oauth_signature"] = self._sign(
            consumer_token, "GET", url, args, request_token
        )
        return url + "?" + urllib.parse.urlencode(args)

    def _oauth_consumer_token(self) -> dict[str, Any]:
        """The application's ``{"key": ..., "secret": ...}``."""
        raise NotImplementedError()

    async def _oauth_get_user_future(
        self, access_token: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Fetch the user with ``access_token``; subclasses implement it."""
        raise NotImplementedError()

    def _oauth_request_parameters(
        self,
        url: str,
        access_token: dict[str, Any],
        parameters: dict[str, Any] = {},  # noqa: B006
        method: str = "GET",
    ) -> dict[str, Any]:
        """The ``oauth_*`` arguments that sign a request to ``url`` with
        ``access_token`` (``parameters`` are the request's own arguments)."""
        consumer_token = self._oauth_consumer_token()
        base_args: dict[str, Any] = self._oauth_base_args(consumer_token)
        base_args["oauth_token"] = escape.to_unicode(access_token["key"])
        args = dict(base_args)
        args.update(parameters)
        base_args["oauth_signature"] = self._sign(
            consumer_token, method, url, args, access_token
        )
        return base_args

    def get_auth_http_client(self) -> httpclient.AsyncHTTPClient:
        """The HTTP client used to talk to the provider."""
        return httpclient.AsyncHTTPClient()


class OAuth2Mixin:
    """OAuth 2 authorization-code flow.

    Subclasses set ``_OAUTH_AUTHORIZE_URL`` and ``_OAUTH_ACCESS_TOKEN_URL``.
    """

    _OAUTH_AUTHORIZE_URL = ""
    _OAUTH_ACCESS_TOKEN_URL = ""

    def authorize_redirect(
        self,
        redirect_uri: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        extra_params: dict[str, Any] | None = None,
        scope: list[str] | None = None,
        response_type: str = "code",
    ) -> None:
        """Redirect the user to the provider to authorize this app; it comes
        back to ``redirect_uri`` with ``?code=...``.  (``client_secret`` is
        accepted for old callers and ignored: it must never reach the
        browser.)"""
        handler = cast(Any, self)
        args: dict[str, str] = {"response_type": response_type}
        if redirect_uri is not None:
            args["redirect_uri"] = redirect_uri
        if client_id is not None:
            args["client_id"] = client_id
        if extra_params:
            args.update(extra_params)
        if scope:
            args["scope"] = " ".join(scope)
        handler.redirect(url_concat(self._OAUTH_AUTHORIZE_URL, args))

    def _oauth_request_token_url(
        self,
        redirect_uri: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        code: str | None = None,
        extra_params: dict[str, Any] | None = None,
    ) -> str:
        args: dict[str, str] = {}
        for name, value in (
            ("redirect_uri", redirect_uri),
            ("code", code),
            ("client_id", client_id),
            ("client_secret", client_secret),
        ):
            if value is not None:
                args[name] = value
        if extra_params:
            args.update(extra_params)
        return url_concat(self._OAUTH_ACCESS_TOKEN_URL, args)

    def oauth2_request(
        self,
        url: str,
        access_token: str | _UserCallback | None = None,
        post_args: dict[str, Any] | None = None,
        callback: _UserCallback | None = None,
        **args: Any,
    ) -> Any:
        """GET (or POST with ``post_args``) ``url`` with ``access_token`` and
        ``args`` in the query; returns the decoded JSON."""
        token, callback = _shift_callback(access_token, callback)
        return _with_callback(
            self, self._oauth2_request(url, token, post_args, args), callback
        )

    async def _oauth2_request(
        self,
        url: str,
        access_token: str | None,
        post_args: dict[str, Any] | None,
        args: dict[str, Any],
    ) -> Any:
        all_args: dict[str, Any] = {}
        if access_token:
            all_args["access_token"] = access_token
        all_args.update(args)
        if all_args:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(all_args)
        client = self.get_auth_http_client()
        if post_args is not None:
            response = await client.fetch(
                url, method="POST", body=urllib.parse.urlencode(post_args)
            )
        else:
            response = await client.fetch(url)
        return escape.json_decode(response.body)

    def get_auth_http_client(self) -> httpclient.AsyncHTTPClient:
        """The HTTP client used to talk to the provider."""
        return httpclient.AsyncHTTPClient()


class TwitterMixin(OAuthMixin):
    """Sign in with Twitter (OAuth 1.0a, API 1.1).

    Needs the ``twitter_consumer_key`` and ``twitter_consumer_secret``
    application settings.  After login, `twitter_request` calls the API with
    ``user["access_token"]``.
    """

    _OAUTH_REQUEST_TOKEN_URL = "https://api.twitter.com/oauth/request_token"
    _OAUTH_ACCESS_TOKEN_URL = "https://api.twitter.com/oauth/access_token"
    _OAUTH_AUTHORIZE_URL = "https://api.twitter.com/oauth/authorize"
    _OAUTH_AUTHENTICATE_URL = "https://api.twitter.com/oauth/authenticate"
    _OAUTH_NO_CALLBACKS = False
    _TWITTER_BASE_URL = "https://api.twitter.com/1.1"

    def authenticate_redirect(
        self,
        callback_uri: str | None = None,
        callback: Callable[[], Any] | None = None,
    ) -> Any:
        """Like `authorize_redirect`, but a user who already authorized the
        app is sent straight back."""
        coro = self._authenticate_redirect(callback_uri)
        return _with_callback(self, coro, _ignore_result(callback))

    async def _authenticate_redirect(self, callback_uri: str | None) -> None:
        client = self.get_auth_http_client()
        response = await client.fetch(
            self._oauth_request_token_url(callback_uri=callback_uri)
        )
        self._on_request_token(self._OAUTH_AUTHENTICATE_URL, None, response)

    def twitter_request(
        self,
        path: str,
        access_token: dict[str, Any] | _UserCallback | None = None,
        post_args: dict[str, Any] | None = None,
        callback: _UserCallback | None = None,
        **args: Any,
    ) -> Any:
        """Call the API: ``path`` like ``"/statuses/update"`` (or a full
        URL), signed with ``access_token``; POST when ``post_args`` is
        given.  Returns the decoded JSON."""
        if callable(access_token):
            callback, access_token, post_args = access_token, post_args, None
        return _with_callback(
            self, self._twitter_request(path, access_token, post_args, args), callback
        )

    async def _twitter_request(
        self,
        path: str,
        access_token: dict[str, Any] | None,
        post_args: dict[str, Any] | None,
        args: dict[str, Any],
    ) -> Any:
        if path.startswith(("http:", "https:")):
            url = path
        else:
            url = self._TWITTER_BASE_URL + path + ".json"
        if access_token:
            all_args = dict(args)
            all_args.update(post_args or {})
            method = "POST" if post_args is not None else "GET"
            args = dict(args)
            args.update(
                self._oauth_request_parameters(url, access_token, all_args, method)
            )
        if args:
            url += "?" + urllib.parse.urlencode(args)
        client = self.get_auth_http_client()
        if post_args is not None:
            response = await client.fetch(
                url, method="POST", body=urllib.parse.urlencode(post_args)
            )
        else:
            response = await client.fetch(url)
        return escape.json_decode(response.body)

    def _oauth_consumer_token(self) -> dict[str, Any]:
        handler = cast(Any, self)
        handler.require_setting("twitter_consumer_key", "Twitter OAuth")
        handler.require_setting("twitter_consumer_secret", "Twitter OAuth")
        return {
            "key": handler.settings["twitter_consumer_key"],
            "secret": handler.settings["twitter_consumer_secret"],
        }

    async def _oauth_get_user_future(
        self, access_token: dict[str, Any]
    ) -> dict[str, Any] | None:
        user = await self._twitter_request(
            "/account/verify_credentials", access_token, None, {}
        )
        if user:
            user["username"] = user["screen_name"]
        return user  # type: ignore[no-any-return]


class GoogleOAuth2Mixin(OAuth2Mixin):
    """Google sign-in (OAuth 2).

    Put ``google_oauth={"key": CLIENT_ID, "secret": CLIENT_SECRET}`` in the
    application settings (or pass them explicitly).
    """

    _OAUTH_AUTHORIZE_URL = "https://accounts.google.com/o/oauth2/v2/auth"
    _OAUTH_ACCESS_TOKEN_URL = "https://www.googleapis.com/oauth2/v4/token"
    _OAUTH_USERINFO_URL = "https://www.googleapis.com/oauth2/v1/userinfo"
    _OAUTH_NO_CALLBACKS = False
    _OAUTH_SETTINGS_KEY = "google_oauth"

    def get_google_oauth_settings(self) -> dict[str, str]:
        """The ``google_oauth`` setting (``key`` and ``secret``)."""
        return cast(Any, self).settings[self._OAUTH_SETTINGS_KEY]  # type: ignore[no-any-return]

    def get_authenticated_user(
        self,
        redirect_uri: str,
        code: str,
        client_id: str | _UserCallback | None = None,
        client_secret: str | None = None,
        callback: _UserCallback | None = None,
    ) -> Any:
        """Trade the authorization ``code`` for tokens; returns the token
        response (``access_token``, ``expires_in``, ...)."""
        cid, callback = _shift_callback(client_id, callback)
        return _with_callback(
            self,
            self._get_tokens(redirect_uri, code, cid, client_secret),
            callback,
        )

    async def _get_tokens(
        self,
        redirect_uri: str,
        code: str,
        client_id: str | None,
        client_secret: str | None,
    ) -> dict[str, Any]:
        if client_id is None or client_secret is None:
            settings = self.get_google_oauth_settings()
            client_id = client_id or settings["key"]
            client_secret = client_secret or settings["secret"]
        body = urllib.parse.urlencode(
            {
                "redirect_uri": redirect_uri,
                "code": code,
                "client_id": client_id,
                "client_secret": client_secret,
                "grant_type": "authorization_code",
            }
        )
        response = await self.get_auth_http_client().fetch(
            self._OAUTH_ACCESS_TOKEN_URL,
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=body,
        )
        return escape.json_decode(response.body)  # type: ignore[no-any-return]


class FacebookGraphMixin(OAuth2Mixin):
    """Facebook login with the Graph API (OAuth 2)."""

    _OAUTH_ACCESS_TOKEN_URL = "https://graph.facebook.com/oauth/access_token"
    _OAUTH_AUTHORIZE_URL = "https://www.facebook.com/dialog/oauth"
    _OAUTH_NO_CALLBACKS = False
    _FACEBOOK_BASE_URL = "https://graph.facebook.com"

    def get_authenticated_user(
        self,
        redirect_uri: str,
        client_id: str,
        client_secret: str,
        code: str,
        extra_fields: Any = None,
        callback: _UserCallback | None = None,
    ) -> Any:
        """Trade ``code`` for an access token and fetch the user's fields
        (``id``, ``name``, ``first_name``, ``last_name``, ``locale``,
        ``picture``, ``link`` plus ``extra_fields``); the result also has
        ``access_token`` and ``session_expires``."""
        extra_fields, callback = _shift_callback(extra_fields, callback)
        return _with_callback(
            self,
            self._facebook_user(
                redirect_uri, client_id, client_secret, code, extra_fields
            ),
            callback,
        )

    async def _facebook_user(
        self,
        redirect_uri: str,
        client_id: str,
        client_secret: str,
        code: str,
        extra_fields: Any,
    ) -> dict[str, Any] | None:
        client = self.get_auth_http_client()
        fields = {"id", "name", "first_name", "last_name", "locale", "picture", "link"}
        if extra_fields:
            fields.update(extra_fields)
        response = await client.fetch(
            self._oauth_request_token_url(
                redirect_uri=redirect_uri,
                client_id=client_id,
                client_secret=client_secret,
                code=code,
            )
        )
        token = escape.json_decode(response.body)
        access_token = token.get("access_token")
        if access_token is None:
            raise AuthError(f"No access token in response: {token!r}")
        proof = hmac.new(
            escape.utf8(client_secret), escape.utf8(access_token), hashlib.sha256
        ).hexdigest()
        user = await self._oauth2_request(
            self._FACEBOOK_BASE_URL + "/me",
            access_token,
            None,
            {"appsecret_proof": proof, "fields": ",".join(sorted(fields))},
        )
        if user is None:
            return None
        result = {field: user.get(field) for field in fields}
        result["access_token"] = access_token
        result["session_expires"] = str(token.get("expires_in"))
        return result

    def facebook_request(
        self,
        path: str,
        access_token: str | _UserCallback | None = None,
        post_args: dict[str, Any] | None = None,
        callback: _UserCallback | None = None,
        **args: Any,
    ) -> Any:
        """Call the Graph API at ``path`` (e.g. ``"/me/feed"``); POST with
        ``post_args``.  Returns the decoded JSON."""
        token, callback = _shift_callback(access_token, callback)
        return _with_callback(
            self,
            self._oauth2_request(
                self._FACEBOOK_BASE_URL + path, token, post_args, args
            ),
            callback,
        )


# -- OAuth 1 signatures (RFC 5849 section 3.4) ---------------------------------------


def _oauth_escape(val: str | bytes) -> str:
    return urllib.parse.quote(escape.utf8(val), safe="~")


def _signature_base_string(method: str, url: str, parameters: dict[str, Any]) -> str:
    parts = urllib.parse.urlsplit(url)
    scheme, netloc, path = parts.scheme.lower(), parts.netloc.lower(), parts.path
    normalized = f"{scheme}://{netloc}{path}"
    pairs = sorted(
        (_oauth_escape(k), _oauth_escape(str(v) if not isinstance(v, bytes) else v))
        for k, v in parameters.items()
    )
    query = "&".join(f"{k}={v}" for k, v in pairs)
    return "&".join(_oauth_escape(p) for p in (method.upper(), normalized, query))


def _oauth_signature(
    consumer_token: dict[str, Any],
    method: str,
    url: str,
    parameters: dict[str, Any] = {},  # noqa: B006
    token: dict[str, Any] | None = None,
) -> bytes:
    """HMAC-SHA1 signature of OAuth 1.0 (secrets used as given)."""
    key = escape.utf8(consumer_token["secret"]) + b"&"
    if token:
        key += escape.utf8(token["secret"])
    base = _signature_base_string(method, url, parameters)
    digest = hmac.new(key, escape.utf8(base), hashlib.sha1).digest()
    return base64.b64encode(digest)


def _oauth10a_signature(
    consumer_token: dict[str, Any],
    method: str,
    url: str,
    parameters: dict[str, Any] = {},  # noqa: B006
    token: dict[str, Any] | None = None,
) -> bytes:
    """HMAC-SHA1 signature of OAuth 1.0a (secrets percent-encoded)."""
    key = _oauth_escape(consumer_token["secret"]) + "&"
    if token:
        key += _oauth_escape(token["secret"])
    base = _signature_base_string(method, url, parameters)
    digest = hmac.new(escape.utf8(key), escape.utf8(base), hashlib.sha1).digest()
    return base64.b64encode(digest)


def _oauth_parse_response(body: bytes) -> dict[str, Any]:
    """``oauth_token=..&oauth_token_secret=..&extra=..`` -> a token dict."""
    p = urllib.parse.parse_qs(escape.to_unicode(body), keep_blank_values=False)
    try:
        token: dict[str, Any] = {
            "key": p["oauth_token"][0],
            "secret": p["oauth_token_secret"][0],
        }
    except KeyError:
        raise AuthError(f"Invalid OAuth token response: {body!r}") from None
    for k, v in p.items():
        if k not in ("oauth_token", "oauth_token_secret"):
            token[k] = v[0]
    return token
