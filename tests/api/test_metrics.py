"""``GET /metrics``: the samples a scrape shows after what users do, with bounded labels."""

from __future__ import annotations

import logging
import re

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from .helpers import (
    MODELS,
    UNKNOWN_ID,
    checksum,
    download,
    form_parts,
    model_url,
    payload,
    register_model,
    sha256_hex,
    upload,
)

Samples = dict[tuple[str, frozenset], float]


def scrape(client: TestClient) -> Samples:
    """Every sample of a scrape: (sample name, labels) → value."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 if the scrape does not have it (yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def changes(before: Samples, after: Samples) -> dict[tuple[str, frozenset], float]:
    """Samples whose value changed (histogram buckets left out), with the difference."""
    return {key: after[key] - before.get(key, 0.0) for key in after
            if after[key] != before.get(key, 0.0) and not key[0].endswith("_bucket")}


def request_changes(before: Samples, after: Samples) -> dict[tuple[str, ...], float]:
    """``api_requests_total`` differences by (route, method, status), the scrapes themselves left out."""
    found = {}
    for (name, labels), delta in changes(before, after).items():
        if name == "api_requests_total":
            label = dict(labels)
            if label["route"] != "/metrics":
                found[(label["route"], label["method"], label["status"])] = delta
    return found


@pytest.fixture
def fresh(client: TestClient) -> TestClient:
    """The default client with the store figures read on every scrape (no caching)."""
    client.app.state.metrics.figures.ttl = 0
    return client


# ---- registry events --------------------------------------------------------------------------


def test_a_registration_counts_once_under_its_algorithm(client):
    before = scrape(client)

    register_model(client, algorithm="random_forest")

    after = scrape(client)
    assert value(after, "model_registrations_total", algorithm="random_forest") == 1
    assert request_changes(before, after) == {("/api/v1/models", "POST", "201"): 1}
    assert value(after, "api_request_duration_seconds_count", route="/api/v1/models", method="POST",
                 status="201") == 1


def test_an_upload_counts_its_bytes_and_its_time(client):
    model_id = register_model(client, algorithm="xgboost")["model_id"]
    before = scrape(client)

    assert upload(client, model_id, payload(3000)).status_code == 201

    after = scrape(client)
    assert value(after, "model_uploads_total", algorithm="xgboost") == 1
    assert value(after, "model_upload_bytes_total", algorithm="xgboost") == 3000
    assert value(after, "model_upload_duration_seconds_count") - value(before, "model_upload_duration_seconds_count") \
        == 1
    assert value(after, "model_upload_duration_seconds_sum") > 0
    assert request_changes(before, after) == {("/api/v1/models/{model_id}/upload", "POST", "201"): 1}


def test_a_registration_with_its_file_counts_both(client):
    before = scrape(client)
    response = client.post(MODELS, files=form_parts({"name": "m", "algorithm": "onnx_net"}, payload(500)))
    assert response.status_code == 201, response.text

    after = scrape(client)
    assert value(after, "model_registrations_total", algorithm="onnx_net") == 1
    assert value(after, "model_uploads_total", algorithm="onnx_net") == 1
    assert value(after, "model_upload_bytes_total", algorithm="onnx_net") == 500
    uploads_timed = value(after, "model_upload_duration_seconds_count")
    assert uploads_timed == value(before, "model_upload_duration_seconds_count") + 1


def test_a_failed_upload_counts_no_upload(client):
    model_id = register_model(client)["model_id"]
    before = scrape(client)

    response = upload(client, model_id, payload(100), headers={"X-File-Checksum": checksum(b"other")})
    assert response.status_code == 422

    after = scrape(client)
    assert value(after, "model_uploads_total", algorithm="xgboost") == 0
    assert value(after, "model_upload_duration_seconds_count") == value(before, "model_upload_duration_seconds_count")
    assert request_changes(before, after) == {("/api/v1/models/{model_id}/upload", "POST", "422"): 1}


def test_downloads_count_completed_files_and_every_byte_sent(client, stored, content):
    model_id = stored["id"]
    before = scrape(client)

    assert download(client, model_id).status_code == 200
    assert download(client, model_id, range="bytes=0-99").status_code == 206  # not to the end: not a download
    assert download(client, model_id, range="bytes=900-").status_code == 206  # the rest of a resumed download
    assert download(client, model_id, "HEAD").status_code == 200
    assert download(client, model_id, if_none_match=f'"{sha256_hex(content)}"').status_code == 304

    after = scrape(client)
    assert value(after, "model_downloads_total", algorithm="xgboost") == 2
    assert value(after, "model_download_bytes_total", algorithm="xgboost") == 1000 + 100
    assert value(after, "model_download_sent_bytes_total") - value(before, "model_download_sent_bytes_total") \
        == 1000 + 100 + 100
    assert value(after, "model_download_duration_seconds_count") == 2
    assert request_changes(before, after) == {
        ("/api/v1/models/{model_id}/download", "GET", "200"): 1,
        ("/api/v1/models/{model_id}/download", "GET", "206"): 2,
        ("/api/v1/models/{model_id}/download", "HEAD", "200"): 1,
        ("/api/v1/models/{model_id}/download", "GET", "304"): 1,
    }


def test_a_deletion_counts_under_its_algorithm(client):
    model_id = register_model(client, algorithm="svm")["model_id"]

    assert client.delete(model_url(model_id)).status_code == 200

    assert value(scrape(client), "model_deletions_total", algorithm="svm") == 1


# ---- requests ---------------------------------------------------------------------------------


def test_failing_requests_are_counted_under_their_route_and_status(client):
    register_model(client)
    before = scrape(client)

    client.get(model_url("abc"))
    client.get(model_url(UNKNOWN_ID))
    client.get(model_url(UNKNOWN_ID))
    client.post(MODELS, json={})
    client.get("/api/v1/nothing-here")
    client.request("PATCH", model_url(UNKNOWN_ID))
    client.request("BREW", "/health")

    assert request_changes(before, scrape(client)) == {
        ("/api/v1/models/{model_id}", "GET", "400"): 1,
        ("/api/v1/models/{model_id}", "GET", "404"): 2,
        ("/api/v1/models", "POST", "422"): 1,
        ("unmatched", "GET", "404"): 1,
        ("/api/v1/models/{model_id}", "PATCH", "405"): 1,
        ("/health", "other", "405"): 1,
    }


def test_a_body_refused_before_routing_is_counted_under_its_route(make_client):
    client = make_client(max_file_size=1024)
    model_id = register_model(client)["model_id"]
    before = scrape(client)

    response = upload(client, model_id, payload(4096))
    assert response.status_code == 413

    assert request_changes(before, scrape(client)) == {("/api/v1/models/{model_id}/upload", "POST", "413"): 1}


def test_an_unexpected_failure_is_counted_as_a_500(make_client, monkeypatch):
    client = make_client(raise_server_exceptions=False)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(client.app.state.registry, "search", broken)
    before = scrape(client)

    assert client.get(MODELS).status_code == 500

    assert request_changes(before, scrape(client)) == {("/api/v1/models", "GET", "500"): 1}


def test_no_model_id_or_raw_path_ever_becomes_a_label(client, stored):
    model_id = stored["id"]
    client.get(model_url(model_id))
    client.get(model_url(model_id, "/info"))
    download(client, model_id)
    client.get(model_url("not-an-id-at-all"))
    client.get(f"/api/v1/{model_id}/nowhere")

    text = client.get("/metrics").text

    assert model_id not in text
    assert "not-an-id-at-all" not in text
    assert "nowhere" not in text
    routes = {dict(labels)["route"] for (name, labels) in scrape(client) if name == "api_requests_total"}
    assert all(route == "unmatched" or route.startswith("/") for route in routes)
    assert not [route for route in routes if re.search(r"[0-9a-f]{24}", route)]


def test_scrapes_and_probes_are_counted_but_not_timed(client):
    before = scrape(client)
    client.get("/health")
    client.get("/health")

    after = scrape(client)
    assert value(after, "api_requests_total", route="/health", method="GET", status="200") == 2
    assert value(after, "api_requests_total", route="/metrics", method="GET", status="200") \
        == value(before, "api_requests_total", route="/metrics", method="GET", status="200") + 1
    timed_routes = {dict(labels)["route"] for (name, labels) in after if name.startswith("api_request_duration")}
    assert not timed_routes & {"/health", "/metrics"}


def test_the_algorithm_label_is_capped(client):
    client.app.state.metrics.algorithm.limit = 2
    for algorithm in ("a1", "a2", "a3", "a4", "a1"):
        register_model(client, algorithm=algorithm)

    samples = scrape(client)
    counted = {dict(labels)["algorithm"]: v for (name, labels), v in samples.items()
               if name == "model_registrations_total"}
    assert counted == {"a1": 2, "a2": 1, "other": 2}


# ---- stores -----------------------------------------------------------------------------------


def test_every_store_operation_is_timed(client, stored):
    download(client, stored["id"])
    client.get(model_url(UNKNOWN_ID))

    samples = scrape(client)
    timed = {(dict(labels)["store"], dict(labels)["operation"]): v for (name, labels), v in samples.items()
             if name == "store_operation_duration_seconds_count"}
    for operation in ("create_version", "get", "attach_file", "record_download"):
        assert timed[("metadata", operation)] >= 1, operation
    for operation in ("begin_upload", "open"):
        assert timed[("blob", operation)] >= 1, operation
    assert value(samples, "store_operation_errors_total", store="metadata", operation="get", error="NotFound") == 1


def test_the_gauges_reflect_the_store(fresh, content):
    client = fresh
    first = register_model(client, name="a")["model_id"]
    second = register_model(client, name="b")["model_id"]
    register_model(client, name="c")
    assert upload(client, first, content).status_code == 201
    assert upload(client, second, content).status_code == 201  # the same bytes: stored once
    assert client.put(model_url(second), json={"status": "deprecated"}).status_code == 200

    samples = scrape(client)
    assert value(samples, "model_service_store_up") == 1
    assert value(samples, "models_total") == 3
    assert value(samples, "active_models_total") == 2
    assert value(samples, "storage_usage_bytes") == len(content)

    client.delete(model_url(first))
    assert value(scrape(client), "models_total") == 2


def test_the_gauges_are_cached_for_a_few_seconds(client):
    figures = client.app.state.metrics.figures
    now = [1000.0]
    figures.clock = lambda: now[0]
    register_model(client, name="a")
    assert value(scrape(client), "models_total") == 1

    register_model(client, name="b")
    now[0] += figures.ttl - 0.1
    assert value(scrape(client), "models_total") == 1  # no store query for this scrape

    now[0] += 0.1
    assert value(scrape(client), "models_total") == 2


def test_a_broken_store_does_not_break_the_scrape(fresh, monkeypatch, caplog):
    client = fresh
    register_model(client)

    def broken():
        raise RuntimeError("database is on fire")

    monkeypatch.setattr(client.app.state.registry.metadata, "summary", broken)
    with caplog.at_level(logging.WARNING, logger="model_service"):
        samples = scrape(client)

    assert value(samples, "model_service_store_up") == 0
    names = {name for name, _ in samples}
    assert not names & {"models_total", "active_models_total", "storage_usage_bytes"}
    assert value(samples, "model_registrations_total", algorithm="xgboost") == 1
    assert any("database is on fire" in record.getMessage() for record in caplog.records)

    monkeypatch.undo()
    assert value(scrape(client), "model_service_store_up") == 1


def test_the_service_names_its_backends(client):
    infos = [dict(labels) for (name, labels) in scrape(client) if name == "model_service_info"]

    assert len(infos) == 1
    assert infos[0]["metadata_store"] == "sqlite"
    assert infos[0]["blob_store"] == "local"
    assert infos[0]["version"]


# ---- the endpoint -----------------------------------------------------------------------------


def test_openmetrics_is_served_to_scrapers_that_ask_for_it(client):
    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


def test_two_apps_keep_their_own_counters(client, make_client):
    other = make_client()
    register_model(client, algorithm="mine")

    assert value(scrape(client), "model_registrations_total", algorithm="mine") == 1
    assert value(scrape(other), "model_registrations_total", algorithm="mine") == 0


def test_metrics_is_described_in_openapi(client):
    assert "get" in client.get("/openapi.json").json()["paths"]["/metrics"]
