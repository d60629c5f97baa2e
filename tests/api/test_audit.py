"""The audit log over HTTP: one record per write (who, what, when, from where, which request),
queried by admins newest first with filters and a cursor; kept with auth off too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from .auth_helpers import BOOTSTRAP, auth, issue, key_id

MODELS = "/api/v1/models"
AUDIT = "/api/v1/audit"


@pytest.fixture
def secured(make_client) -> TestClient:
    return make_client(enable_auth=True, bootstrap_admin_key=BOOTSTRAP)


def audit(client: TestClient, headers: dict | None = None, **params) -> dict:
    response = client.get(AUDIT, params=params, headers=headers if headers is not None else auth(BOOTSTRAP))
    assert response.status_code == 200, response.text
    return response.json()


def records(client: TestClient, headers: dict | None = None, **params) -> list[dict]:
    """The records, but for the keys the tests made for themselves (``auth_helpers.issue``)."""
    return [r for r in audit(client, headers, limit=100, **params)["records"] if r["actor"] != "test-setup"]


def test_every_kind_of_write_is_recorded_with_who_what_where_and_which_request(secured):
    secret = issue(secured.app, "ci-pipeline", "admin")

    def call(method: str, url: str, request_id: str, **kwargs):
        response = secured.request(method, url, headers={**auth(secret), "X-Request-ID": request_id}, **kwargs)
        assert response.status_code < 300, response.text
        return response.json()

    model_id = call("POST", MODELS, "r-register", json={"name": "fraud_model", "algorithm": "xgboost"})["model_id"]
    call("PUT", f"{MODELS}/{model_id}", "r-update", json={"status": "deprecated", "description": "old"})
    call("POST", f"{MODELS}/{model_id}/upload", "r-upload", content=b"weights")
    second = call("POST", f"{MODELS}/{model_id}/versions", "r-version", json={"description": "next"})["model_id"]
    call("PUT", f"{MODELS}/by-name/fraud_model/aliases/production", "r-alias-set", json={"version": "v1.1"})
    call("DELETE", f"{MODELS}/by-name/fraud_model/aliases/production", "r-alias-remove")
    call("DELETE", f"{MODELS}/{second}", "r-delete")
    made = call("POST", "/api/v1/keys", "r-key-create", json={"name": "bob", "scopes": ["read"]})
    call("DELETE", f"/api/v1/keys/{made['key_info']['key_id']}", "r-key-revoke")

    found = list(reversed(records(secured, auth(secret))))
    assert [(r["action"], r["request_id"]) for r in found] == [
        ("model.register", "r-register"), ("model.update", "r-update"), ("model.upload", "r-upload"),
        ("model.create_version", "r-version"), ("alias.set", "r-alias-set"), ("alias.remove", "r-alias-remove"),
        ("model.delete", "r-delete"), ("key.create", "r-key-create"), ("key.revoke", "r-key-revoke")]
    for record in found:
        assert (record["actor"], record["key_id"], record["client_ip"]) == ("ci-pipeline", key_id(secret),
                                                                            "testclient")
        assert datetime.fromisoformat(record["at"]) > datetime.now(UTC) - timedelta(minutes=1)
    register, update, upload, version, alias_set, alias_remove, delete, key_create, key_revoke = found
    assert (register["model_id"], register["name"], register["version"]) == (model_id, "fraud_model", "v1.0")
    assert update["details"] == {"fields": ["description", "status"], "status": "deprecated"}
    assert upload["details"]["file"]["size_bytes"] == 7 and len(upload["details"]["file"]["sha256"]) == 64
    stored = secured.get(f"{MODELS}/{model_id}", headers=auth(secret)).json()["file_metadata"]
    assert upload["details"]["file"]["scan"] == stored["scan"]["verdict"]
    assert (version["model_id"], version["version"], version["details"]["parent_model_id"]) == (second, "v1.1",
                                                                                                 model_id)
    assert (alias_set["model_id"], alias_set["version"]) == (second, "v1.1")
    assert alias_set["details"] == {"alias": "production", "from_version": None, "from_model_id": None}
    assert alias_remove["details"]["from_version"] == "v1.1"
    assert (delete["model_id"], delete["version"]) == (second, "v1.1")
    assert key_create["details"]["target_key_id"] == made["key_info"]["key_id"]
    assert key_create["details"]["scopes"] == ["read"] and made["key"] not in str(key_create)
    assert key_revoke["details"] == {"target_key_id": made["key_info"]["key_id"], "key_name": "bob"}


def test_reads_and_refused_writes_are_not_recorded(secured):
    reader = issue(secured.app, "viewer", "read")
    model_id = secured.post(MODELS, json={"name": "m", "algorithm": "svm"}, headers=auth(BOOTSTRAP)).json()["model_id"]

    secured.get(f"{MODELS}/{model_id}", headers=auth(reader))
    secured.delete(f"{MODELS}/{model_id}", headers=auth(reader))  # 403
    secured.put(f"{MODELS}/{model_id}", json={"tags": ["bad tag"]}, headers=auth(BOOTSTRAP))  # 422
    secured.delete(f"{MODELS}/{'0' * 24}", headers=auth(BOOTSTRAP))  # 404

    assert [r["action"] for r in records(secured)] == ["model.register"]


def test_the_audit_log_is_for_admins(secured):
    for scope in ("read", "write"):
        response = secured.get(AUDIT, headers=auth(issue(secured.app, f"k-{scope}", scope)))
        assert response.status_code == 403
    assert secured.get(AUDIT).status_code == 401


def test_with_auth_off_writes_are_recorded_by_x_actor_and_anyone_may_read_them(client):
    client.post(MODELS, json={"name": "m", "algorithm": "svm"}, headers={"X-Actor": "alice"})
    client.post(MODELS, json={"name": "m", "algorithm": "svm"})

    found = records(client, {})
    assert [(r["actor"], r["key_id"], r["version"]) for r in found] == [("anonymous", None, "v1.1"),
                                                                          ("alice", None, "v1.0")]


# ---- queries ------------------------------------------------------------------------------------

@pytest.fixture
def story(client) -> dict:
    """Writes by three actors on two names; returns the model ids."""
    ids = {}
    for actor, name in (("alice", "fraud"), ("bob", "churn"), ("alice", "churn"), ("carol", "fraud")):
        response = client.post(MODELS, json={"name": name, "algorithm": "svm"}, headers={"X-Actor": actor})
        ids.setdefault(name, response.json()["model_id"])
    client.put(f"{MODELS}/{ids['fraud']}", json={"description": "x"}, headers={"X-Actor": "bob"})
    return ids


def test_filters_by_model_id_or_name_actor_and_action(client, story):
    def query(**params):
        return [(r["actor"], r["action"], r["name"]) for r in records(client, {}, **params)]

    assert query(actor="bob") == [("bob", "model.update", "fraud"), ("bob", "model.register", "churn")]
    assert query(model="churn") == [("alice", "model.register", "churn"), ("bob", "model.register", "churn")]
    assert query(model=story["fraud"]) == [("bob", "model.update", "fraud"), ("alice", "model.register", "fraud")]
    assert query(action="model.update") == [("bob", "model.update", "fraud")]
    assert len(query(action="model.update, model.register")) == 5
    assert query(actor="alice", model="fraud") == [("alice", "model.register", "fraud")]
    assert query(actor="nobody") == []


@pytest.mark.usefixtures("story")
def test_since_and_until_bound_the_time(client):
    everything = records(client, {})
    middle = everything[2]["at"]

    newer = records(client, {}, since=middle)
    older = records(client, {}, until=middle)

    assert {r["id"] for r in newer} | {r["id"] for r in older} == {r["id"] for r in everything}
    assert all(r["at"] >= middle for r in newer) and all(r["at"] < middle for r in older)
    assert records(client, {}, since="2999-01-01T00:00:00Z") == []


@pytest.mark.usefixtures("story")
def test_pages_come_newest_first_and_the_cursor_walks_them_all(client):
    everything = records(client, {})
    seen, cursor = [], None
    while True:
        page = audit(client, {}, limit=2, **({"cursor": cursor} if cursor else {}))
        assert len(page["records"]) <= 2
        seen += page["records"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == everything and len(seen) == 5
    assert [r["at"] for r in seen] == sorted((r["at"] for r in seen), reverse=True)
    assert audit(client, {}, limit=5)["next_cursor"] is None


def test_limit_is_capped_at_max_page_size(make_client):
    client = make_client(max_page_size=2)
    for _ in range(3):
        client.post(MODELS, json={"name": "m", "algorithm": "svm"})

    page = audit(client, {}, limit=50)

    assert len(page["records"]) == 2 and page["next_cursor"] is not None


@pytest.mark.parametrize(("params", "status", "code"), [
    ({"cursor": "not-a-cursor"}, 400, "invalid_cursor"),
    ({"cursor": "MTIzOmFiYw"}, 400, "invalid_cursor"),  # "123:abc"
    ({"cursor": "OTk5OTk5OTk5OTk5OTk5OTk5OTk5Ojk5OWFhYWJiYmNjY2RkZGVlZWZmZjAwMA"}, 400, "invalid_cursor"),
    ({"action": "model.explode"}, 422, "invalid_action"),
    ({"since": "yesterday"}, 422, "validation_error"),
    ({"limit": "0"}, 422, "validation_error"),
    ({"model": "x" * 500}, 422, "validation_error"),
])
def test_bad_queries_are_4xx_json(client, params, status, code):
    response = client.get(AUDIT, params=params)

    assert response.status_code == status, response.text
    assert response.json()["code"] == code
