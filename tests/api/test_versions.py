"""POST /api/v1/models/{id}/versions: a new version derived from a base (the seed's create_model_version)."""

from __future__ import annotations

import pytest

from .helpers import (
    UNKNOWN_ID,
    assert_error,
    blob_store_state,
    checksum,
    download,
    get_model,
    model_url,
    payload,
    post_form,
    post_json_text,
    sha256_hex,
    total_models,
)

BASE = {
    "name": "churn",
    "algorithm": "lightgbm",
    "hyperparameters": {"num_leaves": 31},
    "metrics": {"accuracy": 0.9, "auc": 0.93},
    "dataset_info": {"rows": 5000},
    "tags": ["churn", "q3"],
    "description": "base model",
    "format": "lightgbm",
}


@pytest.fixture
def base(register) -> dict:
    return register(**BASE)["model"]


def new_version(client, model_id: str, **overrides):
    return client.post(model_url(model_id, "/versions"), json=overrides)


def test_a_new_version_inherits_the_base_and_applies_overrides(client, base):
    response = new_version(client, base["id"], metrics={"accuracy": 0.95}, description="retrained")

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["success"] is True
    assert response.headers["location"] == model_url(body["model_id"])
    assert (body["name"], body["version"], body["parent_model_id"]) == ("churn", "v1.1", base["id"])
    model = body["model"]
    for field in ("algorithm", "hyperparameters", "dataset_info", "tags", "format"):
        assert model[field] == base[field], field
    assert model["metrics"] == {"accuracy": 0.95}
    assert model["description"] == "retrained"
    assert model["id"] != base["id"]
    assert get_model(client, body["model_id"]) == model
    assert get_model(client, base["id"]) == base


def test_an_empty_override_copies_the_base(client, base):
    body = new_version(client, base["id"]).json()

    assert body["version"] == "v1.1"
    assert {k: body["model"][k] for k in BASE} == {k: base[k] for k in BASE}


def test_the_file_is_not_inherited(client, register):
    base_id = register(name="with_file", algorithm="svm")["model_id"]
    client.post(model_url(base_id, "/upload"), content=b"weights", params={"filename": "m.pkl"})

    model = new_version(client, base_id).json()["model"]

    assert model["file_metadata"] is None
    assert_error(download(client, model["id"]), 404, "file_not_found")


def test_deriving_from_an_older_version_still_follows_the_latest(client, base):
    newer = new_version(client, base["id"]).json()

    from_old = new_version(client, base["id"], description="branch").json()

    assert newer["version"] == "v1.1"
    assert (from_old["version"], from_old["parent_model_id"]) == ("v1.2", base["id"])


def test_breaking_changes_start_the_next_major(client, base):
    new_version(client, base["id"])

    body = new_version(client, base["id"], breaking_changes=True, algorithm="xgboost").json()

    assert (body["version"], body["model"]["algorithm"]) == ("v2.0", "xgboost")


def test_a_registration_after_a_derived_version_continues_the_sequence(client, base, register):
    new_version(client, base["id"])

    assert register(**BASE)["version"] == "v1.2"


def test_repeating_the_base_name_is_allowed(client, base):
    assert new_version(client, base["id"], name="churn").status_code == 201


def test_a_different_name_is_422_and_nothing_is_created(client, base):
    body = assert_error(new_version(client, base["id"], name="other"), 422, "invalid_name")

    assert body["details"]["base_name"] == "churn"
    assert total_models(client) == 1


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"version": "v9.0"}, "validation_error"),
        ({"parent_model_id": UNKNOWN_ID}, "validation_error"),
        ({"metrics": {"accuracy": "best"}}, "invalid_metrics"),
        ({"status": "gone"}, "invalid_status"),
        ({"tags": "a,b"}, "validation_error"),
        ({"algorithm": 3}, "validation_error"),
    ],
)
def test_invalid_overrides_are_422_and_nothing_is_created(client, base, overrides, code):
    assert_error(new_version(client, base["id"], **overrides), 422, code)
    assert total_models(client) == 1


def test_an_unknown_base_is_404(client):
    assert_error(new_version(client, UNKNOWN_ID), 404, "model_not_found")


@pytest.mark.parametrize("bad_id", ["abc", "0123456789abcdef0123456z", "0123456789abcdef012345678"])
def test_a_malformed_base_id_is_400(client, bad_id):
    assert_error(new_version(client, bad_id), 400, "invalid_id")


def test_malformed_json_is_400(client, base):
    assert_error(post_json_text(client, model_url(base["id"], "/versions"), "{oops"), 400, "invalid_json")


def test_an_unsupported_content_type_is_415(client, base):
    response = client.post(model_url(base["id"], "/versions"), content=b"x", headers={"content-type": "text/csv"})

    assert_error(response, 415, "unsupported_media_type")


def test_multipart_with_a_file_creates_the_version_with_its_file(client, base, data_dir):
    data = payload(3000)

    response = post_form(client, model_url(base["id"], "/versions"), {"description": "with file"}, data,
                         filename="model.txt")

    assert response.status_code == 201, response.text
    model = response.json()["model"]
    assert model["parent_model_id"] == base["id"]
    assert model["file_metadata"]["checksum"] == checksum(data)
    assert model["file_metadata"]["format"] == "lightgbm"  # the inherited declared format
    assert download(client, model["id"]).content == data
    assert blob_store_state(data_dir) == ([sha256_hex(data)], [])


@pytest.mark.parametrize(
    ("metadata", "code"),
    [({"name": "other"}, "invalid_name"), ({"status": "gone"}, "invalid_status"),
     ({"metrics": {"auc": "high"}}, "invalid_metrics"), ({"surprise": 1}, "validation_error")],
)
@pytest.mark.parametrize("file_first", [False, True], ids=["metadata-first", "file-first"])
def test_multipart_with_invalid_metadata_keeps_nothing(client, base, data_dir, metadata, code, file_first):
    response = post_form(client, model_url(base["id"], "/versions"), metadata, payload(1000), file_first=file_first)

    assert_error(response, 422, code)
    assert total_models(client) == 1
    assert blob_store_state(data_dir) == ([], [])


def test_multipart_without_metadata_is_422(client, base, data_dir):
    response = post_form(client, model_url(base["id"], "/versions"), None, payload(10))

    assert_error(response, 422, "missing_metadata")
    assert blob_store_state(data_dir) == ([], [])
