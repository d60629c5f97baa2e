"""GET, PUT and DELETE /api/v1/models/{id}, and the history of a version."""

from __future__ import annotations

from datetime import datetime

import pytest

from .helpers import (
    UNKNOWN_ID,
    assert_client_error,
    assert_error,
    blob_store_state,
    download,
    get_model,
    model_url,
    post_json_text,
    sha256_hex,
    upload,
)

MALFORMED_IDS = ["abc", "0123456789abcdef0123456z", "0123456789abcdef012345678", "0123456789abcdef0123456"]


@pytest.fixture
def model(register) -> dict:
    return register(description="first", tags=["a"], metrics={"accuracy": 0.9})["model"]


def update(client, model_id: str, headers: dict | None = None, **changes):
    return client.put(model_url(model_id), json=changes, headers=headers)


def history(client, model_id: str) -> list[dict]:
    response = client.get(model_url(model_id, "/history"))
    assert response.status_code == 200, response.text
    assert response.json()["model_id"] == model_id
    return response.json()["events"]


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


# ---- GET --------------------------------------------------------------------------------------


def test_get_returns_the_registered_model(client, model):
    assert get_model(client, model["id"]) == model


def test_an_id_in_upper_case_finds_the_same_model(client, model):
    assert get_model(client, model["id"].upper())["id"] == model["id"]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("bad_id", MALFORMED_IDS)
def test_a_malformed_id_is_400(client, method, bad_id):
    response = client.request(method, model_url(bad_id), json={"description": "x"} if method == "PUT" else None)

    body = assert_error(response, 400, "invalid_id")
    assert body["details"]["id"] == bad_id


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_an_unknown_id_is_404(client, method):
    response = client.request(method, model_url(UNKNOWN_ID), json={"description": "x"} if method == "PUT" else None)

    body = assert_error(response, 404, "model_not_found")
    assert body["details"]["model_id"] == UNKNOWN_ID


# ---- PUT --------------------------------------------------------------------------------------


def test_put_changes_the_mutable_fields_and_moves_updated_at(client, model):
    changes = {"description": "second", "tags": ["b", "c"], "status": "deprecated", "metrics": {"accuracy": 0.95}}

    response = update(client, model["id"], **changes)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["success"], body["message"], body["model_id"]) == (True, "Model updated successfully", model["id"])
    for field, value in changes.items():
        assert body["model"][field] == value, field
    assert moment(body["model"]["updated_at"]) > moment(model["updated_at"])
    assert body["model"]["created_at"] == model["created_at"]
    assert get_model(client, model["id"]) == body["model"]


def test_put_leaves_the_fields_it_does_not_name(client, model):
    body = update(client, model["id"], description="only this").json()

    assert {k: body["model"][k] for k in ("tags", "metrics", "status")} == \
        {k: model[k] for k in ("tags", "metrics", "status")}


@pytest.mark.parametrize("field", ["algorithm", "name", "version", "hyperparameters", "dataset_info",
                                   "parent_model_id", "created_by", "download_count", "file_metadata"])
def test_immutable_fields_are_422_and_nothing_changes(client, model, field):
    body = assert_error(update(client, model["id"], **{field: "changed", "description": "x"}), 422, "immutable_field")

    assert body["details"]["fields"] == [field]
    assert get_model(client, model["id"]) == model


def test_unknown_fields_are_422_and_nothing_changes(client, model):
    body = assert_error(update(client, model["id"], colour="blue", description="x"), 422, "unknown_field")

    assert body["details"]["fields"] == ["colour"]
    assert sorted(body["details"]["mutable"]) == ["description", "metrics", "status", "tags"]
    assert get_model(client, model["id"]) == model


def test_an_empty_update_is_422(client, model):
    assert_error(update(client, model["id"]), 422, "empty_update")


@pytest.mark.parametrize(
    ("status", "code"),
    [("retired", "invalid_status"), ("ACTIVE", "invalid_status"), ("", "invalid_status"),
     (None, "invalid_status"), (1, "validation_error")],
)
def test_a_bad_status_is_422(client, model, status, code):
    assert_error(update(client, model["id"], status=status), 422, code)
    assert get_model(client, model["id"])["status"] == "active"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"tags": "a,b"}, "validation_error"),
        ({"tags": ["has space"]}, "invalid_tags"),
        ({"metrics": {"accuracy": "high"}}, "invalid_metrics"),
        ({"metrics": {"accuracy": True}}, "invalid_metrics"),
        ({"metrics": [0.9]}, "validation_error"),
        ({"description": 5}, "validation_error"),
        ({"description": None}, "invalid_description"),
    ],
)
def test_bad_values_are_422_and_nothing_changes(client, model, changes, code):
    assert_error(update(client, model["id"], **changes), 422, code)
    assert get_model(client, model["id"]) == model


