"""The real app with its metadata in MongoDB (mongomock) and files in a local folder: what a user
does — register, upload, new version, search with a filter and a sort, aliases, statistics,
delete — answers as on the embedded default."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from model_service.domain.registry import Registry
from model_service.server.app import create_app
from model_service.stores.blob_local import LocalBlobStore
from tests.api.discovery_helpers import (
    PLATFORM_STATISTICS,
    STATISTICS,
    alias_moves,
    aliases_map,
    by_name,
    ok,
    put_alias,
)
from tests.api.helpers import MODELS, download, model_url, payload, register_model, stored_blobs, upload
from tests.backends.mongo import mongomock_store
from tests.conftest import make_settings


@pytest.fixture
def mongo_client(tmp_path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path / "data")
    store = mongomock_store()
    registry = Registry(store, LocalBlobStore(settings.data_dir / "blobs"), max_file_size=settings.max_file_size)
    with TestClient(create_app(settings, registry=registry)) as client:
        yield client


def test_register_version_search_alias_and_statistics(mongo_client):
    client = mongo_client
    content = payload(4000)
    first = register_model(client, name="fraud_model", algorithm="xgboost", tags=["production"],
                           metrics={"test_accuracy": 0.91, "f1_score": 0.90},
                           hyperparameters={"max_depth": 6, "optimizer": {"name": "adam"}})
    assert first["version"] == "v1.0"
    assert upload(client, first["model_id"], content).status_code == 201

    second = ok(client.post(model_url(first["model_id"], "/versions"),
                            json={"metrics": {"test_accuracy": 0.95, "f1_score": 0.93}}), 201)
    assert (second["version"], second["parent_model_id"]) == ("v1.1", first["model_id"])
    other = register_model(client, name="churn_rf", algorithm="random_forest", metrics={"accuracy": 0.8})
    assert other["version"] == "v1.0"

    condition = "metrics.f1_score >= 0.9 AND hyperparameters.optimizer.name = 'adam'"
    found = ok(client.get(MODELS, params={"filter": condition, "sort": "-metrics.f1_score"}))
    assert [(m["name"], m["version"]) for m in found["models"]] == [("fraud_model", "v1.1"), ("fraud_model", "v1.0")]
    assert found["pagination"]["total"] == 2
    assert [m["name"] for m in ok(client.get(MODELS, params={"q": "FOREST"}))["models"]] == ["churn_rf"]
    assert ok(client.get(MODELS, params={"filter": "metrics.loss IS NULL", "sort": "metrics.f1_score"})
              )["pagination"]["total"] == 3

    assert put_alias(client, "fraud_model", "production", actor="ops", version="v1.0").status_code == 200
    moved = put_alias(client, "fraud_model", "production", actor="ops", version="v1.1", expected_version="v1.0")
    assert moved.status_code == 200
    stale = put_alias(client, "fraud_model", "production", actor="ops", version="v1.0", expected_version="v1.0")
    assert stale.status_code == 409
    assert aliases_map(client, "fraud_model") == {"production": "v1.1"}
    assert alias_moves(client, "fraud_model") == [(None, "v1.0"), ("v1.0", "v1.1")]
    production = client.get(by_name("fraud_model", "/versions/production"))
    assert ok(production)["id"] == second["model_id"]

    assert download(client, first["model_id"]).content == content
    statistics = ok(client.get(STATISTICS))
    assert statistics["total_models"] == 3
    assert statistics["algorithms"] == {"xgboost": 2, "random_forest": 1}
    assert statistics["total_downloads"] == 1
    assert statistics["recent_activity"] == {"models_added_last_7_days": 3, "downloads_last_24_hours": 1}
    assert ok(client.get(PLATFORM_STATISTICS))["models_by_status"] == {"active": 3}

    assert client.delete(model_url(first["model_id"])).status_code == 200
    assert client.get(model_url(first["model_id"])).status_code == 404
    assert stored_blobs(client.app.state.settings.data_dir) == []  # its file went with its last reference
    assert ok(client.get("/health/detailed"))["checks"]["database"] == "healthy"
