"""GET /api/v1/models/by-name/{name}/history: the append-only record of a name's alias moves, status
changes and other events, who made them (X-Actor) and when; filtered by kind, alias and time."""

from __future__ import annotations

import pytest

from .discovery_helpers import by_name, history, ok, put_alias, register_versions, set_status
from .helpers import assert_client_error, assert_error, error_fields, model_url, register_model, upload


def events_of(client, **params) -> list[tuple]:
    """(kind, actor, model_id, data) of each event of ``fraud``, oldest first."""
    return [(e["kind"], e["actor"], e["model_id"], e["data"]) for e in history(client, "fraud", **params)]


def alias_data(alias: str, before: tuple[str, str] | None, after: tuple[str, str] | None) -> dict:
    """The data of an alias event; ``before``/``after`` are (version, model_id) or None."""
    return {"alias": alias, "from_version": before and before[0], "to_version": after and after[0],
            "from_model_id": before and before[1], "to_model_id": after and after[1]}


@pytest.fixture
def story(client) -> dict:
    """What happens to ``fraud``, one actor per step; returns the ids and the expected events."""
    v10 = register_versions(client, "fraud", 1, actor="alice")[0]
    v11 = register_versions(client, "fraud", 1, actor="bob")[0]
    register_model(client, name="churn")  # another name: never in fraud's history
    set_status(client, v10, "deprecated", actor="carol")
    ok(put_alias(client, "fraud", "production", actor="dave", version="v1.1"))
    ok(put_alias(client, "fraud", "staging", actor="erin", version="v1.0"))
    set_status(client, v10, "archived", actor="frank")
    ok(put_alias(client, "fraud", "production", actor="gina", version="v1.0", expected_version="v1.1"))
    expected = [
        ("created", "alice", v10, {"version": "v1.0", "parent_model_id": None}),
        ("created", "bob", v11, {"version": "v1.1", "parent_model_id": v10}),
        ("status", "carol", v10, {"from": "active", "to": "deprecated"}),
        ("alias", "dave", v11, alias_data("production", None, ("v1.1", v11))),
        ("alias", "erin", v10, alias_data("staging", None, ("v1.0", v10))),
        ("status", "frank", v10, {"from": "deprecated", "to": "archived"}),
        ("alias", "gina", v10, alias_data("production", ("v1.1", v11), ("v1.0", v10))),
    ]
    return {"v10": v10, "v11": v11, "expected": expected}


def test_the_history_records_every_alias_move_and_status_change_with_its_actor(client, story):
    assert events_of(client) == story["expected"]


@pytest.mark.usefixtures("story")
def test_events_are_in_time_order(client):
    times = [e["at"] for e in history(client, "fraud")]

    assert times == sorted(times)


@pytest.mark.parametrize(("kind", "indexes"), [
    ("status", [2, 5]),
    ("alias", [3, 4, 6]),
    ("created", [0, 1]),
    ("status,alias", [2, 3, 4, 5, 6]),
    (" alias , created ", [0, 1, 3, 4, 6]),
    ("deleted", []),
])
def test_kind_filters_the_events(client, story, kind, indexes):
    assert events_of(client, kind=kind) == [story["expected"][i] for i in indexes]


@pytest.mark.usefixtures("story")
@pytest.mark.parametrize("kind", ["bogus", "status,bogus", "Status"])
def test_an_invalid_kind_is_422(client, kind):
    body = assert_error(client.get(by_name("fraud", "/history"), params={"kind": kind}), 422, "invalid_kind")

    assert body["details"]["kinds"] == [k for k in kind.split(",") if k in ("bogus", "Status")]


@pytest.mark.parametrize(("alias", "indexes"), [("production", [3, 6]), ("staging", [4]), ("champion", [])])
def test_alias_keeps_only_that_alias_moves(client, story, alias, indexes):
    assert events_of(client, alias=alias) == [story["expected"][i] for i in indexes]


@pytest.mark.usefixtures("story")
def test_an_invalid_alias_filter_is_422(client):
    assert_error(client.get(by_name("fraud", "/history"), params={"alias": "Prod"}), 422, "invalid_alias")


def test_since_and_until_are_inclusive_bounds(client, story):
    at = [e["at"] for e in history(client, "fraud")]
    expected = story["expected"]

    assert events_of(client, since=at[2]) == expected[2:]
    assert events_of(client, until=at[2]) == expected[:3]
    assert events_of(client, since=at[2], until=at[4]) == expected[2:5]
    assert events_of(client, since=at[3], until=at[3]) == [expected[3]]
    assert events_of(client, since=at[3], kind="status") == [expected[5]]
    assert events_of(client, since=at[1], until=at[5], alias="production") == [expected[3]]


@pytest.mark.usefixtures("story")
@pytest.mark.parametrize("param", ["since", "until"])
def test_a_bad_time_is_422(client, param):
    body = assert_error(client.get(by_name("fraud", "/history"), params={param: "soon"}), 422, "validation_error")

    assert error_fields(body) == [f"query.{param}"]


@pytest.mark.usefixtures("story")
@pytest.mark.parametrize(("param", "when"), [("since", "0001-01-01T00:00:00+01:00"),
                                             ("until", "9999-12-31T23:59:59-12:00")])
def test_a_time_beyond_the_calendar_in_utc_is_a_client_error(client, param, when):
    assert_client_error(client.get(by_name("fraud", "/history"), params={param: when}))


def test_without_x_actor_the_actor_is_anonymous(client, story):
    set_status(client, story["v11"], "deprecated")

    assert events_of(client, kind="status")[-1][:2] == ("status", "anonymous")


def test_updates_uploads_and_deletions_are_recorded_and_outlive_the_version(client, story):
    v11 = story["v11"]
    story_end = history(client, "fraud")[-1]["at"]
    ok(client.put(model_url(v11), json={"description": "retrained"}, headers={"X-Actor": "hal"}))
    assert upload(client, v11, b"weights", headers={"X-Actor": "ivy"}).status_code == 201
    ok(client.delete(model_url(v11), headers={"X-Actor": "joe"}))

    events = events_of(client, since=story_end)

    assert [(kind, actor, model_id) for kind, actor, model_id, _ in events] == [
        ("alias", "gina", story["v10"]),  # the last event of the story (since is inclusive)
        ("updated", "hal", v11),
        ("uploaded", "ivy", v11),
        ("deleted", "joe", v11),
    ]
    assert events[1][3] == {"fields": ["description"]}
    assert events[3][3]["version"] == "v1.1"


def test_the_history_of_a_name_whose_versions_are_all_deleted_remains(client, story):
    for model_id in (story["v10"], story["v11"]):
        ok(client.delete(model_url(model_id)))

    kinds = [kind for kind, *_ in events_of(client)]

    assert kinds[:len(story["expected"])] == [kind for kind, *_ in story["expected"]]
    assert kinds.count("deleted") == 2
    assert_error(client.get(by_name("fraud")), 404, "name_not_found")


@pytest.mark.usefixtures("story")
def test_the_history_of_an_unknown_name_is_404(client):
    assert_error(client.get(by_name("fraudulent", "/history")), 404, "name_not_found")


def test_the_history_of_an_invalid_name_is_422(client):
    assert_error(client.get(by_name("bad name", "/history")), 422, "invalid_name")
