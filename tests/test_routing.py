"""Tests for whirlwind.routing, through real HTTP requests."""

from __future__ import annotations

from typing import Any

import pytest

from tests._web_support import no_unexpected_logs, serve  # noqa: F401
from whirlwind import httputil, web
from whirlwind.routing import (
    AnyMatches,
    HostMatches,
    PathMatches,
    ReversibleRuleRouter,
    Rule,
    RuleRouter,
    URLSpec,
)


class Named(web.RequestHandler):
    def initialize(self, label: str = "none") -> None:
        self.label = label

    def get(self, *args: str, **kwargs: str) -> None:
        self.write({"label": self.label, "args": list(args), "kwargs": kwargs})


def plain_callable(request: httputil.HTTPServerRequest) -> None:
    body = b"callable saw " + request.body
    request.connection.write_headers(  # type: ignore[union-attr]
        httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
        httputil.HTTPHeaders({"Content-Length": str(len(body))}),
        body,
    )
    request.connection.finish()  # type: ignore[union-attr]


class Delegate(httputil.HTTPMessageDelegate):
    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def finish(self) -> None:
        self.connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
            httputil.HTTPHeaders({"Content-Length": "8"}),
            b"delegate",
        )
        self.connection.finish()


class ConnDelegate(httputil.HTTPServerConnectionDelegate):
    def start_request(self, server_conn: object, request_conn: Any) -> Delegate:
        return Delegate(request_conn)


def test_rule_router_targets() -> None:
    app1 = web.Application([("/app1/(.*)", Named, {"label": "app1"})])
    router = RuleRouter(
        [
            Rule(PathMatches("/app1/.*"), app1),
            ("/callable", plain_callable),
            (PathMatches("/delegate"), ConnDelegate()),
            Rule(HostMatches("other\\.example"), RuleRouter([("/.*", ConnDelegate())])),
        ]
    )
    with serve(router) as c:
        r = c.fetch("/app1/x%20y")
        assert (
            r.status == 200
            and r.text == '{"label": "app1", "args": ["x y"], "kwargs": {}}'
        )
        r = c.fetch("/callable", "POST", body=b"data")
        assert r.text == "callable saw data"
        assert c.fetch("/delegate").text == "delegate"
        assert (
            c.fetch("/anything", headers={"Host": "other.example"}).text == "delegate"
        )
        assert c.fetch("/anything").status == 404


def test_application_routes_groups_kwargs_and_hosts() -> None:
    app = web.Application(
        [
            (r"/pos/(\d+)/(\w+)", Named),
            (r"/named/(?P<year>\d{4})/(?P<slug>[a-z-]+)", Named),
            web.url(r"/opt/(\d+)?", Named, {"label": "opt"}),
            ("/dotted", "tests.test_routing.Named", {"label": "dotted"}),
            ("/nested", [("/nested", Named, {"label": "nested"})]),
        ]
    )
    app.add_handlers(r"api\.example", [("/pos/.*", Named, {"label": "api"})])
    with serve(app) as c:
        assert c.fetch("/pos/12/ab").text == (
            '{"label": "none", "args": ["12", "ab"], "kwargs": {}}'
        )
        assert c.fetch("/named/2024/a-b").text == (
            '{"label": "none", "args": [], "kwargs": {"year": "2024", "slug": "a-b"}}'
        )
        assert '"label": "opt"' in c.fetch("/opt/").text
        assert '"label": "dotted"' in c.fetch("/dotted").text
        assert '"label": "nested"' in c.fetch("/nested").text
        assert (
            '"label": "api"'
            in c.fetch("/pos/1/x", headers={"Host": "api.example"}).text
        )
        # Host rules come first; other hosts fall through to the wildcard rules.
        assert (
            '"label": "none"' in c.fetch("/pos/1/x", headers={"Host": "b.example"}).text
        )
        # Patterns are anchored at the end.
        assert c.fetch("/pos/1/x/extra").status == 404


def test_default_host_rules() -> None:
    app = web.Application([], default_host="www.example")
    app.add_handlers(r"www\.example", [("/", Named, {"label": "www"})])
    with serve(app) as c:
        # An unknown Host still reaches the default host's handlers...
        assert (
            '"label": "www"' in c.fetch("/", headers={"Host": "unknown.example"}).text
        )
        # ...unless a proxy said where the request came from.
        r = c.fetch("/", headers={"Host": "unknown.example", "X-Real-Ip": "1.2.3.4"})
        assert r.status == 404


def test_default_handler_class() -> None:
    app = web.Application(
        [], default_handler_class=Named, default_handler_args={"label": "fallback"}
    )
    with serve(app) as c:
        r = c.fetch("/whatever")
        assert r.status == 200 and '"label": "fallback"' in r.text


