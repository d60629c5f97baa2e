"""API keys at the HTTP edge: headers, errors, expiry, revocation, name prefixes, who is recorded,
anonymous reads, the bootstrap key, keys never stored or logged, the start-up warning."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from model_service.config import SettingsError, load_settings
from model_service.server.app import create_app
from tests.conftest import make_settings

from .auth_helpers import BOOTSTRAP, auth, bearer, expired, issue, key_id, revoked

MODELS = "/api/v1/models"


@pytest.fixture
def secured(make_client) -> TestClient:
    return make_client(enable_auth=True, bootstrap_admin_key=BOOTSTRAP)


def register(client: TestClient, secret: str | None, name: str = "fraud_model", **fields):
    return client.post(MODELS, json={"name": name, "algorithm": "xgboost", **fields}, headers=auth(secret))


# ---- presenting a key ---------------------------------------------------------------------------

def test_a_key_works_in_x_api_key_and_as_a_bearer_token(secured):
    secret = issue(secured.app, "alice", "read")

    assert secured.get(MODELS, headers=auth(secret)).status_code == 200
    assert secured.get(MODELS, headers=bearer(secret)).status_code == 200
    assert secured.get(MODELS, headers={"Authorization": f"bearer   {secret}  "}).status_code == 200


def test_without_a_key_it_is_401_with_a_bearer_challenge(secured):
    response = secured.get(MODELS)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="model-service"'
    body = response.json()
    assert (body["success"], body["code"]) == (False, "unauthenticated")
    assert "X-API-Key" in body["error"] and body["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize("headers", [
    {"X-API-Key": "tfk_0123456789ab_" + "A" * 43},  # well-formed, unknown
    {"X-API-Key": "not a key at all"},
    {"X-API-Key": "   "},
    {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
    {"Authorization": "Bearer"},
])
def test_a_bad_key_is_401_invalid_api_key(secured, headers):
    response = secured.get(MODELS, headers=headers)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_api_key"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_key_with_the_right_id_but_the_wrong_secret_is_refused(secured):
    secret = issue(secured.app, "alice", "admin")
    forged = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")

    assert secured.get(MODELS, headers=auth(forged)).json()["code"] == "invalid_api_key"


def test_an_expired_key_is_401(secured):
    response = secured.get(MODELS, headers=auth(expired(secured.app, "old-ci", "read")))

    assert response.status_code == 401
    assert response.json()["code"] == "api_key_expired"


def test_a_key_stops_working_when_its_time_comes(make_client):
    client = make_client(enable_auth=True, auth_cache_seconds=0)
    secret = issue(client.app, "short-lived", "read", expires_at=datetime.now(UTC) + timedelta(seconds=1))
    assert client.get(MODELS, headers=auth(secret)).status_code == 200

    client.app.state.auth.keys.clock = lambda: datetime.now(UTC) + timedelta(seconds=2)

    assert client.get(MODELS, headers=auth(secret)).json()["code"] == "api_key_expired"


def test_a_revoked_key_is_401_at_once(secured):
    secret = issue(secured.app, "alice", "write")
    assert register(secured, secret).status_code == 201

    revoke = secured.delete(f"/api/v1/keys/{key_id(secret)}", headers=auth(BOOTSTRAP))
    assert revoke.status_code == 200

    response = register(secured, secret)
    assert response.status_code == 401
    assert response.json()["code"] == "api_key_revoked"
    assert secured.get(MODELS, headers=auth(revoked(secured.app, "other", "read"))).status_code == 401


def test_a_key_revoked_through_another_replica_stops_working_within_the_cache_time(make_client, tmp_path):
    database = f"sqlite:///{tmp_path / 'shared.db'}"
    one = make_client(enable_auth=True, database_url=database)
    two = make_client(enable_auth=True, database_url=database, auth_cache_seconds=0)
    cached = make_client(enable_auth=True, database_url=database, auth_cache_seconds=300)
    secret = issue(one.app, "alice", "read")
    assert two.get(MODELS, headers=auth(secret)).status_code == 200
    assert cached.get(MODELS, headers=auth(secret)).status_code == 200

    one.delete(f"/api/v1/keys/{key_id(secret)}", headers=auth(issue(one.app, "ops", "admin")))

    assert two.get(MODELS, headers=auth(secret)).status_code == 401
    assert cached.get(MODELS, headers=auth(secret)).status_code == 200  # trusted until its cache time is up
    cached.app.state.auth.keys.forget()
    assert cached.get(MODELS, headers=auth(secret)).status_code == 401


# ---- scopes and name prefixes --------------------------------------------------------------------

def test_a_missing_scope_is_403_forbidden_naming_it(secured):
    response = register(secured, issue(secured.app, "viewer", "read"))

    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "forbidden"
    assert body["details"] == {"required_scope": "write", "scopes": ["read"]}
    assert "WWW-Authenticate" not in response.headers


def test_write_implies_read_and_admin_implies_both(secured):
    writer, admin = issue(secured.app, "w", "write"), issue(secured.app, "a", "admin")

    assert secured.get(MODELS, headers=auth(writer)).status_code == 200
    assert secured.get("/api/v1/keys", headers=auth(writer)).status_code == 403
    assert register(secured, admin).status_code == 201
    assert secured.get("/api/v1/audit", headers=auth(admin)).status_code == 200


def test_a_prefixed_key_writes_only_its_names(secured):
    team = issue(secured.app, "fraud-team", "write", prefix="fraud_")
    admin = auth(BOOTSTRAP)
    theirs = register(secured, BOOTSTRAP, "churn_model").json()["model_id"]

    ours = register(secured, team, "fraud_model")
    assert ours.status_code == 201
    refused = register(secured, team, "churn_model")
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden_name"
    assert refused.json()["details"] == {"name": "churn_model", "name_prefix": "fraud_"}
    assert register(secured, team, "Fraud_model").status_code == 403  # names are case-sensitive

    assert secured.put(f"{MODELS}/{theirs}", json={"description": "x"}, headers=auth(team)).status_code == 403
    assert secured.delete(f"{MODELS}/{theirs}", headers=auth(team)).status_code == 403
    assert secured.post(f"{MODELS}/{theirs}/upload", content=b"w", headers=auth(team)).status_code == 403
    assert secured.post(f"{MODELS}/{theirs}/versions", json={}, headers=auth(team)).status_code == 403
    assert secured.put(f"{MODELS}/by-name/churn_model/aliases/prod", json={"version": "v1.0"},
                       headers=auth(team)).status_code == 403
    assert secured.get(f"{MODELS}/{theirs}", headers=auth(team)).status_code == 200  # reads are not limited
    assert secured.get(f"{MODELS}/{theirs}", headers=admin).json()["description"] == ""  # nothing changed


def test_a_prefixed_key_must_name_what_it_registers(secured):
    team = issue(secured.app, "fraud-team", "write", prefix="fraud_")

    response = secured.post(MODELS, json={"algorithm": "xgboost", "metrics": {"accuracy": 0.9}}, headers=auth(team))

    assert response.status_code == 403
    assert response.json()["code"] == "forbidden_name"


def test_a_prefixed_key_is_refused_before_a_multipart_file_is_stored(secured):
    team = issue(secured.app, "fraud-team", "write", prefix="fraud_")
    blobs = secured.app.state.settings.data_dir / "blobs"

    response = secured.post(MODELS, headers=auth(team), files={
        "metadata": (None, '{"name": "churn_model", "algorithm": "svm"}', "application/json"),
        "file": ("m.pkl", b"weights" * 1000, "application/octet-stream")})

    assert response.status_code == 403
    assert not [path for path in blobs.rglob("*") if path.is_file()]


# ---- who is recorded ---------------------------------------------------------------------------

def test_created_by_and_history_record_the_keys_owner_not_x_actor(secured):
    secret = issue(secured.app, "ci-pipeline", "write")
    headers = {**auth(secret), "X-Actor": "mallory"}

    model = secured.post(MODELS, json={"name": "fraud_model", "algorithm": "xgboost"}, headers=headers).json()
    secured.put(f"{MODELS}/{model['model_id']}", json={"status": "deprecated"}, headers=headers)
    secured.post(f"{MODELS}/{model['model_id']}/upload", content=b"weights", headers=headers)
    secured.put(f"{MODELS}/by-name/fraud_model/aliases/prod", json={"version": "v1.0"}, headers=headers)
    secured.get(f"{MODELS}/{model['model_id']}/download", headers=headers)

    assert model["model"]["created_by"] == "ci-pipeline"
    events = secured.get(f"{MODELS}/by-name/fraud_model/history", headers=headers).json()["events"]
    assert {event["actor"] for event in events} == {"ci-pipeline"}
    assert len(events) == 4  # created, status, uploaded, alias
    downloads = secured.app.state.registry.metadata.events(model["model_id"], ("downloaded",))
    assert [event.actor for event in downloads] == ["ci-pipeline"]


def test_created_by_naming_someone_else_is_refused_with_auth(secured):
    secret = issue(secured.app, "ci-pipeline", "write")

    refused = register(secured, secret, created_by="ml_engineer_01")
    same = register(secured, secret, created_by="ci-pipeline")

    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden_created_by"
    assert same.status_code == 201


def test_without_auth_created_by_and_x_actor_work_as_before(client):
    by_header = client.post(MODELS, json={"name": "m", "algorithm": "svm"}, headers={"X-Actor": "alice"})
    by_body = client.post(MODELS, json={"name": "m", "algorithm": "svm", "created_by": "bob"},
                          headers={"X-Actor": "alice", "X-API-Key": "ignored when auth is off"})

    assert by_header.json()["model"]["created_by"] == "alice"
    assert by_body.json()["model"]["created_by"] == "bob"


def test_whoami_says_who_the_request_acts_as(secured, client):
    secret = issue(secured.app, "fraud-team", "write", prefix="fraud_")

    me = secured.get("/api/v1/whoami", headers=auth(secret)).json()
    off = client.get("/api/v1/whoami", headers={"X-Actor": "alice"}).json()

    assert me == {"actor": "fraud-team", "auth_enabled": True, "authenticated": True, "key_id": key_id(secret),
                  "scopes": ["read", "write"], "name_prefix": "fraud_"}
    assert off == {"actor": "alice", "auth_enabled": False, "authenticated": False, "key_id": None,
                   "scopes": ["admin", "read", "write"], "name_prefix": None}


# ---- anonymous reads ------------------------------------------------------------------------------

def test_allow_anonymous_read_opens_reads_only(make_client):
    client = make_client(enable_auth=True, allow_anonymous_read=True, bootstrap_admin_key=BOOTSTRAP)
    model_id = register(client, BOOTSTRAP).json()["model_id"]
    assert client.post(f"{MODELS}/{model_id}/upload", content=b"weights", headers=auth(BOOTSTRAP)).status_code == 201

    assert client.get(MODELS).status_code == 200
    assert client.get(f"{MODELS}/{model_id}/download").content == b"weights"
    assert client.head(f"{MODELS}/{model_id}/download").status_code == 200
    assert register(client, None, "other").status_code == 401
    assert client.delete(f"{MODELS}/{model_id}").status_code == 401
    assert client.get("/api/v1/audit").status_code == 401
    assert client.get(MODELS, headers=auth("tfk_0123456789ab_" + "A" * 43)).status_code == 401  # a bad key: no
    downloads = client.app.state.registry.metadata.events(model_id, ("downloaded",))
    assert [event.actor for event in downloads] == ["anonymous"]


# ---- the bootstrap key --------------------------------------------------------------------------

def test_the_bootstrap_key_is_an_admin_key(secured):
    created = secured.post("/api/v1/keys", json={"name": "alice", "scopes": ["write"]}, headers=auth(BOOTSTRAP))
    assert created.status_code == 201

    model = register(secured, created.json()["key"])
    assert model.status_code == 201 and model.json()["model"]["created_by"] == "alice"
    assert created.json()["key_info"]["created_by"] == "bootstrap-admin"
    assert secured.get("/api/v1/whoami", headers=auth(BOOTSTRAP)).json()["key_id"] == "bootstrap"


def test_a_weak_bootstrap_key_is_refused_at_start_up():
    with pytest.raises(SettingsError, match="BOOTSTRAP_ADMIN_KEY") as refused:
        load_settings(bootstrap_admin_key="admin")
    assert "'admin'" not in str(refused.value)


def test_without_a_bootstrap_key_setting_nothing_else_is_an_admin(make_client):
    client = make_client(enable_auth=True)

    assert client.get(MODELS, headers=auth(BOOTSTRAP)).status_code == 401


# ---- keys are never stored or logged -------------------------------------------------------------

def test_keys_are_stored_only_as_hashes_and_never_logged(make_client, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client(enable_auth=True, bootstrap_admin_key=BOOTSTRAP, access_log=True)
    created = client.post("/api/v1/keys", json={"name": "alice", "scopes": ["write"]}, headers=auth(BOOTSTRAP))
    secret = created.json()["key"]
    assert register(client, secret).status_code == 201
    assert client.get(MODELS, headers=bearer(secret)).status_code == 200
    assert client.get(MODELS, headers=auth(secret[:-1] + "x")).status_code == 401
    listed = client.get("/api/v1/keys", headers=auth(BOOTSTRAP)).text
    audit = client.get("/api/v1/audit", headers=auth(BOOTSTRAP)).text

    stored = b"".join(path.read_bytes() for path in client.app.state.settings.data_dir.rglob("registry.db*"))
    assert stored and secret.encode() not in stored and BOOTSTRAP.encode() not in stored
    assert secret.split("_", 2)[2].encode() not in stored  # not even the secret part
    assert key_id(secret).encode() in stored  # what is there: the id, and the hash
    logged = caplog.text + "".join(str(record.__dict__) for record in caplog.records)
    assert "alice" in logged  # the access log ran
    for text in (logged, listed, audit):
        assert secret not in text and secret[:-1] not in text and BOOTSTRAP not in text


# ---- start-up ----------------------------------------------------------------------------------

def test_with_auth_off_start_up_warns_that_anyone_can_write_naming_the_address(tmp_path, caplog):
    settings = make_settings(tmp_path, host="0.0.0.0", port=9999)
    with caplog.at_level(logging.WARNING, logger="model_service"), TestClient(create_app(settings)):
        pass

    [warning] = [r for r in caplog.records if r.name == "model_service.auth" and r.levelno == logging.WARNING]
    assert "0.0.0.0:9999" in warning.getMessage() and "anyone" in warning.getMessage()
    assert "ENABLE_AUTH" in warning.getMessage()


def test_with_auth_on_and_no_key_start_up_says_how_to_make_one(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="model_service"), \
            TestClient(create_app(make_settings(tmp_path, enable_auth=True))):
        pass

    messages = [r.getMessage() for r in caplog.records if r.name == "model_service.auth"]
    assert any("model-service keys create" in message for message in messages)
    assert not any("anyone" in message for message in messages)


def test_the_default_host_is_the_loopback_interface():
    assert load_settings().host == "127.0.0.1"


# ---- the API description ---------------------------------------------------------------------------

def test_with_auth_on_openapi_names_the_key_schemes_and_which_operations_need_one(make_client):
    spec = make_client(enable_auth=True, allow_anonymous_read=True).get("/openapi.json").json()

    assert set(spec["components"]["securitySchemes"]) == {"ApiKeyHeader", "BearerKey"}
    assert spec["paths"]["/api/v1/models"]["post"]["security"] == [{"ApiKeyHeader": []}, {"BearerKey": []}]
    assert {} in spec["paths"]["/api/v1/models"]["get"]["security"]  # anonymous reads
    assert "security" not in spec["paths"]["/health"]["get"]
    assert not any(p["name"] == "X-Actor" for p in spec["paths"]["/api/v1/models"]["post"].get("parameters", []))


def test_with_auth_off_openapi_names_the_x_actor_header_and_no_scheme(client):
    spec = client.get("/openapi.json").json()

    assert "securitySchemes" not in spec.get("components", {})
    assert {"name": "X-Actor", "in": "header"}.items() <= spec["paths"]["/api/v1/models"]["post"]["parameters"][0]\
        .items()
    assert "security" not in spec["paths"]["/api/v1/models"]["post"]
    assert "parameters" not in spec["paths"]["/health"]["get"]


def test_every_protected_operation_documents_401_and_403_with_the_error_schema(client):
    spec = client.get("/openapi.json").json()

    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if path in ("/health", "/metrics"):
                continue
            for status in ("401", "403"):
                response = operation["responses"].get(status)
                assert response, f"{method.upper()} {path} does not document {status}"
                assert response["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")
