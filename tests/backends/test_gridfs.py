"""The GridFS blob store beyond the shared contract: standard GridFS files any driver reads, one
file per content, pending uploads that leave nothing behind, and an unreachable server."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta

import gridfs
import pytest

from model_service.domain.errors import Invalid, Unavailable
from model_service.stores.mongo.gridfs import HOLD_SECONDS, GridFsBlobStore

MiB = 1 << 20


@pytest.fixture(params=["gridfs", "mongodb_gridfs"])
def store(request) -> GridFsBlobStore:
    return request.getfixturevalue(f"{request.param}_blob_factory")("main")


def _upload(store, content: bytes, chunk: int = 300_000):
    upload = store.begin_upload()
    for start in range(0, len(content), chunk):
        upload.write(content[start:start + chunk])
    upload.finish()
    return upload


def _put(store, content: bytes) -> str:
    key = hashlib.sha256(content).hexdigest()
    upload = _upload(store, content)
    assert upload.commit(key) is True
    upload.abort()
    return key


def test_a_blob_is_a_standard_gridfs_file_named_by_its_sha256(store):
    content = os.urandom(9 * MiB + 4321)
    key = _put(store, content)
    # any GridFS reader finds it by name: pymongo's own bucket API here
    assert gridfs.GridFSBucket(store.database, store.bucket).open_download_stream_by_name(key).read() == content
    [document] = store.files.find({})
    assert document["filename"] == key and document["length"] == len(content)
    assert document["metadata"] == {"state": "committed", "sha256": key}
    sizes = [len(chunk["data"]) for chunk in store.chunks.find({"files_id": document["_id"]}).sort("n")]
    assert sizes == [MiB] * 9 + [4321]


def test_ranged_reads_start_anywhere(store):
    content = os.urandom(3 * MiB + 10)
    key = _put(store, content)
    for offset in (1, MiB - 1, MiB, 2 * MiB + 5, len(content) - 1, len(content)):
        reader = store.open(key, offset)
        assert reader.size == len(content)
        assert reader.read(1500) == content[offset:offset + 1500]
        reader.close()


def test_an_upload_aborted_midway_leaves_no_chunk(store):
    upload = store.begin_upload()
    upload.write(os.urandom(6 * MiB))
    assert store.chunks.count_documents({}) >= 4  # written as they fill, not held until the end
    upload.abort()
    assert store.chunks.count_documents({}) == 0
    assert store.files.count_documents({}) == 0


def test_a_finished_upload_stays_pending_until_committed(store):
    content = b"pending" * 1000
    upload = _upload(store, content)
    [document] = store.files.find({})
    assert document["metadata"] == {"state": "pending"}
    assert store.size(hashlib.sha256(content).hexdigest()) is None
    upload.abort()
    assert store.files.count_documents({}) == 0 and store.chunks.count_documents({}) == 0


def test_committing_existing_content_keeps_one_file_and_drops_the_duplicate(store):
    content = os.urandom(2 * MiB)
    key = _put(store, content)
    duplicate = _upload(store, content)
    assert duplicate.commit(key) is False
    duplicate.abort()
    [document] = store.files.find({})
    assert store.chunks.count_documents({}) == 2
    assert store.chunks.count_documents({"files_id": {"$ne": document["_id"]}}) == 0


class _CheckedTooEarly:
    """The files collection as an upload sees it when its existence check ran just before
    another upload committed the same content."""

    def __init__(self, files):
        self._files = files

    def find_one(self, *args, **kwargs):
        return None

    def __getattr__(self, name):
        return getattr(self._files, name)


def test_the_content_index_settles_two_commits_of_one_sha256(store, monkeypatch):
    content = b"raced"
    key = hashlib.sha256(content).hexdigest()
    first, second = _upload(store, content), _upload(store, content)
    assert first.commit(key) is True
    monkeypatch.setattr(store, "files", _CheckedTooEarly(store.files))
    assert second.commit(key) is False
    for upload in (first, second):
        upload.abort()
    monkeypatch.undo()
    [document] = store.files.find({})
    assert document["_id"] == first.file_id
    assert store.chunks.count_documents({"files_id": second.file_id}) == 0


def test_a_blob_whose_upload_never_released_it_is_still_deleted(store):
    """The process died between commit and abort: its hold expires, and delete removes the file."""
    content = os.urandom(MiB + 1)
    key = hashlib.sha256(content).hexdigest()
    upload = _upload(store, content)
    assert upload.commit(key) is True  # never aborted
    stale = datetime.now(UTC) - timedelta(seconds=HOLD_SECONDS + 60)
    store.files.update_one({"_id": upload.file_id}, {"$set": {"metadata.held_since": stale}})
    store.delete(key)
    assert store.size(key) is None
    assert store.files.count_documents({}) == 0 and store.chunks.count_documents({}) == 0


def test_files_of_other_applications_in_the_bucket_are_left_alone(store):
    bucket = gridfs.GridFSBucket(store.database, store.bucket)
    stream = bucket.open_upload_stream("seed_model.pkl", metadata={"algorithm": "xgboost"})
    stream.write(b"a model stored by the seed")
    stream.close()
    key = _put(store, b"ours")
    store.delete(key)
    assert bucket.open_download_stream_by_name("seed_model.pkl").read() == b"a model stored by the seed"


def test_the_seed_and_content_indexes_exist(store):
    indexes = {tuple(spec["key"]): spec for spec in store.files.index_information().values()}
    assert (("metadata.algorithm", 1), ("uploadDate", -1)) in indexes
    assert indexes[(("metadata.sha256", 1),)].get("unique") is True
    chunk_indexes = {tuple(spec["key"]): spec for spec in store.chunks.index_information().values()}
    assert chunk_indexes[(("files_id", 1), ("n", 1))].get("unique") is True


def test_check_names_the_database_and_bucket(store):
    health = store.check()
    assert health.ok, health.detail
    assert health.info["backend"] == "gridfs" and health.info["bucket"] == "models"


def test_an_unreachable_server_stops_start_up_with_a_clear_message():
    from tests.ports import closed_port

    port = closed_port()
    with pytest.raises(Unavailable) as caught:
        GridFsBlobStore.from_url(f"mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=300")
    assert caught.value.message.startswith("Blob store (GridFS) failed while preparing bucket 'models'")
    assert f"127.0.0.1:{port}" in caught.value.message


def test_a_malformed_url_names_the_setting():
    with pytest.raises(Invalid) as caught:
        GridFsBlobStore.from_url("mongodb://user:pa:ss@127.0.0.1:1/")
    assert caught.value.details == {"setting": "MONGODB_URL"}
    assert "pa:ss" not in caught.value.message
