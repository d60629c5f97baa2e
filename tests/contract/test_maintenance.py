"""The store methods garbage collection, the integrity scrub and retention rest on
(domain/ports.py), against every backend: listing blobs and temporary uploads, removing
temporary uploads, listing references, deleting a blob only while unreferenced, and deleting a
version only while no alias points at it."""

from __future__ import annotations

import hashlib
import os
import threading
from datetime import UTC, datetime, timedelta

import pytest

from model_service.domain.errors import Conflict, Invalid
from model_service.domain.models import EventKind, Status
from model_service.domain.ports import Leftover

from .helpers import RecordingBlob, draft, later
from .test_blob_store import put, read_all

FUTURE = datetime.now(UTC) + timedelta(days=2)  # every leftover is older than this
PAST = datetime.now(UTC) - timedelta(days=2)  # nothing made by a test is older than this


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


# ---- BlobStore: listing blobs ------------------------------------------------------------------

def test_list_blobs_is_every_committed_blob_by_key_with_its_size_and_time(blob_store):
    contents = [b"alpha", b"beta" * 1000, b"", b"gamma" * 77]
    keys = [put(blob_store, content) for content in contents]
    pending = blob_store.begin_upload()  # finished but never committed: not a blob
    pending.write(b"not a blob yet")
    pending.finish()
    listed = list(blob_store.list_blobs())
    pending.abort()
    assert [blob.key for blob in listed] == sorted(keys)
    sizes = {sha(content): len(content) for content in contents}
    assert all(blob.size == sizes[blob.key] for blob in listed)
    now = datetime.now(UTC)
    assert all(now - timedelta(minutes=5) < blob.modified <= now + timedelta(minutes=1) for blob in listed)
    blob_store.delete(keys[0])
    assert [blob.key for blob in blob_store.list_blobs()] == sorted(keys[1:])


def test_list_blobs_of_an_empty_store_is_empty(blob_store):
    assert list(blob_store.list_blobs()) == []


# ---- BlobStore: temporary uploads --------------------------------------------------------------

def leftovers(store, older_than=FUTURE) -> list[Leftover]:
    return [upload for upload in store.leftovers(older_than) if not upload.name.startswith("health-")]


def test_an_abandoned_upload_is_a_temporary_upload_until_removed(blob_store):
    content = os.urandom(9 * 1024 * 1024 + 5)  # over one S3 part: a multipart upload in flight
    upload = blob_store.begin_upload()
    upload.write(content)  # never finished nor aborted: its process died
    found = leftovers(blob_store)
    assert found and sum(item.size for item in found) > 0
    assert leftovers(blob_store, PAST) == []  # an upload in flight is younger than any threshold
    freed = sum(blob_store.remove_leftover(item) for item in found)
    assert freed >= len(content) - 4 * 1024 * 1024  # what reached the store (a buffer may not have)
    assert leftovers(blob_store) == []
    assert all(blob_store.remove_leftover(item) == 0 for item in found)  # already gone: not an error
    assert list(blob_store.list_blobs()) == []


def test_a_finished_upload_never_committed_is_a_temporary_upload(blob_store):
    upload = blob_store.begin_upload()
    upload.write(b"finished, then the process died")
    upload.finish()
    (found,) = leftovers(blob_store)
    assert found.size == len(b"finished, then the process died")
    assert found.started <= datetime.now(UTC) + timedelta(minutes=1)
    assert blob_store.remove_leftover(found) == found.size
    assert leftovers(blob_store) == []


def test_removing_temporary_uploads_never_touches_a_committed_blob(blob_store):
    content = b"committed, its upload not ended yet"
    upload = blob_store.begin_upload()
    upload.write(content)
    upload.finish()
    assert upload.commit(sha(content)) is True
    for item in leftovers(blob_store):
        blob_store.remove_leftover(item)
    assert read_all(blob_store, sha(content)) == content
    upload.abort()
    assert read_all(blob_store, sha(content)) == content
    assert leftovers(blob_store) == []


def test_an_unknown_temporary_upload_is_refused(blob_store):
    key = put(blob_store, b"keep me")
    for kind, name in (("file", "../sha256"), ("object", "elsewhere/x"), ("multipart", "x"), ("pending", "nope"),
                       ("nonsense", key)):
        with pytest.raises(Invalid):
            blob_store.remove_leftover(Leftover(kind, name, 0, PAST))
    assert read_all(blob_store, key) == b"keep me"


# ---- MetadataStore: references -------------------------------------------------------------------

