"""The MetadataStore contract (domain/ports.py), run against every metadata backend."""

from __future__ import annotations

import threading
from datetime import UTC

import pytest

from model_service.domain.errors import Conflict, NotFound, Unavailable
from model_service.domain.ids import new_id
from model_service.domain.models import EventKind, Status
from model_service.domain.query import SearchQuery
from model_service.domain.versions import Version

from .helpers import T0, RecordingBlob, draft, later


def kinds(store, model_id):
    return [event.kind for event in store.events(model_id)]


# ---- create and read -------------------------------------------------------------------------

def test_first_version_is_v1_0_without_parent(metadata_store):
    model = metadata_store.create_version(draft())
    assert model.version == Version(1, 0)
    assert model.parent_model_id is None
    assert model.download_count == 0 and model.file is None


def test_every_field_round_trips(metadata_store):
    written = draft()
    stored = metadata_store.get(metadata_store.create_version(written).id)
    for field in ("id", "name", "algorithm", "hyperparameters", "metrics", "dataset_info", "tags", "description",
                  "created_by", "status", "format", "created_at"):
        assert getattr(stored, field) == getattr(written, field), field
    assert stored.created_at.tzinfo is not None and stored.created_at.utcoffset().total_seconds() == 0
    assert stored.updated_at == written.created_at


def test_next_versions_follow_the_latest_and_point_at_it(metadata_store):
    first = metadata_store.create_version(draft())
    second = metadata_store.create_version(draft(at=later(1)))
    major = metadata_store.create_version(draft(breaking=True, at=later(2)))
    after_major = metadata_store.create_version(draft(at=later(3)))
    assert [m.version for m in (first, second, major, after_major)] == [
        Version(1, 0), Version(1, 1), Version(2, 0), Version(2, 1)]
    assert (second.parent_model_id, major.parent_model_id, after_major.parent_model_id) == (
        first.id, second.id, major.id)


def test_an_explicit_parent_is_kept_and_numbering_still_follows_the_latest(metadata_store):
    first = metadata_store.create_version(draft())
    metadata_store.create_version(draft(at=later(1)))
    branch = metadata_store.create_version(draft(parent=first.id, at=later(2)))
    assert branch.version == Version(1, 2)
    assert branch.parent_model_id == first.id


def test_names_are_independent(metadata_store):
    metadata_store.create_version(draft("a"))
    assert metadata_store.create_version(draft("b")).version == Version(1, 0)


def test_creation_is_recorded(metadata_store):
    model = metadata_store.create_version(draft())
    (event,) = metadata_store.events(model.id)
    assert event.kind == EventKind.CREATED and event.actor == "alice"
    assert event.data == {"version": "v1.0", "parent_model_id": None}


def test_get_unknown_is_not_found(metadata_store):
    with pytest.raises(NotFound):
        metadata_store.get(new_id())


def test_list_is_newest_first_with_total(metadata_store):
    ids = [metadata_store.create_version(draft(f"m{i}", at=later(i))).id for i in range(5)]
    page = metadata_store.search(SearchQuery(offset=0, limit=2))
    assert page.total == 5
    assert [m.id for m in page.items] == ids[::-1][:2]
    assert [m.id for m in metadata_store.search(SearchQuery(offset=4, limit=10)).items] == [ids[0]]
    assert metadata_store.search(SearchQuery(offset=10, limit=10)).items == []


# ---- concurrency -----------------------------------------------------------------------------

def test_concurrent_writers_get_unique_gap_free_versions(metadata_store):
    writers, each = 8, 12
    barrier = threading.Barrier(writers)
    created, errors = [], []

    def write():
        barrier.wait()
        try:
            created.extend(metadata_store.create_version(draft()) for _ in range(each))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    versions = sorted(m.version for m in created)
    assert versions == [Version(1, minor) for minor in range(writers * each)]
    by_version = {m.version: m for m in created}
    for minor in range(1, writers * each):  # each version's parent is the one before it
        assert by_version[Version(1, minor)].parent_model_id == by_version[Version(1, minor - 1)].id


# ---- updates ---------------------------------------------------------------------------------

def test_status_change_is_recorded_with_actor_and_time(metadata_store):
    model = metadata_store.create_version(draft())
    updated = metadata_store.update(model.id, {"status": Status.DEPRECATED}, "bob", later(5))
    assert updated.status == Status.DEPRECATED and updated.updated_at == later(5)
    event = metadata_store.events(model.id)[-1]
    assert (event.kind, event.actor, event.at, event.data) == (
        EventKind.STATUS, "bob", later(5), {"from": "active", "to": "deprecated"})
    assert metadata_store.get(model.id).status == Status.DEPRECATED


