"""POST /api/v1/models with a JSON body: shapes, versioning, names, and every way to get it wrong."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from .helpers import (
    HEX24,
    MODELS,
    assert_client_error,
    assert_error,
    chunked,
    error_fields,
    get_model,
    list_models,
    model_url,
    post_json_text,
    register_model,
    total_models,
)

SEED_MODEL = {
    "name": "fraud_detector",
    "algorithm": "random_forest",
    "hyperparameters": {"n_estimators": 100, "max_depth": 10, "criterion": "gini"},
    "metrics": {"accuracy": 0.95, "f1_score": 0.93, "auc_roc": 0.97},
    "dataset_info": {"name": "transactions_2024", "rows": 1_000_000, "features": 42},
    "tags": ["fraud", "production-candidate"],
    "description": "Detects fraudulent card transactions",
    "created_by": "data-science-team",
    "status": "active",
    "format": "pickle",
}


def test_registration_answers_201_with_the_seed_shape_and_a_location(client):
    response = client.post(MODELS, json=SEED_MODEL)

    assert response.status_code == 201, response.text
    body = response.json()
    model_id = body["model_id"]
    assert HEX24.fullmatch(model_id)
    assert response.headers["location"] == model_url(model_id)
    assert body["success"] is True
    assert body["message"] == "Model registered successfully"
    assert (body["name"], body["version"], body["parent_model_id"]) == ("fraud_detector", "v1.0", None)
    assert body["download_url"] == model_url(model_id, "/download")
    model = body["model"]
    for field, value in SEED_MODEL.items():
        assert model[field] == value, field
    assert model["id"] == model_id
    assert model["version"] == "v1.0"
    assert model["file_metadata"] is None and model["model_size"] is None
    assert model["download_count"] == 0
    assert model["created_at"] == model["updated_at"]
    assert get_model(client, model_id) == model


def test_created_by_defaults_to_the_x_actor_header_or_anonymous(client):
    by_header = client.post(MODELS, json={"name": "m", "algorithm": "svm"}, headers={"X-Actor": "alice"})
    without = client.post(MODELS, json={"name": "m", "algorithm": "svm"})

    assert by_header.json()["model"]["created_by"] == "alice"
    assert without.json()["model"]["created_by"] == "anonymous"


def test_the_same_name_gets_the_next_minor_version_with_the_previous_one_as_parent(register):
    first = register()
    second = register()
    third = register()

    assert [first["version"], second["version"], third["version"]] == ["v1.0", "v1.1", "v1.2"]
    assert second["parent_model_id"] == first["model_id"]
    assert third["parent_model_id"] == second["model_id"]
    assert second["model"]["parent_model_id"] == first["model_id"]


def test_breaking_changes_start_the_next_major_version(register):
    register()
    latest = register()
    major = register(breaking_changes=True)
    after = register()

    assert (major["version"], major["parent_model_id"]) == ("v2.0", latest["model_id"])
    assert after["version"] == "v2.1"


def test_versions_are_counted_per_name(register):
    register(name="alpha")
    register(name="alpha")

    assert register(name="beta")["version"] == "v1.0"


def _dates_around_now() -> set[str]:
    now = datetime.now(UTC)
    return {f"{moment:%b}{moment.day}" for moment in (now - timedelta(seconds=5), now, now + timedelta(seconds=5))}


@pytest.mark.parametrize(
    ("algorithm", "metrics", "prefix"),
    [
        ("xgboost", {"accuracy": 0.971}, "Xgboost_97.1%_"),
        ("random_forest", {"test_accuracy": 95.2, "f1": 0.5}, "RandomForest_95.2%_"),
        ("random-forest", {"loss": 0.3}, "RandomForest_"),
    ],
)
def test_without_a_name_a_semantic_name_is_generated(client, algorithm, metrics, prefix):
    response = client.post(MODELS, json={"algorithm": algorithm, "metrics": metrics})

    assert response.status_code == 201, response.text
    body = response.json()

    assert body["name"] in {prefix + day for day in _dates_around_now()}
    assert get_model(client, body["model_id"])["name"] == body["name"]


def test_a_null_name_also_gets_a_semantic_name(client):
    body = register_model(client, name=None, algorithm="svm")

    assert body["name"] in {f"Svm_{day}" for day in _dates_around_now()}


@pytest.mark.parametrize("name", ["bert+large_90%", "a%2Fb", "x" * 128, "v1.2-rc+build.7", "99%_sure"])
def test_valid_names_round_trip_unchanged(client, name):
    body = register_model(client, name=name)

    assert body["name"] == name
    assert get_model(client, body["model_id"])["name"] == name
    assert [m["name"] for m in list_models(client)["models"]] == [name]


def test_a_name_with_percent_and_plus_versions_as_itself(client):
    register_model(client, name="bert+large_90%")
    again = register_model(client, name="bert+large_90%")
    other = register_model(client, name="bert_large_90%")

    assert again["version"] == "v1.1"
    assert other["version"] == "v1.0"


@pytest.mark.parametrize(
    "name",
    ["fraud model", "fraud/model", "fraud@production", "x" * 129, "", "-leading-dash", "tab\tname", "naïve"],
)
def test_invalid_names_are_rejected_and_nothing_is_stored(client, name):
    response = client.post(MODELS, json={"name": name, "algorithm": "xgboost"})

    assert_error(response, 422, "invalid_name")
    assert total_models(client) == 0


def test_unknown_fields_are_named_in_the_error(client):
    response = client.post(MODELS, json={"name": "m", "algorithm": "svm", "accuracy": 0.9})

    body = assert_error(response, 422, "validation_error")
    assert error_fields(body) == ["accuracy"]
    assert "accuracy" in body["error"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"algorithm": 42}, "algorithm"),
        ({"algorithm": None}, "algorithm"),
        ({"tags": "fraud,prod"}, "tags"),
        ({"tags": ["ok", 7]}, "tags.1"),
        ({"hyperparameters": [1, 2]}, "hyperparameters"),
        ({"dataset_info": "iris"}, "dataset_info"),
        ({"description": 3}, "description"),
        ({"breaking_changes": "yes"}, "breaking_changes"),
        ({"name": 12}, "name"),
    ],
)
def test_wrong_types_are_422_naming_the_field(client, fields, field):
    response = client.post(MODELS, json={"name": "m", "algorithm": "svm", **fields})

    body = assert_error(response, 422, "validation_error")
    assert field in error_fields(body)
    assert total_models(client) == 0


def test_a_missing_algorithm_is_422_naming_it(client):
    body = assert_error(client.post(MODELS, json={"name": "m"}), 422, "validation_error")

    assert error_fields(body) == ["algorithm"]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"metrics": {"accuracy": "high"}}, "invalid_metrics"),
        ({"metrics": {"accuracy": True}}, "invalid_metrics"),
        ({"metrics": {"accuracy": None}}, "invalid_metrics"),
        ({"metrics": {"accuracy": [0.9]}}, "invalid_metrics"),
        ({"metrics": {"bad name": 0.9}}, "invalid_metrics"),
        ({"tags": ["has space"]}, "invalid_tags"),
        ({"status": "retired"}, "invalid_status"),
        ({"algorithm": ""}, "invalid_algorithm"),
        ({"format": "Not A Format!"}, "invalid_format"),
        # NUL: PostgreSQL cannot hold it, so no backend takes it
        ({"hyperparameters": {"note": "a\x00b"}}, "invalid_hyperparameters"),
        ({"hyperparameters": {"layers": [{"act\x00": "relu"}]}}, "invalid_hyperparameters"),
        ({"dataset_info": {"path\x00": "s3://x"}}, "invalid_dataset_info"),
        ({"description": "a\x00b"}, "invalid_description"),
        ({"created_by": "a\x00b"}, "invalid_created_by"),
    ],
)
def test_values_that_break_a_rule_are_422_with_their_code(client, fields, code):
    response = client.post(MODELS, json={"name": "m", "algorithm": "svm", **fields})

    assert_error(response, 422, code)
    assert total_models(client) == 0


@pytest.mark.parametrize("literal", ["Infinity", "-Infinity", "NaN", "1e999"])
def test_non_finite_metrics_are_rejected(client, literal):
    text = f'{{"name": "m", "algorithm": "svm", "metrics": {{"accuracy": {literal}}}}}'
    response = post_json_text(client, MODELS, text)

    body = assert_client_error(response)
    assert (response.status_code, body["code"]) in {(422, "invalid_metrics"), (400, "invalid_json")}
    assert total_models(client) == 0


@pytest.mark.parametrize("literal", ["NaN", "Infinity"])
def test_non_json_number_literals_elsewhere_are_rejected_not_stored_as_null(client, literal):
    """``NaN``/``Infinity`` are not JSON (RFC 8259); accepting them stores a value that reads back as null."""
    text = f'{{"name": "m", "algorithm": "svm", "hyperparameters": {{"alpha": {literal}}}}}'
    response = post_json_text(client, MODELS, text)

    assert_error(response, 400, "invalid_json")
    assert total_models(client) == 0


@pytest.mark.parametrize("text", ["{not json", '{"name": "m",}', '{"name": "m"', "nul", "{\"a\": 1} trailing"])
def test_malformed_json_is_400_invalid_json(client, text):
    assert_error(post_json_text(client, MODELS, text), 400, "invalid_json")


HALF_A_PAIR = "\\ud800"  # a JSON escape of a lone surrogate: Python parses it, nothing can encode it


@pytest.mark.parametrize("template", [
    '{"name": "m%s", "algorithm": "svm"}',
    '{"name": "m", "algorithm": "svm%s"}',
    '{"name": "m", "algorithm": "svm", "description": "%s"}',
    '{"name": "m", "algorithm": "svm", "created_by": "%s"}',
    '{"name": "m", "algorithm": "svm", "hyperparameters": {"optimizer": [{"name": "adam%s"}]}}',
    '{"name": "m", "algorithm": "svm", "hyperparameters": {"k%s": 1}}',
    '{"name": "m", "algorithm": "svm", "dataset_info": {"source": "%s"}}',
    '{"name": "m", "algorithm": "svm", "metrics": {"auc%s": 0.9}}',
    '{"name": "m", "algorithm": "svm", "tags": ["t%s"]}',
    '{"unknown%s": 1}',
])
def test_half_a_surrogate_pair_anywhere_is_400_and_nothing_is_stored(client, template):
    assert_error(post_json_text(client, MODELS, template % HALF_A_PAIR), 400, "invalid_json")
    assert total_models(client) == 0


def test_a_whole_surrogate_pair_is_the_character_it_encodes(client):
    response = post_json_text(client, MODELS, '{"algorithm": "svm", "description": "fast \\ud83d\\ude80"}')

    assert response.status_code == 201, response.text
    assert response.json()["model"]["description"] == "fast \U0001f680"


@pytest.mark.parametrize("body", [b'{"algorithm": "svm\xff"}', b'{"algorithm": "\xed\xa0\x80"}',
                                  '{"algorithm": "svm"}'.encode("utf-16")])
def test_a_body_that_is_not_utf8_is_400(client, body):
    assert_error(post_json_text(client, MODELS, body), 400, "invalid_json")
    assert total_models(client) == 0


@pytest.mark.parametrize("text", ["", "   \n"])
def test_an_empty_body_is_400(client, text):
    assert_error(post_json_text(client, MODELS, text), 400, "invalid_json")


@pytest.mark.parametrize("document", [[1, 2], "name", 42, None])
def test_a_body_that_is_not_an_object_is_422(client, document):
    body = assert_error(post_json_text(client, MODELS, json.dumps(document)), 422, "validation_error")

    assert error_fields(body) == ["body"]


def test_an_unsupported_content_type_is_415(client):
    response = client.post(MODELS, content=b"name=m&algorithm=svm", headers={"content-type": "text/plain"})

    body = assert_error(response, 415, "unsupported_media_type")
    assert body["details"]["content_type"] == "text/plain"


def test_form_urlencoded_is_415(client):
    response = client.post(MODELS, data={"name": "m", "algorithm": "svm"})

    assert_error(response, 415, "unsupported_media_type")


def test_a_json_body_without_a_content_type_is_read_as_json(client):
    response = client.post(MODELS, content=json.dumps({"name": "m", "algorithm": "svm"}).encode())

    assert response.status_code == 201, response.text


@pytest.fixture
def small_client(make_client):
    """MAX_REQUEST_SIZE = 1 KiB."""
    return make_client(max_request_size=1024)


def _oversize_document() -> bytes:
    return json.dumps({"name": "m", "algorithm": "svm", "description": "x" * 2000}).encode()


def test_a_json_body_over_max_request_size_is_413(small_client):
    response = small_client.post(MODELS, content=_oversize_document(), headers={"content-type": "application/json"})

    body = assert_error(response, 413, "request_too_large")
    assert body["details"]["max_size_bytes"] == 1024
    assert total_models(small_client) == 0


def test_a_chunked_json_body_over_max_request_size_is_413(small_client):
    response = small_client.post(MODELS, content=chunked(_oversize_document(), 256),
                                 headers={"content-type": "application/json"})

    assert_error(response, 413, "request_too_large")
    assert total_models(small_client) == 0


def test_a_json_body_just_under_max_request_size_is_accepted(small_client):
    document = json.dumps({"name": "m", "algorithm": "svm", "description": ""}).encode()
    document = document.replace(b'""', b'"' + b"x" * (1024 - len(document)) + b'"')

    assert len(document) == 1024
    response = small_client.post(MODELS, content=document, headers={"content-type": "application/json"})
    assert response.status_code == 201, response.text


def test_a_json_body_over_the_upload_limit_is_413_in_the_error_shape(client, settings):
    """Bigger than MAX_FILE_SIZE + MAX_REQUEST_SIZE: still the JSON error, not a bare text reply."""
    size = settings.max_file_size + settings.max_request_size + 1
    response = post_json_text(client, MODELS, b'{"description": "' + b"x" * size + b'"}')

    assert_error(response, 413, "request_too_large")


def test_deeply_nested_json_is_a_4xx(client):
    response = post_json_text(client, MODELS, "[" * 100_000 + "]" * 100_000)

    assert_error(response, 400, "invalid_json")


def test_nesting_the_parser_accepts_but_the_service_cannot_echo_is_a_4xx_and_not_stored(make_client):
    """Python's parser takes ~1000 levels; echoing the stored record fails from ~300 on, and such a
    record, once stored, breaks every listing."""
    client = make_client(raise_server_exceptions=False)
    depth = 300
    text = '{"name": "m", "algorithm": "svm", "hyperparameters": {"deep": ' + "[" * depth + "]" * depth + "}}"
    response = post_json_text(client, MODELS, text)

    assert_client_error(response)
    assert total_models(client) == 0


def test_concurrent_registrations_of_one_name_get_unique_gap_free_versions(client):
    writers, each = 8, 4

    def register_several(_: int) -> list[str]:
        return [register_model(client, name="contended")["version"] for _ in range(each)]

    with ThreadPoolExecutor(max_workers=writers) as pool:
        versions = [version for batch in pool.map(register_several, range(writers)) for version in batch]

    assert sorted(versions, key=lambda v: int(v.split(".")[1])) == [f"v1.{n}" for n in range(writers * each)]
    by_version = {m["version"]: m for m in list_models(client, limit=100)["models"]}
    for n in range(1, writers * each):
        assert by_version[f"v1.{n}"]["parent_model_id"] == by_version[f"v1.{n - 1}"]["id"]
