"""Aliases: PUT/DELETE /api/v1/models/by-name/{name}/aliases/{alias} (compare-and-swap with
expected_version), GET …/aliases and GET …/aliases/{alias} now and at a past time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from .discovery_helpers import (
    alias_moves,
    alias_version,
    aliases_map,
    between,
    by_name,
    delete_alias,
    history,
    ok,
    parse_time,
    put_alias,
    register_versions,
)
from .helpers import (
    UNKNOWN_ID,
    assert_client_error,
    assert_error,
    error_fields,
    model_url,
    post_json_text,
    register_model,
)


@pytest.fixture
def fraud(client) -> list[str]:
    """``fraud`` v1.0, v1.1, v1.2: their ids."""
    return register_versions(client, "fraud", 3)


def move_body(version: str | None, model_id: str | None, previous: str | None, previous_id: str | None,
              alias: str = "production") -> dict:
    return {"success": True, "name": "fraud", "alias": alias, "version": version, "model_id": model_id,
            "previous_version": previous, "previous_model_id": previous_id}


def assert_unchanged(client, expected_aliases: dict[str, str], expected_moves: list) -> None:
    """Where the aliases point, and the alias moves recorded, are exactly as before."""
    assert aliases_map(client, "fraud") == expected_aliases
    assert alias_moves(client, "fraud") == expected_moves


# ---- setting and moving --------------------------------------------------------------------------------

def test_set_an_alias_by_version(client, fraud):
    response = put_alias(client, "fraud", "production", actor="alice", version="v1.0")

    assert ok(response) == move_body("v1.0", fraud[0], None, None)
    listed = ok(client.get(by_name("fraud", "/aliases")))["aliases"]
    assert [{k: v for k, v in a.items() if k != "updated_at"} for a in listed] == [
        {"alias": "production", "version": "v1.0", "model_id": fraud[0], "updated_by": "alice"}]
    now = ok(alias_version(client, "fraud", "production"))
    assert (now["name"], now["alias"], now["version"], now["model_id"], now["moved_by"]) == (
        "fraud", "production", "v1.0", fraud[0], "alice")
    assert parse_time(now["since"]) == parse_time(listed[0]["updated_at"])


def test_move_an_alias_by_model_id_and_by_bare_version(client, fraud):
    ok(put_alias(client, "fraud", "production", version="v1.0"))

    by_id = ok(put_alias(client, "fraud", "production", model_id=fraud[1]))
    bare = ok(put_alias(client, "fraud", "production", version="1.2"))

    assert by_id == move_body("v1.1", fraud[1], "v1.0", fraud[0])
    assert bare == move_body("v1.2", fraud[2], "v1.1", fraud[1])
    assert aliases_map(client, "fraud") == {"production": "v1.2"}
    assert alias_moves(client, "fraud") == [(None, "v1.0"), ("v1.0", "v1.1"), ("v1.1", "v1.2")]


@pytest.mark.usefixtures("fraud")
def test_aliases_of_a_name_are_independent_and_listed_by_name(client):
    ok(put_alias(client, "fraud", "staging", version="v1.2"))
    ok(put_alias(client, "fraud", "production", version="v1.0"))
    ok(put_alias(client, "fraud", "champion", version="v1.0"))

    listed = ok(client.get(by_name("fraud", "/aliases")))["aliases"]

    assert [(a["alias"], a["version"]) for a in listed] == [
        ("champion", "v1.0"), ("production", "v1.0"), ("staging", "v1.2")]


def test_setting_an_alias_where_it_already_points_records_nothing(client, fraud):
    ok(put_alias(client, "fraud", "production", version="v1.0"))

    again = ok(put_alias(client, "fraud", "production", version="v1.0"))

    assert again == move_body("v1.0", fraud[0], "v1.0", fraud[0])
    assert alias_moves(client, "fraud") == [(None, "v1.0")]


# ---- compare-and-swap ------------------------------------------------------------------------------------

def test_a_move_with_the_right_expected_version_succeeds(client, fraud):
    ok(put_alias(client, "fraud", "production", version="v1.0"))

    moved = ok(put_alias(client, "fraud", "production", version="v1.1", expected_version="v1.0"))

    assert moved == move_body("v1.1", fraud[1], "v1.0", fraud[0])
    assert_unchanged(client, {"production": "v1.1"}, [(None, "v1.0"), ("v1.0", "v1.1")])


@pytest.mark.usefixtures("fraud")
def test_a_move_with_the_wrong_expected_version_is_409_and_changes_nothing(client):
    ok(put_alias(client, "fraud", "production", version="v1.0"))

    response = put_alias(client, "fraud", "production", version="v1.2", expected_version="v1.1")

    body = assert_error(response, 409, "alias_conflict")
    assert body["details"]["current_version"] == "v1.0"
    assert body["details"]["expected_version"] == "v1.1"
    assert_unchanged(client, {"production": "v1.0"}, [(None, "v1.0")])


def test_expected_version_null_means_must_not_be_set(client, fraud):
    created = ok(put_alias(client, "fraud", "production", version="v1.0", expected_version=None))
    response = put_alias(client, "fraud", "production", version="v1.1", expected_version=None)

    assert created == move_body("v1.0", fraud[0], None, None)
    body = assert_error(response, 409, "alias_conflict")
    assert body["details"]["current_version"] == "v1.0"
    assert body["details"]["expected_version"] is None
    assert_unchanged(client, {"production": "v1.0"}, [(None, "v1.0")])


@pytest.mark.usefixtures("fraud")
def test_expecting_a_version_of_an_unset_alias_is_409(client):
    body = assert_error(put_alias(client, "fraud", "production", version="v1.0", expected_version="v1.0"),
                        409, "alias_conflict")

    assert body["details"]["current_version"] is None
    assert_unchanged(client, {}, [])


@pytest.mark.usefixtures("fraud")
def test_expected_version_without_a_v_is_the_same_version(client):
    ok(put_alias(client, "fraud", "production", version="v1.0"))

    assert ok(put_alias(client, "fraud", "production", version="v1.1", expected_version="1.0"))["version"] == "v1.1"


@pytest.mark.usefixtures("fraud")
def test_a_malformed_expected_version_is_422(client):
    ok(put_alias(client, "fraud", "production", version="v1.0"))

    assert_error(put_alias(client, "fraud", "production", version="v1.1", expected_version="newest"),
                 422, "invalid_version")
    assert_unchanged(client, {"production": "v1.0"}, [(None, "v1.0")])


# ---- bad requests ----------------------------------------------------------------------------------------

@pytest.mark.usefixtures("fraud")
@pytest.mark.parametrize("body", [{}, {"expected_version": "v1.0"}, {"version": None, "model_id": None}])
def test_neither_version_nor_model_id_is_422(client, body):
    assert_error(client.put(by_name("fraud", "/aliases/production"), json=body), 422, "invalid_alias_target")
    assert_unchanged(client, {}, [])


def test_both_version_and_model_id_is_422(client, fraud):
    response = put_alias(client, "fraud", "production", version="v1.0", model_id=fraud[0])

    assert_error(response, 422, "invalid_alias_target")
    assert_unchanged(client, {}, [])


@pytest.mark.usefixtures("fraud")
def test_a_model_id_of_another_name_is_422(client):
    other = register_model(client, name="churn")["model_id"]

    body = assert_error(put_alias(client, "fraud", "production", model_id=other), 422, "invalid_alias_target")

    assert body["details"]["name"] == "churn"
    assert_unchanged(client, {}, [])
    assert aliases_map(client, "churn") == {}


@pytest.mark.usefixtures("fraud")
@pytest.mark.parametrize(("target", "status", "code"), [
    ({"version": "v9.9"}, 404, "version_not_found"),
    ({"model_id": UNKNOWN_ID}, 404, "model_not_found"),
    ({"model_id": "xyz"}, 400, "invalid_id"),
])
def test_a_target_that_does_not_exist_is_an_error(client, target, status, code):
    assert_error(put_alias(client, "fraud", "production", **target), status, code)
    assert_unchanged(client, {}, [])


def test_version_must_be_a_version_and_model_id_an_id(client, fraud):
    """Each field means what it says: no guessing from the text which one the client meant."""
    assert_error(put_alias(client, "fraud", "production", version="production"), 422, "invalid_version")
    assert_error(put_alias(client, "fraud", "production", version=fraud[1]), 422, "invalid_version")
    assert_error(put_alias(client, "fraud", "production", model_id="v1.0"), 400, "invalid_id")
    assert_unchanged(client, {}, [])


@pytest.mark.usefixtures("fraud")
def test_an_alias_of_an_unknown_name_is_404(client):
    assert put_alias(client, "nobody", "production", version="v1.0").status_code == 404


@pytest.mark.usefixtures("fraud")
@pytest.mark.parametrize("alias", ["Prod", "latest", "a.b", "1st", "-x", "has space", "a" * 65, "v1.0"])
def test_an_invalid_alias_name_is_422(client, alias):
    assert_error(put_alias(client, "fraud", alias, version="v1.0"), 422, "invalid_alias")
    assert_error(alias_version(client, "fraud", alias), 422, "invalid_alias")
    assert_unchanged(client, {}, [])


@pytest.mark.usefixtures("fraud")
@pytest.mark.parametrize(("body", "status", "code"), [
    ('{"version": 1.0}', 422, "validation_error"),  # not a string
    ('{"version": "v1.0", "force": true}', 422, "validation_error"),  # unknown field
    ('{"version": "v1.0"', 400, "invalid_json"),
    ('["v1.0"]', 422, "validation_error"),
])
def test_a_bad_body_is_rejected(client, body, status, code):
    assert_error(post_json_text(client, by_name("fraud", "/aliases/production"), body, method="PUT"), status, code)
    assert_unchanged(client, {}, [])


@pytest.mark.usefixtures("fraud")
def test_a_body_that_is_not_json_is_415(client):
    response = client.put(by_name("fraud", "/aliases/production"), content=b"version=v1.0",
                          headers={"content-type": "application/x-www-form-urlencoded"})

    assert_error(response, 415, "unsupported_media_type")


# ---- removing ----------------------------------------------------------------------------------------------

def test_delete_an_alias(client, fraud):
    ok(put_alias(client, "fraud", "production", version="v1.1"))
    ok(put_alias(client, "fraud", "staging", version="v1.0"))

    removed = ok(delete_alias(client, "fraud", "production", actor="zoe"))

    assert removed == move_body(None, None, "v1.1", fraud[1])
    assert aliases_map(client, "fraud") == {"staging": "v1.0"}
    assert_error(alias_version(client, "fraud", "production"), 404, "alias_not_found")
    assert_error(client.get(by_name("fraud", "/versions/production")), 404, "alias_not_found")
    assert alias_moves(client, "fraud", "production") == [(None, "v1.1"), ("v1.1", None)]
    assert history(client, "fraud", kind="alias")[-1]["actor"] == "zoe"


@pytest.mark.usefixtures("fraud")
def test_deleting_an_alias_that_is_not_set_is_404(client):
    assert_error(delete_alias(client, "fraud", "production"), 404, "alias_not_found")
    assert_unchanged(client, {}, [])


def test_delete_with_expected_version(client, fraud):
    ok(put_alias(client, "fraud", "production", version="v1.1"))

    wrong = delete_alias(client, "fraud", "production", expected_version="v1.0")
    body = assert_error(wrong, 409, "alias_conflict")
    assert body["details"]["current_version"] == "v1.1"
    assert_unchanged(client, {"production": "v1.1"}, [(None, "v1.1")])

    right = ok(delete_alias(client, "fraud", "production", expected_version="v1.1"))
    assert right == move_body(None, None, "v1.1", fraud[1])
    assert_unchanged(client, {}, [(None, "v1.1"), ("v1.1", None)])


def test_deleting_a_version_removes_the_aliases_pointing_at_it(client, fraud):
    ok(put_alias(client, "fraud", "production", version="v1.1"))
    ok(put_alias(client, "fraud", "champion", version="v1.1"))
    ok(put_alias(client, "fraud", "staging", version="v1.0"))

    ok(client.delete(model_url(fraud[1]), headers={"X-Actor": "dave"}))

    assert aliases_map(client, "fraud") == {"staging": "v1.0"}
    assert ok(client.get(by_name("fraud")))["aliases"] == {"staging": "v1.0"}
    removals = [e for e in history(client, "fraud", kind="alias") if e["data"]["to_version"] is None]
    assert sorted((e["data"]["alias"], e["data"]["from_version"], e["actor"]) for e in removals) == [
        ("champion", "v1.1", "dave"), ("production", "v1.1", "dave")]
    assert_error(client.get(by_name("fraud", "/versions/production")), 404, "alias_not_found")


# ---- where an alias pointed, now and in the past ---------------------------------------------------------------

@pytest.fixture
def moved(client, fraud) -> list[dict]:  # noqa: ARG001 - fraud: the versions the alias moves between
    """production: set to v1.0 (alice), v1.1 (bob), v1.2 (carol), then removed (dave); staging is set
    to v1.2 in between. Returns production's four moves from the history."""
    ok(put_alias(client, "fraud", "production", actor="alice", version="v1.0"))
    ok(put_alias(client, "fraud", "staging", actor="erin", version="v1.2"))
    ok(put_alias(client, "fraud", "production", actor="bob", version="v1.1"))
    ok(put_alias(client, "fraud", "production", actor="carol", version="v1.2"))
    assert ok(alias_version(client, "fraud", "production"))["version"] == "v1.2"  # now
    ok(delete_alias(client, "fraud", "production", actor="dave"))
    events = history(client, "fraud", kind="alias", alias="production")
    assert [(e["actor"], e["data"]["to_version"]) for e in events] == [
        ("alice", "v1.0"), ("bob", "v1.1"), ("carol", "v1.2"), ("dave", None)]
    return events


