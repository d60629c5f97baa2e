"""Moving a registry between stores (``model-service migrate``): every version, event and alias
arrives as it was, a second copy changes nothing, and a half-finished copy can be completed."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from model_service.domain.errors import Conflict, NotFound
from model_service.domain.filters import parse_filter, parse_sort
from model_service.domain.models import Alias, Status
from model_service.domain.plans.aliases import ANY
from model_service.domain.ports import ModelRecord
from model_service.domain.query import SearchQuery
from model_service.domain.versions import Version

from .helpers import T0, RecordingBlob, draft, later


@pytest.fixture
def source(metadata_store):
    """A registry with history: versions with and without files, status changes, downloads,
    aliases moved and removed, and a deleted version whose events remain."""
    store = metadata_store
    fraud = [store.create_version(draft("fraud", at=later(i), metrics={"accuracy": 0.9 + i / 100}),
                                  RecordingBlob(b"fraud %d" % i).upload if i < 2 else None)
             for i in range(3)]
    churn = store.create_version(draft("churn", at=later(3), algorithm="random_forest", tags=("eu",)),
                                 RecordingBlob(b"fraud 0").upload)  # the same content as fraud v1.0
    store.update(fraud[0].id, {"status": Status.DEPRECATED}, "ops", later(10))
    store.update(fraud[1].id, {"description": "better", "tags": ["production", "gold"]}, "bob", later(11))
    store.record_download(fraud[1].id, "deployer", later(12), {"size_bytes": 7})
    store.record_download(fraud[1].id, "deployer", later(13), {"size_bytes": 7})
    store.move_alias("fraud", "production", fraud[0].id, None, "ops", later(14))
    store.move_alias("fraud", "production", fraud[1].id, Version(1, 0), "ops", later(15))
    store.move_alias("fraud", "staging", fraud[2].id, ANY, "ops", later(16))
    store.move_alias("churn", "production", churn.id, None, "ops", later(17))
    gone = store.create_version(draft("churn", at=later(18)))
    store.delete(gone.id, lambda _sha256: None, "ops", later(19))
    return store


def copy_all(source, target, page: int = 2) -> tuple[int, int]:
    """Copy every record and alias, a page of ids at a time; returns how many were written."""
    written, after = 0, None
    while ids := source.model_ids(after=after, limit=page):
        for model_id in ids:
            written += target.import_record(source.export_record(model_id))
        after = ids[-1]
    aliases = sum(target.import_alias(alias) for alias in source.all_aliases())
    return written, aliases


def events_of(store, model_id):
    return [replace(event, id=None) for event in store.events(model_id)]


def test_model_ids_page_through_every_version_and_the_deleted_ones(source):
    everything = source.model_ids(limit=1000)
    assert everything == sorted(everything) and len(everything) == 5
    paged, after = [], None
    while ids := source.model_ids(after=after, limit=2):
        assert len(ids) <= 2
        paged += ids
        after = ids[-1]
    assert paged == everything
    deleted = [model_id for model_id in everything if source.export_record(model_id).model is None]
    assert len(deleted) == 1
    assert [event.kind for event in source.export_record(deleted[0]).events] == ["created", "deleted"]


def test_a_copy_holds_everything_the_source_holds(source, second_metadata_store):
    target = second_metadata_store
    assert copy_all(source, target) == (5, 3)

    for model_id in source.model_ids(limit=1000):
        record = source.export_record(model_id)
        if record.model is not None:
            assert target.get(model_id) == record.model  # id, number, times, counters, file: all kept
        assert events_of(target, model_id) == events_of(source, model_id)
    for name in ("fraud", "churn"):
        assert target.aliases(name) == source.aliases(name)
        assert [replace(e, id=None) for e in target.name_events(name)] == \
               [replace(e, id=None) for e in source.name_events(name)]
    assert target.all_aliases() == source.all_aliases()
    assert target.summary() == source.summary()
    figures = {"added_since": T0, "downloads_since": T0, "today": T0 + timedelta(days=1)}
    assert target.statistics(**figures) == source.statistics(**figures)
    query = SearchQuery(where=parse_filter("tags = 'production' AND metrics.accuracy >= 0.9"),
                        sort=parse_sort("-metrics.accuracy"))
    assert target.search(query) == source.search(query)
    assert target.popular(5) == source.popular(5)


def test_copying_again_writes_nothing(source, second_metadata_store):
    target = second_metadata_store
    copy_all(source, target)
    before = {model_id: events_of(target, model_id) for model_id in source.model_ids(limit=1000)}
    assert copy_all(source, target) == (0, 0)
    assert {model_id: events_of(target, model_id) for model_id in before} == before
    assert target.summary() == source.summary()


def test_an_interrupted_copy_completes_on_the_next_run(source, second_metadata_store):
    target = second_metadata_store
    first_two = source.model_ids(limit=2)
    for model_id in first_two:
        assert target.import_record(source.export_record(model_id))
    written, aliases = copy_all(source, target)
    assert (written, aliases) == (3, 3)
    for model_id in source.model_ids(limit=1000):
        assert events_of(target, model_id) == events_of(source, model_id)


def test_numbering_continues_after_the_copied_versions(source, second_metadata_store):
    target = second_metadata_store
    copy_all(source, target)
    following = target.create_version(draft("fraud", at=later(30)))
    assert following.version == Version(1, 3)
    assert following.parent_model_id == source.latest("fraud").id
    churn = target.create_version(draft("churn", at=later(31)))  # after a deleted version: as the source would
    assert churn.version == source.create_version(draft("churn", at=later(31))).version


def test_a_record_clashing_with_another_version_is_refused_whole(source, second_metadata_store):
    target = second_metadata_store
    target.create_version(draft("fraud", at=later(40)))  # a different fraud v1.0 already there
    first = source.find_version("fraud", Version(1, 0))
    with pytest.raises(Conflict):
        target.import_record(source.export_record(first.id))
    with pytest.raises(NotFound):
        target.get(first.id)
    assert target.events(first.id) == []


def test_an_alias_needs_its_version_and_is_set_once(source, second_metadata_store):
    target = second_metadata_store
    alias = source.get_alias("fraud", "production")
    with pytest.raises(NotFound):
        target.import_alias(alias)
    record = source.export_record(alias.model_id)
    target.import_record(record)
    assert target.import_alias(alias) is True
    assert target.get_alias("fraud", "production") == alias  # its time and actor kept
    # no event of its own: the alias's history is the events that came with the records
    assert [replace(e, id=None) for e in target.name_events("fraud", kinds=("alias",))] == \
           [replace(e, id=None) for e in record.events if e.kind == "alias"]
    moved = Alias(alias.name, alias.alias, alias.model_id, alias.version, later(50), "someone else")
    assert target.import_alias(moved) is False
    assert target.get_alias("fraud", "production") == alias


def test_an_empty_store_exports_nothing(second_metadata_store):
    assert second_metadata_store.model_ids() == []
    assert second_metadata_store.all_aliases() == []
    record = second_metadata_store.export_record("0" * 24)
    assert record == ModelRecord("0" * 24, None, [])
