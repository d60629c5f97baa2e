"""/health (liveness) and /health/detailed (every backend; 503 naming what failed)."""

from __future__ import annotations

import shutil

import pytest

from .helpers import MiB, model_url, payload, stored_blobs, upload

CHECKS = ("database", "blob_store", "disk_space", "model_registry")


def detailed(client, status: int) -> dict:
    response = client.get("/health/detailed")
    assert response.status_code == status, response.text
    return response.json()


def test_liveness_is_healthy(client):
    response = client.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["service"]) == ("healthy", "model-service")
    assert body["version"] and body["timestamp"].endswith("Z")


def test_liveness_does_not_touch_the_backends(client, data_dir):
    shutil.rmtree(data_dir / "blobs")

    assert client.get("/health").json()["status"] == "healthy"


def test_detailed_health_is_healthy_with_the_seed_shape(client):
    body = detailed(client, 200)

    assert (body["service"], body["status"]) == ("model-service", "healthy")
    assert body["checks"] == {name: "healthy" for name in CHECKS}
    assert body["metrics"] == {"total_models": 0, "active_models": 0, "storage_usage_gb": 0}
    assert "issues" not in body


def test_detailed_health_counts_models_and_distinct_storage(client, register):
    ids = [register()["model_id"] for _ in range(3)]
    client.put(model_url(ids[0]), json={"status": "deprecated"})
    for model_id in ids[:2]:
        upload(client, model_id, payload(MiB))  # the same content twice: stored once

    metrics = detailed(client, 200)["metrics"]

    assert (metrics["total_models"], metrics["active_models"]) == (3, 2)
    assert metrics["storage_usage_gb"] == pytest.approx(MiB / 1024**3, abs=1e-6)


def test_a_blob_missing_from_disk_fails_the_registry_check(client, register, data_dir):
    model_id = register()["model_id"]
    upload(client, model_id, b"weights")
    for path in stored_blobs(data_dir):
        path.unlink()

    body = detailed(client, 503)

    assert body["status"] == "unhealthy"
    assert body["checks"]["model_registry"].startswith("unhealthy")
    assert body["issues"] == ["model_registry"]
    assert {name: body["checks"][name] for name in CHECKS if name != "model_registry"} == \
        {"database": "healthy", "blob_store": "healthy", "disk_space": "healthy"}


def test_a_blob_store_that_cannot_write_fails_its_check(client, data_dir):
    shutil.rmtree(data_dir / "blobs" / "tmp")

    body = detailed(client, 503)

    assert body["checks"]["blob_store"].startswith("unhealthy")
    assert body["issues"] == ["blob_store"]


def test_less_free_disk_than_max_file_size_fails_the_disk_check(make_client, tmp_path):
    free = shutil.disk_usage(tmp_path).free
    client = make_client(max_file_size=free * 2)

    body = detailed(client, 503)

    assert body["checks"]["disk_space"].startswith("unhealthy")
    assert body["issues"] == ["disk_space"]
