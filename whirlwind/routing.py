"""Flexible request routing: rules that map requests to handlers or delegates.

`whirlwind.web.Application` is a router built from these parts; they can also be
used directly with `whirlwind.httpserver.HTTPServer` to send requests to
several applications, or to plain `HTTPServerConnectionDelegate` objects.

Contents:

* `Router`, `ReversibleRouter`: the interfaces (``find_handler``, ``reverse_url``).
* `RuleRouter`, `ReversibleRuleRouter`: an ordered list of `Rule` objects.
* `Rule`: a `Matcher`, a target, keyword arguments for the target and a name.
* Matchers: `AnyMatches`, `HostMatches`, `DefaultHostMatches`, `PathMatches`.
* `URLSpec`: a `Rule` with a `PathMatches` matcher (``web.url``).

A rule's target may be a `Router`, an `HTTPServerConnectionDelegate`, or any
callable taking the `HTTPServerRequest` (plus keyword arguments the matcher
produced). Routers built on `RuleRouter` may accept more kinds of targets by
overriding `RuleRouter.get_target_delegate`.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any, Union

from whirlwind import httputil
from whirlwind.escape import url_escape, url_unescape, utf8
from whirlwind.log import app_log
from whirlwind.util import import_object

__all__ = [
    "Router",
    "ReversibleRouter",
    "RuleRouter",
    "ReversibleRuleRouter",
    "Rule",
    "Matcher",
    "AnyMatches",
    "HostMatches",
    "DefaultHostMatches",
    "PathMatches",
    "URLSpec",
]

Pattern = re.Pattern

# A routing table: Rules, or tuples of Rule/URLSpec constructor arguments.
_RuleList = list[
    Union[
        "Rule",
        list[Any],
        tuple[Union[str, "Matcher"], Any],
        tuple[Union[str, "Matcher"], Any, dict[str, Any]],
        tuple[Union[str, "Matcher"], Any, dict[str, Any], str],
    ]
]


class Router(httputil.HTTPServerConnectionDelegate):
    """Base class for routers: finds the `HTTPMessageDelegate` for a request.

    A router is itself an `HTTPServerConnectionDelegate`, so it can be handed to
    `HTTPServer` directly.
    """

    def find_handler(
        self, request: httputil.HTTPServerRequest, **kwargs: Any
    ) -> httputil.HTTPMessageDelegate | None:
        """Returns a delegate that will handle ``request``, or None for no match.

        Only the request line and headers are known when this is called: the
        body has not been read yet.

        :arg request: the request being routed.
        :arg kwargs: extra parameters from an enclosing router.
        """
        raise NotImplementedError()

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        return _RoutingDelegate(self, server_conn, request_conn)


class ReversibleRouter(Router):
    """A router that can also build a URL back from a rule's name."""

    def reverse_url(self, name: str, *args: Any) -> str | None:
        """Returns the URL of the rule named ``name`` filled with ``args``, or None."""
        raise NotImplementedError()


class _RoutingDelegate(httputil.HTTPMessageDelegate):
    """Delays routing until the headers arrive, then forwards everything to the
    delegate the router chose (or to a 404 responder)."""

    __slots__ = ("router", "server_conn", "request_conn", "delegate")

    def __init__(
        self, router: Router, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> None:
        self.server_conn = server_conn
        self.request_conn = request_conn
        self.delegate: httputil.HTTPMessageDelegate | None = None
        self.router = router

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Any:
        assert isinstance(start_line, httputil.RequestStartLine)
        request = httputil.HTTPServerRequest(
            connection=self.request_conn,
            server_connection=self.server_conn,
            start_line=start_line,
            headers=headers,
        )
        delegate = self.router.find_handler(request)
        if delegate is None:
            app_log.debug(
                "Delegate for %s %s request not found",
                start_line.method,
                start_line.path,
            )
            delegate = _NotFoundDelegate(self.request_conn)
        self.delegate = delegate
        return delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Any:
        assert self.delegate is not None
        return self.delegate.data_received(chunk)

    def finish(self) -> Any:
        assert self.delegate is not None
        return self.delegate.finish()

    def on_connection_close(self) -> None:
        if self.delegate is not None:
            self.delegate.on_connection_close()


class _NotFoundDelegate(httputil.HTTPMessageDelegate):
    """Answers an unrouted request with an empty 404."""

    __slots__ = ("connection",)

    def __init__(self, connection: httputil.HTTPConnection) -> None:
        self.connection = connection

    def finish(self) -> None:
        self.connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 404, "Not Found"),
            httputil.HTTPHeaders(),
        )
        self.connection.finish()


