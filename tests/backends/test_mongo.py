"""The MongoDB metadata store beyond the shared contract: its documents and indexes, the filter
translation, concurrent registrations, recovery after a crash, and the errors an operator meets."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from bson.regex import Regex

from model_service.domain.errors import Invalid, NotFound, Unavailable
from model_service.domain.filters import parse_filter, parse_sort
from model_service.domain.models import Event, EventKind
from model_service.domain.plans.aliases import ANY
from model_service.domain.query import SearchQuery, TextSearch
from model_service.domain.registry import Registration, Registry
from model_service.domain.versions import Version
from model_service.operations.transfer import Stores, copy_registry
from model_service.stores import BackendOptions, build_metadata_store
from model_service.stores.blob_local import LocalBlobStore
from model_service.stores.mongo.documents import event_document, outbox_document
from model_service.stores.mongo.locks import BlobLocks
from model_service.stores.mongo.metadata import MongoMetadataStore
from model_service.stores.mongo.query import translate
from tests.backends.mongo import Serialised, mongomock_store
from tests.contract.helpers import T0, RecordingBlob, draft, later
from tests.ports import closed_port


@pytest.fixture
def store():
    made = mongomock_store()
    yield made
    made.close()


def names(store, expression: str) -> list[str]:
    page = store.search(SearchQuery(where=parse_filter(expression), sort=parse_sort("name"), limit=100))
    return [model.name for model in page.items]


# ---- documents and indexes ----------------------------------------------------------------------

def test_prepare_creates_the_seed_indexes_and_can_run_again(store):
    store.prepare(migrate=False)  # every start runs it: nothing changes
    indexes = store.database["models"].index_information()
    assert indexes["algorithm_status_created_idx"]["key"] == [("algorithm", 1), ("status", 1), ("created_at", -1)]
    assert indexes["tags_accuracy_idx"]["key"] == [("tags", 1), ("metrics.test_accuracy", -1)]
    assert indexes["full_text_search_idx"]["key"] == [("$**", "text")]
    assert indexes["name_version_unique"]["unique"] is True
    assert indexes["name_version_unique"]["key"] == [("name", 1), ("version_major", -1), ("version_minor", -1)]
    assert store.database["aliases"].index_information()["name_alias_unique"]["unique"] is True


def test_a_version_is_stored_in_the_seed_schema(store):
    blob = RecordingBlob(b"weights")
    model = store.create_version(draft("fraud", metrics={"test_accuracy": 0.97}), blob.upload)
    document = store.database["models"].find_one({"_id": ObjectId(model.id)})
    assert document["name"] == "fraud" and document["version"] == "v1.0" and document["algorithm"] == "xgboost"
    assert document["hyperparameters"]["max_depth"] == 6 and document["metrics"] == {"test_accuracy": 0.97}
    assert document["dataset_info"]["name"] == "transactions" and document["tags"] == ["production", "fraud"]
    assert (document["status"], document["created_by"], document["download_count"]) == ("active", "alice", 0)
    assert document["file_metadata"]["checksum"] == f"sha256:{blob.info.sha256}"
    assert (document["file_metadata"]["size_bytes"], document["file_metadata"]["format"]) == (7, "pickle")
    assert document["created_at"].replace(tzinfo=UTC) == T0 and document["parent_model_id"] is None


def test_keys_mongodb_cannot_store_as_they_are_round_trip(store):
    params = {"a.b": 1, "$x": {"": 2, "50%": "half"}, "big": 2**70}
    model = store.create_version(draft("odd", hyperparameters=params, metrics={"val.acc": 0.9},
                                       dataset_info={"$where": "x.y", "n": -(2**65)}))
    assert store.get(model.id).hyperparameters == params
    assert store.get(model.id).metrics == {"val.acc": 0.9}
    assert store.get(model.id).dataset_info == {"$where": "x.y", "n": -(2**65)}
    stored = store.database["models"].find_one({"_id": ObjectId(model.id)})["hyperparameters"]
    assert set(stored) == {"a%2Eb", "%24x", "big"} and set(stored["%24x"]) == {"%", "50%25"}
    assert names(store, "hyperparameters.a.b = 1") == ["odd"]
    assert names(store, "metrics.`val.acc` >= 0.9") == ["odd"]
    assert names(store, "hyperparameters.`$x`.`50%` = 'half'") == ["odd"]


def test_times_are_kept_to_the_millisecond_and_returned_as_stored(store):
    created = store.create_version(draft(at=T0 + timedelta(microseconds=123_456)))
    assert created.created_at == T0 + timedelta(microseconds=123_000)
    assert store.get(created.id) == created


# ---- the filter language --------------------------------------------------------------------------

@pytest.mark.parametrize("expression, query", [
    ("metrics.f1_score >= 0.9 AND (algorithm = 'xgboost' OR tags = 'production')",
     {"$and": [{"metrics.f1_score": {"$gte": 0.9}}, {"$or": [{"algorithm": "xgboost"}, {"tags": "production"}]}]}),
    ("hyperparameters.max_depth = 8", {"p.max_depth": {"$eq": 8.0, "$type": "number"}}),
    ("hyperparameters.optimizer.name != 'adam'", {"p.optimizer%2Ename": {"$ne": "adam", "$type": "string"}}),
    ("metrics.loss != 0.1", {"metrics.loss": {"$exists": True, "$ne": 0.1}}),
    ("format != 'onnx'", {"format": {"$nin": ["onnx", None]}}),
    ("name LIKE 'a.b%'", {"name": {"$regex": "^a\\.b", "$options": "s"}}),
    ("name ILIKE '%x\\_y'", {"name": {"$regex": "x_y(?!.)", "$options": "is"}}),
    ("tags NOT LIKE 'prod%'", {"tags": {"$not": Regex("^prod", "s")}}),
    ("NOT tags IS NULL", {"$nor": [{"tags.0": {"$exists": False}}]}),
    ("size_bytes IS NULL", {"file_metadata.size_bytes": None}),
    ("version >= 'v1.2'", {"$or": [{"version_major": {"$gt": 1}}, {"version_major": 1, "version_minor": {"$gte": 2}}]}),
])
def test_filters_become_these_query_documents(expression, query):
    assert translate(parse_filter(expression)) == query


def test_text_search_is_an_escaped_lower_case_substring():
    assert translate(TextSearch(" Card (pay)* ")) == {"search_text": {"$regex": "card\\ \\(pay\\)\\*"}}


def test_like_treats_regular_expression_characters_literally(store):
    for name, description in (("a.b+c", "costs $5 (net)"), ("axb+c", "costs 5"), ("a_b", "100% sure\nyes")):
        store.create_version(draft(name, description=description))
    assert names(store, "name LIKE 'a.b+c'") == ["a.b+c"]
    assert names(store, "name LIKE 'a_b+c'") == ["a.b+c", "axb+c"]
    assert names(store, "name LIKE 'a\\_b'") == ["a_b"]
    assert names(store, "description LIKE '%$5 (net)'") == ["a.b+c"]
    assert names(store, "description LIKE '100\\%%'") == ["a_b"]  # % across a line break too
    assert names(store, "description LIKE '100% sure'") == []  # anchored at the end
    assert names(store, "description ILIKE 'COSTS%'") == ["a.b+c", "axb+c"]
    assert [m.name for m in store.search(SearchQuery(where=TextSearch("$5 (NET)"))).items] == ["a.b+c"]


# ---- concurrency ----------------------------------------------------------------------------------

def test_concurrent_registrations_of_one_name_get_unique_gap_free_versions(store, tmp_path):
    registry = Registry(store, LocalBlobStore(tmp_path / "blobs"), max_file_size=1 << 20)
    writers, each = 10, 6
    barrier = threading.Barrier(writers)
    versions: list[Version] = []
    errors: list[BaseException] = []

    def register() -> None:
        barrier.wait()
        try:
            versions.extend(registry.register(Registration(algorithm="xgboost", name="race"), "bot").version
                            for _ in range(each))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(versions) == [Version(1, minor) for minor in range(writers * each)]
    assert store.latest("race").version == Version(1, writers * each - 1)
    assert store.database["models"].count_documents({"name": "race"}) == writers * each


def test_a_held_blob_lock_makes_others_wait_and_an_expired_one_is_taken_over(store):
    locks = BlobLocks(Serialised(store.database)["blob_locks"], wait_seconds=0)
    with locks.hold("ab" * 32):
        with pytest.raises(Unavailable) as info, locks.hold("ab" * 32):
            pass
        assert info.value.code == "database_busy"
        with locks.hold("cd" * 32):  # another blob's lock is independent
            pass
    with locks.hold("ab" * 32):  # released
        pass
    # a process that died holding it: its lease ran out
    store.database["blob_locks"].insert_one({"_id": "ef" * 32, "owner": ObjectId(),
                                             "expires": datetime.now(UTC) - timedelta(seconds=1)})
    with locks.hold("ef" * 32):
        pass


# ---- recovery after a crash -----------------------------------------------------------------------

def test_an_event_left_in_an_outbox_is_published_once_by_recovery(store):
    model = store.create_version(draft())
    left = outbox_document(Event(model.id, model.name, EventKind.DOWNLOADED, "erin", later(1), {"bytes": 1}))
    store.database["models"].update_one({"_id": ObjectId(model.id)},
                                        {"$inc": {"download_count": 1}, "$push": {"outbox": left}})
    assert [event.kind for event in store.events(model.id)] == ["created"]  # the writer died here
    assert store.recover() == 1
    assert store.recover() == 0
    assert [event.kind for event in store.events(model.id)] == ["created", "downloaded"]
    assert store.get(model.id).download_count == 1


def test_an_interrupted_deletion_is_hidden_and_finished_by_recovery(store):
    model = store.create_version(draft())
    kept = store.create_version(draft("other"))
    store.move_alias("fraud", "production", model.id, ANY, "ops", later(1))
    marked_at = datetime.now(UTC)
    deleted = event_document(Event(model.id, "fraud", EventKind.DELETED, "dave", later(2), {"version": "v1.0"}))
    store.database["models"].update_one({"_id": ObjectId(model.id)},
                                        {"$set": {"deleting": {"at": marked_at, "event": deleted}}})
    # the process died after marking: the version is gone for every reader
    with pytest.raises(NotFound):
        store.get(model.id)
    assert [m.id for m in store.search(SearchQuery()).items] == [kept.id]
    assert store.summary()["total_models"] == 1
    with pytest.raises(NotFound):
        store.move_alias("fraud", "staging", model.id, ANY, "ops", later(3))

    assert store.recover(now=marked_at) == 0  # still within its lease: maybe alive, left alone
    assert store.recover(now=marked_at + timedelta(hours=1)) == 1
    assert store.database["models"].count_documents({"_id": ObjectId(model.id)}) == 0
    assert [event.kind for event in store.events(model.id)] == ["created", "alias", "alias", "deleted"]
    assert store.aliases("fraud") == []


def test_a_registry_copied_from_sqlite_arrives_whole(store, sqlite_metadata_factory, tmp_path):
    source = sqlite_metadata_factory("source")
    first = source.create_version(draft("fraud", at=T0 + timedelta(microseconds=999)))
    second = source.create_version(draft("fraud", at=later(1), hyperparameters={"a.b": {"$c": 1}}))
    source.record_download(second.id, "erin", later(2), {"bytes": 1})
    source.move_alias("fraud", "production", first.id, None, "ops", later(3))
    source.delete(first.id, lambda _sha256: None, "ops", later(4))
    blobs = LocalBlobStore(tmp_path / "blobs")
    summary = copy_registry(Stores(source, blobs), Stores(store, blobs), same_blobs=True)
    assert summary.ok and (summary.records_copied, summary.aliases_copied) == (2, 0)

    assert store.get(second.id) == source.get(second.id)
    assert [(e.kind, e.actor, e.at, e.data) for e in store.name_events("fraud")] == \
           [(e.kind, e.actor, e.at.replace(microsecond=e.at.microsecond // 1000 * 1000), e.data)
            for e in source.name_events("fraud")]
    assert store.create_version(draft("fraud", at=later(5))).version == Version(1, 2)


# ---- configuration and errors -----------------------------------------------------------------------

def test_the_factory_builds_the_mongo_store_on_the_configured_database():
    store = build_metadata_store("mongodb://127.0.0.1:1/ignored", BackendOptions(mongodb_db="registry_db"))
    try:
        assert isinstance(store, MongoMetadataStore) and store.database.name == "registry_db"
    finally:
        store.close()


def test_an_invalid_url_names_the_setting():
    with pytest.raises(Invalid) as info:
        MongoMetadataStore.from_url("mongodb+srv://cluster.example:27017/db")
    assert info.value.details == {"setting": "MONGODB_URL"}


def test_an_unreachable_server_is_unavailable_not_a_driver_error():
    store = MongoMetadataStore.from_url(f"mongodb://127.0.0.1:{closed_port()}/?serverSelectionTimeoutMS=300",
                                        sweep_seconds=None)
    try:
        with pytest.raises(Unavailable) as info:
            store.get("0123456789abcdef01234567")
        assert info.value.code == "database_error" and "unreachable" in info.value.message
        with pytest.raises(Unavailable):
            store.prepare(migrate=False)
        assert not store.check().ok
    finally:
        store.close()
