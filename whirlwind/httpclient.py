"""Non-blocking and blocking HTTP clients.

Contents:

* `AsyncHTTPClient`: one instance per event loop (unless
  ``force_instance=True``); ``fetch`` returns a Future of `HTTPResponse`, or
  calls a classic ``callback`` with it.  The implementation is chosen with
  `AsyncHTTPClient.configure` (default:
  `whirlwind.simple_httpclient.SimpleAsyncHTTPClient`).
* `HTTPClient`: a blocking client running its own event loop.
* `HTTPRequest`, `HTTPResponse`, `HTTPClientError` (also `HTTPError`).
* ``python -m whirlwind.httpclient URL`` prints a URL's body.

Example::

    async def f():
        client = AsyncHTTPClient()
        response = await client.fetch("http://example.com/")
        print(response.body)

Classic (Tornado 2-4) style: the callback receives the response, with any
error in ``response.error`` instead of raised::

    client.fetch("http://example.com/", callback=on_response)
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import ssl
import sys
import time
import weakref
from collections.abc import Awaitable, Callable
from io import BytesIO
from typing import Any, cast

from whirlwind import httputil
from whirlwind.concurrent import (
    future_set_exception_unless_cancelled,
    future_set_result_unless_cancelled,
)
from whirlwind.ioloop import IOLoop
from whirlwind.util import Configurable

__all__ = [
    "AsyncHTTPClient",
    "HTTPClient",
    "HTTPClientError",
    "HTTPError",
    "HTTPRequest",
    "HTTPResponse",
    "main",
]


def _utf8(value: str | bytes | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise TypeError(f"Expected bytes, str, or None; got {type(value)!r}")
    return value.encode("utf-8")


class HTTPClient:
    """A blocking HTTP client with its own private event loop.

    ::

        client = HTTPClient()
        try:
            print(client.fetch("http://example.com/").body)
        finally:
            client.close()
    """

    def __init__(
        self,
        async_client_class: type[AsyncHTTPClient] | None = None,
        **kwargs: Any,
    ) -> None:
        self._closed = True
        self._io_loop = IOLoop(make_current=False)
        if async_client_class is None:
            async_client_class = AsyncHTTPClient

        async def make_client() -> AsyncHTTPClient:
            await asyncio.sleep(0)
            assert async_client_class is not None
            return async_client_class(**kwargs)

        self._async_client = self._io_loop.run_sync(make_client)
        self._closed = False

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        """Close the client and its event loop."""
        if not self._closed:
            self._async_client.close()
            self._io_loop.close()
            self._closed = True

    def fetch(self, request: HTTPRequest | str, **kwargs: Any) -> HTTPResponse:
        """Fetch ``request`` and return the `HTTPResponse`.

        Raises `HTTPClientError` for non-2xx answers unless
        ``raise_error=False``, and other exceptions for network errors.
        """
        response = self._io_loop.run_sync(
            functools.partial(self._async_client.fetch, request, **kwargs)
        )
        return cast(HTTPResponse, response)


class AsyncHTTPClient(Configurable):
    """A non-blocking HTTP client.

    ``AsyncHTTPClient()`` returns the instance belonging to the current
    event loop (created on first use); ``force_instance=True`` makes a
    private one.  Keyword arguments go to the implementation's
    ``initialize`` (for the simple client: ``max_clients``,
    ``hostname_mapping``, ``max_buffer_size``, ``resolver``, ``defaults``,
    ``max_header_size``, ``max_body_size``).
    """

    _instance_cache: weakref.WeakKeyDictionary[Any, AsyncHTTPClient] | None = None

    @classmethod
    def configurable_base(cls) -> type[Configurable]:
        return AsyncHTTPClient

    @classmethod
    def configurable_default(cls) -> type[Configurable]:
        from whirlwind.simple_httpclient import SimpleAsyncHTTPClient

        return SimpleAsyncHTTPClient

    @classmethod
    def _async_clients(cls) -> weakref.WeakKeyDictionary[Any, AsyncHTTPClient]:
        attr_name = "_async_client_dict_" + cls.__name__
        if not hasattr(cls, attr_name):
            setattr(cls, attr_name, weakref.WeakKeyDictionary())
        return cast(
            "weakref.WeakKeyDictionary[Any, AsyncHTTPClient]", getattr(cls, attr_name)
        )

    def __new__(cls, force_instance: bool = False, **kwargs: Any) -> AsyncHTTPClient:
        io_loop = IOLoop.current()
        if force_instance:
            instance_cache = None
        else:
            instance_cache = cls._async_clients()
        if instance_cache is not None and io_loop in instance_cache:
            return instance_cache[io_loop]
        instance = super().__new__(cls, **kwargs)
        # Make sure the instance knows which cache to remove itself from.
        instance._instance_cache = instance_cache
        if instance_cache is not None:
            instance_cache[instance.io_loop] = instance
        return cast(AsyncHTTPClient, instance)

    def initialize(self, defaults: dict[str, Any] | None = None) -> None:
        io_loop = IOLoop.current()
        assert io_loop is not None
        self.io_loop: IOLoop = io_loop
        self.defaults = dict(HTTPRequest._DEFAULTS)
        if defaults is not None:
            self.defaults.update(defaults)
        self._closed = False

    def close(self) -> None:
        """Release the client's resources (the shared instance is forgotten)."""
        if self._closed:
            return
        self._closed = True
        if self._instance_cache is not None:
            cached = self._instance_cache.get(self.io_loop)
            if cached is not None and cached is not self:
                raise RuntimeError("inconsistent AsyncHTTPClient cache")
            self._instance_cache.pop(self.io_loop, None)

    def fetch(
        self,
        request: str | HTTPRequest,
        raise_error: Any = True,
        callback: Callable[[HTTPResponse], Any] | None = None,
        **kwargs: Any,
    ) -> asyncio.Future[HTTPResponse]:
        """Fetch ``request`` (a URL or an `HTTPRequest`).

        Returns a Future resolving to an `HTTPResponse`.  A non-2xx answer
        raises `HTTPClientError` unless ``raise_error=False``; network errors
        and timeouts always raise (as code 599 errors).

        With a classic ``callback`` (keyword, or a callable in the
        ``raise_error`` position) the callback is called with the response on
        the loop, errors included as ``response.error``.
        """
        if self._closed:
            raise RuntimeError("fetch() called on closed AsyncHTTPClient")
        if callable(raise_error):
            callback, raise_error = raise_error, True
        if not isinstance(request, HTTPRequest):
            request = HTTPRequest(url=request, **kwargs)
            if kwargs.get("headers") is not None:
                # The caller's mapping: copy it, the implementation adds
                # to it.  (Without one the request's headers are new.)
                request.headers = httputil.HTTPHeaders(request.headers)
        elif kwargs:
            raise ValueError("kwargs can't be used if request is an HTTPRequest object")
        else:
            # Copy the headers: the implementation may add to them.
            request.headers = httputil.HTTPHeaders(request.headers)
        proxy = _RequestProxy._resolved(request, self.defaults)
        future: asyncio.Future[HTTPResponse] = asyncio.get_event_loop().create_future()

        def handle_response(response: HTTPResponse) -> None:
            if callback is not None:
                if not future.done():
                    future.set_result(response)
                self.io_loop.add_callback(callback, response)
                return
            if response.error:
                if raise_error or not response._error_is_response_code:
                    future_set_exception_unless_cancelled(future, response.error)
                    return
            future_set_result_unless_cancelled(future, response)

        self.fetch_impl(cast(HTTPRequest, proxy), handle_response)
        return future

    def fetch_impl(
        self, request: HTTPRequest, callback: Callable[[HTTPResponse], None]
    ) -> None:
        """Perform ``request`` and call ``callback`` with the response (subclasses)."""
        raise NotImplementedError()

    @classmethod
    def configure(cls, impl: str | type[Configurable] | None, **kwargs: Any) -> None:
        """Choose the implementation class and its default ``initialize`` arguments.

        ::

            AsyncHTTPClient.configure(None, max_clients=100)
        """
        super().configure(impl, **kwargs)


