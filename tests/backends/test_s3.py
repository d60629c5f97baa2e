"""The S3 blob store beyond the shared contract: multipart uploads, temporary objects, and the
errors an operator meets (missing bucket, no credentials, an endpoint that does not answer)."""

from __future__ import annotations

import hashlib
import os

import pytest

from model_service.domain.errors import Invalid, Unavailable
from model_service.stores import BackendOptions, build_blob_store
from model_service.stores.blob_s3 import MAX_PARTS, S3BlobStore, part_size_for
from tests import ports
from tests.backends.s3 import CREDENTIALS, s3_client

MiB = 1 << 20


def _write(upload, content: bytes, chunk: int = MiB) -> None:
    for start in range(0, len(content), chunk):
        upload.write(content[start:start + chunk])


def _read(store, key: str, offset: int = 0, n: int = 4 * MiB) -> bytes:
    reader = store.open(key, offset)
    try:
        parts = []
        while chunk := reader.read(n):
            assert len(chunk) <= n
            parts.append(chunk)
        return b"".join(parts)
    finally:
        reader.close()


@pytest.fixture
def closed_port() -> int:
    return ports.closed_port()


def _unreachable_store(port: int) -> S3BlobStore:
    client = s3_client(f"http://127.0.0.1:{port}", retries={"max_attempts": 1, "mode": "standard"},
                       connect_timeout=2)
    return S3BlobStore(client, "models-bucket", "registry")


@pytest.mark.parametrize("copy", ["copy_object", "multipart_copy"])
def test_a_large_upload_goes_in_parts_and_reads_back_by_range(s3_blob_factory, moto_s3, copy):
    # 5 MiB parts: 13 full parts and a short last one; the multipart copy variant takes the path
    # that files over 5 GiB take (server-side copy part by part)
    store = s3_blob_factory(part_size=5 * MiB, copy_threshold=16 * MiB if copy == "multipart_copy" else 5 << 30)
    content = os.urandom(64 * MiB + 12345)
    key = hashlib.sha256(content).hexdigest()
    upload = store.begin_upload()
    _write(upload, content)
    [in_progress] = moto_s3.multipart_uploads(store.bucket)  # parts are sent as they fill, before finish
    parts = moto_s3.admin.list_parts(Bucket=store.bucket, Key=in_progress["Key"], UploadId=in_progress["UploadId"])
    assert [part["Size"] for part in parts["Parts"]] == [5 * MiB] * 12
    upload.finish()
    assert upload.commit(key) is True
    upload.abort()

    assert store.size(key) == len(content)
    received = _read(store, key)
    assert hashlib.sha256(received).hexdigest() == key
    for offset in (1, 5 * MiB - 1, 5 * MiB, 40 * MiB + 7, len(content) - 1):
        reader = store.open(key, offset)
        assert reader.size == len(content)
        assert reader.read(1000) == content[offset:offset + 1000]
        reader.close()
    assert _read(store, key, len(content) - 100) == content[-100:]
    # only the content key is left: no temporary object, no multipart upload in progress
    assert moto_s3.keys(store.bucket) == [f"{store.prefix}/sha256/{key[:2]}/{key[2:4]}/{key}"]
    assert moto_s3.multipart_uploads(store.bucket) == []


def test_an_upload_aborted_midway_leaves_no_object_and_no_multipart_upload(s3_blob_factory, moto_s3):
    store = s3_blob_factory(part_size=5 * MiB)
    upload = store.begin_upload()
    _write(upload, os.urandom(12 * MiB))
    assert len(moto_s3.multipart_uploads(store.bucket)) == 1  # two parts are on the server
    upload.abort()
    upload.abort()
    assert moto_s3.multipart_uploads(store.bucket) == []
    assert moto_s3.keys(store.bucket) == []


@pytest.mark.parametrize("size", [0, 1000, 11 * MiB])
def test_a_finished_upload_that_is_not_committed_leaves_nothing(s3_blob_factory, moto_s3, size):
    store = s3_blob_factory(part_size=5 * MiB)
    content = os.urandom(size)
    upload = store.begin_upload()
    _write(upload, content)
    upload.finish()
    assert moto_s3.keys(store.bucket) == [upload.temp_key]  # under tmp/, not a content key
    assert upload.temp_key.startswith(f"{store.prefix}/tmp/")
    assert store.size(hashlib.sha256(content).hexdigest()) is None
    upload.abort()
    assert moto_s3.keys(store.bucket) == []
    assert moto_s3.multipart_uploads(store.bucket) == []


def test_an_empty_file_is_a_blob_too(s3_blob_factory):
    store = s3_blob_factory()
    key = hashlib.sha256(b"").hexdigest()
    upload = store.begin_upload()
    upload.finish()
    assert upload.commit(key) is True
    upload.abort()
    assert store.size(key) == 0
    assert _read(store, key) == b""


