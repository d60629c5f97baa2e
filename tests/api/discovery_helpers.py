"""What the search, statistics, name, alias and comparison tests share: the requests a user makes
to those endpoints and short ways to read their answers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from fastapi.testclient import TestClient

from .helpers import MODELS, describe, model_url, register_model, upload

SEARCH_ENDPOINTS = (MODELS, f"{MODELS}/search")
STATISTICS = f"{MODELS}/statistics"
PLATFORM_STATISTICS = "/api/v1/statistics"
POPULAR = f"{MODELS}/popular"
RECENT = f"{MODELS}/recent"
COMPARE = f"{MODELS}/compare"


def ok(response: httpx.Response, status: int = 200) -> Any:
    """The JSON body of a response that must have ``status``."""
    assert response.status_code == status, describe(response)
    return response.json()


def label(model: dict) -> str:
    """``name/version``: how the tests name one version."""
    return f"{model['name']}/{model['version']}"


def labels(body: dict) -> list[str]:
    """The versions of a listing (``models``) or name (``versions``) body, in order."""
    return [label(m) for m in body.get("models", body.get("versions", []))]


# ---- search ------------------------------------------------------------------------------------

def search(client: TestClient, endpoint: str = MODELS, **params: Any) -> dict:
    return ok(client.get(endpoint, params=params))


def search_labels(client: TestClient, endpoint: str = MODELS, **params: Any) -> list[str]:
    """The labels of every match, in the order returned (one page of up to 100)."""
    params.setdefault("limit", 100)
    return labels(search(client, endpoint, **params))


# ---- names, aliases, history --------------------------------------------------------------------

def by_name(name: str, suffix: str = "") -> str:
    """``/api/v1/models/by-name/<name>`` with the name percent-encoded as a path segment."""
    return f"{MODELS}/by-name/{quote(name, safe='')}{suffix}"


def register_versions(client: TestClient, name: str, count: int, *, actor: str | None = None,
                      **fields: Any) -> list[str]:
    """Ids of ``count`` new versions of ``name`` (v1.0, v1.1, …), oldest first."""
    headers = {"X-Actor": actor} if actor else None
    ids = []
    for _ in range(count):
        response = client.post(MODELS, json={"name": name, "algorithm": "xgboost", **fields}, headers=headers)
        ids.append(ok(response, 201)["model_id"])
    return ids


def register_with_file(client: TestClient, data: bytes, *, filename: str = "model.pkl", **fields: Any) -> dict:
    """Register a version and upload ``data`` as its file; the model body."""
    model_id = register_model(client, **fields)["model_id"]
    ok(upload(client, model_id, data, filename=filename), 201)
    return ok(client.get(model_url(model_id)))


def put_alias(client: TestClient, name: str, alias: str, actor: str | None = None, **body: Any) -> httpx.Response:
    """PUT …/aliases/{alias} with ``body`` (version / model_id / expected_version) as JSON."""
    headers = {"X-Actor": actor} if actor else None
    return client.put(by_name(name, f"/aliases/{alias}"), json=body, headers=headers)


def delete_alias(client: TestClient, name: str, alias: str, actor: str | None = None,
                 **params: Any) -> httpx.Response:
    headers = {"X-Actor": actor} if actor else None
    return client.delete(by_name(name, f"/aliases/{alias}"), params=params, headers=headers)


def alias_version(client: TestClient, name: str, alias: str, **params: Any) -> httpx.Response:
    """GET …/aliases/{alias} (``at=`` for a past time)."""
    return client.get(by_name(name, f"/aliases/{alias}"), params=params)


def aliases_map(client: TestClient, name: str) -> dict[str, str]:
    """alias → version, as GET …/aliases lists them."""
    body = ok(client.get(by_name(name, "/aliases")))
    assert body["name"] == name
    return {a["alias"]: a["version"] for a in body["aliases"]}


def history(client: TestClient, name: str, **params: Any) -> list[dict]:
    """The events of GET …/history, oldest first."""
    body = ok(client.get(by_name(name, "/history"), params=params))
    assert body["name"] == name
    return body["events"]


def alias_moves(client: TestClient, name: str, alias: str | None = None) -> list[tuple[str | None, str | None]]:
    """(from_version, to_version) of every alias move in the history (of one alias if given)."""
    params = {"kind": "alias", **({"alias": alias} if alias else {})}
    return [(e["data"]["from_version"], e["data"]["to_version"]) for e in history(client, name, **params)]


def set_status(client: TestClient, model_id: str, status: str, actor: str | None = None) -> dict:
    headers = {"X-Actor": actor} if actor else None
    return ok(client.put(model_url(model_id), json={"status": status}, headers=headers))


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def between(earlier: str, later: str) -> str:
    """An ISO time halfway between two ISO times (both strictly after ``earlier`` and before ``later``)."""
    start, end = parse_time(earlier), parse_time(later)
    assert end - start >= timedelta(microseconds=2), (earlier, later)
    return (start + (end - start) / 2).isoformat()