def test_file_references_list_every_versions_blob_by_sha256_then_id(metadata_store):
    made = []
    for i, content in enumerate([b"b", b"a", b"b", b"c", b"a"]):
        made.append(metadata_store.create_version(draft(f"m{i % 2}", at=later(i)), RecordingBlob(content).upload))
    metadata_store.create_version(draft("nofile", at=later(9)))
    metadata_store.update(made[3].id, {"status": Status.ARCHIVED}, "ops", later(10))
    expected = sorted((m.file.sha256, m.id) for m in made)
    listed = metadata_store.file_references()
    assert [(r.sha256, r.model_id) for r in listed] == expected
    by_id = {r.model_id: r for r in listed}
    for model in made:
        ref = by_id[model.id]
        assert (ref.name, ref.version, ref.size_bytes) == (model.name, str(model.version), model.file.size_bytes)
    assert by_id[made[3].id].status is Status.ARCHIVED and by_id[made[0].id].status is Status.ACTIVE
    pages, after = [], None
    while page := metadata_store.file_references(after, 2):
        pages.append(page)
        after = (page[-1].sha256, page[-1].model_id)
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [(r.sha256, r.model_id) for page in pages for r in page] == expected
    assert metadata_store.file_references((expected[-1][0], expected[-1][1])) == []
    from_b = expected[2][0]  # "" sorts before every id: the whole of that sha256's group
    assert [r.model_id for r in metadata_store.file_references((from_b, ""), 10)] == \
        [model_id for sha256, model_id in expected if sha256 >= from_b]


def test_file_references_leave_out_deleted_versions(metadata_store):
    kept = metadata_store.create_version(draft(), RecordingBlob(b"x").upload)
    gone = metadata_store.create_version(draft(at=later(1)), RecordingBlob(b"y").upload)
    metadata_store.delete(gone.id, lambda _key: None, "ops", later(2))
    assert [r.model_id for r in metadata_store.file_references()] == [kept.id]


def test_a_referenced_blob_is_not_released(metadata_store):
    blob = RecordingBlob(b"in use")
    metadata_store.create_version(draft(), blob.upload)
    released: list[str] = []
    assert metadata_store.delete_blob_if_unreferenced(blob.info.sha256, released.append) is False
    assert released == []


def test_an_unreferenced_blob_is_released(metadata_store):
    blob = RecordingBlob(b"was in use")
    model = metadata_store.create_version(draft(), blob.upload)
    metadata_store.delete(model.id, lambda _key: None, "ops", later(1))  # its release "failed" to happen
    released: list[str] = []
    assert metadata_store.delete_blob_if_unreferenced(blob.info.sha256, released.append) is True
    assert released == [blob.info.sha256]
    assert metadata_store.delete_blob_if_unreferenced(sha(b"never seen"), released.append) is True


def test_a_failed_release_is_raised(metadata_store):
    def broken(_key: str) -> None:
        raise OSError("cannot delete")

    with pytest.raises(OSError):
        metadata_store.delete_blob_if_unreferenced(sha(b"orphan"), broken)


def test_gc_never_releases_a_blob_an_upload_is_committing(metadata_store):
    """An orphan blob; an upload of the same content commits it (finding it there) and its
    version while a collection deletes it if unreferenced. Whatever the interleaving, the blob
    exists once the version does."""
    content = b"existing, unreferenced"
    key = sha(content)
    present = {"blob": True}

    def commit(_key: str) -> bool:  # the upload's commit: recreates the blob from its temporary bytes if gone
        created = not present["blob"]
        present["blob"] = True
        return created

    def release(_key: str) -> None:
        present["blob"] = False

    for i in range(25):
        present["blob"] = True  # the orphan
        barrier = threading.Barrier(2)
        made = []

        def upload(i=i, barrier=barrier, made=made) -> None:
            blob = RecordingBlob(content)
            blob.commit = commit  # type: ignore[method-assign]
            barrier.wait()
            made.append(metadata_store.create_version(draft(at=later(i)), blob.upload))

        def collect(barrier=barrier) -> None:
            barrier.wait()
            metadata_store.delete_blob_if_unreferenced(key, release)

        threads = [threading.Thread(target=upload), threading.Thread(target=collect)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert made and present["blob"], f"iteration {i}: the version's blob was deleted"
        assert metadata_store.delete_blob_if_unreferenced(key, release) is False
        metadata_store.delete(made[0].id, lambda _key: None, "ops", later(100 + i))  # leaves the orphan again


# ---- MetadataStore: deleting unless aliased ----------------------------------------------------------

def test_delete_unless_aliased_refuses_an_aliased_version_and_changes_nothing(metadata_store):
    model = metadata_store.create_version(draft(), RecordingBlob(b"prod").upload)
    metadata_store.move_alias("fraud", "production", model.id, None, "ops", later(1))
    metadata_store.move_alias("fraud", "champion", model.id, None, "ops", later(2))
    released: list[str] = []
    with pytest.raises(Conflict) as info:
        metadata_store.delete(model.id, released.append, "retention", later(3), unless_aliased=True)
    assert info.value.code == "version_aliased"
    assert info.value.details["aliases"] == ["champion", "production"]
    assert released == []
    assert metadata_store.get(model.id) == model
    assert metadata_store.get_alias("fraud", "production").model_id == model.id
    assert EventKind.DELETED not in [event.kind for event in metadata_store.events(model.id)]
    assert [r.model_id for r in metadata_store.file_references()] == [model.id]


def test_delete_unless_aliased_deletes_a_version_without_aliases(metadata_store):
    model = metadata_store.create_version(draft(), RecordingBlob(b"old").upload)
    other = metadata_store.create_version(draft(at=later(1)))
    metadata_store.move_alias("fraud", "production", other.id, None, "ops", later(2))
    released: list[str] = []
    metadata_store.delete(model.id, released.append, "retention", later(3), unless_aliased=True)
    assert released == [model.file.sha256]
    assert metadata_store.events(model.id)[-1].actor == "retention"
