"""Uploading and downloading files through the SDK: streamed, checked, named, with progress."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from model_service.client import ChecksumMismatch, NotFound, PayloadTooLarge

from .helpers import payload


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_upload_from_a_path_sends_the_checksum_and_streams_with_a_length(sdk, wire, model_file):
    model_id = sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})

    answer = sdk.upload(model_id, model_file)

    content = model_file.read_bytes()
    assert answer["file_metadata"]["checksum"] == sha256(content)
    assert answer["file_metadata"]["filename"] == "model.onnx"
    assert answer["file_metadata"]["format"] == "onnx"
    (request,) = wire.sent("POST", "/upload")
    assert request.headers["X-File-Checksum"] == sha256(content)
    assert request.headers["Content-Length"] == str(len(content))


def test_upload_from_a_file_object_starts_at_its_position(sdk, model_file):
    model_id = sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})
    content = model_file.read_bytes()

    with open(model_file, "rb") as file:
        file.seek(1000)
        answer = sdk.upload(model_id, file, format="onnx")

    assert answer["file_metadata"]["checksum"] == sha256(content[1000:])
    assert answer["file_metadata"]["size_bytes"] == len(content) - 1000


def test_upload_from_a_stream_that_cannot_be_read_twice(sdk, wire):
    """A pipe: sent as it comes (chunked), without a checksum, still stored whole."""
    content = payload(50_000)

    class Pipe(io.RawIOBase):
        def __init__(self):
            self.data = io.BytesIO(content)

        def readable(self):
            return True

        def seekable(self):
            return False

        def readinto(self, buffer):
            chunk = self.data.read(min(len(buffer), 4096))
            buffer[:len(chunk)] = chunk
            return len(chunk)

    model_id = sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})
    answer = sdk.upload(model_id, Pipe(), filename="model.onnx")

    assert answer["file_metadata"]["checksum"] == sha256(content)
    (request,) = wire.sent("POST", "/upload")
    assert "X-File-Checksum" not in request.headers
    assert request.headers.get("Transfer-Encoding") == "chunked"


def test_upload_reports_progress(sdk, tmp_path):
    path = tmp_path / "big.onnx"
    path.write_bytes(payload(2_500_000))
    calls = []
    model_id = sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})

    sdk.upload(model_id, path, progress=lambda done, total: calls.append((done, total)))

    assert calls[0] == (0, 2_500_000)
    assert calls[-1] == (2_500_000, 2_500_000)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert len(calls) >= 3


def test_a_wrong_checksum_is_refused_by_the_server_and_nothing_is_kept(sdk, model_file):
    model_id = sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})

    with pytest.raises(ChecksumMismatch) as caught:
        sdk.upload(model_id, model_file, checksum="sha256:" + "0" * 64)

    assert caught.value.status == 422
    assert sdk.info(model_id)["has_file"] is False


def test_an_oversized_upload_is_refused(make_sdk, model_file):
    sdk, _ = make_sdk(settings={"max_file_size": 1000})
    model_id = sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})

    with pytest.raises(PayloadTooLarge) as caught:
        sdk.upload(model_id, model_file)
    assert caught.value.code == "file_too_large"


def test_upload_of_a_missing_path_fails_before_any_request(sdk, wire, tmp_path):
    with pytest.raises(FileNotFoundError):
        sdk.upload("0123456789abcdef01234567", tmp_path / "nowhere.onnx")
    assert wire.requests == []


def test_push_registers_and_uploads_in_one_request(sdk, wire, model_file):
    record = sdk.push(model_file, name="fraud_model", algorithm="xgboost", metrics={"accuracy": 0.9},
                      tags=["fraud"])

    assert (record["name"], record["version"], record["tags"]) == ("fraud_model", "v1.0", ["fraud"])
    assert record["file_metadata"]["checksum"] == sha256(model_file.read_bytes())
    assert record["file_metadata"]["filename"] == "model.onnx"
    assert len(wire.sent("POST")) == 1


def test_push_with_invalid_metadata_keeps_nothing(sdk, model_file):
    from model_service.client import Unprocessable

    with pytest.raises(Unprocessable):
        sdk.push(model_file, name="fraud_model", algorithm="xgboost", metrics={"accuracy": "high"})
    assert sdk.search_models(name="fraud_model") == []


def test_download_to_a_file_path(sdk, model_file, tmp_path):
    model_id = sdk.push(model_file, name="fraud_model", algorithm="xgboost")["id"]

    path = sdk.download_model(model_id, tmp_path / "out" / "copy.onnx")

    assert path == tmp_path / "out" / "copy.onnx"
    assert path.read_bytes() == model_file.read_bytes()


def test_download_into_a_folder_takes_the_servers_filename(sdk, model_file, tmp_path):
    sdk.push(model_file, name="fraud_model", algorithm="xgboost")
    folder = tmp_path / "models"
    folder.mkdir()

    path = sdk.download("fraud_model", folder)

    assert path == folder / "fraud_model.onnx"
    assert path.read_bytes() == model_file.read_bytes()
    assert os.listdir(folder) == ["fraud_model.onnx"]


def test_download_into_the_current_folder_by_default(sdk, model_file, tmp_path, monkeypatch):
    sdk.push(model_file, name="fraud_model", algorithm="xgboost")
    monkeypatch.chdir(tmp_path)

    assert sdk.download("fraud_model/v1.0") == Path.cwd() / "fraud_model.onnx"


def test_download_by_alias(sdk, model_file, tmp_path):
    sdk.push(model_file, name="fraud_model", algorithm="xgboost")
    other = tmp_path / "other.onnx"
    other.write_bytes(b"another model")
    sdk.push(other, name="fraud_model", algorithm="xgboost")
    sdk.set_alias("fraud_model", "production", "v1.0")

    path = sdk.download("fraud_model@production", tmp_path / "prod.onnx")

    assert path.read_bytes() == model_file.read_bytes()


def test_download_reports_progress_with_the_total(sdk, tmp_path):
    path = tmp_path / "big.onnx"
    path.write_bytes(payload(3_000_000))
    model_id = sdk.push(path, name="fraud_model", algorithm="xgboost")["id"]
    calls = []

    sdk.download(model_id, tmp_path / "copy.onnx", progress=lambda done, total: calls.append((done, total)))

    assert calls[-1] == (3_000_000, 3_000_000)
    assert all(total == 3_000_000 for _, total in calls)


def test_download_refuses_to_overwrite_when_asked(sdk, model_file, tmp_path):
    model_id = sdk.push(model_file, name="fraud_model", algorithm="xgboost")["id"]
    target = tmp_path / "copy.onnx"
    target.write_bytes(b"keep me")

    with pytest.raises(FileExistsError):
        sdk.download(model_id, target, overwrite=False)
    assert target.read_bytes() == b"keep me"

    sdk.download(model_id, target)
    assert target.read_bytes() == model_file.read_bytes()


def test_download_of_a_version_without_a_file_leaves_nothing(sdk, tmp_path):
    model_id = sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})
    folder = tmp_path / "out"
    folder.mkdir()

    with pytest.raises(NotFound) as caught:
        sdk.download(model_id, folder)
    assert caught.value.code == "file_not_found"
    assert os.listdir(folder) == []


def test_info(sdk, model_file):
    model_id = sdk.push(model_file, name="fraud_model", algorithm="xgboost")["id"]

    info = sdk.info("fraud_model")

    assert info["model_id"] == model_id and info["has_file"] is True
    assert info["file_metadata"]["size_bytes"] == model_file.stat().st_size