class _CallableAdapter(httputil.HTTPMessageDelegate):
    """Collects the body for a plain ``callable(request)`` target, then calls it."""

    __slots__ = ("connection", "request_callback", "request", "chunks")

    def __init__(
        self, request_callback: Any, request_conn: httputil.HTTPConnection
    ) -> None:
        self.connection = request_conn
        self.request_callback = request_callback
        self.request: httputil.HTTPServerRequest | None = None
        self.chunks: list[bytes] = []

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> None:
        assert isinstance(start_line, httputil.RequestStartLine)
        self.request = httputil.HTTPServerRequest(
            connection=self.connection,
            start_line=start_line,
            headers=headers,
        )

    def data_received(self, chunk: bytes) -> None:
        self.chunks.append(chunk)

    def finish(self) -> Any:
        assert self.request is not None
        self.request.body = b"".join(self.chunks)
        self.request._parse_body()
        return self.request_callback(self.request)

    def on_connection_close(self) -> None:
        self.chunks = []


class RuleRouter(Router):
    """A router that tries an ordered list of `Rule` objects; the first match wins.

    Rules may be given as `Rule` objects or as tuples of `Rule` arguments, where
    a string in first position is short for ``PathMatches(string)``::

        RuleRouter([
            Rule(HostMatches("api\\.example\\.com"), api_router),
            ("/health", HealthHandler),
        ])
    """

    def __init__(self, rules: _RuleList | None = None) -> None:
        self.rules: list[Rule] = []
        if rules:
            self.add_rules(rules)

    def add_rules(self, rules: _RuleList) -> None:
        """Appends ``rules`` (Rules or tuples of Rule arguments) to the table."""
        for rule in rules:
            if isinstance(rule, (tuple, list)):
                if len(rule) not in (2, 3, 4):
                    raise ValueError(f"a rule needs 2 to 4 items, got {rule!r}")
                if isinstance(rule[0], str):
                    rule = Rule(PathMatches(rule[0]), *rule[1:])
                else:
                    rule = Rule(*rule)
            self.rules.append(self.process_rule(rule))

    def process_rule(self, rule: Rule) -> Rule:
        """Hook called on each added rule; returns the rule to store."""
        return rule

    def find_handler(
        self, request: httputil.HTTPServerRequest, **kwargs: Any
    ) -> httputil.HTTPMessageDelegate | None:
        for rule in self.rules:
            params = rule.matcher.match(request)
            if params is None:
                continue
            if rule.target_kwargs:
                params["target_kwargs"] = rule.target_kwargs
            delegate = self.get_target_delegate(rule.target, request, **params)
            if delegate is not None:
                return delegate
        return None

    def get_target_delegate(
        self, target: Any, request: httputil.HTTPServerRequest, **target_params: Any
    ) -> httputil.HTTPMessageDelegate | None:
        """Turns a rule's ``target`` into a delegate for ``request`` (or None).

        Understands nested `Router` objects, `HTTPServerConnectionDelegate`
        objects and plain callables. Subclasses extend it for more target kinds.
        """
        if isinstance(target, Router):
            return target.find_handler(request, **target_params)
        if isinstance(target, httputil.HTTPServerConnectionDelegate):
            assert request.connection is not None
            return target.start_request(request.server_connection, request.connection)
        if callable(target):
            assert request.connection is not None
            return _CallableAdapter(
                partial(target, **target_params), request.connection
            )
        return None