def test_other_changes_are_recorded_by_field(metadata_store):
    model = metadata_store.create_version(draft())
    updated = metadata_store.update(model.id, {"tags": ("x",), "description": "new", "metrics": {"auc": 0.9}},
                                    "bob", later(1))
    assert (updated.tags, updated.description, updated.metrics) == (("x",), "new", {"auc": 0.9})
    assert metadata_store.events(model.id)[-1].data == {"fields": ["tags", "description", "metrics"]}


def test_an_update_that_changes_nothing_records_nothing(metadata_store):
    model = metadata_store.create_version(draft())
    same = metadata_store.update(model.id, {"status": Status.ACTIVE, "tags": model.tags}, "bob", later(1))
    assert kinds(metadata_store, model.id) == [EventKind.CREATED]
    assert same.updated_at == model.updated_at


def test_update_unknown_is_not_found(metadata_store):
    with pytest.raises(NotFound):
        metadata_store.update(new_id(), {"description": "x"}, "bob", later(1))


# ---- files -----------------------------------------------------------------------------------

def test_attach_file_once(metadata_store):
    model = metadata_store.create_version(draft())
    blob = RecordingBlob()
    attached = metadata_store.attach_file(model.id, blob.upload, "carol")
    assert attached.file == blob.info and blob.commits == 1
    assert metadata_store.get(model.id).file == blob.info
    assert kinds(metadata_store, model.id) == [EventKind.CREATED, EventKind.UPLOADED]
    again = RecordingBlob(b"other")
    with pytest.raises(Conflict) as info:
        metadata_store.attach_file(model.id, again.upload, "carol")
    assert info.value.code == "file_exists" and again.commits == 0
    assert metadata_store.get(model.id).file == blob.info


def test_attach_to_unknown_version_commits_nothing(metadata_store):
    blob = RecordingBlob()
    with pytest.raises(NotFound):
        metadata_store.attach_file(new_id(), blob.upload, "carol")
    assert blob.commits == 0


def test_a_failed_blob_commit_writes_nothing(metadata_store):
    model = metadata_store.create_version(draft())
    with pytest.raises(OSError):
        metadata_store.attach_file(model.id, RecordingBlob(fail=True).upload, "carol")
    assert metadata_store.get(model.id).file is None
    assert kinds(metadata_store, model.id) == [EventKind.CREATED]


def test_create_with_file_is_atomic(metadata_store):
    blob = RecordingBlob()
    model = metadata_store.create_version(draft(), blob.upload)
    assert metadata_store.get(model.id).file == blob.info
    assert kinds(metadata_store, model.id) == [EventKind.CREATED, EventKind.UPLOADED]
    failing = draft("other")
    with pytest.raises(OSError):
        metadata_store.create_version(failing, RecordingBlob(fail=True).upload)
    with pytest.raises(NotFound):
        metadata_store.get(failing.id)
    assert metadata_store.search(SearchQuery(offset=0, limit=10)).total == 1


# ---- delete ----------------------------------------------------------------------------------

def test_delete_releases_the_blob_with_its_last_reference(metadata_store):
    shared = RecordingBlob(b"same bytes")
    first = metadata_store.create_version(draft(), shared.upload)
    second = metadata_store.create_version(draft(at=later(1)), shared.upload)
    released: list[str] = []
    gone = metadata_store.delete(first.id, released.append, "dave", later(2))
    assert gone.id == first.id and released == []
    metadata_store.delete(second.id, released.append, "dave", later(3))
    assert released == [shared.info.sha256]
    with pytest.raises(NotFound):
        metadata_store.get(second.id)


def test_delete_without_file_releases_nothing_and_history_survives(metadata_store):
    model = metadata_store.create_version(draft())
    released: list[str] = []
    metadata_store.delete(model.id, released.append, "dave", later(1))
    assert released == []
    assert kinds(metadata_store, model.id) == [EventKind.CREATED, EventKind.DELETED]
    with pytest.raises(NotFound):
        metadata_store.delete(model.id, released.append, "dave", later(2))


def test_a_failed_release_keeps_the_version(metadata_store):
    model = metadata_store.create_version(draft(), RecordingBlob().upload)

    def broken(_key):
        raise OSError("cannot delete")

    with pytest.raises(OSError):
        metadata_store.delete(model.id, broken, "dave", later(1))
    assert metadata_store.get(model.id).file is not None


