"""A download that breaks midway goes on from where it stopped; one whose bytes are wrong is
refused and leaves nothing behind."""

from __future__ import annotations

import hashlib
import os

import httpx
import pytest

from model_service.client import ChecksumMismatch, TransportError

from .helpers import payload

SIZE = 3_000_000


@pytest.fixture
def stored(sdk, tmp_path):
    """A 3 MB model file pushed as fraud_model v1.0: (its id, its bytes)."""
    content = payload(SIZE, seed=7)
    source = tmp_path / "source.onnx"
    source.write_bytes(content)
    return sdk.push(source, name="fraud_model", algorithm="xgboost")["id"], content


def test_a_broken_download_resumes_with_a_range_and_verifies(sdk, wire, stored, tmp_path, sleeps):
    model_id, content = stored
    wire.cut(after=1_000_000)

    path = sdk.download(model_id, tmp_path / "out" / "model.onnx")

    assert path.read_bytes() == content
    first, second = wire.sent("GET", "/download")
    assert "Range" not in first.headers
    assert second.headers["Range"] == "bytes=1000000-"
    assert second.headers["If-Range"] == f'"{hashlib.sha256(content).hexdigest()}"'
    assert len(sleeps) == 1  # one pause before resuming
    assert os.listdir(tmp_path / "out") == ["model.onnx"]


def test_progress_goes_on_from_the_break(sdk, wire, stored, tmp_path):
    model_id, _ = stored
    wire.cut(after=1_000_000)
    calls = []

    sdk.download(model_id, tmp_path / "model.onnx", progress=lambda done, _total: calls.append(done))

    assert calls == sorted(calls)  # never goes back
    assert calls[-1] == SIZE


def test_a_download_that_keeps_breaking_resumes_as_long_as_bytes_come(make_sdk, tmp_path):
    sdk, wire = make_sdk(retries=1)
    content = payload(SIZE, seed=3)
    (tmp_path / "m.onnx").write_bytes(content)
    model_id = sdk.push(tmp_path / "m.onnx", name="fraud_model", algorithm="xgboost")["id"]
    wire.cut(after=400_000, times=5)

    path = sdk.download(model_id, tmp_path / "copy.onnx")

    assert path.read_bytes() == content
    ranges = [r.headers.get("Range") for r in wire.sent("GET", "/download")]
    assert ranges == [None, "bytes=400000-", "bytes=800000-", "bytes=1200000-", "bytes=1600000-", "bytes=2000000-"]


def test_a_download_that_brings_nothing_gives_up_and_leaves_nothing(make_sdk, tmp_path):
    sdk, wire = make_sdk(retries=2)
    (tmp_path / "m.onnx").write_bytes(payload(SIZE))
    model_id = sdk.push(tmp_path / "m.onnx", name="fraud_model", algorithm="xgboost")["id"]
    out = tmp_path / "out"
    out.mkdir()
    wire.cut(after=100_000)
    wire.cut(after=0, times=100)

    with pytest.raises(TransportError) as caught:
        sdk.download(model_id, out)

    assert "byte 100000" in str(caught.value)
    assert os.listdir(out) == []
    assert len(wire.sent("GET", "/download")) == 4  # the first, then 1 + retries attempts without a byte


def test_a_server_that_sends_the_whole_file_again_is_not_spliced(sdk, wire, stored, tmp_path):
    """A 200 to the range request (ranges not served, or the file changed): start over."""
    model_id, content = stored
    wire.cut(after=1_000_000)

    def drop_range(request: httpx.Request) -> None:
        del request.headers["Range"]

    wire.edit(drop_range, method="GET", path="/download")

    path = sdk.download(model_id, tmp_path / "model.onnx")

    assert path.read_bytes() == content


def test_a_corrupted_download_is_refused_and_leaves_no_file(sdk, wire, stored, tmp_path):
    model_id, content = stored
    out = tmp_path / "out"
    out.mkdir()
    wire.corrupt(at=2_000_000)

    with pytest.raises(ChecksumMismatch) as caught:
        sdk.download(model_id, out / "model.onnx")

    error = caught.value
    assert error.details["expected"] == "sha256:" + hashlib.sha256(content).hexdigest()
    assert error.details["actual"] != error.details["expected"]
    assert error.request_id
    assert os.listdir(out) == []  # neither the file nor its temporary


def test_a_corrupted_download_does_not_replace_an_existing_file(sdk, wire, stored, tmp_path):
    model_id, _ = stored
    target = tmp_path / "out" / "model.onnx"
    target.parent.mkdir()
    target.write_bytes(b"the previous model")
    wire.corrupt(at=10)

    with pytest.raises(ChecksumMismatch):
        sdk.download(model_id, target)

    assert target.read_bytes() == b"the previous model"
    assert os.listdir(target.parent) == ["model.onnx"]


def test_corruption_after_a_resume_is_refused_too(sdk, wire, stored, tmp_path):
    model_id, _ = stored
    wire.cut(after=1_000_000)
    wire.corrupt(at=5)  # in the resumed part
    out = tmp_path / "out"

    with pytest.raises(ChecksumMismatch):
        sdk.download(model_id, out / "model.onnx")

    assert os.listdir(out) == []
