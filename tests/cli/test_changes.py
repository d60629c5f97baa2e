"""``model-service status``, ``rm`` and ``alias set | rm``."""

from __future__ import annotations

import pytest

from .conftest import failed


@pytest.fixture
def two(cli, name, model_file):
    """v1.0 and v1.1 of one name."""
    return [cli.push(model_file, name), cli.push(model_file, name)]


def test_status_moves_a_version_through_its_lifecycle(cli, name, two):
    said = cli.ok("status", f"{name}/v1.0", "deprecated").stdout
    record = cli.json("status", two[0]["id"], "archived")

    assert said.strip() == f"{name} v1.0 ({two[0]['id']}) is now deprecated"
    assert record["id"] == two[0]["id"] and record["status"] == "archived"
    assert [m["version"] for m in cli.json("ls", "--name", name, "--status", "archived")] == ["v1.0"]
    assert cli.json("show", f"{name}/v1.1")["status"] == "active"


@pytest.mark.usefixtures("two")
def test_status_refuses_an_unknown_status_or_version(cli, name):
    assert cli("status", name, "retired").exit_code == 2
    failed(cli("status", f"{name}/v3.0", "archived"), 3, "version_not_found")


def test_rm_asks_first_and_deletes_the_version_it_named(cli, name, two):
    declined = cli("rm", name, input="n\n")
    accepted = cli("rm", name, input="y\n")

    assert declined.exit_code == 1 and f"Delete {name} v1.1 ({two[1]['id']})?" in declined.stderr
    assert "Aborted" in declined.stderr and declined.stdout == ""
    assert accepted.exit_code == 0 and accepted.stdout.strip() == f"Deleted {name} v1.1 ({two[1]['id']})"
    assert [v["version"] for v in cli.json("versions", name)["versions"]] == ["v1.0"]


def test_rm_with_yes_and_json(cli, two):
    result = cli.json("rm", two[0]["id"], "--yes")

    assert result["deleted_id"] == two[0]["id"] and result["success"] is True
    failed(cli("rm", two[0]["id"], "--yes"), 3, "model_not_found")


@pytest.mark.usefixtures("two")
def test_rm_without_an_answer_deletes_nothing(cli, name):
    result = cli("rm", f"{name}/v1.0")  # no terminal, nothing on stdin

    assert result.exit_code == 1
    assert len(cli.json("versions", name)["versions"]) == 2


def test_alias_set_moves_and_says_where_it_was(cli, name, two):
    created = cli.ok("alias", "set", name, "production", "v1.0").stdout.strip()
    moved = cli.json("alias", "set", name, "production", "v1.1")

    assert created == f"{name}@production → v1.0 ({two[0]['id']}), new"
    assert moved["version"] == "v1.1" and moved["model_id"] == two[1]["id"]
    assert moved["previous_version"] == "v1.0"
    assert cli.json("show", f"{name}@production")["id"] == two[1]["id"]


def test_alias_set_by_version_id(cli, name, two):
    moved = cli.json("alias", "set", name, "champion", two[0]["id"])

    assert moved["version"] == "v1.0"


@pytest.mark.usefixtures("two")
def test_alias_set_with_expected_is_a_compare_and_swap(cli, name):
    cli.ok("alias", "set", name, "production", "v1.0")

    stale = cli("alias", "set", name, "production", "v1.1", "--expected", "v1.1")
    current = cli.json("alias", "set", name, "production", "v1.1", "--expected", "v1.0")
    taken = cli("alias", "set", name, "production", "v1.0", "--expected", "none")
    fresh = cli.json("alias", "set", name, "staging", "v1.0", "--expected", "none")

    failed(stale, 4, "alias_conflict", "request ")
    assert current["previous_version"] == "v1.0"
    failed(taken, 4, "alias_conflict")
    assert fresh["version"] == "v1.0" and fresh["previous_version"] is None


@pytest.mark.usefixtures("two")
def test_alias_rm(cli, name):
    cli.ok("alias", "set", name, "production", "v1.1")
    cli.ok("alias", "set", name, "staging", "v1.0")

    conflict = cli("alias", "rm", name, "production", "--expected", "v1.0")
    removed = cli.ok("alias", "rm", name, "production", "--expected", "v1.1").stdout.strip()
    as_json = cli.json("alias", "rm", name, "staging")

    failed(conflict, 4, "alias_conflict")
    assert removed == f"Removed {name}@production (was v1.1)"
    assert as_json["previous_version"] == "v1.0" and as_json["version"] is None
    assert cli.json("versions", name)["aliases"] == {}
    failed(cli("alias", "rm", name, "production"), 3, "alias_not_found")


@pytest.mark.usefixtures("two")
def test_alias_errors(cli, name):
    failed(cli("alias", "set", name, "production", "v9.0"), 3, "version_not_found")
    failed(cli("alias", "set", name, "Not An Alias", "v1.0"), 1, "invalid_alias")
    failed(cli("alias", "set", "unknown_name_for_alias", "production", "v1.0"), 3)
