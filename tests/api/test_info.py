"""GET /api/v1/models/{id}/info: the file's metadata without downloading it."""

from __future__ import annotations

import pytest

from .helpers import UNKNOWN_ID, assert_error, checksum, download, model_url, payload, upload


def info(client, model_id: str) -> dict:
    response = client.get(model_url(model_id, "/info"))
    assert response.status_code == 200, response.text
    return response.json()


def test_a_model_without_a_file(client, register):
    model_id = register()["model_id"]

    assert info(client, model_id) == {
        "model_id": model_id, "name": "fraud_model", "version": "v1.0", "algorithm": "xgboost", "has_file": False,
        "file_metadata": None, "model_size": None, "download_url": model_url(model_id, "/download"),
        "download_count": 0,
    }


def test_a_model_with_a_file(client, stored, content):
    body = info(client, stored["id"])

    assert body["has_file"] is True
    assert body["file_metadata"] == stored["file_metadata"]
    assert body["file_metadata"]["checksum"] == checksum(content)
    assert (body["model_size"], body["download_count"]) == ("1000 B", 0)
    download(client, stored["id"])
    assert info(client, stored["id"])["download_count"] == 1


@pytest.mark.parametrize(("size", "human"), [(1, "1 B"), (1023, "1023 B"), (1024, "1.0 KB"), (1536, "1.5 KB"),
                                             (3 * 1024 * 1024, "3.0 MB")])
def test_model_size_is_human_readable(client, register, size, human):
    model_id = register()["model_id"]
    upload(client, model_id, payload(size))

    assert info(client, model_id)["model_size"] == human


def test_an_unknown_or_malformed_id(client):
    assert_error(client.get(model_url(UNKNOWN_ID, "/info")), 404, "model_not_found")
    assert_error(client.get(model_url("123", "/info")), 400, "invalid_id")
