"""Authentication and scopes at the HTTP edge.

Every route declares the scope it needs with exactly one of the dependencies below —
``dependencies=[PUBLIC | READ | WRITE | ADMIN]``, or a parameter typed :data:`ReaderDep`,
:data:`WriterDep` or :data:`AdminDep` when the route needs to know who calls: the
:class:`~..domain.callers.Caller` (the actor of history and audit, a team's name prefix).
:func:`check_declared` refuses to build an app with a
route that declares none, so no route can be left open by omission.

With ``ENABLE_AUTH`` off (the default) everything is allowed and the actor is the ``X-Actor``
header. With it on, a request presents a key as ``X-API-Key: <key>`` or ``Authorization: Bearer
<key>``: no key is 401 ``unauthenticated`` (unless the route is a read and
``ALLOW_ANONYMOUS_READ`` is on), a key that is unknown, expired or revoked 401, a key without
the scope 403 ``forbidden``, a write to a name outside the key's prefix 403 ``forbidden_name``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from ..config import Settings
from ..domain.audit import Action, Auditor
from ..domain.callers import Caller, Scope
from ..domain.errors import Invalid, Unauthorized
from ..domain.keys import UNAUTHENTICATED_HELP, Keys, KeyState
from ..domain.models import clean_text
from ..domain.registry import Registry

log = logging.getLogger("model_service.auth")

ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class Authentication:
    """The app's authentication settings and services (``app.state.auth``)."""

    enabled: bool
    anonymous_read: bool
    keys: Keys
    auditor: Auditor
    local_lookups: bool = False  # the key store answers without a network round trip

    @property
    def anonymous(self) -> Caller:
        scopes = frozenset({Scope.READ}) if self.anonymous_read else frozenset()
        return Caller(actor=ANONYMOUS, scopes=scopes)


@asynccontextmanager
async def recording_refusals(auditor: Auditor, caller: Caller, **fields: Any) -> AsyncIterator[None]:
    """Records an upload refused as unsafe (``unsafe_model``) in the audit log, then lets the
    error through: who tried to store a booby-trapped file is what an admin wants to know.
    ``fields``: the version or name it was for."""
    try:
        yield
    except Invalid as exc:
        if exc.code == "unsafe_model":
            details = {"code": exc.code, "file": exc.details.get("file"), "globals": exc.details.get("globals")}
            record = auditor.make(caller, Action.UPLOAD_REFUSED, details=details, **fields)
            await run_in_threadpool(auditor.append, record)
        raise


# ---- who calls ------------------------------------------------------------------------------------

UI_PREFIX = "/ui"
UI_KEY_COOKIE = "ms_key"  # the web UI's session: the key given at its sign-in page (server/ui/session.py)


def is_ui_path(path: str) -> bool:
    return path == UI_PREFIX or path.startswith(UI_PREFIX + "/")


def presented_key(request: Request) -> str | None:
    """The key in ``X-API-Key`` or ``Authorization: Bearer`` (or, for the web UI's pages only,
    its HTTP-only session cookie); None if there is none. The API never reads the cookie: a page
    of another site could otherwise make a signed-in browser call it."""
    key = request.headers.get("x-api-key")
    if key is None:
        authorization = request.headers.get("authorization")
        if authorization is not None:
            scheme, _, credentials = authorization.strip().partition(" ")
            if scheme.lower() != "bearer":
                raise Unauthorized("Only bearer API keys are accepted: 'Authorization: Bearer <key>'",
                                   code="invalid_api_key")
            key = credentials
    if key is None and is_ui_path(request.scope["path"]):
        key = request.cookies.get(UI_KEY_COOKIE)
    if key is None:
        return None
    key = key.strip()
    if not key:
        raise Unauthorized("The API key is empty", code="invalid_api_key")
    return key


