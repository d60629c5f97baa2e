"""Every route × every kind of caller: 401, 403 or let through, as the route's scope says.

The routes are enumerated from the app itself, so a new route fails here until its scope is
pinned in :data:`SCOPES` (and the app refuses to start with a route that declares none).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from model_service.domain.callers import Scope
from model_service.server import auth
from model_service.server.app import create_app
from tests.conftest import make_settings

from .auth_helpers import BOOTSTRAP, expired, issue, key_id, revoked
from .auth_helpers import auth as key_header

READ, WRITE, ADMIN, PUBLIC = Scope.READ, Scope.WRITE, Scope.ADMIN, None
M, N = "/api/v1/models", "/api/v1/models/by-name/{name}"

SCOPES: dict[tuple[str, str], Scope | None] = {
    ("GET", "/"): PUBLIC,
    ("GET", "/health"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/health/detailed"): READ,
    ("GET", M): READ,
    ("GET", f"{M}/search"): READ,
    ("GET", f"{M}/statistics"): READ,
    ("GET", "/api/v1/statistics"): READ,
    ("GET", f"{M}/popular"): READ,
    ("GET", f"{M}/recent"): READ,
    ("GET", f"{M}/compare"): READ,
    ("GET", N): READ,
    ("GET", f"{N}/versions/{{ref}}"): READ,
    ("GET", f"{N}/versions/{{ref}}/download"): READ,
    ("HEAD", f"{N}/versions/{{ref}}/download"): READ,
    ("GET", f"{N}/aliases"): READ,
    ("GET", f"{N}/aliases/{{alias}}"): READ,
    ("PUT", f"{N}/aliases/{{alias}}"): WRITE,
    ("DELETE", f"{N}/aliases/{{alias}}"): WRITE,
    ("GET", f"{N}/history"): READ,
    ("POST", M): WRITE,
    ("GET", f"{M}/{{model_id}}"): READ,
    ("PUT", f"{M}/{{model_id}}"): WRITE,
    ("DELETE", f"{M}/{{model_id}}"): WRITE,
    ("POST", f"{M}/{{model_id}}/versions"): WRITE,
    ("GET", f"{M}/{{model_id}}/history"): READ,
    ("POST", f"{M}/{{model_id}}/upload"): WRITE,
    ("GET", f"{M}/{{model_id}}/info"): READ,
    ("GET", f"{M}/{{model_id}}/download"): READ,
    ("HEAD", f"{M}/{{model_id}}/download"): READ,
    ("POST", "/api/v1/keys"): ADMIN,
    ("GET", "/api/v1/keys"): ADMIN,
    ("GET", "/api/v1/keys/{key_id}"): ADMIN,
    ("DELETE", "/api/v1/keys/{key_id}"): ADMIN,
    ("GET", "/api/v1/whoami"): READ,
    ("GET", "/api/v1/audit"): ADMIN,
    # The web UI (its own caller matrix, for a browser with a session cookie: tests/ui/test_pages_signed_in.py)
    ("GET", "/ui"): READ,
    ("GET", "/ui/models"): READ,
    ("GET", "/ui/models/{model_id}"): READ,
    ("GET", "/ui/models/{model_id}/download"): READ,
    ("GET", "/ui/compare"): READ,
    ("POST", "/ui/models/{model_id}/edit"): WRITE,
    ("POST", "/ui/models/{model_id}/status"): WRITE,
    ("POST", "/ui/models/{model_id}/alias"): WRITE,
    ("POST", "/ui/models/{model_id}/upload"): WRITE,
    ("GET", "/ui/login"): PUBLIC,
    ("POST", "/ui/login"): PUBLIC,
    ("POST", "/ui/logout"): PUBLIC,
}


def routes_of(app: FastAPI) -> Iterator[tuple[str, str, auth.RouteInfo]]:
    for route in auth.app_routes(app):
        for method in sorted(route.methods):
            yield method, route.path, route


@pytest.fixture(scope="module")
def secured(tmp_path_factory) -> Iterator[TestClient]:
    settings = make_settings(tmp_path_factory.mktemp("secured"), enable_auth=True, bootstrap_admin_key=BOOTSTRAP,
                             auth_cache_seconds=0)
    with TestClient(create_app(settings)) as client:
        yield client


def test_every_route_declares_the_scope_this_table_pins(secured):
    found = {(method, path): auth.declared_scope(route) for method, path, route in routes_of(secured.app)}

    unpinned = sorted(set(found) - set(SCOPES))
    assert not unpinned, f"routes without a scope in SCOPES (add them, with the scope they need): {unpinned}"
    assert not sorted(set(SCOPES) - set(found)), "SCOPES lists routes the app does not have"
    assert {route: scope for route, scope in found.items() if scope != SCOPES[route]} == {}


def test_an_app_with_a_route_that_declares_no_scope_does_not_start():
    app = FastAPI()

    @app.get("/open")
    async def open_route() -> dict:
        return {}

    @app.get("/closed", dependencies=[auth.READ])
    async def closed_route() -> dict:
        return {}

    with pytest.raises(RuntimeError, match="GET /open") as refused:
        auth.check_declared(app)
    assert "/closed" not in str(refused.value)


# ---- the matrix ---------------------------------------------------------------------------------

ALLOWED = "allowed"
CALLERS = ["no key", "malformed key", "unknown key", "expired", "revoked", "read", "write", "write, prefix, inside",
           "write, prefix, outside", "admin"]


def expectation(caller: str, scope: Scope | None) -> Any:
    if scope is None:
        return ALLOWED
    if caller in ("no key", "malformed key", "unknown key", "expired", "revoked"):
        return 401
    granted = {"read": {READ}, "admin": {READ, WRITE, ADMIN}, "write, prefix, outside": {READ}}.get(caller,
                                                                                               {READ, WRITE})
    return ALLOWED if scope in granted else 403


def secret_for(app: FastAPI, caller: str, n: int) -> str | None:
    return {
        "no key": lambda: None,
        "malformed key": lambda: "not-a-key",
        "unknown key": lambda: "tfk_0123456789ab_" + "x" * 43,
        "expired": lambda: expired(app, f"old{n}", "admin"),
        "revoked": lambda: revoked(app, f"leaked{n}", "admin"),
        "read": lambda: issue(app, f"reader{n}", "read"),
        "write": lambda: issue(app, f"writer{n}", "write"),
        "write, prefix, inside": lambda: issue(app, f"fraud-team{n}", "write", prefix="fraud_"),
        "write, prefix, outside": lambda: issue(app, f"fraud-team{n}", "write", prefix="fraud_"),
        "admin": lambda: issue(app, f"admin{n}", "admin"),
    }[caller]()


_cases = itertools.count(1)


def make_targets(client: TestClient, namespace: str) -> dict[str, str]:
    """A fresh name with a version that has a file and an alias, and a version without a file."""
    admin = key_header(BOOTSTRAP)
    name = f"{namespace}_case{next(_cases)}"
    with_file = client.post(M, json={"name": name, "algorithm": "xgboost"}, headers=admin).json()["model_id"]
    assert client.post(f"{M}/{with_file}/upload", content=b"weights", headers=admin).status_code == 201
    assert client.put(f"{M}/by-name/{name}/aliases/production", json={"version": "v1.0"},
                      headers=admin).status_code == 200
    without_file = client.post(M, json={"name": name, "algorithm": "xgboost"}, headers=admin).json()["model_id"]
    victim = key_id(issue(client.app, f"victim-{name}", "read"))
    return {"name": name, "model_id": with_file, "no_file": without_file, "key_id": victim}


def request_for(method: str, path: str, targets: dict[str, str]) -> dict[str, Any]:
    """A well-formed request to the route, aimed at ``targets``."""
    values = {"model_id": targets["no_file"] if path.endswith("/upload") else targets["model_id"],
              "name": targets["name"], "ref": "v1.0", "alias": "production", "key_id": targets["key_id"]}
    url = path.format_map({key: values.get(key, "x") for key in _fields(path)})
    kwargs: dict[str, Any] = {}
    if (method, path) == ("POST", M):
        kwargs["json"] = {"name": f"{targets['name']}_new", "algorithm": "svm"}
    elif path.endswith("/upload"):
        kwargs.update(content=b"weights", headers={"Content-Type": "application/octet-stream"})
    elif path.endswith("/aliases/{alias}") and method == "PUT":
        kwargs["json"] = {"version": "latest"}
    elif (method, path) == ("POST", "/api/v1/keys"):
        kwargs["json"] = {"name": "made-in-test", "scopes": ["read"]}
    elif path.endswith("/compare"):
        kwargs["params"] = {"ids": f"{targets['model_id']},{targets['no_file']}"}
    elif method in ("POST", "PUT"):
        kwargs["json"] = {"description": "changed"}
    return {"method": method, "url": url, **kwargs}


def _fields(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]


@pytest.mark.parametrize("caller", CALLERS)
def test_every_route_answers_each_caller_as_its_scope_says(secured, caller):
    n = next(_cases)
    secret = secret_for(secured.app, caller, n)
    targets = make_targets(secured, "churn" if caller.endswith("outside") else "fraud")
    mismatches = []
    for method, path, route in sorted(routes_of(secured.app), key=lambda r: r[0] == "DELETE"):  # deletions last
        if auth.is_ui_path(path):
            continue  # pages answer a browser (sign-in redirects, HTML errors): tests/ui/test_pages_signed_in.py
        expected = expectation(caller, SCOPES.get((method, path), auth.declared_scope(route)))
        request = request_for(method, path, targets)
        headers = {**request.pop("headers", {}), **key_header(secret)}
        response = secured.request(**request, headers=headers)
        outcome = ALLOWED if response.status_code not in (401, 403) else response.status_code
        if outcome != expected or response.status_code >= 500:
            mismatches.append(f"{method} {path}: {response.status_code} (expected {expected}) {response.text[:200]}")
        if response.status_code == 401:
            assert response.headers["WWW-Authenticate"].startswith("Bearer"), path
        if response.status_code in (401, 403) and method != "HEAD":
            body = response.json()
            assert body["success"] is False and body["code"] and body["request_id"], path
    assert mismatches == []


def test_the_api_description_and_docs_are_public(secured):
    for path in ("/openapi.json", "/docs", "/redoc"):
        assert secured.get(path).status_code == 200, path
