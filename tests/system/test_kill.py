"""SIGKILL in the middle of an upload, then a restart: no partial blob is visible, no metadata
points at nothing, ``model-service gc`` removes what the upload left and ``fsck`` is clean
afterwards, and the same upload then succeeds — on the embedded default and on PostgreSQL + S3."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.backends.s3 import S3_ENVIRONMENT

from .conftest import LiveServer, start_server, stop_server

MiB = 1 << 20
SIZE = 12 * MiB  # more than one 8 MiB S3 part: S3 holds an unfinished multipart upload when killed


def payload() -> bytes:
    block = hashlib.sha256(b"killed upload").digest() * (MiB // 32)
    return b"".join(bytes([i]) + block[1:] for i in range(SIZE // MiB))


@pytest.fixture(params=["embedded", "postgresql+s3"])
def setup(request, tmp_path):
    """The environment of the servers and commands, and how to see the upload in flight."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    if request.param == "embedded":
        temp = data_dir / "blobs" / "tmp"

        def in_flight() -> bool:
            return any(path.name.endswith(".part") and path.stat().st_size >= 9 * MiB for path in temp.iterdir())

        return data_dir, {}, in_flight
    database = request.getfixturevalue("postgresql_database")
    moto_s3 = request.getfixturevalue("moto_s3")
    bucket = moto_s3.new_bucket()
    environment = {"DATABASE_URL": database, "BLOB_STORE_URL": f"s3://{bucket}/registry",
                   "S3_ENDPOINT_URL": moto_s3.endpoint_url, **S3_ENVIRONMENT}
    assert command(data_dir, environment, "db", "upgrade").returncode == 0

    def in_flight() -> bool:  # a part is stored, not only the multipart upload begun: gc has bytes to reclaim
        return any(moto_s3.admin.list_parts(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]).get("Parts")
                   for upload in moto_s3.multipart_uploads(bucket))

    return data_dir, environment, in_flight


def command(data_dir: Path, environment: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "model_service", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "DATA_DIR": str(data_dir), **environment}, check=False)


def start_upload(server: LiveServer, model_id: str, data: bytes) -> socket.socket:
    """Send the headers and the first 10 MiB of a raw-body upload, and no more."""
    host, port = urlsplit(server.url).hostname, urlsplit(server.url).port
    sock = socket.create_connection((host, port), timeout=30)
    sock.sendall((f"POST /api/v1/models/{model_id}/upload HTTP/1.1\r\nHost: {host}:{port}\r\n"
                  f"Content-Type: application/octet-stream\r\nContent-Length: {len(data)}\r\n\r\n").encode())
    sock.sendall(data[:10 * MiB])
    return sock


def test_sigkill_mid_upload_leaves_nothing_broken(setup):
    data_dir, environment, in_flight = setup
    data = payload()
    server = start_server(data_dir, **environment)
    try:
        model_id = httpx.post(f"{server.url}/api/v1/models", json={"name": "killed", "algorithm": "svm"},
                              timeout=30).json()["model_id"]
        sock = start_upload(server, model_id, data)
        deadline = time.monotonic() + 30
        while not in_flight():
            assert time.monotonic() < deadline, "the upload never reached the blob store's temporary space"
            time.sleep(0.05)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=30)
        sock.close()
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()

    server = start_server(data_dir, **environment)
    try:
        # no partial blob is visible, and no metadata points at nothing
        model = httpx.get(f"{server.url}/api/v1/models/{model_id}", timeout=30).json()
        assert model["file_metadata"] is None
        assert httpx.get(f"{server.url}/api/v1/models/{model_id}/download", timeout=30).status_code == 404
        before = command(data_dir, environment, "fsck", "--json", "--temp-older-than", "0s")
        report = json.loads(before.stdout)
        assert report["checked"]["blobs"] == 0 and report["checked"]["versions"] == 0
        assert {problem["kind"] for problem in report["problems"]} == {"stale_temp_upload"}, report
        assert before.returncode == 1

        collected = command(data_dir, environment, "gc", "--temp-older-than", "0s", "--json")
        assert collected.returncode == 0, collected.stderr
        reclaimed = json.loads(collected.stdout)
        assert reclaimed["orphan_blobs"] == [] and reclaimed["bytes_reclaimed"] >= 8 * MiB

        after = command(data_dir, environment, "fsck", "--temp-older-than", "0s")
        assert after.returncode == 0, after.stdout + after.stderr
        assert "no problems" in after.stdout

        # the same upload now succeeds, and reads back whole
        response = httpx.post(f"{server.url}/api/v1/models/{model_id}/upload", content=data,
                              headers={"Content-Type": "application/octet-stream"}, timeout=120)
        assert response.status_code == 201, response.text
        digest = hashlib.sha256(data).hexdigest()
        assert response.json()["file_metadata"]["checksum"] == f"sha256:{digest}"
        downloaded = httpx.get(f"{server.url}/api/v1/models/{model_id}/download", timeout=120)
        assert hashlib.sha256(downloaded.content).hexdigest() == digest
        final = command(data_dir, environment, "fsck")
        assert final.returncode == 0 and "1 file references and 1 blobs" in final.stdout, final.stdout
    finally:
        stop_server(server)