def at_time(client, when: str) -> dict:
    body = ok(alias_version(client, "fraud", "production", at=when))
    assert parse_time(body["at"]) == parse_time(when)
    return body


def test_an_alias_at_the_time_of_each_move_and_between_moves(client, fraud, moved):
    t = [e["at"] for e in moved]

    for index, (version, actor) in enumerate([("v1.0", "alice"), ("v1.1", "bob"), ("v1.2", "carol")]):
        for when in (t[index], between(t[index], t[index + 1])):
            body = at_time(client, when)
            assert (body["version"], body["model_id"], body["moved_by"]) == (version, fraud[index], actor), when
            assert parse_time(body["since"]) == parse_time(t[index])


def test_an_alias_before_it_was_set_or_after_it_was_removed_is_404(client, moved):
    before = (parse_time(moved[0]["at"]) - timedelta(seconds=1)).isoformat()
    after = (parse_time(moved[-1]["at"]) + timedelta(seconds=1)).isoformat()

    for when in (before, moved[-1]["at"], after):
        assert_error(alias_version(client, "fraud", "production", at=when), 404, "alias_not_found")
    assert_error(alias_version(client, "fraud", "production"), 404, "alias_not_found")


def test_other_aliases_do_not_answer_for_this_one(client, moved):
    staging_set = history(client, "fraud", alias="staging")[0]["at"]

    assert at_time(client, staging_set)["version"] == "v1.0"
    assert ok(alias_version(client, "fraud", "staging", at=moved[-1]["at"]))["version"] == "v1.2"


@pytest.mark.usefixtures("moved")
def test_a_bad_time_is_422(client):
    body = assert_error(alias_version(client, "fraud", "production", at="last tuesday"), 422, "validation_error")

    assert error_fields(body) == ["query.at"]


@pytest.mark.usefixtures("moved")
def test_a_time_beyond_the_calendar_in_utc_is_a_client_error(client):
    assert_client_error(alias_version(client, "fraud", "production", at="9999-12-31T23:59:59-12:00"))