@pytest.mark.parametrize(
    ("pattern", "args", "expected"),
    [
        ("/", (), "/"),
        (r"/item/(\d+)", (42,), "/item/42"),
        (r"/a/(\w+)/b/(\d+)$", ("x y", 3), "/a/x%20y/b/3"),
        (r"/favicon\.ico", (), "/favicon.ico"),
        (r"^/v1.0/(.*)$", ("é",), "/v1.0/%C3%A9"),
        (r"/(?P<name>[^/]+)/edit", ("a/b?",), "/a/b%3F/edit"),
    ],
)
def test_path_matches_reverse(
    pattern: str, args: tuple[Any, ...], expected: str
) -> None:
    assert PathMatches(pattern).reverse(*args) == expected


@pytest.mark.parametrize(
    "pattern", [r"/a/(\d+)(?:/x)?", r"/files/.*", r"/(a(b))", r"/x\d"]
)
def test_path_matches_not_reversible(pattern: str) -> None:
    with pytest.raises(ValueError):
        PathMatches(pattern).reverse("1")


def test_path_matches_rejects_mixed_groups() -> None:
    with pytest.raises(AssertionError):
        PathMatches(r"/(?P<a>\d+)/(\d+)")


def test_reverse_url_in_nested_routers() -> None:
    inner = ReversibleRuleRouter([URLSpec(r"/inner/(\d+)", Named, name="inner")])
    outer = ReversibleRuleRouter([Rule(AnyMatches(), inner)])
    assert outer.reverse_url("inner", 7) == "/inner/7"
    assert outer.reverse_url("missing") is None
    app = web.Application([web.url(r"/u/(\w+)", Named, name="user")])
    assert app.reverse_url("user", "bob") == "/u/bob"
    with pytest.raises(KeyError):
        app.reverse_url("nope")


def test_urlspec_repr_and_attributes() -> None:
    spec = URLSpec(r"/x/(\d+)", Named, {"label": "l"}, name="x")
    assert spec.regex.pattern == r"/x/(\d+)$"
    assert spec.handler_class is Named and spec.kwargs == {"label": "l"}
    assert "URLSpec('/x/(\\\\d+)$'" in repr(spec)


class Label(web.RequestHandler):
    def initialize(self, label: str) -> None:
        self.label = label

    def get(self, *args: str) -> None:
        self.write(self.label + "".join(args))


def test_route_cache_follows_rule_changes_after_first_request() -> None:
    app = web.Application(
        [("/x", Label, {"label": "x"}), ("/(.*)", Label, {"label": "any:"})]
    )
    with serve(app) as c:
        assert c.fetch("/x").text == "x"
        assert c.fetch("/x").text == "x"  # served from the route cache
        assert c.fetch("/y").text == "any:y"
        # A rule inserted in front, straight into the list.
        c.call(
            app.wildcard_router.rules.insert,
            0,
            Rule(PathMatches("/x"), Label, {"label": "first"}),
        )
        assert c.fetch("/x").text == "first"
        # Host rules come before the wildcard rules.
        c.call(app.add_handlers, r"host\.example", [("/x", Label, {"label": "h"})])
        assert c.fetch("/x", headers={"Host": "host.example"}).text == "h"
        assert c.fetch("/x").text == "first"
        assert c.fetch("/y").text == "any:y"


def test_route_cache_with_added_rules_and_default_host() -> None:
    app = web.Application([("/a", Label, {"label": "a"})], default_host="d.example")
    with serve(app) as c:
        assert c.fetch("/a").text == "a"
        assert c.fetch("/z").status == 404
        c.call(app.wildcard_router.add_rules, [("/z", Label, {"label": "z"})])
        assert c.fetch("/z").text == "z"
        c.call(app.add_handlers, r"d\.example", [("/a", Label, {"label": "da"})])
        assert c.fetch("/a", headers={"Host": "d.example"}).text == "da"
        assert c.fetch("/a", headers={"Host": "elsewhere"}).text == "a"
        c.call(app.add_handlers, r"d\.example", [("/y", Label, {"label": "dy"})])
        # Unknown hosts fall back to the default host's rules.
        assert c.fetch("/y", headers={"Host": "elsewhere"}).text == "dy"


class _Rerouting(web.Application):
    def find_handler(self, request: Any, **kwargs: Any) -> Any:
        request.path = "/b"
        return super().find_handler(request, **kwargs)


def test_overridden_find_handler_is_used_per_request() -> None:
    app = _Rerouting([("/a", Label, {"label": "a"}), ("/b", Label, {"label": "b"})])
    with serve(app) as c:
        assert c.fetch("/a").text == "b"
        assert c.fetch("/a").text == "b"
