"""The rate limit middleware (pure ASGI): which class a request is, who it counts for, the answer.

Route classes: ``download`` (``GET`` of a version's file, by id or by name), ``search``
(``GET /api/v1/models`` and ``/api/v1/models/search``), ``write`` (every method but ``GET``,
``HEAD`` and ``OPTIONS``), ``read`` (every other ``GET`` and ``HEAD``, pages and ``/openapi.json``
included). Not limited: ``/health``, ``/health/…``, ``/metrics`` and ``OPTIONS`` (CORS preflights).

It runs before routing and authentication, so it knows a client only by what the request shows:
its API key (``X-API-Key``, or ``Authorization: Bearer``), kept only as a sha256 hash, when keys
are checked; otherwise its address (``scope["client"]``, which uvicorn takes from
``X-Forwarded-For`` when the peer is in ``FORWARDED_ALLOW_IPS``). An IPv6 address counts as its /64
network, which is what one host is usually given.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from collections.abc import Callable, Iterable

from fastapi.routing import APIRoute
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ...domain.errors import RateLimited
from ..auth import UI_KEY_COOKIE, is_ui_path
from ..errors import error_body, status_for
from .limiter import Client, Decision, RateLimiter

DOWNLOAD_ROUTES = frozenset({"download_get", "download_by_name_get"})
SEARCH_ROUTES = frozenset({"list_models", "search_models"})
EXEMPT_PATHS = frozenset({"/health", "/metrics"})
EXEMPT_PREFIXES = ("/health/", "/ui/static/")  # readiness; the web UI's style sheet and script
READ_METHODS = frozenset({"GET", "HEAD"})
DESCRIPTIONS = {"read": "reads", "write": "writes", "search": "searches", "download": "downloads"}


class RouteClassifier:
    """``classify(scope)`` → ``read``, ``write``, ``search``, ``download``, or None (exempt)."""

    def __init__(self, api_routes: Iterable[APIRoute]):
        routes = list(api_routes)
        self.downloads = [route.path_regex for route in routes if route.name in DOWNLOAD_ROUTES]
        self.searches = [route.path_regex for route in routes if route.name in SEARCH_ROUTES]
        assert len(self.downloads) == len(DOWNLOAD_ROUTES), "a download route is missing"
        assert len(self.searches) == len(SEARCH_ROUTES), "a search route is missing"

    def __call__(self, scope: Scope) -> str | None:
        method = scope["method"]
        if method == "OPTIONS":
            return None
        path = _route_path(scope)
        if path in EXEMPT_PATHS or path.startswith(EXEMPT_PREFIXES):
            return None
        if method not in READ_METHODS:
            return "write"
        if method == "GET":
            if any(regex.match(path) for regex in self.downloads):
                return "download"
            if any(regex.match(path) for regex in self.searches):
                return "search"
        return "read"


def identify(scope: Scope, *, trust_keys: bool) -> Client:
    """The client a request counts for (see the module)."""
    address = client_address(scope)
    if trust_keys:
        credential = _credential(scope)
        if credential:
            return Client(key="key:" + hashlib.sha256(credential).hexdigest()[:32], guard="fail:" + address)
    return Client(key="ip:" + address)


def client_address(scope: Scope) -> str:
    """The peer's address; an IPv6 one as its /64 network (an IPv4-mapped one as IPv4)."""
    client = scope.get("client")
    host = client[0] if client else None
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return f"{ipaddress.IPv6Network((address, 64), strict=False).network_address}/64"
    return str(address)


def _credential(scope: Scope) -> bytes | None:
    """The key a request presents, as ``auth.presented_key`` finds it (the web UI's pages: in
    its session cookie), so that a signed-in browser counts as its key, not as its address."""
    bearer = cookie = None
    for name, value in scope["headers"]:
        if name == b"x-api-key" and value.strip():
            return value.strip()
        if name == b"authorization" and value[:7].lower() == b"bearer " and value[7:].strip():
            bearer = value[7:].strip()
        elif name == b"cookie" and cookie is None and is_ui_path(scope.get("path", "")):
            cookie = _session_key(value)
    return bearer or cookie


_SESSION_COOKIE = UI_KEY_COOKIE.encode("ascii") + b"="


def _session_key(header: bytes) -> bytes | None:
    for raw in header.split(b";"):
        part = raw.strip()
        if part.startswith(_SESSION_COOKIE) and len(part) > len(_SESSION_COOKIE):
            return part[len(_SESSION_COOKIE):].strip(b'"')
    return None


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root = scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


class RateLimitMiddleware:
    """Counts every limited request; refuses one over its limit with 429 in the API's error shape
    (``code`` ``rate_limited``, ``Retry-After``), before the application sees it. Every limited
    response, refused or not, carries ``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset``.

    A keyed request answered 401 (its key refused) also counts against its address: see
    :class:`~.limiter.RateLimiter`."""

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter, classify: Callable[[Scope], str | None]):
        self.app = app
        self.limiter = limiter
        self.classify = classify

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route_class = self.classify(scope)
        if route_class is None or route_class not in self.limiter.limits:
            await self.app(scope, receive, send)
            return
        client = identify(scope, trust_keys=self.limiter.trust_keys)
        decision = await self.limiter.check(route_class, client)
        assert decision is not None
        if not decision.allowed:
            await _refuse(decision, scope, receive, send)
            return
        headers = decision.headers()
        status = 0

        async def send_with_limits(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *headers]
            await send(message)

        await self.app(scope, receive, send_with_limits)
        if status == 401 and client.guard is not None:
            await self.limiter.key_refused(route_class, client)


async def _refuse(decision: Decision, scope: Scope, receive: Receive, send: Send) -> None:
    seconds = decision.retry_after
    if decision.keys_refused:
        what = f"requests with unknown API keys from this address ({decision.rate} at most)"
    else:
        what = f"{DESCRIPTIONS.get(decision.bucket, 'requests')} (the limit is {decision.rate})"
    error = RateLimited(
        f"Too many {what}; retry in {seconds} second{'s' if seconds != 1 else ''}",
        details={"route_class": decision.route_class, "setting": f"RATE_LIMIT_{decision.bucket.upper()}",
                 "limit": decision.rate.limit, "window_seconds": decision.rate.window, "retry_after": seconds,
                 "reset": math.ceil(decision.reset)})
    body = error_body(None, error.message, error.code, error.details)
    body["request_id"] = scope.get("state", {}).get("request_id")
    headers = {name.decode(): value.decode() for name, value in decision.headers()}
    if _has_body(scope):  # do not read an upload only to throw it away
        headers["connection"] = "close"
    await JSONResponse(body, status_code=status_for(error), headers=headers)(scope, receive, send)


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"", b"0")):
            return True
    return False
