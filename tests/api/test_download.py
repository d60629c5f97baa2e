"""GET|HEAD /api/v1/models/{id}/download: headers, ranges, conditional requests, download counting."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from .helpers import (
    UNKNOWN_ID,
    assert_error,
    checksum,
    download,
    download_count,
    register_model,
    sha256_hex,
    upload,
)


def test_a_download_returns_the_bytes_with_every_header(client, stored, content):
    response = download(client, stored["id"])

    assert response.status_code == 200
    assert response.content == content
    headers = response.headers
    assert headers["content-length"] == "1000"
    assert headers["content-type"] == "application/octet-stream"
    assert headers["content-disposition"].startswith('attachment; filename="fraud_model.pkl"')
    assert headers["x-model-algorithm"] == "xgboost"
    assert headers["x-model-version"] == "v1.0"
    assert headers["x-file-checksum"] == checksum(content)
    assert headers["etag"] == f'"{sha256_hex(content)}"'
    assert headers["accept-ranges"] == "bytes"
    assert "content-range" not in headers


def test_head_has_the_headers_and_no_body_and_is_not_counted(client, stored):
    get = download(client, stored["id"])
    head = download(client, stored["id"], "HEAD")

    assert head.status_code == 200
    assert head.content == b""
    for name in ("content-length", "content-type", "content-disposition", "x-model-algorithm", "x-model-version",
                 "x-file-checksum", "etag", "accept-ranges"):
        assert head.headers[name] == get.headers[name], name
    assert download_count(client, stored["id"]) == 1


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=0-99", 0, 99), ("bytes=-10", 990, 999), ("bytes=100-", 100, 999), ("bytes=900-5000", 900, 999),
     ("bytes=999-999", 999, 999), ("bytes=-5000", 0, 999), (" bytes=5-9 ", 5, 9)],
)
def test_a_single_range_is_206_with_exactly_those_bytes(client, stored, content, header, start, end):
    response = download(client, stored["id"], range=header)

    assert response.status_code == 206, response.text
    assert response.content == content[start:end + 1]
    assert response.headers["content-range"] == f"bytes {start}-{end}/1000"
    assert response.headers["content-length"] == str(end - start + 1)
    assert response.headers["etag"] == f'"{sha256_hex(content)}"'


@pytest.mark.parametrize("header", ["bytes=1000-1100", "bytes=5000-", "bytes=-0"])
def test_a_range_outside_the_file_is_416(client, stored, header):
    response = download(client, stored["id"], range=header)

    body = assert_error(response, 416, "range_not_satisfiable")
    assert response.headers["content-range"] == "bytes */1000"
    assert body["details"]["size"] == 1000
    assert download_count(client, stored["id"]) == 0


@pytest.mark.parametrize("header", ["bytes=abc", "items=0-5", "bytes=5-2", "bytes=0-1,5-6", "bytes=-", "0-99"])
def test_a_malformed_range_is_ignored_and_the_whole_file_sent(client, stored, content, header):
    response = download(client, stored["id"], range=header)

    assert response.status_code == 200
    assert response.content == content
    assert "content-range" not in response.headers


@pytest.mark.parametrize("etag", ["{etag}", "W/{etag}", '"other", {etag}', "*"])
def test_if_none_match_with_the_etag_is_304_without_a_body(client, stored, content, etag):
    value = etag.format(etag=f'"{sha256_hex(content)}"')

    response = download(client, stored["id"], if_none_match=value)

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == f'"{sha256_hex(content)}"'
    assert download_count(client, stored["id"]) == 0


def test_if_none_match_with_another_etag_sends_the_file(client, stored, content):
    response = download(client, stored["id"], if_none_match='"something-else"')

    assert (response.status_code, response.content) == (200, content)


def test_if_range_with_another_etag_sends_the_whole_file(client, stored, content):
    response = download(client, stored["id"], range="bytes=0-9", if_range='"stale"')

    assert (response.status_code, response.content) == (200, content)


def test_if_range_with_the_etag_honours_the_range(client, stored, content):
    response = download(client, stored["id"], range="bytes=0-9", if_range=f'"{sha256_hex(content)}"')

    assert (response.status_code, response.content) == (206, content[:10])


def test_each_full_get_counts_one_download(client, stored):
    for expected in (1, 2, 3):
        download(client, stored["id"])
        assert download_count(client, stored["id"]) == expected


def test_a_range_to_the_last_byte_counts_and_a_middle_range_does_not(client, stored):
    download(client, stored["id"], range="bytes=10-19")
    assert download_count(client, stored["id"]) == 0

    download(client, stored["id"], range="bytes=500-")
    assert download_count(client, stored["id"]) == 1

    download(client, stored["id"], range="bytes=-1")
    assert download_count(client, stored["id"]) == 2


def test_a_model_without_a_file_is_404_file_not_found(client, register):
    model_id = register()["model_id"]

    body = assert_error(download(client, model_id), 404, "file_not_found")
    assert body["details"]["model_id"] == model_id
    head = download(client, model_id, "HEAD")
    assert (head.status_code, head.content) == (404, b"")


def test_a_file_lost_by_the_blob_store_is_an_error_not_a_cut_short_200(client, stored, data_dir):
    """The blob is opened before the status line is sent, so the store's error is the answer."""
    for blob in (data_dir / "blobs" / "sha256").rglob(stored["file_metadata"]["checksum"].removeprefix("sha256:")):
        blob.unlink()

    body = assert_error(download(client, stored["id"]), 404, "blob_missing")
    assert download_count(client, stored["id"]) == 0
    assert body["details"]["sha256"] == stored["file_metadata"]["checksum"].removeprefix("sha256:")


def test_an_unknown_or_malformed_id(client):
    assert_error(download(client, UNKNOWN_ID), 404, "model_not_found")
    assert_error(download(client, "xyz"), 400, "invalid_id")


@pytest.mark.parametrize(
    ("fields", "filename", "params", "expected"),
    [
        ({"format": "onnx"}, None, {}, "fraud_model.onnx"),
        ({}, "model.joblib", {}, "fraud_model.joblib"),
        ({}, "weights.bin", {"format": "safetensors"}, "fraud_model.safetensors"),
        ({}, None, {}, "fraud_model.bin"),
    ],
)
def test_the_download_name_is_the_model_name_with_the_extension_of_its_format(client, fields, filename, params,
                                                                              expected):
    model_id = register_model(client, **fields)["model_id"]
    upload(client, model_id, b"weights", filename=filename, **params)

    assert f'filename="{expected}"' in download(client, model_id).headers["content-disposition"]


def test_a_name_with_percent_and_plus_survives_content_disposition(client):
    model_id = register_model(client, name="bert+large_90%")["model_id"]
    upload(client, model_id, b"weights", filename="m.pkl")

    disposition = download(client, model_id).headers["content-disposition"]

    encoded = disposition.split("filename*=UTF-8''", 1)[1]
    assert unquote(encoded) == "bert+large_90%.pkl"


def test_a_non_ascii_algorithm_is_sent_percent_encoded(client):
    model_id = register_model(client, algorithm="régression-logistique")["model_id"]
    upload(client, model_id, b"weights")

    response = download(client, model_id)

    assert response.status_code == 200
    assert unquote(response.headers["x-model-algorithm"]) == "régression-logistique"
