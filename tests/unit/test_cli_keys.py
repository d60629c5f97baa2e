"""``model-service keys create|list|revoke`` against the configured database."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from model_service.cli.main import main
from model_service.server.app import create_app
from tests.conftest import make_settings


@pytest.fixture
def run(tmp_path):
    environment = {"DATA_DIR": str(tmp_path / "data"), "ENABLE_AUTH": None, "DATABASE_URL": None,
                   "MONGODB_URL": None, "BOOTSTRAP_ADMIN_KEY": None}

    def invoke(*args: str):
        return CliRunner().invoke(main, ["keys", *args], env=environment)

    invoke.data_dir = tmp_path / "data"
    return invoke


def test_create_prints_the_key_alone_on_stdout(run):
    result = run("create", "--name", "admin", "--scope", "admin")

    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    assert key.startswith("tfk_") and "\n" not in key
    assert "cannot be shown again" in result.stderr


def test_a_key_made_by_the_cli_works_on_the_server_and_its_creation_is_audited(run):
    key = run("create", "--name", "admin", "--scope", "admin").stdout.strip()
    settings = make_settings(run.data_dir, enable_auth=True)

    with TestClient(create_app(settings)) as client:
        assert client.get("/api/v1/whoami", headers={"X-API-Key": key}).json()["actor"] == "admin"
        [record] = client.get("/api/v1/audit", headers={"X-API-Key": key}).json()["records"]
    assert record["action"] == "key.create" and record["actor"].startswith("cli")
    assert record["details"]["target_key_id"] == key.split("_")[1]


def test_list_shows_every_key_and_never_a_secret(run):
    admin = run("create", "--name", "admin", "--scope", "admin").stdout.strip()
    team = run("create", "--name", "fraud-ci", "--scope", "write", "--prefix", "fraud_", "--expires-in", "90d")
    assert team.exit_code == 0, team.output

    table = run("list")
    listed = json.loads(run("list", "--json").stdout)

    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["KEY", "ID", "NAME", "SCOPES", "PREFIX", "STATE", "CREATED", "EXPIRES"]
    assert "fraud-ci" in lines[2] and "fraud_" in lines[2] and "active" in lines[2]
    assert [(k["name"], k["scopes"], k["name_prefix"]) for k in listed] == [("admin", ["admin"], None),
                                                                            ("fraud-ci", ["write"], "fraud_")]
    assert listed[1]["expires_at"] is not None
    assert admin not in table.output and admin not in json.dumps(listed)


def test_revoke_by_id_or_by_the_key_itself(run):
    first = run("create", "--name", "a", "--scope", "read").stdout.strip()
    second = run("create", "--name", "b", "--scope", "read").stdout.strip()

    by_id = run("revoke", first.split("_")[1])
    by_key = run("revoke", second)

    assert by_id.exit_code == 0 and "Revoked key" in by_id.stdout
    assert by_key.exit_code == 0
    assert {k["state"] for k in json.loads(run("list", "--json").stdout)} == {"revoked"}


def test_create_with_json_output(run):
    result = run("create", "--name", "ci", "--scope", "read", "--scope", "write", "--json")

    record = json.loads(result.stdout)
    assert record["key"].startswith(f"tfk_{record['key_id']}_")
    assert record["scopes"] == ["read", "write"] and record["state"] == "active"


@pytest.mark.parametrize(("args", "exit_code", "message"), [
    (["create", "--name", "x", "--scope", "root"], 2, "root"),
    (["create", "--name", "x"], 2, "--scope"),
    (["create", "--name", "bad name", "--scope", "read"], 1, "Invalid key name"),
    (["create", "--name", "x", "--scope", "admin", "--prefix", "fraud_"], 1, "cannot be limited"),
    (["create", "--name", "x", "--scope", "read", "--expires-in", "soon"], 2, "90d"),
    (["create", "--name", "x", "--scope", "read", "--expires-at", "2000-01-01"], 1, "in the past"),
    (["revoke", "0123456789ab"], 1, "No API key"),
    (["revoke", "nonsense"], 1, "not a key id"),
])
def test_mistakes_are_explained(run, args, exit_code, message):
    result = run(*args)

    assert result.exit_code == exit_code, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_list_without_keys_says_how_to_make_one(run):
    result = run("list")

    assert result.exit_code == 0
    assert "keys create" in result.output
