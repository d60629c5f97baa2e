"""POST /api/v1/models as multipart: register and upload in one request, all or nothing."""

from __future__ import annotations

import pytest

from .helpers import (
    MODELS,
    MiB,
    assert_error,
    blob_store_state,
    checksum,
    download,
    form_parts,
    get_model,
    multipart_body,
    payload,
    post_form,
    sha256_hex,
    total_models,
)

METADATA = {"name": "fraud_model", "algorithm": "xgboost", "metrics": {"accuracy": 0.97}, "tags": ["fraud"]}


def assert_nothing_stored(client, data_dir) -> None:
    assert total_models(client) == 0
    assert blob_store_state(data_dir) == ([], [])


def test_metadata_and_file_register_a_model_that_has_the_file(client, data_dir):
    data = payload(4096)

    response = post_form(client, MODELS, METADATA, data, filename="fraud.pkl")

    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["name"], body["version"]) == ("fraud_model", "v1.0")
    assert response.headers["location"] == f"{MODELS}/{body['model_id']}"
    file = body["model"]["file_metadata"]
    assert file["checksum"] == checksum(data)
    assert file["file_id"] == sha256_hex(data)
    assert (file["size_bytes"], file["format"], file["filename"]) == (4096, "pickle", "fraud.pkl")
    assert body["model"]["format"] == "pickle"
    assert body["model"]["model_size"] == "4.0 KB"
    assert body["model"]["metrics"] == {"accuracy": 0.97}
    assert get_model(client, body["model_id"])["file_metadata"] == file
    assert download(client, body["model_id"]).content == data
    assert blob_store_state(data_dir) == ([sha256_hex(data)], [])


def test_metadata_alone_registers_a_model_without_a_file(client):
    response = post_form(client, MODELS, METADATA)

    assert response.status_code == 201, response.text
    assert response.json()["model"]["file_metadata"] is None


@pytest.mark.parametrize(("filename", "fmt"), [("model.onnx", "onnx"), ("m.joblib", "joblib"),
                                               ("weights.safetensors", "safetensors"), ("blob.xyz", None)])
def test_the_format_is_inferred_from_the_file_name(client, filename, fmt):
    response = post_form(client, MODELS, METADATA, b"weights", filename=filename)

    assert response.status_code == 201, response.text
    assert response.json()["model"]["file_metadata"]["format"] == fmt


def test_a_format_field_or_the_metadata_format_wins_over_the_file_name(client):
    by_field = post_form(client, MODELS, METADATA, b"weights", filename="model.pkl", format="onnx")
    by_metadata = post_form(client, MODELS, {**METADATA, "format": "joblib"}, b"weights", filename="model.pkl")

    assert by_field.json()["model"]["file_metadata"]["format"] == "onnx"
    assert by_metadata.json()["model"]["file_metadata"]["format"] == "joblib"


def test_a_correct_checksum_field_is_accepted(client):
    data = payload(100)

    response = post_form(client, MODELS, METADATA, data, checksum=checksum(data))

    assert response.status_code == 201, response.text


def test_a_checksum_mismatch_stores_neither_model_nor_file(client, data_dir):
    data = payload(100)

    response = post_form(client, MODELS, METADATA, data, headers={"X-File-Checksum": checksum(b"other")})

    body = assert_error(response, 422, "checksum_mismatch")
    assert body["details"]["actual"] == checksum(data)
    assert_nothing_stored(client, data_dir)


@pytest.mark.parametrize(
    ("metadata", "status", "code"),
    [
        ({**METADATA, "name": "bad name"}, 422, "invalid_name"),
        ({**METADATA, "surprise": 1}, 422, "validation_error"),
        ({**METADATA, "metrics": {"accuracy": "high"}}, 422, "invalid_metrics"),
        ({"name": "no_algorithm"}, 422, "validation_error"),
        ("{not json", 400, "invalid_json"),
        ("", 400, "invalid_json"),
    ],
)
@pytest.mark.parametrize("file_first", [False, True], ids=["metadata-first", "file-first"])
def test_invalid_metadata_stores_nothing(client, data_dir, metadata, status, code, file_first):
    response = post_form(client, MODELS, metadata, payload(2 * MiB), file_first=file_first)

    assert_error(response, status, code)
    assert_nothing_stored(client, data_dir)


def test_a_missing_metadata_part_is_422_and_the_file_is_not_kept(client, data_dir):
    response = post_form(client, MODELS, None, payload(1000))

    assert_error(response, 422, "missing_metadata")
    assert_nothing_stored(client, data_dir)


def test_an_unknown_part_is_422_naming_it(client, data_dir):
    response = post_form(client, MODELS, METADATA, payload(10), notes="hello")

    body = assert_error(response, 422, "invalid_multipart")
    assert body["details"]["part"] == "notes"
    assert_nothing_stored(client, data_dir)


def test_two_file_parts_are_422(client, data_dir):
    parts = [*form_parts(METADATA, b"one"), ("file", ("two.pkl", b"two", "application/octet-stream"))]

    assert_error(client.post(MODELS, files=parts), 422, "invalid_multipart")
    assert_nothing_stored(client, data_dir)


def test_a_file_over_max_file_size_is_413_and_nothing_is_kept(client, data_dir, settings):
    response = post_form(client, MODELS, METADATA, payload(settings.max_file_size + 1))

    assert_error(response, 413, "file_too_large")
    assert_nothing_stored(client, data_dir)


def test_an_empty_file_part_is_422(client, data_dir):
    assert_error(post_form(client, MODELS, METADATA, b""), 422, "empty_file")
    assert_nothing_stored(client, data_dir)


def test_multipart_without_a_boundary_is_400(client):
    response = client.post(MODELS, content=b"--x\r\n", headers={"content-type": "multipart/form-data"})

    assert_error(response, 400, "invalid_multipart")
    assert total_models(client) == 0


@pytest.mark.parametrize("cut", [-4, -30, -600])
def test_a_truncated_multipart_body_is_400_and_nothing_is_kept(client, data_dir, cut):
    body, content_type = multipart_body(form_parts(METADATA, payload(1000)))

    response = client.post(MODELS, content=body[:cut], headers={"content-type": content_type})

    assert_error(response, 400, "invalid_multipart")
    assert_nothing_stored(client, data_dir)


def test_garbage_instead_of_multipart_is_400(client, data_dir):
    response = client.post(MODELS, content=b"this is not multipart at all",
                           headers={"content-type": "multipart/form-data; boundary=xyz"})

    assert_error(response, 400, "invalid_multipart")
    assert_nothing_stored(client, data_dir)
