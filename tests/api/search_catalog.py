"""The catalog the search tests read (one registry per test module), and how they read it: both
search endpoints answer the same, so every test runs against both (the ``endpoint`` fixture).
A plugin of tests/conftest.py, so that its fixtures reach the modules that use them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from model_service.server.app import create_app
from tests.conftest import make_settings

from .discovery_helpers import SEARCH_ENDPOINTS, label, register_with_file, search_labels
from .helpers import assert_error, payload, register_model

# The catalog, registered in this order (so newest first is the reverse).
F1, F2, RF, LR, CNN, NB = ("fraud_xgb/v1.0", "fraud_xgb/v1.1", "churn_rf/v1.0", "churn_lr/v1.0",
                           "images_cnn/v1.0", "spam_nb/v1.0")
ALL = [F1, F2, RF, LR, CNN, NB]
NEWEST_FIRST = ALL[::-1]
NB_FILE_SIZE = 2048
CATALOG = {
    F1: dict(name="fraud_xgb", algorithm="xgboost", created_by="alice",
             metrics={"f1_score": 0.95, "test_accuracy": 0.97, "accuracy": 0.5, "loss": 0.1},
             hyperparameters={"max_depth": 6, "learning_rate": 0.1, "early_stopping": True,
                              "optimizer": {"name": "adam", "beta1": 0.9}},
             tags=["production", "fraud"], description="Fraud detector for card payments"),
    F2: dict(name="fraud_xgb", algorithm="xgboost", created_by="bob",
             metrics={"f1_score": 0.88, "accuracy": 0.91},
             hyperparameters={"max_depth": 8, "learning_rate": 0.05, "early_stopping": False,
                              "optimizer": {"name": "sgd"}},
             tags=["fraud", "staging"], description="Second try"),
    RF: dict(name="churn_rf", algorithm="random_forest", created_by="alice", status="deprecated",
             metrics={"f1_score": 0.91, "accuracy": 0.93},
             hyperparameters={"n_estimators": 100, "max_depth": 10, "criterion": "gini"},
             tags=["production", "churn"], description="Customer churn"),
    LR: dict(name="churn_lr", algorithm="logistic_regression", created_by="carol",
             metrics={"f1_score": 0.90, "accuracy": 0.85}, hyperparameters={"C": 1.0, "penalty": "l2"},
             tags=["churn"], description="Baseline for CHURN"),
    CNN: dict(name="images_cnn", algorithm="pytorch_cnn", created_by="bob", status="archived",
              hyperparameters={"layers": 5, "optimizer": {"name": "adam"}}, description="Image classifier"),
    NB: dict(name="spam_nb", algorithm="naive_bayes", created_by="alice",
             metrics={"f1_score": 0.91, "test_accuracy": 0.89, "accuracy": 0.99}, hyperparameters={"alpha": 0.5},
             tags=["spam", "production"], description="Spam filter"),
}


@dataclass
class Catalog:
    client: TestClient
    models: dict[str, dict]  # label → the model as GET /models/{id} shows it


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Iterator[Catalog]:
    """One registry holding CATALOG (spam_nb with a file), shared by the read-only tests here."""
    settings = make_settings(tmp_path_factory.mktemp("search") / "data")
    with TestClient(create_app(settings)) as client:
        models = {}
        for key, fields in CATALOG.items():
            if key == NB:
                model = register_with_file(client, payload(NB_FILE_SIZE), **fields)
            else:
                model = register_model(client, **fields)["model"]
            assert label(model) == key
            models[key] = model
        yield Catalog(client, models)


@pytest.fixture(params=SEARCH_ENDPOINTS, ids=["list", "search"])
def endpoint(request) -> str:
    return request.param


def found(catalog: Catalog, endpoint: str, **params) -> list[str]:
    return search_labels(catalog.client, endpoint, **params)


def found_set(catalog: Catalog, endpoint: str, **params) -> list[str]:
    """The matches in catalog order (for tests about which, not in what order)."""
    matches = found(catalog, endpoint, **params)
    assert len(matches) == len(set(matches)), matches
    return sorted(matches, key=ALL.index)


def filter_error(catalog: Catalog, endpoint: str, expression: str, code: str = "invalid_filter") -> dict:
    return assert_error(catalog.client.get(endpoint, params={"filter": expression}), 400, code)
