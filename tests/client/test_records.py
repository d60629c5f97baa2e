"""Registering, reading, changing and deleting versions, through the SDK against the real app."""

from __future__ import annotations

import re

import pytest

from model_service.client import Conflict, ModelRef, NotFound, Unprocessable

HEX24 = re.compile(r"[0-9a-f]{24}")


def test_register_model_returns_the_new_versions_id(sdk):
    model_id = sdk.register_model({"name": "fraud_model", "algorithm": "xgboost", "metrics": {"accuracy": 0.95}})

    assert HEX24.fullmatch(model_id)
    record = sdk.get_model(model_id)
    assert (record["name"], record["version"], record["metrics"]) == ("fraud_model", "v1.0", {"accuracy": 0.95})


def test_registering_a_name_again_makes_its_next_version(sdk):
    first = sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})
    second = sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})

    record = sdk.get_model(second)
    assert record["version"] == "v1.1"
    assert record["parent_model_id"] == first


@pytest.mark.parametrize("ref, version", [
    ("fraud_model", "v1.1"), ("fraud_model/latest", "v1.1"), ("fraud_model/v1.0", "v1.0"), ("fraud_model/1.0", "v1.0"),
    (ModelRef(name="fraud_model", version="v1.0"), "v1.0"),
])
def test_get_model_by_name_and_version(sdk, ref, version):
    sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})
    sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})

    assert sdk.get_model(ref)["version"] == version


def test_get_model_by_alias(sdk):
    first = sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})
    sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})
    sdk.set_alias("fraud_model", "production", "v1.0")

    assert sdk.get_model("fraud_model@production")["id"] == first


def test_update_model_changes_mutable_fields_and_returns_the_record(sdk):
    model_id = sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})

    record = sdk.update_model(model_id, description="weekly retrain", tags=["fraud", "eu"])

    assert record["id"] == model_id
    assert (record["description"], record["tags"]) == ("weekly retrain", ["fraud", "eu"])
    assert sdk.get_model(model_id)["tags"] == ["fraud", "eu"]


def test_update_model_by_reference(sdk):
    sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})

    assert sdk.update_model("fraud_model/v1.0", metrics={"f1": 0.5})["metrics"] == {"f1": 0.5}


def test_update_of_an_immutable_field_is_refused(sdk):
    model_id = sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})

    with pytest.raises(Unprocessable) as caught:
        sdk.update_model(model_id, algorithm="lightgbm")
    assert caught.value.code == "immutable_field"


def test_set_status_is_recorded_in_the_history(make_sdk):
    sdk, _ = make_sdk(headers={"X-Actor": "jane"})
    model_id = sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})

    assert sdk.set_status(model_id, "deprecated")["status"] == "deprecated"

    events = sdk.history(model_id)
    status = [e for e in events if e["kind"] == "status"]
    assert status and status[-1]["actor"] == "jane"
    assert status[-1]["data"]["to"] == "deprecated"


def test_history_of_a_name_covers_its_versions_and_aliases(sdk):
    sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})
    sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})
    sdk.set_alias("fraud_model", "production", "v1.1")

    kinds = [event["kind"] for event in sdk.history("fraud_model")]

    assert kinds.count("created") == 2
    assert "alias" in kinds
    assert next(e["kind"] for e in sdk.history("fraud_model@production")) == "created"


def test_delete_model(sdk):
    model_id = sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})

    assert sdk.delete_model(model_id)["deleted_id"] == model_id
    with pytest.raises(NotFound) as caught:
        sdk.get_model(model_id)
    assert caught.value.code == "model_not_found"


def test_create_version_derives_from_the_base(sdk):
    base = sdk.register_model({"name": "fraud_model", "algorithm": "xgboost", "tags": ["fraud"],
                               "hyperparameters": {"max_depth": 6}})

    record = sdk.create_version(base, metrics={"accuracy": 0.97}, breaking_changes=True)

    assert (record["version"], record["parent_model_id"]) == ("v2.0", base)
    assert record["hyperparameters"] == {"max_depth": 6} and record["tags"] == ["fraud"]
    assert record["metrics"] == {"accuracy": 0.97}


def test_versions_lists_every_version_and_the_aliases(sdk):
    for _ in range(3):
        sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})
    sdk.set_alias("fraud_model", "staging", "v1.2")

    found = sdk.versions("fraud_model")

    assert [v["version"] for v in found["versions"]] == ["v1.2", "v1.1", "v1.0"]
    assert found["aliases"] == {"staging": "v1.2"}


def test_versions_walk_every_page(make_sdk):
    sdk, wire = make_sdk(settings={"max_page_size": 2})
    for _ in range(5):
        sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})

    assert len(sdk.versions("fraud_model")["versions"]) == 5
    assert len(wire.sent("GET", "/by-name/fraud_model")) == 3


def test_a_second_upload_is_a_conflict(sdk, model_file):
    model_id = sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})
    sdk.upload(model_id, model_file)

    with pytest.raises(Conflict) as caught:
        sdk.upload(model_id, model_file)
    assert caught.value.code == "file_exists"
