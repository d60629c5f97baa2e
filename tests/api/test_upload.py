"""POST /api/v1/models/{id}/upload: raw or multipart, verified, size-limited, stored once, immutable."""

from __future__ import annotations

import pytest

from .helpers import (
    UNKNOWN_ID,
    MiB,
    assert_error,
    blob_store_state,
    checksum,
    chunked,
    download,
    form_parts,
    get_model,
    model_url,
    multipart_body,
    payload,
    post_form,
    sha256_hex,
    upload,
)


@pytest.fixture
def model_id(register) -> str:
    return register()["model_id"]


def assert_nothing_kept(client, data_dir, model_id: str) -> None:
    assert blob_store_state(data_dir) == ([], [])
    assert get_model(client, model_id)["file_metadata"] is None


def test_a_raw_upload_answers_201_with_the_file_metadata(client, model_id, data_dir):
    data = payload(5000)

    response = upload(client, model_id, data, filename="fraud.pkl")

    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["success"], body["message"]) == (True, "File uploaded successfully")
    assert (body["model_id"], body["version"]) == (model_id, "v1.0")
    assert body["download_url"] == model_url(model_id, "/download")
    file = body["file_metadata"]
    assert (file["file_id"], file["checksum"]) == (sha256_hex(data), checksum(data))
    assert (file["size_bytes"], file["format"], file["filename"]) == (5000, "pickle", "fraud.pkl")
    assert file["content_type"] == "application/octet-stream"
    model = get_model(client, model_id)
    assert model["file_metadata"] == file
    assert (model["format"], model["model_size"]) == ("pickle", "4.9 KB")
    assert blob_store_state(data_dir) == ([sha256_hex(data)], [])
    assert download(client, model_id).content == data


def test_the_file_name_may_come_from_the_x_file_name_header(client, model_id):
    response = upload(client, model_id, b"onnx bytes", filename=None, headers={"X-File-Name": "net.onnx"})

    assert (response.json()["file_metadata"]["filename"], response.json()["file_metadata"]["format"]) == \
        ("net.onnx", "onnx")


def test_the_format_query_wins_over_the_file_name(client, model_id):
    response = upload(client, model_id, b"bytes", filename="model.pkl", format="joblib")

    assert response.json()["file_metadata"]["format"] == "joblib"


def test_without_name_or_format_the_declared_format_is_used(client, register):
    model_id = register(name="declared", format="onnx")["model_id"]

    response = upload(client, model_id, b"bytes", filename=None)

    assert response.json()["file_metadata"]["format"] == "onnx"


def test_without_any_hint_the_format_is_unknown(client, model_id):
    file = upload(client, model_id, b"bytes", filename=None).json()["file_metadata"]

    assert (file["format"], file["filename"]) == (None, None)


def test_a_client_file_name_loses_its_directories(client, model_id):
    response = upload(client, model_id, b"bytes", filename="../../etc/passwd.pkl")

    assert response.json()["file_metadata"]["filename"] == "passwd.pkl"


def test_an_invalid_format_is_422(client, model_id, data_dir):
    assert_error(upload(client, model_id, b"bytes", format="Not a format!"), 422, "invalid_format")
    assert_nothing_kept(client, data_dir, model_id)


def test_a_multipart_file_part_is_accepted(client, model_id):
    data = payload(2000)

    response = post_form(client, model_url(model_id, "/upload"), None, data, filename="forest.joblib")

    assert response.status_code == 201, response.text
    file = response.json()["file_metadata"]
    assert (file["checksum"], file["format"], file["filename"]) == (checksum(data), "joblib", "forest.joblib")
    assert download(client, model_id).content == data


def test_multipart_format_and_checksum_fields_are_honoured(client, model_id):
    data = payload(10)

    response = post_form(client, model_url(model_id, "/upload"), None, data, format="onnx", checksum=checksum(data))

    assert response.status_code == 201, response.text
    assert response.json()["file_metadata"]["format"] == "onnx"


def test_multipart_without_a_file_part_is_422(client, model_id):
    response = post_form(client, model_url(model_id, "/upload"), None, None, format="onnx")

    assert_error(response, 422, "missing_file")


def test_multipart_with_another_part_is_422(client, model_id, data_dir):
    response = post_form(client, model_url(model_id, "/upload"), {"name": "x"}, b"bytes")

    body = assert_error(response, 422, "invalid_multipart")
    assert body["details"]["part"] == "metadata"
    assert_nothing_kept(client, data_dir, model_id)


def test_a_correct_checksum_header_is_accepted(client, model_id):
    data = payload(300)

    response = upload(client, model_id, data, headers={"X-File-Checksum": checksum(data)})

    assert response.status_code == 201, response.text


