"""Aliases (compare-and-swap moves, history) and aggregate figures, against every backend."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from model_service.domain.errors import Conflict, Invalid, NotFound
from model_service.domain.ids import new_id
from model_service.domain.models import EventKind, Status
from model_service.domain.plans.aliases import ANY
from model_service.domain.query import SearchQuery
from model_service.domain.versions import Version

from .helpers import T0, RecordingBlob, draft, later


@pytest.fixture
def versions(metadata_store):
    """fraud v1.0, v1.1, v1.2 and churn v1.0."""
    made = [metadata_store.create_version(draft("fraud", at=later(i))) for i in range(3)]
    return [*made, metadata_store.create_version(draft("churn", at=later(3)))]


def test_names_resolve_to_versions(metadata_store, versions):
    assert metadata_store.find_version("fraud", Version(1, 1)).id == versions[1].id
    assert metadata_store.latest("fraud").id == versions[2].id
    with pytest.raises(NotFound):
        metadata_store.find_version("fraud", Version(9, 0))
    with pytest.raises(NotFound):
        metadata_store.latest("nobody")


def test_setting_moving_and_removing_an_alias(metadata_store, versions):
    first = metadata_store.move_alias("fraud", "production", versions[0].id, None, "ops", later(10))
    assert first.before is None and first.after.version == Version(1, 0) and first.after.updated_by == "ops"
    moved = metadata_store.move_alias("fraud", "production", versions[1].id, Version(1, 0), "ops", later(11))
    assert (moved.before.version, moved.after.version) == (Version(1, 0), Version(1, 1))
    assert metadata_store.get_alias("fraud", "production").model_id == versions[1].id
    metadata_store.move_alias("fraud", "staging", versions[2].id, ANY, "ops", later(12))
    assert [a.alias for a in metadata_store.aliases("fraud")] == ["production", "staging"]
    removed = metadata_store.move_alias("fraud", "staging", None, Version(1, 2), "ops", later(13))
    assert removed.after is None and removed.before.version == Version(1, 2)
    with pytest.raises(NotFound):
        metadata_store.get_alias("fraud", "staging")
    assert metadata_store.aliases("churn") == []


def test_compare_and_swap_refuses_a_stale_expectation(metadata_store, versions):
    metadata_store.move_alias("fraud", "production", versions[0].id, None, "ops", later(10))
    with pytest.raises(Conflict) as info:
        metadata_store.move_alias("fraud", "production", versions[2].id, Version(1, 1), "ops", later(11))
    assert info.value.code == "alias_conflict" and info.value.details["current_version"] == "v1.0"
    with pytest.raises(Conflict):  # expected "not set", but it is
        metadata_store.move_alias("fraud", "production", versions[2].id, None, "ops", later(11))
    assert metadata_store.get_alias("fraud", "production").model_id == versions[0].id
    assert len(metadata_store.name_events("fraud", kinds=("alias",))) == 1


def test_alias_targets_must_be_versions_of_the_name(metadata_store, versions):
    with pytest.raises(Invalid):
        metadata_store.move_alias("fraud", "production", versions[3].id, ANY, "ops", later(10))
    with pytest.raises(NotFound):
        metadata_store.move_alias("fraud", "production", new_id(), ANY, "ops", later(10))
    with pytest.raises(NotFound):
        metadata_store.move_alias("fraud", "never-set", None, ANY, "ops", later(10))
    assert metadata_store.aliases("fraud") == []


def test_every_move_is_recorded_once_and_time_travel_works(metadata_store, versions):
    metadata_store.move_alias("fraud", "production", versions[0].id, None, "ops", later(10))
    metadata_store.move_alias("fraud", "production", versions[0].id, ANY, "ops", later(11))  # no change: no event
    metadata_store.move_alias("fraud", "production", versions[1].id, ANY, "ann", later(12))
    metadata_store.move_alias("fraud", "production", None, ANY, "bob", later(14))
    metadata_store.update(versions[0].id, {"status": Status.DEPRECATED}, "ann", later(13))
    moves = metadata_store.name_events("fraud", alias="production")
    assert [(e.data["from_version"], e.data["to_version"], e.actor) for e in moves] == [
        (None, "v1.0", "ops"), ("v1.0", "v1.1", "ann"), ("v1.1", None, "bob")]
    history = metadata_store.name_events("fraud", kinds=("alias", "status"))
    assert [e.kind for e in history] == [EventKind.ALIAS, EventKind.ALIAS, EventKind.STATUS, EventKind.ALIAS]

    def production_at(minutes):
        found = metadata_store.name_events("fraud", alias="production", until=later(minutes), limit=1,
                                           newest_first=True)
        return found[0].data["to_version"] if found else "never set"

    assert [production_at(m) for m in (9, 10, 11, 12, 13, 15)] == [
        "never set", "v1.0", "v1.0", "v1.1", "v1.1", None]
    assert len(metadata_store.name_events("fraud", since=later(12), until=later(13))) == 2


def test_deleting_a_version_removes_its_aliases_on_record(metadata_store, versions):
    metadata_store.move_alias("fraud", "production", versions[1].id, ANY, "ops", later(10))
    metadata_store.move_alias("fraud", "champion", versions[1].id, ANY, "ops", later(10))
    metadata_store.delete(versions[1].id, lambda _sha256: None, "dave", later(11))
    assert metadata_store.aliases("fraud") == []
    removals = [e for e in metadata_store.name_events("fraud", kinds=("alias",)) if e.data["to_version"] is None]
    assert sorted(e.data["alias"] for e in removals) == ["champion", "production"]
    assert {e.actor for e in removals} == {"dave"}


def test_concurrent_compare_and_swap_moves_apply_each_exactly_once(metadata_store):
    """Writers race to move race@production along a chain of distinct versions, each move
    expecting the previous one: every step can succeed once, and only in order."""
    chain = [metadata_store.create_version(draft("race", at=later(i))) for i in range(12)]
    metadata_store.move_alias("race", "production", chain[0].id, None, "ops", T0)
    wins: list[int] = []
    barrier = threading.Barrier(8)

    def writer(worker: int):
        barrier.wait()
        for step in range(1, len(chain)):
            try:
                metadata_store.move_alias("race", "production", chain[step].id, chain[step - 1].version,
                                          f"w{worker}", T0 + timedelta(seconds=step))
                wins.append(step)
            except Conflict:
                pass

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == list(range(1, len(chain)))  # every step applied, exactly once
    moves = metadata_store.name_events("race", alias="production")
    assert len(moves) == len(chain)
    assert metadata_store.get_alias("race", "production").model_id == chain[-1].id
    for before, after in itertools.pairwise(moves):  # an unbroken chain
        assert after.data["from_version"] == before.data["to_version"]


# ---- figures --------------------------------------------------------------------------------------

def test_statistics_are_aggregates_of_the_registry(metadata_store):
    a = metadata_store.create_version(draft("a", algorithm="xgboost", at=T0 - timedelta(days=10)),
                                      RecordingBlob(b"x" * 100).upload)
    b = metadata_store.create_version(draft("b", algorithm="xgboost", at=T0 - timedelta(hours=30)),
                                      RecordingBlob(b"x" * 100).upload)
    c = metadata_store.create_version(draft("c", algorithm="svm", at=T0 - timedelta(hours=1)),
                                      RecordingBlob(b"y" * 50).upload)
    metadata_store.create_version(draft("d", algorithm="svm", at=T0))
    metadata_store.update(a.id, {"status": Status.ARCHIVED}, "ops", T0)
    for model, when in ((a, T0 - timedelta(hours=30)), (b, T0 - timedelta(hours=2)), (c, T0 - timedelta(minutes=5)),
                        (c, T0)):
        metadata_store.record_download(model.id, "x", when, {"bytes": 1})
    stats = metadata_store.statistics(added_since=T0 - timedelta(days=7), downloads_since=T0 - timedelta(days=1),
                                      today=T0.replace(hour=0, minute=0, second=0, microsecond=0))
    assert stats.total_models == 4
    assert stats.by_algorithm == {"xgboost": 2, "svm": 2}
    assert stats.by_status == {"active": 3, "archived": 1}
    assert stats.total_downloads == 4
    assert (stats.stored_bytes, stats.versions_with_file, stats.file_bytes) == (150, 3, 250)
    assert stats.added_since == 3
    assert stats.downloads_since == 3
    assert (stats.created_today, stats.downloads_today) == (2, 3)  # T0 is 03:04 UTC: c, d; b, c, c


def test_popular_by_counter_or_window(metadata_store):
    a, b, c = (metadata_store.create_version(draft(n, at=later(i))) for i, n in enumerate("abc"))
    for model, count, when in ((a, 5, T0 - timedelta(days=30)), (b, 2, T0), (c, 3, T0 - timedelta(days=2))):
        for _ in range(count):
            metadata_store.record_download(model.id, "x", when, {})
    assert [(m.name, n) for m, n in metadata_store.popular(10)] == [("a", 5), ("c", 3), ("b", 2)]
    assert [(m.name, n) for m, n in metadata_store.popular(2)] == [("a", 5), ("c", 3)]
    recent = metadata_store.popular(10, since=T0 - timedelta(days=7))
    assert [(m.name, n) for m, n in recent] == [("c", 3), ("b", 2)]


# ---- tag counts and downloads per day (the dashboard's figures) ----------------------------------

def test_value_counts_of_tags_most_used_first_ties_by_tag(metadata_store):
    for index, tags in enumerate([("prod", "fraud"), ("prod", "beta"), ("prod", "fraud", "beta"),
                                  ("alpha", "Zeta"), ("prod", "gamma"), ()]):
        metadata_store.create_version(draft(f"m{index}", tags=tags, at=later(index)))
    assert metadata_store.value_counts("tags", 10) == [("prod", 4), ("beta", 2), ("fraud", 2), ("Zeta", 1),
                                                       ("alpha", 1), ("gamma", 1)]  # ties by code point: "Z" < "a"
    assert metadata_store.value_counts("tags", 2) == [("prod", 4), ("beta", 2)]
    assert metadata_store.value_counts("tags", 3) == [("prod", 4), ("beta", 2), ("fraud", 2)]
    assert metadata_store.value_counts("tags", 0) == []


def test_value_counts_of_tags_follow_deletions_and_tag_changes(metadata_store):
    kept = metadata_store.create_version(draft("kept", tags=("prod", "fraud")))
    gone = metadata_store.create_version(draft("gone", tags=("prod", "gamma"), at=later(1)))
    metadata_store.delete(gone.id, lambda _sha256: None, "ops", later(2))
    assert metadata_store.value_counts("tags", 10) == [("fraud", 1), ("prod", 1)]
    metadata_store.update(kept.id, {"tags": ("fraud", "beta")}, "ops", later(3))
    assert metadata_store.value_counts("tags", 10) == [("beta", 1), ("fraud", 1)]


def test_value_counts_of_algorithms_and_statuses_count_live_versions(metadata_store):
    for index, algorithm in enumerate(["xgboost", "lightgbm", "xgboost", "Torch", "xgboost", "lightgbm"]):
        metadata_store.create_version(draft(f"m{index}", algorithm=algorithm, at=later(index)))
    gone = metadata_store.create_version(draft("gone", algorithm="lightgbm", at=later(9)))
    metadata_store.delete(gone.id, lambda _sha256: None, "ops", later(10))
    assert metadata_store.value_counts("algorithm", 10) == [("xgboost", 3), ("lightgbm", 2), ("Torch", 1)]
    assert metadata_store.value_counts("algorithm", 1) == [("xgboost", 3)]
    first = metadata_store.search(SearchQuery(limit=1)).items[0]
    metadata_store.update(first.id, {"status": "deprecated"}, "ops", later(11))
    assert metadata_store.value_counts("status", 10) == [("active", 5), ("deprecated", 1)]


def test_an_empty_registry_has_no_tags_and_no_downloads(metadata_store):
    assert metadata_store.value_counts("tags", 10) == []
    assert metadata_store.value_counts("algorithm", 10) == []
    assert metadata_store.downloads_by_day(T0 - timedelta(days=30), T0 + timedelta(days=1)) == {}


JAN1 = datetime(2026, 1, 1, tzinfo=UTC)


def at_jan(day: int, hour: int = 0, minute: int = 0, second: int = 0, ms: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, second, ms * 1000, tzinfo=UTC)


@pytest.fixture
def downloads(metadata_store):
    """Downloads on either side of midnights UTC (at millisecond precision, which every backend
    keeps), and a version created inside the window (its ``created`` event is not a download)."""
    a = metadata_store.create_version(draft("a", at=at_jan(2, 6)))
    b = metadata_store.create_version(draft("b", at=at_jan(2, 7)))
    for model, when in ((a, at_jan(1, 23, 59, 59, 999)), (a, at_jan(2)), (b, at_jan(2, 12)),
                        (a, at_jan(2, 23, 59, 59, 999)), (b, at_jan(3)), (a, at_jan(5, 10))):
        metadata_store.record_download(model.id, "x", when, {})
    return a, b


@pytest.mark.usefixtures("downloads")
def test_downloads_are_counted_per_utc_day(metadata_store):
    assert metadata_store.downloads_by_day(JAN1, at_jan(6)) == {
        date(2026, 1, 1): 1, date(2026, 1, 2): 3, date(2026, 1, 3): 1, date(2026, 1, 5): 1}  # no Jan 4


@pytest.mark.usefixtures("downloads")
def test_the_download_window_is_half_open(metadata_store):
    assert metadata_store.downloads_by_day(at_jan(2), at_jan(3)) == {date(2026, 1, 2): 3}
    assert metadata_store.downloads_by_day(at_jan(2, 0, 0, 0, 1), at_jan(3, 0, 0, 0, 1)) == {
        date(2026, 1, 2): 2, date(2026, 1, 3): 1}
    assert metadata_store.downloads_by_day(at_jan(3, 0, 0, 0, 1), at_jan(5, 10)) == {}
    assert metadata_store.downloads_by_day(at_jan(2), at_jan(2)) == {}


@pytest.mark.usefixtures("downloads")
def test_download_days_are_utc_whatever_the_zone_of_the_bounds(metadata_store):
    tokyo = timezone(timedelta(hours=9))
    assert metadata_store.downloads_by_day(at_jan(2).astimezone(tokyo), at_jan(3).astimezone(tokyo)) == {
        date(2026, 1, 2): 3}


def test_downloads_of_deleted_versions_still_count(metadata_store, downloads):
    a, _ = downloads
    metadata_store.delete(a.id, lambda _sha256: None, "ops", at_jan(6))
    assert metadata_store.downloads_by_day(JAN1, at_jan(6)) == {
        date(2026, 1, 1): 1, date(2026, 1, 2): 3, date(2026, 1, 3): 1, date(2026, 1, 5): 1}