async def caller_of(request: Request) -> Caller:
    """Who the request acts for (worked out once per request, then kept in its state), with the
    client's address and the request's id for the audit log. Headers are read here rather than
    declared as parameters: this runs on every request, and FastAPI's parameter machinery would
    cost more than the work (the OpenAPI document names them anyway)."""
    state = request.scope.setdefault("state", {})
    known: Caller | None = state.get("caller")
    if known is not None:
        return known
    auth: Authentication = request.app.state.auth
    if not auth.enabled:
        actor = request.headers.get("x-actor")
        caller = Caller(actor=ANONYMOUS if actor is None or not actor.strip()
                        else clean_text(actor, "actor", max_length=256))
    else:
        state["actor"] = ANONYMOUS  # the access log's actor: never X-Actor, which is not checked
        key = presented_key(request)
        if key is None:
            caller = auth.anonymous
        elif auth.local_lookups or auth.keys.is_cached(key):
            caller = auth.keys.authenticate(key)
        else:
            caller = await run_in_threadpool(auth.keys.authenticate, key)
        state["actor"] = caller.actor
    caller = replace(caller, client_ip=request.client.host if request.client else None,
                     request_id=state.get("request_id"))
    state["caller"] = caller
    return caller


async def _allowed(request: Request, scope: Scope) -> Caller:
    caller = await caller_of(request)
    if caller.allows(scope):
        return caller
    if not caller.authenticated:
        raise Unauthorized(f"An API key is required: {UNAUTHENTICATED_HELP}", code="unauthenticated")
    caller.require(scope)  # 403
    return caller


CallerDep = Annotated[Caller, Depends(caller_of)]


async def public() -> None:
    """Open to everyone, with or without a key (liveness, metrics, the index)."""


async def require_read(request: Request) -> Caller:
    return await _allowed(request, Scope.READ)


async def require_write(request: Request) -> Caller:
    return await _allowed(request, Scope.WRITE)


async def require_admin(request: Request) -> Caller:
    return await _allowed(request, Scope.ADMIN)


SCOPE_OF: dict[Callable[..., Awaitable[Any]], Scope | None] = {
    public: None, require_read: Scope.READ, require_write: Scope.WRITE, require_admin: Scope.ADMIN,
}
PUBLIC = Depends(public)
READ = Depends(require_read)
WRITE = Depends(require_write)
ADMIN = Depends(require_admin)
ReaderDep = Annotated[Caller, READ]
WriterDep = Annotated[Caller, WRITE]
AdminDep = Annotated[Caller, ADMIN]


# ---- every route declares its scope --------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RouteInfo:
    """A route as served: its methods, full path and dependency tree (None: not a FastAPI route,
    so it cannot declare a scope)."""

    methods: frozenset[str]
    path: str
    dependant: Dependant | None
    include_in_schema: bool = True


def app_routes(app: FastAPI) -> list[RouteInfo]:
    """Every route of the app, those of included routers too (kept as units by FastAPI), except
    FastAPI's own API description and docs pages, which are public."""
    docs = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    found: list[RouteInfo] = []
    for route in app.routes:
        candidates = route.effective_route_contexts() if hasattr(route, "effective_route_contexts") else [route]
        for candidate in candidates:
            path = getattr(candidate, "path_format", None) or getattr(candidate, "path", None)
            methods = getattr(candidate, "methods", None)
            if path is None or methods is None or (path in docs and not isinstance(candidate, APIRoute)):
                continue  # a mount, a websocket, or the docs
            original = getattr(candidate, "original_route", candidate)
            dependant = getattr(candidate, "dependant", None) if isinstance(original, APIRoute) else None
            found.append(RouteInfo(frozenset(methods), path, dependant,
                                   bool(getattr(candidate, "include_in_schema", True))))
    return found


class Undeclared:
    """The marker :func:`declared_scope` returns for a route that declares no scope."""


def declared_scope(route: RouteInfo) -> Scope | type[Undeclared] | None:
    """The scope a route declares (None: public); :class:`Undeclared` if it declares none.
    A route that declares two different scopes is an error."""
    found: set[Scope | None] = set()
    stack = list(route.dependant.dependencies) if route.dependant is not None else []
    while stack:
        dependant = stack.pop()
        if dependant.call in SCOPE_OF:
            found.add(SCOPE_OF[dependant.call])
        stack.extend(dependant.dependencies)
    if len(found) > 1:
        raise RuntimeError(f"{sorted(route.methods)} {route.path} declares several scopes: {found}")
    return found.pop() if found else Undeclared