def test_malformed_json_is_400(client, model):
    assert_error(post_json_text(client, model_url(model["id"]), "{oops", method="PUT"), 400, "invalid_json")


def test_a_body_that_is_not_an_object_is_422(client, model):
    assert_error(post_json_text(client, model_url(model["id"]), "[1]", method="PUT"), 422, "validation_error")


def test_deeply_nested_json_is_400(client, model):
    text = "[" * 100_000 + "]" * 100_000
    response = post_json_text(client, model_url(model["id"]), text, method="PUT")

    assert response.status_code == 400, response.text
    assert_client_error(response)


def test_an_unsupported_content_type_is_415(client, model):
    response = client.put(model_url(model["id"]), content=b"description=x", headers={"content-type": "text/plain"})

    assert_error(response, 415, "unsupported_media_type")


def test_a_body_over_max_request_size_is_413_in_the_error_shape(make_client):
    client = make_client(max_request_size=1024)
    model_id = client.post("/api/v1/models", json={"name": "m", "algorithm": "svm"}).json()["model_id"]

    response = update(client, model_id, description="x" * 2000)

    assert_error(response, 413, "request_too_large")


# ---- history ----------------------------------------------------------------------------------


def test_status_changes_are_recorded_with_actor_and_time(client, model):
    update(client, model["id"], headers={"X-Actor": "alice"}, status="deprecated")
    update(client, model["id"], headers={"X-Actor": "bob"}, status="archived")

    events = history(client, model["id"])

    assert [e["kind"] for e in events] == ["created", "status", "status"]
    created, deprecated, archived = events
    assert (created["actor"], created["data"]["version"]) == ("anonymous", "v1.0")
    assert (deprecated["actor"], deprecated["data"]) == ("alice", {"from": "active", "to": "deprecated"})
    assert (archived["actor"], archived["data"]) == ("bob", {"from": "deprecated", "to": "archived"})
    assert moment(created["at"]) <= moment(deprecated["at"]) <= moment(archived["at"])
    assert moment(archived["at"]) == moment(get_model(client, model["id"])["updated_at"])


def test_setting_the_same_status_records_no_change(client, model):
    update(client, model["id"], status="active")

    assert [e["kind"] for e in history(client, model["id"])] == ["created"]


def test_uploads_and_field_updates_appear_in_the_history(client, model):
    upload(client, model["id"], b"weights", headers={"X-Actor": "carol"})
    update(client, model["id"], headers={"X-Actor": "dave"}, description="new", status="deprecated")

    events = history(client, model["id"])

    assert [e["kind"] for e in events] == ["created", "uploaded", "status", "updated"]
    assert events[1]["actor"] == "carol"
    assert events[1]["data"]["size_bytes"] == 7
    assert events[3]["actor"] == "dave"
    assert events[3]["data"] == {"fields": ["description"]}


def test_history_of_a_malformed_or_unknown_id(client):
    assert_error(client.get(model_url("nope", "/history")), 400, "invalid_id")
    assert_error(client.get(model_url(UNKNOWN_ID, "/history")), 404, "model_not_found")


# ---- DELETE -----------------------------------------------------------------------------------


def test_delete_answers_the_seed_shape_and_the_model_is_gone(client, model):
    response = client.delete(model_url(model["id"]))

    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "message": "Model deleted successfully", "deleted_id": model["id"]}
    assert_error(client.get(model_url(model["id"])), 404, "model_not_found")
    assert_error(client.delete(model_url(model["id"])), 404, "model_not_found")
    assert_error(client.get(model_url(model["id"], "/info")), 404, "model_not_found")


def test_deleting_one_version_keeps_the_others(client, register, model):
    other = register()

    client.delete(model_url(model["id"]))

    assert get_model(client, other["model_id"])["version"] == "v1.1"


def test_a_shared_file_is_removed_from_disk_with_its_last_reference(client, register, data_dir):
    first, second = register()["model_id"], register()["model_id"]
    for model_id in (first, second):
        assert upload(client, model_id, b"identical weights").status_code == 201
    blob = sha256_hex(b"identical weights")
    assert blob_store_state(data_dir) == ([blob], [])

    client.delete(model_url(first))

    assert download(client, second).content == b"identical weights"
    assert blob_store_state(data_dir) == ([blob], [])

    client.delete(model_url(second))

    assert blob_store_state(data_dir) == ([], [])


def test_deleting_a_version_keeps_other_content(client, register, data_dir):
    first, second = register()["model_id"], register()["model_id"]
    upload(client, first, b"first weights")
    upload(client, second, b"second weights")

    client.delete(model_url(first))

    assert blob_store_state(data_dir) == ([sha256_hex(b"second weights")], [])
    assert download(client, second).content == b"second weights"