class ReversibleRuleRouter(ReversibleRouter, RuleRouter):
    """A `RuleRouter` whose named rules can be turned back into URLs.

    Names are looked up in this router first, then in nested reversible routers.
    """

    def __init__(self, rules: _RuleList | None = None) -> None:
        self.named_rules: dict[str, Rule] = {}
        super().__init__(rules)

    def process_rule(self, rule: Rule) -> Rule:
        rule = super().process_rule(rule)
        if rule.name:
            if rule.name in self.named_rules:
                app_log.warning(
                    "Multiple handlers named %s; replacing previous value", rule.name
                )
            self.named_rules[rule.name] = rule
        return rule

    def reverse_url(self, name: str, *args: Any) -> str | None:
        rule = self.named_rules.get(name)
        if rule is not None:
            return rule.matcher.reverse(*args)
        for rule in self.rules:
            if isinstance(rule.target, ReversibleRouter):
                url = rule.target.reverse_url(name, *args)
                if url is not None:
                    return url
        return None


class Rule:
    """One routing rule: a `Matcher`, a target, the target's keyword arguments
    and an optional name for `ReversibleRouter.reverse_url`.

    A string target is imported with `whirlwind.util.import_object`.
    """

    def __init__(
        self,
        matcher: Matcher,
        target: Any,
        target_kwargs: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        if isinstance(target, str):
            target = import_object(target)
        self.matcher: Matcher = matcher
        self.target = target
        self.target_kwargs: dict[str, Any] = target_kwargs or {}
        self.name = name

    def reverse(self, *args: Any) -> str | None:
        return self.matcher.reverse(*args)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.matcher!r}, {self.target}, "
            f"kwargs={self.target_kwargs!r}, name={self.name!r})"
        )


class Matcher:
    """Decides whether a request matches a rule."""

    def match(self, request: httputil.HTTPServerRequest) -> dict[str, Any] | None:
        """Returns None for no match, else a dict of parameters for the target
        (e.g. ``path_args`` and ``path_kwargs``; an empty dict is a match)."""
        raise NotImplementedError()

    def reverse(self, *args: Any) -> str | None:
        """Builds the URL this matcher matches from ``args``, if it can."""
        return None


class AnyMatches(Matcher):
    """Matches every request."""

    def match(self, request: httputil.HTTPServerRequest) -> dict[str, Any] | None:
        return {}


class HostMatches(Matcher):
    """Matches requests whose host name matches a regex (anchored at the end)."""

    def __init__(self, host_pattern: str | Pattern[str]) -> None:
        if isinstance(host_pattern, str):
            if not host_pattern.endswith("$"):
                host_pattern += "$"
            self.host_pattern = re.compile(host_pattern)
        else:
            self.host_pattern = host_pattern

    def match(self, request: httputil.HTTPServerRequest) -> dict[str, Any] | None:
        if self.host_pattern.match(request.host_name):
            return {}
        return None


class DefaultHostMatches(Matcher):
    """Matches when the application's ``default_host`` matches ``host_pattern``.

    Never matches requests that carry ``X-Real-Ip``: those came through a proxy
    that should have set the real host.
    """

    def __init__(self, application: Any, host_pattern: Pattern[str]) -> None:
        self.application = application
        self.host_pattern = host_pattern

    def match(self, request: httputil.HTTPServerRequest) -> dict[str, Any] | None:
        if "X-Real-Ip" not in request.headers and self.host_pattern.match(
            self.application.default_host
        ):
            return {}
        return None


# Unescaped regex syntax that makes text outside the groups non-literal. An
# unescaped "." is accepted as itself, as users often write ``/v1.0/(\\d+)``.
_REGEX_SPECIAL = frozenset("[]{}()*+?|^$")


def _literal_regex(fragment: str) -> str | None:
    """Returns the literal text a regex fragment matches, or None when the
    fragment is not a plain literal (uses character classes, quantifiers ...)."""
    out = []
    i = 0
    n = len(fragment)
    while i < n:
        c = fragment[i]
        if c == "\\":
            if i + 1 >= n:
                return None
            nxt = fragment[i + 1]
            if nxt.isalnum():  # \d, \w, \1 ...: not a literal
                return None
            out.append(nxt)
            i += 2
            continue
        if c in _REGEX_SPECIAL:
            return None
        out.append(c)
        i += 1
    return "".join(out)