@pytest.mark.parametrize("send_as", ["header", "form-field"])
def test_a_checksum_mismatch_keeps_nothing_and_a_correct_upload_then_succeeds(client, model_id, data_dir, send_as):
    data, wrong = payload(2 * MiB), checksum(b"something else")
    if send_as == "header":
        response = upload(client, model_id, data, headers={"X-File-Checksum": wrong})
    else:
        response = post_form(client, model_url(model_id, "/upload"), None, data, checksum=wrong)

    body = assert_error(response, 422, "checksum_mismatch")
    assert (body["details"]["expected"], body["details"]["actual"]) == (wrong, checksum(data))
    assert_nothing_kept(client, data_dir, model_id)

    retry = upload(client, model_id, data, headers={"X-File-Checksum": checksum(data)})
    assert retry.status_code == 201, retry.text
    assert download(client, model_id).content == data


@pytest.mark.parametrize("value", ["md5:abc", "sha256:xyz", "sha256:" + "a" * 63, "sha1:" + "a" * 64,
                                   "sha256:" + "a" * 65])
def test_a_malformed_checksum_header_is_422(client, model_id, data_dir, value):
    body = assert_error(upload(client, model_id, b"bytes", headers={"X-File-Checksum": value}), 422,
                        "invalid_checksum")

    assert body["details"]["checksum"] == value
    assert_nothing_kept(client, data_dir, model_id)


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_file_over_max_file_size_is_413_and_nothing_is_kept(client, model_id, data_dir, settings, framing):
    data = payload(settings.max_file_size + 1)

    response = upload(client, model_id, data if framing == "content-length" else chunked(data))

    body = assert_error(response, 413, "file_too_large")
    assert body["details"]["max_size_bytes"] == settings.max_file_size
    assert_nothing_kept(client, data_dir, model_id)


def test_a_file_of_exactly_max_file_size_is_accepted(make_client):
    client = make_client(max_file_size=64 * 1024)
    model_id = client.post("/api/v1/models", json={"name": "m", "algorithm": "svm"}).json()["model_id"]

    response = upload(client, model_id, payload(64 * 1024))

    assert response.status_code == 201, response.text
    assert response.json()["file_metadata"]["size_bytes"] == 64 * 1024


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_file_far_over_the_limit_is_413_in_the_error_shape(client, model_id, data_dir, settings, framing):
    """Bigger than MAX_FILE_SIZE + MAX_REQUEST_SIZE: still the JSON error a user can read."""
    data = payload(settings.max_file_size + settings.max_request_size + MiB)

    response = upload(client, model_id, data if framing == "content-length" else chunked(data))

    assert_error(response, 413, "file_too_large")
    assert_nothing_kept(client, data_dir, model_id)


def test_a_second_upload_is_409_and_the_first_file_stays(client, model_id, data_dir):
    upload(client, model_id, b"first")

    body = assert_error(upload(client, model_id, b"second"), 409, "file_exists")

    assert body["details"]["checksum"] == checksum(b"first")
    assert download(client, model_id).content == b"first"
    assert blob_store_state(data_dir) == ([sha256_hex(b"first")], [])


def test_an_empty_file_is_422(client, model_id, data_dir):
    assert_error(upload(client, model_id, b""), 422, "empty_file")
    assert_nothing_kept(client, data_dir, model_id)


def test_an_unknown_model_is_404(client, data_dir):
    assert_error(upload(client, UNKNOWN_ID, b"bytes"), 404, "model_not_found")
    assert blob_store_state(data_dir) == ([], [])


def test_a_malformed_id_is_400(client):
    assert_error(upload(client, "not-an-id", b"bytes"), 400, "invalid_id")


def test_identical_content_on_two_versions_is_stored_once(client, register, data_dir):
    data = payload(4000)
    ids = [register()["model_id"], register()["model_id"]]

    responses = [upload(client, model_id, data) for model_id in ids]

    assert [r.status_code for r in responses] == [201, 201]
    assert blob_store_state(data_dir) == ([sha256_hex(data)], [])
    assert [download(client, model_id).content for model_id in ids] == [data, data]


def test_a_truncated_multipart_upload_is_400_and_nothing_is_kept(client, model_id, data_dir):
    body, content_type = multipart_body(form_parts(None, payload(3000)))

    response = client.post(model_url(model_id, "/upload"), content=body[:-100], headers={"content-type": content_type})

    assert_error(response, 400, "invalid_multipart")
    assert_nothing_kept(client, data_dir, model_id)
