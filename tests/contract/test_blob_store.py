"""The BlobStore contract (domain/ports.py), run against every blob backend."""

from __future__ import annotations

import hashlib
import os

import pytest

from model_service.domain.errors import Invalid, NotFound


def put(store, content: bytes, chunk: int = 65536) -> str:
    key = hashlib.sha256(content).hexdigest()
    upload = store.begin_upload()
    for start in range(0, len(content), chunk):
        upload.write(content[start:start + chunk])
    upload.finish()
    assert upload.commit(key) is True
    upload.abort()
    return key


def read_all(store, key: str, offset: int = 0) -> bytes:
    reader = store.open(key, offset)
    parts = []
    try:
        while chunk := reader.read(100_000):
            parts.append(chunk)
    finally:
        reader.close()
    return b"".join(parts)


def test_committed_bytes_read_back_exactly(blob_store):
    content = os.urandom(3 * 1024 * 1024 + 17)
    key = put(blob_store, content)
    assert blob_store.size(key) == len(content)
    assert read_all(blob_store, key) == content
    reader = blob_store.open(key)
    assert reader.size == len(content)
    reader.close()


def test_reading_from_an_offset(blob_store):
    content = bytes(range(256)) * 100
    key = put(blob_store, content)
    assert read_all(blob_store, key, 1000) == content[1000:]
    assert read_all(blob_store, key, len(content)) == b""


def test_nothing_is_visible_before_commit_and_abort_discards(blob_store):
    content = b"half written"
    key = hashlib.sha256(content).hexdigest()
    upload = blob_store.begin_upload()
    upload.write(content)
    upload.finish()
    assert blob_store.size(key) is None
    upload.abort()
    upload.abort()
    assert blob_store.size(key) is None
    with pytest.raises(NotFound):
        blob_store.open(key)


def test_finishing_twice_is_harmless_and_writing_after_it_is_refused(blob_store):
    upload = blob_store.begin_upload()
    upload.write(b"done")
    upload.finish()
    upload.finish()
    with pytest.raises(RuntimeError):
        upload.write(b"more")
    upload.abort()
    with pytest.raises(RuntimeError):
        upload.write(b"more")


def test_committing_existing_content_keeps_one_blob(blob_store):
    key = put(blob_store, b"same")
    upload = blob_store.begin_upload()
    upload.write(b"same")
    upload.finish()
    assert upload.commit(key) is False
    upload.abort()
    assert read_all(blob_store, key) == b"same"


def test_a_commit_can_be_repeated_after_the_blob_was_deleted(blob_store):
    content = b"retried transaction"
    key = hashlib.sha256(content).hexdigest()
    upload = blob_store.begin_upload()
    upload.write(content)
    upload.finish()
    assert upload.commit(key) is True
    blob_store.delete(key)
    assert upload.commit(key) is True
    upload.abort()
    assert read_all(blob_store, key) == content


def test_delete_is_idempotent(blob_store):
    key = put(blob_store, b"bye")
    blob_store.delete(key)
    blob_store.delete(key)
    assert blob_store.size(key) is None


def test_missing_blobs(blob_store):
    key = "0" * 64
    assert blob_store.size(key) is None
    with pytest.raises(NotFound):
        blob_store.open(key)


@pytest.mark.parametrize("key", ["../../etc/passwd", "ABC", "0" * 63, "g" * 64, "0" * 64 + "/x"])
def test_keys_must_be_sha256_hex(blob_store, key):
    with pytest.raises(Invalid):
        blob_store.open(key)


def test_check_is_healthy(blob_store):
    health = blob_store.check()
    assert health.ok, health.detail
