"""The real app with its files on S3 (moto's server): upload, ranged download and delete through
the API, and a 503 that says what is wrong when S3 is not there."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from model_service.domain.registry import Registry
from model_service.server.app import create_app
from model_service.stores.blob_s3 import S3BlobStore
from tests.api.helpers import model_url, payload, register_model, upload
from tests.backends.s3 import s3_client
from tests.conftest import make_settings
from tests.ports import closed_port

MiB = 1 << 20


@pytest.fixture
def make_s3_client(tmp_path, sqlite_metadata_factory) -> Iterator[Callable[[S3BlobStore], TestClient]]:
    clients: list[TestClient] = []

    def make(blobs: S3BlobStore) -> TestClient:
        settings = make_settings(tmp_path / "data", blob_store_url=blobs.location, s3_endpoint_url=blobs.endpoint_url)
        registry = Registry(sqlite_metadata_factory(), blobs, max_file_size=settings.max_file_size)
        client = TestClient(create_app(settings, registry=registry), raise_server_exceptions=False)
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def test_upload_ranged_download_and_delete_through_the_api(make_s3_client, s3_blob_factory, moto_s3):
    blobs = s3_blob_factory(part_size=5 * MiB)
    client = make_s3_client(blobs)
    content = payload(7 * MiB + 99)  # two multipart parts
    digest = hashlib.sha256(content).hexdigest()
    model_id = register_model(client, name="s3_model")["model_id"]

    response = upload(client, model_id, content, filename="model.pkl",
                      headers={"X-File-Checksum": f"sha256:{digest}"})
    assert response.status_code == 201, response.text
    assert moto_s3.keys(blobs.bucket) == [f"{blobs.prefix}/sha256/{digest[:2]}/{digest[2:4]}/{digest}"]
    assert moto_s3.multipart_uploads(blobs.bucket) == []

    full = client.get(model_url(model_id, "/download"))
    assert full.status_code == 200
    assert full.content == content
    assert full.headers["x-file-checksum"] == f"sha256:{digest}"

    ranged = client.get(model_url(model_id, "/download"), headers={"Range": f"bytes={6 * MiB}-"})
    assert ranged.status_code == 206
    assert ranged.headers["content-range"] == f"bytes {6 * MiB}-{len(content) - 1}/{len(content)}"
    assert ranged.content == content[6 * MiB:]
    middle = client.get(model_url(model_id, "/download"), headers={"Range": "bytes=1000-1999"})
    assert middle.status_code == 206 and middle.content == content[1000:2000]

    health = client.get("/health/detailed").json()
    assert health["checks"]["blob_store"] == "healthy"
    assert health["check_details"]["blob_store"]["bucket"] == blobs.bucket

    assert client.delete(model_url(model_id)).status_code == 200
    assert moto_s3.keys(blobs.bucket) == []


def test_a_failed_checksum_leaves_nothing_in_the_bucket(make_s3_client, s3_blob_factory, moto_s3):
    blobs = s3_blob_factory(part_size=5 * MiB)
    client = make_s3_client(blobs)
    model_id = register_model(client, name="s3_model")["model_id"]
    response = upload(client, model_id, payload(6 * MiB), headers={"X-File-Checksum": "sha256:" + "0" * 64})
    assert response.status_code == 422
    assert moto_s3.keys(blobs.bucket) == []
    assert moto_s3.multipart_uploads(blobs.bucket) == []


def test_a_removed_bucket_answers_503_with_the_reason(make_s3_client, s3_blob_factory, moto_s3):
    blobs = s3_blob_factory()
    client = make_s3_client(blobs)
    model_id = register_model(client, name="s3_model")["model_id"]
    assert upload(client, model_id, payload(1000)).status_code == 201
    for key in moto_s3.keys(blobs.bucket):
        moto_s3.admin.delete_object(Bucket=blobs.bucket, Key=key)
    moto_s3.admin.delete_bucket(Bucket=blobs.bucket)

    response = client.get(model_url(model_id, "/download"))
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "storage_error"
    assert f"S3 bucket '{blobs.bucket}' does not exist" in body["error"]

    other = register_model(client, name="s3_model")["model_id"]
    response = upload(client, other, payload(2000, seed=1))
    assert response.status_code == 503
    assert response.json()["code"] == "storage_error"
    assert client.get("/health/detailed").status_code == 503


def test_an_unreachable_endpoint_answers_503(make_s3_client):
    port = closed_port()
    client_of_nowhere = s3_client(f"http://127.0.0.1:{port}", retries={"max_attempts": 1, "mode": "standard"})
    client = make_s3_client(S3BlobStore(client_of_nowhere, "models-bucket", "registry"))
    model_id = register_model(client, name="s3_model")["model_id"]
    response = upload(client, model_id, payload(1000))
    assert response.status_code == 503
    assert response.json()["code"] == "storage_error"
    assert f"cannot reach S3 at http://127.0.0.1:{port}" in response.json()["error"]
    assert client.get(model_url(model_id)).json()["file_metadata"] is None