class HTTPRequest:
    """An HTTP client request.

    Every argument except ``url`` is optional; unset ones take the client's
    ``defaults``.

    :arg url: the URL to fetch.
    :arg method: the HTTP method (default ``GET``).
    :arg headers: a dict or `.HTTPHeaders`.
    :arg body: str (UTF-8 encoded) or bytes.
    :arg auth_username, auth_password: HTTP Basic credentials.
    :arg auth_mode: ``"basic"`` (the only mode the simple client knows).
    :arg connect_timeout, request_timeout: seconds (default 20 each).
    :arg if_modified_since: a timestamp or `datetime.datetime`.
    :arg follow_redirects: follow 301/302/303/307/308 (default True).
    :arg max_redirects: at most this many (default 5).
    :arg user_agent: the ``User-Agent`` header.
    :arg decompress_response: ask for and decode gzip (default True).
    :arg network_interface: the local address to use.
    :arg streaming_callback: receives body chunks instead of buffering.
    :arg header_callback: receives each header line, then ``"\\r\\n"``.
    :arg body_producer: ``producer(write)`` streams the body.
    :arg expect_100_continue: send ``Expect: 100-continue`` first.
    :arg validate_cert, ca_certs, client_key, client_cert, ssl_options: TLS.
    :arg allow_nonstandard_methods: allow unknown methods and bodies anywhere.
    :arg allow_ipv6: allow IPv6 addresses (default True).
    """

    _headers: dict[str, str] | httputil.HTTPHeaders

    _DEFAULTS: dict[str, Any] = dict(
        connect_timeout=20.0,
        request_timeout=20.0,
        follow_redirects=True,
        max_redirects=5,
        decompress_response=True,
        proxy_password="",
        allow_nonstandard_methods=False,
        validate_cert=True,
    )

    def __init__(
        self,
        url: str,
        method: str = "GET",
        headers: dict[str, str] | httputil.HTTPHeaders | None = None,
        body: str | bytes | None = None,
        auth_username: str | None = None,
        auth_password: str | None = None,
        auth_mode: str | None = None,
        connect_timeout: float | None = None,
        request_timeout: float | None = None,
        if_modified_since: float | datetime.datetime | None = None,
        follow_redirects: bool | None = None,
        max_redirects: int | None = None,
        user_agent: str | None = None,
        use_gzip: bool | None = None,
        network_interface: str | None = None,
        streaming_callback: Callable[[bytes], None] | None = None,
        header_callback: Callable[[str], None] | None = None,
        prepare_curl_callback: Callable[[Any], None] | None = None,
        proxy_host: str | None = None,
        proxy_port: int | None = None,
        proxy_username: str | None = None,
        proxy_password: str | None = None,
        proxy_auth_mode: str | None = None,
        allow_nonstandard_methods: bool | None = None,
        validate_cert: bool | None = None,
        ca_certs: str | None = None,
        allow_ipv6: bool | None = None,
        client_key: str | None = None,
        client_cert: str | None = None,
        body_producer: Callable[[Callable[[bytes], None]], Awaitable[None]]
        | None = None,
        expect_100_continue: bool = False,
        decompress_response: bool | None = None,
        ssl_options: dict[str, Any] | ssl.SSLContext | None = None,
    ) -> None:
        self.headers = headers
        if if_modified_since:
            self.headers["If-Modified-Since"] = httputil.format_timestamp(
                if_modified_since
            )
        self.proxy_host = proxy_host
        self.proxy_port = proxy_port
        self.proxy_username = proxy_username
        self.proxy_password = proxy_password
        self.proxy_auth_mode = proxy_auth_mode
        self.url = url
        self.method = method
        self.body = body
        self.body_producer = body_producer
        self.auth_username = auth_username
        self.auth_password = auth_password
        self.auth_mode = auth_mode
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.follow_redirects = follow_redirects
        self.max_redirects = max_redirects
        self.user_agent = user_agent
        if decompress_response is not None:
            self.decompress_response: bool | None = decompress_response
        else:
            self.decompress_response = use_gzip
        self.network_interface = network_interface
        self.streaming_callback = streaming_callback
        self.header_callback = header_callback
        self.prepare_curl_callback = prepare_curl_callback
        self.allow_nonstandard_methods = allow_nonstandard_methods
        self.validate_cert = validate_cert
        self.ca_certs = ca_certs
        self.allow_ipv6 = allow_ipv6
        self.client_key = client_key
        self.client_cert = client_cert
        self.ssl_options = ssl_options
        self.expect_100_continue = expect_100_continue
        self.start_time = time.time()

    @property
    def headers(self) -> httputil.HTTPHeaders:
        # Whatever was set (a dict stays a dict); fetch() turns it into
        # HTTPHeaders on its own copy.
        return self._headers  # type: ignore[return-value]

    @headers.setter
    def headers(self, value: dict[str, str] | httputil.HTTPHeaders | None) -> None:
        self._headers = httputil.HTTPHeaders() if value is None else value

    @property
    def body(self) -> bytes:
        return self._body  # type: ignore[return-value]

    @body.setter
    def body(self, value: str | bytes | None) -> None:
        self._body = _utf8(value)


