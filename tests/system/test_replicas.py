"""Two ``model-service serve`` processes on one PostgreSQL + S3 pair: all shared state is in the
stores, so either process serves what the other wrote, and versions stay unique across both."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading

import httpx
import pytest

from tests.backends.s3 import S3_ENVIRONMENT

from .conftest import start_server, stop_server

WRITERS = 8
EACH = 4


@pytest.fixture
def replicas(tmp_path, postgresql_database, moto_s3):
    environment = {"DATABASE_URL": postgresql_database, "BLOB_STORE_URL": f"s3://{moto_s3.new_bucket()}/registry",
                   "S3_ENDPOINT_URL": moto_s3.endpoint_url, **S3_ENVIRONMENT}
    upgrade = subprocess.run([sys.executable, "-m", "model_service", "db", "upgrade"], capture_output=True,
                             text=True, timeout=120, env={**os.environ, **environment}, check=False)
    assert upgrade.returncode == 0, upgrade.stderr
    servers = []
    try:
        for name in ("a", "b"):
            data_dir = tmp_path / name / "data"
            data_dir.mkdir(parents=True)
            servers.append(start_server(data_dir, **environment))
        yield servers
    finally:
        for server in servers:
            stop_server(server)


def content_of(writer: int, index: int) -> bytes:
    return hashlib.sha256(b"%d/%d" % (writer, index)).digest() * 4096  # 128 KiB, distinct per version


def test_two_replicas_share_versions_and_files(replicas):
    barrier = threading.Barrier(WRITERS)
    made: dict[str, bytes] = {}
    failures: list[str] = []

    def writer(n: int) -> None:
        server = replicas[n % 2]  # half the writers on each process
        with httpx.Client(base_url=server.url, timeout=60) as client:
            barrier.wait()
            for i in range(EACH):
                content = content_of(n, i)
                response = client.post(
                    "/api/v1/models", files={"file": ("model.pkl", content)},
                    data={"metadata": '{"name": "fraud_model", "algorithm": "xgboost"}'})
                if response.status_code != 201:
                    failures.append(f"{response.status_code} {response.text[:300]}")
                else:
                    made[response.json()["model_id"]] = content

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []

    for server in replicas:  # both processes list the same versions: unique and gap-free
        listed = httpx.get(f"{server.url}/api/v1/models/by-name/fraud_model", timeout=30).json()
        versions = sorted(int(m["version"].split(".")[1]) for m in listed["versions"])
        assert versions == list(range(WRITERS * EACH))
        assert {m["id"] for m in listed["versions"]} == set(made)

    for model_id, content in made.items():  # every file, intact, from either process
        for server in replicas:
            download = httpx.get(f"{server.url}/api/v1/models/{model_id}/download", timeout=60)
            assert download.status_code == 200
            assert hashlib.sha256(download.content).digest() == hashlib.sha256(content).digest()
            assert download.headers["X-File-Checksum"] == f"sha256:{hashlib.sha256(content).hexdigest()}"


def test_what_one_replica_changes_the_other_serves(replicas):
    first, second = replicas
    content = content_of(99, 0)
    created = httpx.post(f"{first.url}/api/v1/models", files={"file": ("m.pkl", content)},
                         data={"metadata": '{"name": "churn", "algorithm": "svm"}'}, timeout=60).json()
    model_id = created["model_id"]
    moved = httpx.put(f"{second.url}/api/v1/models/by-name/churn/aliases/production", json={"version": "v1.0"},
                      timeout=30)
    assert moved.status_code == 200
    aliased = httpx.get(f"{first.url}/api/v1/models/by-name/churn/versions/production/download", timeout=60)
    assert aliased.status_code == 200 and aliased.content == content

    assert httpx.delete(f"{second.url}/api/v1/models/{model_id}", timeout=30).status_code == 200
    assert httpx.get(f"{first.url}/api/v1/models/{model_id}", timeout=30).status_code == 404
    assert httpx.get(f"{first.url}/api/v1/models/{model_id}/download", timeout=30).status_code == 404
