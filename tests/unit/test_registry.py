"""The registry's rules, on the embedded stores (fast enough to need no fakes)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from model_service.domain.errors import ChecksumMismatch, Conflict, Invalid, InvalidId, NotFound, TooLarge
from model_service.domain.models import Status
from model_service.domain.query import SimpleFilters
from model_service.domain.registry import Registration, Registry
from model_service.domain.uploads import parse_checksum
from model_service.domain.versions import Version
from model_service.stores.blob_local import LocalBlobStore
from model_service.stores.sql.store import SqlMetadataStore

DEC16 = datetime(2024, 12, 16, 9, 30, tzinfo=UTC)


@pytest.fixture
def registry(tmp_path):
    metadata = SqlMetadataStore.from_url(f"sqlite:///{tmp_path / 'r.db'}")
    metadata.prepare(migrate=True)
    yield Registry(metadata, LocalBlobStore(tmp_path / "blobs"), max_file_size=1000, clock=lambda: DEC16)
    metadata.close()


def received(registry: Registry, content: bytes, *, filename: str | None = "m.pkl", expected: str | None = None):
    upload = registry.begin_upload(expected)
    upload.write(content)
    upload.finish()
    upload.filename = filename
    return upload


def test_registration_without_name_gets_a_semantic_name(registry):
    model = registry.register(Registration(algorithm="random_forest", metrics={"accuracy": 0.952}), "alice")
    assert model.name == "RandomForest_95.2%_Dec16"
    assert model.created_by == "alice" and model.created_at == DEC16


def test_created_by_in_the_request_wins_over_the_actor(registry):
    model = registry.register(Registration(algorithm="svm", name="s", created_by="ml_engineer_01"), "anonymous")
    assert model.created_by == "ml_engineer_01"


def test_same_name_is_the_next_version_of_the_latest(registry):
    first = registry.register(Registration(algorithm="svm", name="churn"), "a")
    second = registry.register(Registration(algorithm="svm", name="churn"), "a")
    third = registry.register(Registration(algorithm="svm", name="churn", breaking_changes=True), "a")
    assert [str(m.version) for m in (first, second, third)] == ["v1.0", "v1.1", "v2.0"]
    assert (second.parent_model_id, third.parent_model_id) == (first.id, second.id)


@pytest.mark.parametrize(
    "fields, code",
    [
        ({"algorithm": ""}, "invalid_algorithm"),
        ({"algorithm": "svm", "name": "bad name"}, "invalid_name"),
        ({"algorithm": "svm", "metrics": {"acc": "high"}}, "invalid_metrics"),
        ({"algorithm": "svm", "metrics": {"acc": float("nan")}}, "invalid_metrics"),
        ({"algorithm": "svm", "metrics": {"acc": True}}, "invalid_metrics"),
        ({"algorithm": "svm", "metrics": {"bad name": 1}}, "invalid_metrics"),
        ({"algorithm": "svm", "tags": ("a,b",)}, "invalid_tags"),
        ({"algorithm": "svm", "tags": ("",)}, "invalid_tags"),
        ({"algorithm": "svm", "tags": tuple(f"t{i}" for i in range(65))}, "invalid_tags"),
        ({"algorithm": "svm", "status": "retired"}, "invalid_status"),
        ({"algorithm": "svm", "format": "Pickle Jar"}, "invalid_format"),
        ({"algorithm": "svm", "description": "x" * 20_000}, "invalid_description"),
        ({"algorithm": "svm", "created_by": "   "}, "invalid_created_by"),
    ],
)
def test_invalid_registrations_say_what_is_wrong(registry, fields, code):
    with pytest.raises(Invalid) as info:
        registry.register(Registration(**fields), "a")
    assert info.value.code == code
    assert registry.search(SimpleFilters()).total == 0


def test_tags_are_deduplicated_in_order(registry):
    model = registry.register(Registration(algorithm="svm", name="t", tags=("b", "a", "b")), "x")
    assert model.tags == ("b", "a")


def test_new_version_inherits_from_its_base_and_not_its_file(registry):
    base = registry.register(Registration(algorithm="xgboost", name="fraud", hyperparameters={"depth": 6},
                                          metrics={"auc": 0.9}, tags=("prod",), format="json"), "a",
                             received(registry, b"weights"))
    registry.register(Registration(algorithm="xgboost", name="fraud"), "a")  # v1.1
    child = registry.new_version(base.id, {"metrics": {"auc": 0.95}}, "b")
    assert child.version == Version(1, 2) and child.parent_model_id == base.id
    assert (child.algorithm, child.hyperparameters, child.tags, child.format) == ("xgboost", {"depth": 6}, ("prod",),
                                                                                  "json")
    assert child.metrics == {"auc": 0.95} and child.file is None and child.created_by == "b"


def test_new_version_rules(registry):
    base = registry.register(Registration(algorithm="svm", name="n"), "a")
    with pytest.raises(Invalid, match="keeps its base's name"):
        registry.new_version(base.id, {"name": "other"}, "a")
    with pytest.raises(Invalid) as info:
        registry.new_version(base.id, {"download_count": 5}, "a")
    assert info.value.code == "invalid_fields"
    assert str(registry.new_version(base.id, {"breaking_changes": True}, "a").version) == "v2.0"
    with pytest.raises(NotFound):
        registry.new_version("0" * 24, {}, "a")


def test_update_allows_only_mutable_fields(registry):
    model = registry.register(Registration(algorithm="svm", name="n"), "a")
    with pytest.raises(Invalid) as info:
        registry.update(model.id, {"algorithm": "rf"}, "a")
    assert info.value.code == "immutable_field" and info.value.details["fields"] == ["algorithm"]
    with pytest.raises(Invalid) as info:
        registry.update(model.id, {"colour": "red"}, "a")
    assert info.value.code == "unknown_field"
    updated = registry.update(model.id, {"status": "archived", "tags": ["x"]}, "ops")
    assert updated.status == Status.ARCHIVED and updated.tags == ("x",)
    assert [(e.kind.value, e.actor) for e in registry.history(model.id)][-2:] == [("status", "ops"),
                                                                                   ("updated", "ops")]


def test_ids_are_checked_before_any_lookup(registry):
    for call in (registry.get, registry.history, lambda i: registry.delete(i, "a"), registry.ensure_can_upload):
        with pytest.raises(InvalidId):
            call("not-an-id")


def test_file_rules(registry):
    model = registry.register(Registration(algorithm="svm", name="n"), "a")
    attached = registry.attach(model.id, received(registry, b"abc", filename="weights.onnx"), "a")
    assert attached.file.format == "onnx" and attached.file.size_bytes == 3
    with pytest.raises(Conflict):
        registry.ensure_can_upload(model.id)
    with pytest.raises(Conflict):
        registry.attach(model.id, received(registry, b"other"), "a")
    assert not list(registry.blobs.tmp_dir.iterdir())


def test_declared_format_beats_the_file_extension(registry):
    model = registry.register(Registration(algorithm="svm", name="n", format="joblib"), "a")
    assert registry.attach(model.id, received(registry, b"abc", filename="m.pkl"), "a").file.format == "joblib"


def test_limits_and_checksums_are_enforced_while_receiving(registry):
    upload = registry.begin_upload()
    with pytest.raises(TooLarge):
        upload.write(b"x" * 1001)
    upload.abort()
    upload = registry.begin_upload(parse_checksum("sha256:" + "0" * 64))
    upload.write(b"abc")
    with pytest.raises(ChecksumMismatch) as info:
        upload.finish()
    upload.abort()
    assert info.value.details["actual"].startswith("sha256:ba7816bf")
    assert not list(registry.blobs.tmp_dir.iterdir())


@pytest.mark.parametrize("value", ["md5:abc", "sha256:xyz", "sha256:" + "0" * 63])
def test_malformed_checksums(value):
    with pytest.raises(Invalid):
        parse_checksum(value)


def test_delete_removes_the_blob_with_its_last_reference(registry):
    a = registry.register(Registration(algorithm="svm", name="a"), "x", received(registry, b"same"))
    b = registry.register(Registration(algorithm="svm", name="b"), "x", received(registry, b"same"))
    key = a.file.sha256
    registry.delete(a.id, "x")
    assert registry.blobs.size(key) == 4
    registry.delete(b.id, "x")
    assert registry.blobs.size(key) is None


def test_open_file_without_file_is_not_found(registry):
    model = registry.register(Registration(algorithm="svm", name="a"), "x")
    with pytest.raises(NotFound) as info:
        registry.open_file(model.id)
    assert info.value.code == "file_not_found"


class RecordingObserver:
    def __init__(self):
        self.seen: list[tuple] = []

    def registered(self, model):
        self.seen.append(("registered", model.name))

    def uploaded(self, model, size_bytes):
        self.seen.append(("uploaded", model.name, size_bytes))

    def downloaded(self, model, size_bytes):
        self.seen.append(("downloaded", model.name, size_bytes))

    def deleted(self, model):
        self.seen.append(("deleted", model.name))


def test_the_observer_hears_every_committed_change(registry):
    observer = registry.observer = RecordingObserver()
    with_file = registry.register(Registration(algorithm="svm", name="a"), "x", received(registry, b"abcd"))
    bare = registry.register(Registration(algorithm="svm", name="b"), "x")
    registry.attach(bare.id, received(registry, b"xy"), "x")
    registry.record_download(with_file, "x", 4, None)
    registry.delete(bare.id, "x")
    with pytest.raises(Invalid):
        registry.register(Registration(algorithm="svm", name="bad name"), "x")
    assert observer.seen == [("registered", "a"), ("uploaded", "a", 4), ("registered", "b"), ("uploaded", "b", 2),
                             ("downloaded", "a", 4), ("deleted", "b")]


# ---- the dashboard's figures ----------------------------------------------------------------------

def download_at(registry: Registry, model, when: datetime) -> None:
    clock = registry.clock
    registry.clock = lambda: when
    try:
        registry.record_download(model, "reader", 10, None)
    finally:
        registry.clock = clock


def test_downloads_per_day_is_every_day_oldest_first_ending_today_with_zeros(registry):
    model = registry.register(Registration(algorithm="svm", name="d"), "a")
    for when in (datetime(2024, 12, 9, 23, 59, 59, tzinfo=UTC),  # the day before the 7-day window
                 datetime(2024, 12, 10, tzinfo=UTC), datetime(2024, 12, 12, 15, tzinfo=UTC),
                 datetime(2024, 12, 12, 16, tzinfo=UTC), datetime(2024, 12, 16, 9, tzinfo=UTC)):
        download_at(registry, model, when)
    assert registry.downloads_per_day(7) == [
        (date(2024, 12, 10), 1), (date(2024, 12, 11), 0), (date(2024, 12, 12), 2), (date(2024, 12, 13), 0),
        (date(2024, 12, 14), 0), (date(2024, 12, 15), 0), (date(2024, 12, 16), 1)]
    assert registry.downloads_per_day(1) == [(date(2024, 12, 16), 1)]
    month = registry.downloads_per_day()
    assert len(month) == 30 and month[0][0] == date(2024, 11, 17) and month[-1] == (date(2024, 12, 16), 1)
    assert sum(count for _, count in month) == 5
    assert registry.downloads_per_day(0) == []


def test_today_is_the_utc_day_of_the_clock(registry):
    model = registry.register(Registration(algorithm="svm", name="d"), "a")
    download_at(registry, model, datetime(2024, 12, 16, 23, 30, tzinfo=UTC))
    registry.clock = lambda: datetime(2024, 12, 17, 8, 0, tzinfo=timezone(timedelta(hours=9)))  # 23:00 UTC on the 16th
    assert registry.downloads_per_day(2) == [(date(2024, 12, 15), 0), (date(2024, 12, 16), 1)]
    assert registry.downloads_per_day(3)[-1] == (date(2024, 12, 16), 1)


def test_an_empty_registry_has_a_row_of_zeros_and_no_tags(registry):
    assert registry.downloads_per_day(3) == [(date(2024, 12, 14), 0), (date(2024, 12, 15), 0), (date(2024, 12, 16), 0)]
    assert registry.top_tags() == []


def test_top_tags_count_versions_per_tag(registry):
    for tags in (("prod", "fraud"), ("prod",), ("beta", "prod", "beta")):
        registry.register(Registration(algorithm="svm", name="t", tags=tags), "a")
    assert registry.top_tags() == [("prod", 3), ("beta", 1), ("fraud", 1)]
    assert registry.top_tags(1) == [("prod", 3)]
