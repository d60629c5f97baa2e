"""Files on S3 through a real server: 256 MiB up and down (whole and ranged) in flat memory, and
a start-up that names the missing bucket.

The S3 is moto's server in this test process (tests/backends/s3.py); the measured process is
``model-service serve`` alone, with ``BLOB_STORE_URL=s3://…`` and ``S3_ENDPOINT_URL`` pointing there.
"""

from __future__ import annotations

import hashlib
import os
import subprocess

import httpx

from tests.backends.s3 import S3_ENVIRONMENT
from tests.system.conftest import SERVE, free_port, start_server, stop_server
from tests.system.test_streaming import CHUNK, _generated, _register

SIZE = 256 * CHUNK


def _download(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, int]:
    digest, size = hashlib.sha256(), 0
    with httpx.stream("GET", url, headers=headers, timeout=600) as response:
        for chunk in response.iter_bytes(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return response.status_code, digest.hexdigest(), size


def test_s3_transfers_keep_server_memory_flat(moto_s3, tmp_path):
    bucket = moto_s3.new_bucket()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    server = start_server(data_dir, BLOB_STORE_URL=f"s3://{bucket}/registry", S3_ENDPOINT_URL=moto_s3.endpoint_url,
                          MAX_FILE_SIZE="1GB", **S3_ENVIRONMENT)
    try:
        model_id = _register(server.url, "s3_big_model")
        baseline_kib = server.rss_kib()
        sent = hashlib.sha256()
        response = httpx.post(f"{server.url}/api/v1/models/{model_id}/upload", content=_generated(SIZE, sent),
                              headers={"Content-Type": "application/octet-stream",
                                       "Content-Length": str(SIZE)}, timeout=600)
        assert response.status_code == 201, response.text
        assert response.json()["file_metadata"]["checksum"] == f"sha256:{sent.hexdigest()}"
        assert moto_s3.keys(bucket) == [f"registry/sha256/{sent.hexdigest()[:2]}/{sent.hexdigest()[2:4]}/"
                                        f"{sent.hexdigest()}"]

        url = f"{server.url}/api/v1/models/{model_id}/download"
        assert _download(url) == (200, sent.hexdigest(), SIZE)
        status, _, size = _download(url, {"Range": f"bytes={SIZE // 2 + 1}-"})
        assert (status, size) == (206, SIZE // 2 - 1)

        growth_mib = (server.rss_kib("VmHWM") - baseline_kib) / 1024
        print(f"server RSS before {baseline_kib / 1024:.0f} MiB, peak growth {growth_mib:.1f} MiB "
              f"moving {SIZE >> 20} MiB up and {(SIZE + SIZE // 2) >> 20} MiB down through S3")
        assert growth_mib < 100, f"peak RSS grew by {growth_mib:.0f} MiB"
    finally:
        stop_server(server)


def test_serve_refuses_to_start_without_its_bucket(moto_s3, tmp_path):
    environment = {**os.environ, "DATA_DIR": str(tmp_path / "data"), "BLOB_STORE_URL": "s3://no-such-bucket/registry",
                   "S3_ENDPOINT_URL": moto_s3.endpoint_url, "PORT": str(free_port()), **S3_ENVIRONMENT}
    result = subprocess.run(SERVE, env=environment, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert "S3 bucket 'no-such-bucket' does not exist" in result.stderr
    assert "create it first" in result.stderr
