"""``model-service migrate`` as a user runs it: off the embedded default, then serving from the copy."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from model_service.config import Settings
from model_service.server.app import create_app

MIGRATE = [sys.executable, "-m", "model_service", "migrate"]


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items()
           if key not in ("DATABASE_URL", "BLOB_STORE_URL", "MONGODB_URL")}
    return subprocess.run([*MIGRATE, *args], env={**env, "DATA_DIR": str(data_dir)}, capture_output=True,
                          text=True, timeout=120, check=False)


def populate(data_dir: Path) -> dict[str, bytes]:
    """Versions with files, an alias and a download, through the API on DATA_DIR."""
    files = {}
    with TestClient(create_app(Settings(data_dir=data_dir, access_log=False))) as client:
        for index in range(3):
            content = hashlib.sha256(b"%d" % index).digest() * 1000
            metadata = '{"name": "fraud", "algorithm": "xgboost", "metrics": {"accuracy": 0.9}}'
            response = client.post("/api/v1/models", data={"metadata": metadata}, files={"file": ("m.pkl", content)})
            assert response.status_code == 201, response.text
            files[response.json()["model_id"]] = content
        assert client.put("/api/v1/models/by-name/fraud/aliases/production", json={"version": "v1.1"}).is_success
        assert client.get(f"/api/v1/models/{next(iter(files))}/download").status_code == 200
    return files


def test_moving_off_the_embedded_default_and_serving_from_the_copy(tmp_path):
    data_dir = tmp_path / "data"
    files = populate(data_dir)
    target_db, target_blobs = f"sqlite:///{tmp_path / 'moved' / 'registry.db'}", str(tmp_path / "moved" / "blobs")

    first = run(data_dir, "--to", f"{target_db},{target_blobs}")
    assert first.returncode == 0, first.stderr
    assert "3 copied" in first.stdout and "each sha256 verified" in first.stdout
    again = run(data_dir, "--to", f"{target_db},{target_blobs}")
    assert again.returncode == 0, again.stderr
    assert "0 copied, 3 already there" in again.stdout

    moved = Settings(data_dir=tmp_path / "unused", database_url=target_db, blob_store_url=target_blobs,
                     access_log=False)
    with TestClient(create_app(moved)) as client:
        first_id = next(iter(files))
        assert client.get(f"/api/v1/models/{first_id}").json()["download_count"] == 1
        for model_id, content in files.items():
            download = client.get(f"/api/v1/models/{model_id}/download")
            assert download.status_code == 200 and download.content == content
        assert client.get("/api/v1/models/by-name/fraud/versions/production").json()["version"] == "v1.1"
        history = client.get("/api/v1/models/by-name/fraud/history").json()
        assert any(event["kind"] == "alias" for event in history["events"])


def test_a_target_that_cannot_be_reached_is_a_clear_error(tmp_path):
    data_dir = tmp_path / "data"
    populate(data_dir)
    result = run(data_dir, "--to", "postgresql://nobody@127.0.0.1:1/none")
    assert result.returncode != 0
    assert "Error:" in result.stderr and "Traceback" not in result.stderr


def test_the_same_database_on_both_sides_is_refused(tmp_path):
    data_dir = tmp_path / "data"
    populate(data_dir)
    result = run(data_dir, "--to", f"sqlite:///{(data_dir / 'registry.db').resolve()}")
    assert result.returncode != 0 and "same metadata database" in result.stderr
