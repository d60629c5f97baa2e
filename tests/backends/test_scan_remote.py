"""Scanning uploads to remote blob stores (S3 on moto's server, GridFS on mongomock): the bytes
are copied to a local file as they stream, scanned there, and the copy is removed whatever the
outcome; with REJECT_UNSAFE_MODELS an unsafe file leaves nothing in the store either."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from model_service.domain.registry import Registry
from model_service.scanner.service import PickleScanner
from model_service.server.app import create_app
from tests import scanfiles
from tests.api.helpers import assert_error, download, get_model, register_model, upload
from tests.conftest import make_settings

SYSTEM = os.system.__module__


@pytest.fixture(params=["s3", "gridfs"])
def remote_blobs(request):
    return request.getfixturevalue(f"{request.param}_blob_factory")("scan")


@pytest.fixture
def make_remote_client(tmp_path, sqlite_metadata_factory, remote_blobs):
    clients: list[TestClient] = []
    spool = tmp_path / "spool"
    spool.mkdir()

    def make(*, reject: bool = False) -> TestClient:
        settings = make_settings(tmp_path / "data", reject_unsafe_models=reject)
        registry = Registry(sqlite_metadata_factory(f"meta{len(clients)}"), remote_blobs,
                            max_file_size=settings.max_file_size, scanner=PickleScanner(temp_dir=spool),
                            reject_unsafe=reject)
        client = TestClient(create_app(settings, registry=registry)).__enter__()
        clients.append(client)
        return client

    make.spool = spool
    yield make
    for client in clients:
        client.__exit__(None, None, None)


def spool_files(spool: Path) -> list[Path]:
    return list(spool.iterdir())


def test_an_upload_to_a_remote_store_is_scanned_from_a_local_copy_then_removed(make_remote_client):
    client = make_remote_client()
    model_id = register_model(client, name="remote")["model_id"]
    data = scanfiles.malicious_pickle()

    response = upload(client, model_id, data)

    assert response.status_code == 201, response.text
    scan = get_model(client, model_id)["file_metadata"]["scan"]
    assert scan["verdict"] == "unsafe"
    assert scan["globals"] == [{"module": SYSTEM, "name": "system", "safety": "dangerous"}]
    got = download(client, model_id)
    assert (got.content, got.headers["x-model-scan"]) == (data, "unsafe")
    assert spool_files(make_remote_client.spool) == []


def test_a_rejected_upload_leaves_nothing_in_the_remote_store(make_remote_client, remote_blobs):
    client = make_remote_client(reject=True)
    model_id = register_model(client, name="remote")["model_id"]
    data = scanfiles.malicious_pickle()

    assert_error(upload(client, model_id, data), 422, "unsafe_model")

    assert get_model(client, model_id)["file_metadata"] is None
    assert remote_blobs.size(hashlib.sha256(data).hexdigest()) is None
    assert spool_files(make_remote_client.spool) == []
    safe = upload(client, model_id, scanfiles.benign_pickle())
    assert safe.status_code == 201 and safe.json()["file_metadata"]["scan"]["verdict"] == "safe"
    assert spool_files(make_remote_client.spool) == []
