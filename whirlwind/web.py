"""whirlwind.web: a Tornado-style web framework.

Write `RequestHandler` subclasses, map URLs to them in an `Application`,
and listen::

    import asyncio
    from whirlwind import web

    class MainHandler(web.RequestHandler):
        def get(self):
            self.write("Hello, world")

    async def main():
        web.Application([(r"/", MainHandler)]).listen(8888)
        await asyncio.Event().wait()

    asyncio.run(main())

This module is a façade: the parts live in private modules split by concern:
``_web_handler`` (requests and responses), ``_web_decorators`` (decorators
and the classic ``@asynchronous``), ``_web_cookies`` (cookies, signed values,
XSRF), ``_web_render`` (templates, UI modules, locale), ``_web_static``
(static files) and ``_web_app`` (the application, transforms, small handlers).

Contents:

* `RequestHandler`, `Application`, `HTTPError`, `Finish`, `MissingArgumentError`.
* Handlers: `StaticFileHandler`, `RedirectHandler`, `ErrorHandler`, `FallbackHandler`.
* Decorators: `authenticated`, `asynchronous`, `stream_request_body`,
  `removeslash`, `addslash`.
* `OutputTransform`, `GZipContentEncoding`, `UIModule`, `TemplateModule`.
* Signed values: `create_signed_value`, `decode_signed_value`,
  `get_signature_key_version`.
* `url` (= `whirlwind.routing.URLSpec`).
"""

from __future__ import annotations

from whirlwind._web_app import (
    Application,
    ErrorHandler,
    FallbackHandler,
    GZipContentEncoding,
    OutputTransform,
    RedirectHandler,
    _ApplicationRouter,
    _HandlerDelegate,
)
from whirlwind._web_cookies import (
    DEFAULT_SIGNED_VALUE_MIN_VERSION,
    DEFAULT_SIGNED_VALUE_VERSION,
    MAX_SUPPORTED_SIGNED_VALUE_VERSION,
    MIN_SUPPORTED_SIGNED_VALUE_VERSION,
    _create_signature_v1,
    _create_signature_v2,
    create_signed_value,
    decode_signed_value,
    get_signature_key_version,
)
from whirlwind._web_decorators import (
    _has_stream_request_body,
    addslash,
    asynchronous,
    authenticated,
    removeslash,
    stream_request_body,
)
from whirlwind._web_handler import (
    Finish,
    HTTPError,
    MissingArgumentError,
    RequestHandler,
)
from whirlwind._web_render import (
    TemplateModule,
    UIModule,
    _linkify,
    _UIModuleNamespace,
    _xsrf_form_html,
    is_absolute,
)
from whirlwind._web_static import StaticFileHandler
from whirlwind.routing import (
    AnyMatches,
    DefaultHostMatches,
    HostMatches,
    ReversibleRouter,
    ReversibleRuleRouter,
    Rule,
    URLSpec,
)

url = URLSpec

__all__ = [
    "Application",
    "RequestHandler",
    "HTTPError",
    "Finish",
    "MissingArgumentError",
    "StaticFileHandler",
    "RedirectHandler",
    "ErrorHandler",
    "FallbackHandler",
    "OutputTransform",
    "GZipContentEncoding",
    "UIModule",
    "TemplateModule",
    "authenticated",
    "asynchronous",
    "stream_request_body",
    "removeslash",
    "addslash",
    "create_signed_value",
    "decode_signed_value",
    "get_signature_key_version",
    "is_absolute",
    "url",
    "URLSpec",
    # routing names Tornado's web module also exposes
    "AnyMatches",
    "DefaultHostMatches",
    "HostMatches",
    "ReversibleRouter",
    "ReversibleRuleRouter",
    "Rule",
    "MIN_SUPPORTED_SIGNED_VALUE_VERSION",
    "MAX_SUPPORTED_SIGNED_VALUE_VERSION",
    "DEFAULT_SIGNED_VALUE_VERSION",
    "DEFAULT_SIGNED_VALUE_MIN_VERSION",
]

# Private names some tests and extensions reach for, kept importable here.
_private = (
    _ApplicationRouter,
    _HandlerDelegate,
    _create_signature_v1,
    _create_signature_v2,
    _has_stream_request_body,
    _linkify,
    _UIModuleNamespace,
    _xsrf_form_html,
)
del _private
