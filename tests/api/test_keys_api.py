"""``/api/v1/keys``: admins create (the key shown once), list, show and revoke keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from .auth_helpers import BOOTSTRAP, auth, key_id

KEYS = "/api/v1/keys"
ADMIN = auth(BOOTSTRAP)


@pytest.fixture
def secured(make_client) -> TestClient:
    return make_client(enable_auth=True, bootstrap_admin_key=BOOTSTRAP)


def create(client: TestClient, **body):
    return client.post(KEYS, json={"name": "alice", "scopes": ["read"], **body}, headers=ADMIN)


def test_a_created_key_is_shown_once_and_works(secured):
    response = create(secured, name="fraud-ci", scopes=["write"], name_prefix="fraud_", expires_in_days=90)

    assert response.status_code == 201
    body = response.json()
    secret, info = body["key"], body["key_info"]
    assert secret.startswith(f"tfk_{info['key_id']}_") and len(secret) == 4 + 12 + 1 + 43
    assert "not shown again" in body["message"]
    assert (info["name"], info["scopes"], info["name_prefix"], info["state"]) == ("fraud-ci", ["write"], "fraud_",
                                                                                  "active")
    expires = datetime.fromisoformat(info["expires_at"])
    assert timedelta(days=89) < expires - datetime.now(UTC) <= timedelta(days=90)
    assert secured.get("/api/v1/models", headers=auth(secret)).status_code == 200

    listed = secured.get(KEYS, headers=ADMIN).text
    shown = secured.get(f"{KEYS}/{info['key_id']}", headers=ADMIN).json()
    assert secret not in listed and "secret_hash" not in listed and "hash" not in shown
    assert shown == info


def test_keys_are_listed_oldest_first_with_their_state(secured):
    first = create(secured, name="a").json()["key_info"]["key_id"]
    second = create(secured, name="b", scopes=["read", "write"]).json()["key_info"]["key_id"]
    secured.delete(f"{KEYS}/{first}", headers=ADMIN)

    keys = secured.get(KEYS, headers=ADMIN).json()["keys"]

    assert [(k["key_id"], k["state"], k["scopes"]) for k in keys] == [(first, "revoked", ["read"]),
                                                                       (second, "active", ["read", "write"])]
    assert keys[0]["revoked_by"] == "bootstrap-admin" and keys[0]["revoked_at"]


def test_revoking_twice_keeps_the_first_revocation(secured):
    made = create(secured).json()["key_info"]["key_id"]

    first = secured.delete(f"{KEYS}/{made}", headers=ADMIN).json()["key_info"]
    second = secured.delete(f"{KEYS}/{made}", headers=ADMIN)

    assert second.status_code == 200 and second.json()["key_info"] == first
    revocations = secured.get("/api/v1/audit", params={"action": "key.revoke"}, headers=ADMIN).json()["records"]
    assert len(revocations) == 1


def test_an_unknown_key_is_404_and_a_malformed_id_422(secured):
    assert secured.get(f"{KEYS}/0123456789ab", headers=ADMIN).json()["code"] == "key_not_found"
    assert secured.delete(f"{KEYS}/0123456789ab", headers=ADMIN).status_code == 404
    assert secured.get(f"{KEYS}/not-an-id", headers=ADMIN).json()["code"] == "invalid_key_id"
    assert secured.delete(f"{KEYS}/{'x' * 65}", headers=ADMIN).status_code == 422


@pytest.mark.parametrize(("body", "code"), [
    ({"scopes": ["superuser"]}, "invalid_scope"),
    ({"scopes": []}, "validation_error"),
    ({"name": ""}, "invalid_key_name"),
    ({"name": "has space"}, "invalid_key_name"),
    ({"name": "x" * 65}, "invalid_key_name"),
    ({"name": 5}, "validation_error"),
    ({"name_prefix": "bad/prefix"}, "invalid_name_prefix"),
    ({"scopes": ["admin"], "name_prefix": "fraud_"}, "invalid_name_prefix"),
    ({"expires_at": "2000-01-01T00:00:00Z"}, "invalid_expiry"),
    ({"expires_at": "2099-01-01T00:00:00Z", "expires_in_days": 3}, "invalid_expiry"),
    ({"expires_in_days": 0}, "validation_error"),
    ({"expires_at": "soon"}, "validation_error"),
    ({"owner": "x"}, "validation_error"),
])
def test_an_invalid_key_request_is_422(secured, body, code):
    response = create(secured, **body)

    assert response.status_code == 422, response.text
    assert response.json()["code"] == code
    assert secured.get(KEYS, headers=ADMIN).json()["keys"] == []


def test_a_naive_expiry_is_utc(secured):
    info = create(secured, expires_at="2099-01-01T00:00:00").json()["key_info"]

    assert info["expires_at"] == "2099-01-01T00:00:00Z"


@pytest.mark.parametrize(("content", "headers", "status"), [
    (b"{not json", {"Content-Type": "application/json"}, 400),
    (b"name=alice", {"Content-Type": "application/x-www-form-urlencoded"}, 415),
    (b"[]", {"Content-Type": "application/json"}, 422),
])
def test_a_malformed_body_is_4xx(secured, content, headers, status):
    response = secured.post(KEYS, content=content, headers={**ADMIN, **headers})

    assert response.status_code == status, response.text
    assert response.json()["success"] is False


def test_with_auth_off_anyone_may_manage_keys(client):
    made = client.post(KEYS, json={"name": "alice", "scopes": ["admin"]}, headers={"X-Actor": "ops"})

    assert made.status_code == 201
    assert made.json()["key_info"]["created_by"] == "ops"
    assert client.delete(f"{KEYS}/{key_id(made.json()['key'])}").status_code == 200