class PathMatches(Matcher):
    """Matches the request path against a regex (anchored at both ends).

    Capturing groups become the handler's arguments: positional groups give
    ``path_args``, named groups ``path_kwargs`` (a pattern may not mix them).
    Values are URL-unescaped bytes so the handler chooses the text encoding.
    """

    def __init__(self, path_pattern: str | Pattern[str]) -> None:
        if isinstance(path_pattern, str):
            if not path_pattern.endswith("$"):
                path_pattern += "$"
            self.regex = re.compile(path_pattern)
        else:
            self.regex = path_pattern
        if len(self.regex.groupindex) not in (0, self.regex.groups):
            raise AssertionError(
                "groups in url regexes must either be all named or all "
                f"positional: {self.regex.pattern!r}"
            )
        self._path, self._group_count = self._find_groups()
        # Bound once: the per-request match is a single C call.
        self._match = self.regex.match
        self._named = bool(self.regex.groupindex)

    def match(self, request: httputil.HTTPServerRequest) -> dict[str, Any] | None:
        m = self._match(request.path)
        if m is None:
            return None
        if not self.regex.groups:
            return {}
        if self._named:
            return {
                "path_args": [],
                "path_kwargs": {
                    str(k): _unquote_or_none(v) for k, v in m.groupdict().items()
                },
            }
        return {
            "path_args": [_unquote_or_none(v) for v in m.groups()],
            "path_kwargs": {},
        }

    def reverse(self, *args: Any) -> str | None:
        if self._path is None:
            raise ValueError("Cannot reverse url regex " + self.regex.pattern)
        if len(args) != self._group_count:
            raise AssertionError("required number of arguments not found")
        if not args:
            return self._path
        escaped = tuple(
            url_escape(utf8(a if isinstance(a, (str, bytes)) else str(a)), plus=False)
            for a in args
        )
        return self._path % escaped

    def _find_groups(self) -> tuple[str | None, int | None]:
        """Builds a ``%s`` template from the pattern, e.g. ``/(\\d+)/x`` gives
        ``('/%s/x', 1)``; (None, None) when the pattern is not reversible
        (nested groups, non-literal text outside the groups)."""
        pattern = self.regex.pattern
        if pattern.startswith("^"):
            pattern = pattern[1:]
        if pattern.endswith("$"):
            pattern = pattern[:-1]
        if self.regex.groups != pattern.count("("):
            return None, None
        pieces: list[str] = []
        for i, fragment in enumerate(pattern.split("(")):
            if i and ")" not in fragment:
                return None, None  # a group opened inside another group
            if ")" in fragment:
                literal = _literal_regex(fragment[fragment.index(")") + 1 :])
                if literal is None:
                    return None, None
                pieces.append("%s" + literal.replace("%", "%%"))
            else:
                literal = _literal_regex(fragment)
                if literal is None:
                    return None, None
                pieces.append(literal.replace("%", "%%"))
        return "".join(pieces), self.regex.groups


class URLSpec(Rule):
    """A `Rule` matching the request path: ``url(pattern, handler, kwargs, name)``.

    :arg pattern: regex for the path; its groups become handler arguments.
    :arg handler: the `RequestHandler` subclass (or its dotted name).
    :arg kwargs: keyword arguments for the handler's ``initialize``.
    :arg name: name for ``reverse_url``.
    """

    def __init__(
        self,
        pattern: str | Pattern[str],
        handler: Any,
        kwargs: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        matcher = PathMatches(pattern)
        super().__init__(matcher, handler, kwargs, name)
        self.regex = matcher.regex
        self.handler_class = self.target
        self.kwargs = kwargs

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.regex.pattern!r}, {self.handler_class}, "
            f"kwargs={self.kwargs!r}, name={self.name!r})"
        )


def _unquote_or_none(s: str | None) -> bytes | None:
    """URL-unescapes a matched group to bytes; an unmatched optional group stays None."""
    if s is None:
        return None
    return url_unescape(s, encoding=None, plus=False)