def check_declared(app: FastAPI) -> None:
    """Refuse routes that declare no scope (they would be open to anyone whatever the settings)."""
    missing = [f"{','.join(sorted(route.methods))} {route.path}" for route in app_routes(app)
               if declared_scope(route) is Undeclared]
    if missing:
        raise RuntimeError(f"Routes without a declared scope: {'; '.join(missing)}. Add dependencies=[auth.READ] "
                           "(or PUBLIC, WRITE, ADMIN), or a ReaderDep/WriterDep/AdminDep parameter "
                           "(model_service.server.auth)")


# ---- OpenAPI ------------------------------------------------------------------------------------

SECURITY_SCHEMES = {
    "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                     "description": "An API key (`model-service keys create`)"},
    "BearerKey": {"type": "http", "scheme": "bearer", "description": "The same key as a bearer token"},
}


X_ACTOR = {"name": "X-Actor", "in": "header", "required": False,
           "schema": {"type": "string", "maxLength": 256},
           "description": "Who acts: recorded in history and the audit log (authentication is off)"}


def document_auth(app: FastAPI, auth: Authentication) -> None:
    """What the OpenAPI document says of callers, per operation that needs a scope: with
    authentication on, the key schemes (and, with ``ALLOW_ANONYMOUS_READ``, the empty
    requirement on reads); with it off, the ``X-Actor`` header."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        if auth.enabled:
            schema.setdefault("components", {}).setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
        for route in app_routes(app):
            scope = declared_scope(route)
            if not route.include_in_schema or scope is None or scope is Undeclared:
                continue
            requirement: list[dict[str, list[str]]] = [{"ApiKeyHeader": []}, {"BearerKey": []}]
            if scope is Scope.READ and auth.anonymous_read:
                requirement.append({})
            for method in route.methods:
                operation = schema.get("paths", {}).get(route.path, {}).get(method.lower())
                if operation is None:
                    continue
                if auth.enabled:
                    operation["security"] = requirement
                elif not any(p.get("name", "").lower() == "x-actor" for p in operation.get("parameters", [])):
                    operation.setdefault("parameters", []).append(dict(X_ACTOR))
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def build_authentication(settings: Settings, registry: Registry) -> Authentication:
    bootstrap = settings.bootstrap_admin_key
    keys = Keys(registry.metadata, registry.auditor, clock=registry.clock, cache_seconds=settings.auth_cache_seconds,
                bootstrap_key=None if bootstrap is None else bootstrap.get_secret_value().strip())
    return Authentication(enabled=settings.enable_auth, anonymous_read=settings.allow_anonymous_read, keys=keys,
                          auditor=registry.auditor, local_lookups=registry.metadata.local_point_reads)


def startup_warnings(settings: Settings, auth: Authentication) -> None:
    """Say at start-up what an operator must know: auth off (anyone can write), or on without a key."""
    address = f"[{settings.host}]:{settings.port}" if ":" in settings.host else f"{settings.host}:{settings.port}"
    if not auth.enabled:
        everywhere = " (every network interface)" if settings.host in ("0.0.0.0", "::", "") else ""
        log.warning("Authentication is off (ENABLE_AUTH=false): anyone who can reach %s%s can register, change and "
                    "delete models. Set ENABLE_AUTH=true and create keys with `model-service keys create`.",
                    address, everywhere)
        return
    if auth.keys.has_bootstrap_key:
        log.info("Authentication is on; BOOTSTRAP_ADMIN_KEY is accepted as an admin key")
        return
    try:
        now = auth.keys.clock()
        if not any(key.state(now) is KeyState.ACTIVE for key in auth.keys.list()):
            log.warning("Authentication is on but no API key is active: every request but /health and /metrics "
                        "will be refused. Create one with `model-service keys create --name admin --scope admin`.")
    except Exception:
        log.debug("Could not list the API keys", exc_info=True)