class HTTPResponse:
    """The answer to an `HTTPRequest`.

    Attributes: ``request``, ``code``, ``reason``, ``headers``
    (`.HTTPHeaders`), ``buffer`` (`io.BytesIO`), ``body`` (bytes, read
    lazily from the buffer), ``effective_url`` (after redirects), ``error``
    (an exception or None), ``request_time`` (seconds), ``start_time``,
    ``time_info`` (a dict of timings, may be empty).
    """

    error: BaseException | None = None
    _error_is_response_code = False
    request: HTTPRequest

    def __init__(
        self,
        request: HTTPRequest,
        code: int,
        headers: httputil.HTTPHeaders | None = None,
        buffer: BytesIO | None = None,
        effective_url: str | None = None,
        error: BaseException | None = None,
        request_time: float | None = None,
        time_info: dict[str, float] | None = None,
        reason: str | None = None,
        start_time: float | None = None,
    ) -> None:
        if isinstance(request, _RequestProxy):
            self.request = request.request
        else:
            self.request = request
        self.code = code
        self.reason = reason or httputil.responses.get(code, "Unknown")
        self.headers = headers if headers is not None else httputil.HTTPHeaders()
        self.buffer = buffer
        self._body: bytes | None = None
        self.effective_url = request.url if effective_url is None else effective_url
        self._error_is_response_code = False
        if error is None:
            if self.code < 200 or self.code >= 300:
                self._error_is_response_code = True
                self.error = HTTPClientError(
                    self.code, message=self.reason, response=self
                )
            else:
                self.error = None
        else:
            self.error = error
        self.start_time = start_time
        self.request_time = request_time
        self.time_info = time_info or {}

    @property
    def body(self) -> bytes:
        if self.buffer is None:
            return b""
        if self._body is None:
            self._body = self.buffer.getvalue()
        return self._body

    def rethrow(self) -> None:
        """Raise ``self.error`` if there is one."""
        if self.error:
            raise self.error

    def __repr__(self) -> str:
        args = ",".join(f"{k}={v!r}" for k, v in sorted(self.__dict__.items()))
        return f"{self.__class__.__name__}({args})"


