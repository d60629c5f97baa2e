"""GET /api/v1/models/compare?ids=a,b,c: metrics and hyperparameters side by side, what differs, the
best value of each metric (lower is better for losses and errors), and every error."""

from __future__ import annotations

import pytest

from .discovery_helpers import COMPARE, ok
from .helpers import UNKNOWN_ID, assert_error, error_fields, register_model


def compare(client, *ids: str):
    return client.get(COMPARE, params={"ids": ",".join(ids)})


@pytest.fixture
def trio(client) -> list[str]:
    """Three versions of ``churn``: ids of v1.0, v1.1, v1.2."""
    versions = [
        ({"accuracy": 0.90, "loss": 0.30, "f1_score": 0.80, "precision": 0.7, "val_error": 0.12},
         {"max_depth": 6, "learning_rate": 0.1, "booster": "gbtree"}),
        ({"accuracy": 0.95, "loss": 0.20, "f1_score": 0.80, "precision": 0.7, "val_error": 0.10},
         {"max_depth": 8, "learning_rate": 0.1, "booster": "gbtree"}),
        ({"accuracy": 0.95, "loss": 0.25, "precision": 0.7, "val_error": 0.10},
         {"max_depth": 6, "learning_rate": 0.1, "booster": "gbtree", "subsample": 0.8}),
    ]
    return [register_model(client, name="churn", algorithm="xgboost", metrics=metrics,
                           hyperparameters=params)["model_id"] for metrics, params in versions]


def test_metrics_and_hyperparameters_side_by_side(client, trio):
    a, b, c = trio

    body = ok(compare(client, a, b, c))

    assert body["models"] == [
        {"id": model_id, "name": "churn", "version": version, "algorithm": "xgboost", "status": "active"}
        for model_id, version in zip(trio, ("v1.0", "v1.1", "v1.2"), strict=True)]
    assert body["metrics"] == {
        "accuracy": {a: 0.90, b: 0.95, c: 0.95},
        "f1_score": {a: 0.80, b: 0.80, c: None},
        "loss": {a: 0.30, b: 0.20, c: 0.25},
        "precision": {a: 0.7, b: 0.7, c: 0.7},
        "val_error": {a: 0.12, b: 0.10, c: 0.10},
    }
    assert body["hyperparameters"] == {
        "booster": {a: "gbtree", b: "gbtree", c: "gbtree"},
        "learning_rate": {a: 0.1, b: 0.1, c: 0.1},
        "max_depth": {a: 6, b: 8, c: 6},
        "subsample": {a: None, b: None, c: 0.8},
    }


def test_differences_list_what_is_not_the_same_everywhere(client, trio):
    body = ok(compare(client, *trio))

    assert sorted(body["differences"]["metrics"]) == ["accuracy", "f1_score", "loss", "val_error"]
    assert sorted(body["differences"]["hyperparameters"]) == ["max_depth", "subsample"]


def test_best_value_per_metric_with_its_direction_and_ties(client, trio):
    a, b, c = trio

    best = ok(compare(client, a, b, c))["best"]

    assert best == {
        "accuracy": {"model_ids": [b, c], "value": 0.95, "direction": "max"},  # a tie
        "f1_score": {"model_ids": [a, b], "value": 0.80, "direction": "max"},  # c has no f1_score
        "loss": {"model_ids": [b], "value": 0.20, "direction": "min"},  # lower is better
        "precision": {"model_ids": [a, b, c], "value": 0.7, "direction": "max"},
        "val_error": {"model_ids": [b, c], "value": 0.10, "direction": "min"},
    }


def test_the_order_of_ids_is_the_order_of_the_answer(client, trio):
    a, _, c = trio

    body = ok(compare(client, c, a))

    assert [m["id"] for m in body["models"]] == [c, a]
    assert body["best"]["loss"] == {"model_ids": [c], "value": 0.25, "direction": "min"}
    assert body["best"]["accuracy"] == {"model_ids": [c], "value": 0.95, "direction": "max"}


def test_versions_of_different_names_compare_too(client, trio):
    other = register_model(client, name="fraud", algorithm="lightgbm", metrics={"accuracy": 0.99},
                           hyperparameters={"num_leaves": 31})["model_id"]

    body = ok(compare(client, trio[0], other))

    assert [(m["name"], m["algorithm"]) for m in body["models"]] == [("churn", "xgboost"), ("fraud", "lightgbm")]
    assert body["best"]["accuracy"] == {"model_ids": [other], "value": 0.99, "direction": "max"}
    assert body["hyperparameters"]["num_leaves"] == {trio[0]: None, other: 31}


def test_up_to_ten_versions_and_ids_in_any_case_with_spaces(client):
    ids = [register_model(client, name="many", metrics={"auc": n / 10})["model_id"] for n in range(10)]

    body = ok(client.get(COMPARE, params={"ids": " , ".join(i.upper() for i in ids)}))

    assert [m["id"] for m in body["models"]] == ids
    assert body["best"]["auc"] == {"model_ids": [ids[-1]], "value": 0.9, "direction": "max"}


def test_one_id_is_422(client, trio):
    assert_error(compare(client, trio[0]), 422, "invalid_compare")


def test_one_id_given_twice_is_one_version_so_422(client, trio):
    assert_error(compare(client, trio[0], trio[0]), 422, "invalid_compare")


def test_more_than_ten_is_422(client):
    ids = [register_model(client, name="many")["model_id"] for _ in range(11)]

    body = assert_error(compare(client, *ids), 422, "invalid_compare")

    assert body["details"]["count"] == 11


def test_a_malformed_id_is_400(client, trio):
    body = assert_error(compare(client, trio[0], "not-an-id"), 400, "invalid_id")

    assert body["details"]["id"] == "not-an-id"


def test_an_unknown_id_is_404(client, trio):
    body = assert_error(compare(client, trio[0], UNKNOWN_ID), 404, "model_not_found")

    assert body["details"]["model_id"] == UNKNOWN_ID


def test_missing_ids_is_422(client):
    body = assert_error(client.get(COMPARE), 422, "validation_error")

    assert error_fields(body) == ["query.ids"]


def test_empty_ids_is_422(client):
    assert_error(client.get(COMPARE, params={"ids": " , "}), 422, "invalid_compare")