def test_a_duplicate_upload_is_discarded_and_the_first_object_kept(s3_blob_factory, moto_s3):
    store = s3_blob_factory()
    content = b"weights" * 1000
    key = hashlib.sha256(content).hexdigest()
    uploads = [store.begin_upload() for _ in range(2)]
    for upload in uploads:
        upload.write(content)
        upload.finish()
    assert [upload.commit(key) for upload in uploads] == [True, False]
    for upload in uploads:
        upload.abort()
    assert moto_s3.keys(store.bucket) == [store.object_key(key)]
    head = moto_s3.admin.head_object(Bucket=store.bucket, Key=store.object_key(key))
    assert head["Metadata"] == {"sha256": key}


def test_an_empty_prefix_puts_blobs_at_the_bucket_root(moto_s3):
    bucket = moto_s3.new_bucket()
    store = S3BlobStore(s3_client(moto_s3.endpoint_url), bucket)
    key = hashlib.sha256(b"root").hexdigest()
    upload = store.begin_upload()
    upload.write(b"root")
    upload.finish()
    upload.commit(key)
    upload.abort()
    assert moto_s3.keys(bucket) == [f"sha256/{key[:2]}/{key[2:4]}/{key}"]
    store.close()


def test_parts_grow_so_that_any_s3_object_fits_in_the_part_limit():
    sizes = [part_size_for(number, 8 * MiB) for number in range(1, MAX_PARTS + 1)]
    assert sizes[0] == sizes[999] == 8 * MiB and sizes[1000] == 16 * MiB
    assert sum(sizes) >= 5 << 40  # S3's largest object, 5 TiB
    assert max(sizes) <= 5 << 30  # S3's largest part


def test_the_url_picks_bucket_prefix_and_endpoint(moto_s3, monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
                        "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    bucket = moto_s3.new_bucket()
    store = build_blob_store(f"s3://{bucket}/team/models/", BackendOptions(s3_endpoint_url=moto_s3.endpoint_url))
    try:
        assert isinstance(store, S3BlobStore)
        assert (store.bucket, store.prefix) == (bucket, "team/models")
        health = store.check()
        assert health.ok, health.detail
        assert health.info["endpoint"] == moto_s3.endpoint_url
        assert CREDENTIALS["aws_secret_access_key"] not in repr(health)
    finally:
        store.close()


def test_a_missing_bucket_stops_start_up_with_a_clear_message(moto_s3, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with pytest.raises(Invalid) as caught:
        S3BlobStore.from_url("s3://no-such-bucket-here/models", endpoint_url=moto_s3.endpoint_url)
    assert "S3 bucket 'no-such-bucket-here' does not exist" in caught.value.message
    assert caught.value.details == {"setting": "BLOB_STORE_URL"}


@pytest.mark.parametrize("url", ["s3://", "s3:///prefix", "s3://bucket/prefix?region=eu-west-1"])
def test_a_malformed_url_names_the_setting(url):
    with pytest.raises(Invalid) as caught:
        S3BlobStore.from_url(url)
    assert caught.value.details == {"setting": "BLOB_STORE_URL"}


def test_no_credentials_stops_start_up_with_a_clear_message(moto_s3, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with pytest.raises(Unavailable) as caught:
        S3BlobStore.from_url(f"s3://{moto_s3.new_bucket()}/models", endpoint_url=moto_s3.endpoint_url)
    assert "no usable S3 credentials" in caught.value.message


def test_a_bucket_removed_while_running_is_unavailable_not_missing(s3_blob_factory, moto_s3):
    store = s3_blob_factory()
    moto_s3.admin.delete_bucket(Bucket=store.bucket)
    upload = store.begin_upload()
    upload.write(b"x")
    with pytest.raises(Unavailable) as caught:
        upload.finish()
    assert f"S3 bucket '{store.bucket}' does not exist" in caught.value.message
    upload.abort()
    with pytest.raises(Unavailable):  # not NotFound: the blob may well exist in the right bucket
        store.open("0" * 64)
    health = store.check()
    assert not health.ok and "does not exist" in health.detail


def test_an_unreachable_endpoint_is_unavailable(closed_port):
    store = _unreachable_store(closed_port)
    key = "a" * 64
    for call in (lambda: store.size(key), lambda: store.open(key), lambda: store.delete(key)):
        with pytest.raises(Unavailable) as caught:
            call()
        assert f"cannot reach S3 at http://127.0.0.1:{closed_port}" in caught.value.message
        assert caught.value.code == "storage_error"
    upload = store.begin_upload()
    upload.write(b"bytes")
    with pytest.raises(Unavailable):
        upload.finish()
    upload.abort()  # logged, not raised: it runs in cleanup paths
    health = store.check()
    assert not health.ok and "cannot reach S3" in health.detail
    assert health.info == {"backend": "s3", "bucket": "models-bucket", "prefix": "registry",
                           "endpoint": f"http://127.0.0.1:{closed_port}"}
    store.close()


def test_an_unreachable_endpoint_stops_start_up(closed_port, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with pytest.raises(Unavailable) as caught:
        S3BlobStore.from_url("s3://models-bucket/registry", endpoint_url=f"http://127.0.0.1:{closed_port}")
    assert "cannot reach S3" in caught.value.message