class HTTPClientError(Exception):
    """A failed HTTP request.

    ``code`` is the HTTP status, or 599 for timeouts and network errors;
    ``response`` is the `HTTPResponse` when one exists.
    """

    def __init__(
        self,
        code: int,
        message: str | None = None,
        response: HTTPResponse | None = None,
    ) -> None:
        self.code = code
        self.message = message or httputil.responses.get(code, "Unknown")
        self.response = response
        super().__init__(code, message, response)

    def __str__(self) -> str:
        return f"HTTP {self.code}: {self.message}"

    # Exceptions are printed with repr by some tools; keep it readable.
    __repr__ = __str__


HTTPError = HTTPClientError


class _RequestProxy:
    """An `HTTPRequest` seen through the client's defaults.

    Attribute reads fall through to the request, then to ``defaults`` when
    the request's value is None.  `_resolved` builds one whose attributes
    are all looked up once, at fetch time, so the client's many reads per
    fetch are plain instance-dict hits instead of ``__getattr__`` calls.
    """

    def __init__(self, request: HTTPRequest, defaults: dict[str, Any] | None) -> None:
        self.request = request
        self.defaults = defaults

    @classmethod
    def _resolved(cls, request: HTTPRequest, defaults: dict[str, Any]) -> _RequestProxy:
        proxy = cls.__new__(cls)
        # A snapshot of the request's attributes (C-level dict copy), with
        # the two properties under their public names and the defaults
        # filling the unset (None) ones.  Names the request lacks still
        # reach __getattr__.
        values = request.__dict__.copy()
        values["headers"] = request.headers
        values["body"] = request.body
        for name, value in defaults.items():
            if values.get(name) is None:
                values[name] = value
        values.setdefault("original_request", None)  # set on redirected copies
        values["request"] = request
        values["defaults"] = defaults
        proxy.__dict__ = values
        return proxy

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.request, name)
        if value is not None:
            return value
        if self.defaults is not None:
            return self.defaults.get(name, None)
        return None


def main() -> None:
    """``python -m whirlwind.httpclient [--print_headers] [--print_body=false] URL...``"""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m whirlwind.httpclient")
    parser.add_argument("urls", nargs="+")
    parser.add_argument("--print_headers", action="store_true")
    parser.add_argument("--print_body", default="true")
    parser.add_argument("--follow_redirects", default="true")
    parser.add_argument("--validate_cert", default="true")
    parser.add_argument("--proxy_host")
    parser.add_argument("--proxy_port", type=int)
    args = parser.parse_args()
    truthy = ("true", "1", "yes")
    client = HTTPClient()
    status = 0
    for url in args.urls:
        try:
            response = client.fetch(
                url,
                follow_redirects=args.follow_redirects.lower() in truthy,
                validate_cert=args.validate_cert.lower() in truthy,
                proxy_host=args.proxy_host,
                proxy_port=args.proxy_port,
            )
        except HTTPClientError as e:
            if e.response is None:
                raise
            response = e.response
            status = 1
        if args.print_headers:
            print(response.headers)
        if args.print_body.lower() in truthy:
            sys.stdout.buffer.write(response.body)
            sys.stdout.flush()
    client.close()
    if status:
        sys.exit(status)


if __name__ == "__main__":
    main()