def test_a_blob_is_never_released_while_a_concurrent_version_references_it(metadata_store):
    """Uploads of one content race deletions of older versions with that content."""
    content = b"shared weights"
    live: set[str] = set()
    released: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    present = {"blob": False}

    def commit(_key: str) -> bool:
        created = not present["blob"]
        present["blob"] = True
        return created

    def release(_key: str) -> None:
        present["blob"] = False
        released.append(_key)

    def uploader():
        for i in range(60):
            blob = RecordingBlob(content)
            blob.commit = commit  # type: ignore[method-assign]
            model = metadata_store.create_version(draft(at=later(i)), blob.upload)
            with lock:
                live.add(model.id)
        stop.set()

    def deleter():
        while not stop.is_set() or live:
            with lock:
                victim = live.pop() if live else None
            if victim:
                metadata_store.delete(victim, release, "dave", later(99))
                # after every deletion, any version still holding the content must have its blob
                remaining = [m for m in metadata_store.search(SearchQuery(offset=0, limit=1000)).items if m.file]
                assert not remaining or present["blob"]

    threads = [threading.Thread(target=uploader), threading.Thread(target=deleter)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert metadata_store.search(SearchQuery(offset=0, limit=10)).total == 0
    assert not present["blob"] and released


# ---- downloads, summary, health ----------------------------------------------------------------

def test_record_download_counts_and_logs(metadata_store):
    model = metadata_store.create_version(draft())
    metadata_store.record_download(model.id, "erin", later(1), {"bytes": 10})
    metadata_store.record_download(model.id, "erin", later(2), {"bytes": 10})
    assert metadata_store.get(model.id).download_count == 2
    downloads = metadata_store.events(model.id, kinds=("downloaded",))
    assert [(e.actor, e.at, e.data) for e in downloads] == [("erin", later(1), {"bytes": 10}),
                                                              ("erin", later(2), {"bytes": 10})]


def test_record_download_of_a_deleted_version_is_ignored(metadata_store):
    """A download that completes after its version was deleted is silently skipped (ports.py)."""
    gone = metadata_store.create_version(draft("gone"))
    kept = metadata_store.create_version(draft("kept", at=later(1)))
    metadata_store.record_download(kept.id, "erin", later(2), {"bytes": 10})
    metadata_store.delete(gone.id, lambda _sha256: None, "dave", later(3))

    metadata_store.record_download(gone.id, "erin", later(4), {"bytes": 10})  # no error

    assert kinds(metadata_store, gone.id) == [EventKind.CREATED, EventKind.DELETED]  # nothing downloaded
    with pytest.raises(NotFound):
        metadata_store.get(gone.id)  # not brought back by the count
    assert [(model.id, count) for model, count in metadata_store.popular(10)] == [(kept.id, 1)]
    assert [(model.id, count) for model, count in metadata_store.popular(10, since=T0)] == [(kept.id, 1)]
    stats = metadata_store.statistics(added_since=T0, downloads_since=T0, today=T0)
    assert (stats.total_models, stats.total_downloads, stats.downloads_since, stats.downloads_today) == (1, 1, 1, 1)


def test_summary_counts_distinct_blobs_once(metadata_store):
    metadata_store.create_version(draft("a"), RecordingBlob(b"x" * 100).upload)
    metadata_store.create_version(draft("b"), RecordingBlob(b"x" * 100).upload)
    other = metadata_store.create_version(draft("c"), RecordingBlob(b"y" * 7).upload)
    metadata_store.create_version(draft("d"))
    metadata_store.update(other.id, {"status": Status.ARCHIVED}, "bob", later(1))
    assert metadata_store.summary() == {"total_models": 4, "active_models": 3, "stored_bytes": 107}


def test_check_reports_healthy(metadata_store):
    health = metadata_store.check()
    assert health.ok, health.detail


def test_an_unmigrated_database_refuses_to_serve(fresh_metadata_store, schema_versions):
    if not schema_versions:
        pytest.skip("the backend keeps no schema versions: see test_a_backend_without_schema_versions_prepares_itself")
    with pytest.raises(Unavailable) as info:
        fresh_metadata_store.prepare(migrate=False)
    assert "model-service db upgrade" in info.value.message
    assert not fresh_metadata_store.check().ok
    fresh_metadata_store.prepare(migrate=True)
    fresh_metadata_store.prepare(migrate=False)
    assert fresh_metadata_store.check().ok
    fresh_metadata_store.close()


def test_a_backend_without_schema_versions_prepares_itself(fresh_metadata_store, schema_versions):
    """Such a backend creates what it needs (indexes) whenever it is prepared, with or without
    ``migrate``: ready to serve afterwards, and preparing it again keeps what it holds."""
    if schema_versions:
        pytest.skip("the backend keeps schema versions: see test_an_unmigrated_database_refuses_to_serve")
    fresh_metadata_store.prepare(migrate=False)
    assert fresh_metadata_store.check().ok
    model = fresh_metadata_store.create_version(draft())
    fresh_metadata_store.prepare(migrate=False)
    fresh_metadata_store.prepare(migrate=True)
    assert fresh_metadata_store.get(model.id) == model
    assert fresh_metadata_store.create_version(draft(at=later(1))).version == Version(1, 1)


def test_times_are_utc(metadata_store):
    model = metadata_store.create_version(draft(at=T0))
    assert metadata_store.get(model.id).created_at.tzinfo == UTC
