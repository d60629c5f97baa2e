"""The planners (``domain/plans``): every state transition as a pure function of the current state
and the request. No store here: the contract suite checks that each backend applies the plans."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from model_service.domain.errors import Conflict, Invalid, NotFound
from model_service.domain.models import LATEST, Alias, Draft, EventKind, FileInfo, ModelVersion, Status
from model_service.domain.plans.aliases import ANY, Target, plan_alias_move
from model_service.domain.plans.deletions import plan_delete, releases_blob
from model_service.domain.plans.files import downloaded, plan_attach
from model_service.domain.plans.retry import Contended, retrying
from model_service.domain.plans.updates import plan_update
from model_service.domain.plans.versions import Latest, plan_version
from model_service.domain.versions import Version

T0 = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
ID_A, ID_B, ID_C = "a" * 24, "b" * 24, "c" * 24


def draft(**fields) -> Draft:
    values = dict(id=ID_C, name="fraud", algorithm="xgboost", hyperparameters={"depth": 6},
                  metrics={"accuracy": 0.9}, dataset_info={}, tags=("prod",), description="d", created_by="alice",
                  status=Status.ACTIVE, format="pickle", parent_model_id=LATEST, breaking=False, created_at=T0)
    values.update(fields)
    return Draft(**values)


def file_info(at: datetime = T0) -> FileInfo:
    return FileInfo(sha256="e" * 64, size_bytes=10, format="pickle", filename="m.pkl",
                    content_type="application/octet-stream", uploaded_at=at)


def version(**fields) -> ModelVersion:
    return replace(plan_version(draft(), None).model, **fields)


V1_0 = Version(1, 0)


def alias(model_id: str = ID_A, at: datetime = T0, number: Version = V1_0) -> Alias:
    return Alias("fraud", "production", model_id, number, at, "ops")


# ---- versions ---------------------------------------------------------------------------------------

def test_the_first_version_of_a_name_is_v1_0_without_a_parent():
    plan = plan_version(draft(), None)
    assert plan.model.version == Version(1, 0) and plan.model.parent_model_id is None
    assert plan.model.updated_at == plan.model.created_at == T0 and plan.model.download_count == 0
    [created] = plan.events
    assert (created.kind, created.actor, created.at) == (EventKind.CREATED, "alice", T0)
    assert created.data == {"version": "v1.0", "parent_model_id": None}


@pytest.mark.parametrize(("breaking", "expected"), [(False, Version(1, 4)), (True, Version(2, 0))])
def test_a_new_version_follows_the_latest_and_takes_it_as_parent(breaking, expected):
    plan = plan_version(draft(breaking=breaking), Latest(ID_A, Version(1, 3)))
    assert plan.model.version == expected and plan.model.parent_model_id == ID_A


def test_an_explicit_parent_is_kept_whatever_the_latest():
    plan = plan_version(draft(parent_model_id=ID_B), Latest(ID_A, Version(1, 3)))
    assert plan.model.parent_model_id == ID_B and plan.events[0].data["parent_model_id"] == ID_B


def test_a_version_with_its_file_records_the_upload_after_its_creation():
    plan = plan_version(draft(), None, file_info(T0 + timedelta(seconds=1)))
    assert plan.model.file == file_info(T0 + timedelta(seconds=1))
    assert [event.kind for event in plan.events] == [EventKind.CREATED, EventKind.UPLOADED]
    assert plan.events[1].data == {"checksum": "sha256:" + "e" * 64, "size_bytes": 10}
    assert plan.events[1].at == T0 + timedelta(seconds=1)


# ---- updates ----------------------------------------------------------------------------------------

def test_a_new_status_is_a_status_event_and_other_fields_one_updated_event():
    at = T0 + timedelta(minutes=1)
    plan = plan_update(version(), {"description": "new", "status": Status.DEPRECATED, "tags": ("prod", "x")},
                       "bob", at)
    assert plan.model.status is Status.DEPRECATED and plan.model.tags == ("prod", "x")
    assert plan.model.description == "new" and plan.model.updated_at == at
    assert [(event.kind, event.data) for event in plan.events] == [
        (EventKind.STATUS, {"from": "active", "to": "deprecated"}),
        (EventKind.UPDATED, {"fields": ["description", "tags"]}),
    ]
    assert set(plan.fields) == {"description", "status", "tags", "updated_at"}


def test_new_metrics_rewrite_the_derived_accuracy():
    plan = plan_update(version(), {"metrics": {"test_accuracy": 0.5}}, "bob", T0)
    assert plan.model.accuracy == 0.5
    assert set(plan.fields) == {"metrics", "accuracy", "updated_at"}


def test_values_equal_to_the_current_ones_change_nothing():
    current = version()
    plan = plan_update(current, {"tags": ["prod"], "status": Status.ACTIVE, "description": "d"}, "bob", T0)
    assert not plan.changes and plan.events == () and plan.model is current


# ---- files --------------------------------------------------------------------------------------------

def test_a_file_is_attached_once():
    at = T0 + timedelta(hours=1)
    attached = plan_attach(version(), file_info(at), "carol")
    assert attached.model.file == file_info(at) and attached.model.updated_at == at
    assert (attached.event.kind, attached.event.actor) == (EventKind.UPLOADED, "carol")
    with pytest.raises(Conflict) as refused:
        plan_attach(attached.model, file_info(), "carol")
    assert refused.value.code == "file_exists"
    assert refused.value.details == {"model_id": ID_C, "checksum": "sha256:" + "e" * 64}


def test_a_download_is_an_event_with_its_bytes_and_range():
    event = downloaded(ID_A, "fraud", "erin", T0, {"bytes": 3, "range": None})
    assert (event.kind, event.model_id, event.model_name, event.data) == (
        EventKind.DOWNLOADED, ID_A, "fraud", {"bytes": 3, "range": None})


# ---- aliases ------------------------------------------------------------------------------------------

TARGET_A = Target(ID_A, "fraud", Version(1, 0))
TARGET_B = Target(ID_B, "fraud", Version(1, 1))


def test_setting_an_alias_records_where_it_came_from_and_went():
    change = plan_alias_move("fraud", "production", None, ID_A, TARGET_A, None, "ops", T0)
    assert change.move.before is None and change.move.after == alias()
    assert change.event is not None and change.event.model_id == ID_A
    assert change.event.data == {"alias": "production", "from_version": None, "to_version": "v1.0",
                                 "from_model_id": None, "to_model_id": ID_A}


def test_moving_an_alias_where_it_already_points_records_no_event():
    later = T0 + timedelta(minutes=1)
    change = plan_alias_move("fraud", "production", alias(), ID_A, TARGET_A, ANY, "ops2", later)
    assert change.event is None and change.move.after == Alias("fraud", "production", ID_A, Version(1, 0), later,
                                                                "ops2")


def test_removing_an_alias_records_it_on_the_version_it_left():
    change = plan_alias_move("fraud", "production", alias(), None, None, Version(1, 0), "ops", T0)
    assert change.move.after is None and change.event is not None
    assert change.event.model_id == ID_A and change.event.data["to_model_id"] is None


@pytest.mark.parametrize(("before", "expected"), [(None, Version(1, 0)), (alias(), None), (alias(), Version(1, 1))])
def test_a_stale_expectation_is_a_conflict_that_says_where_the_alias_is(before, expected):
    with pytest.raises(Conflict) as refused:
        plan_alias_move("fraud", "production", before, ID_B, TARGET_B, expected, "ops", T0)
    assert refused.value.code == "alias_conflict"
    assert refused.value.details["current_version"] == (None if before is None else "v1.0")
    assert refused.value.details["expected_version"] == (None if expected is None else str(expected))


def test_the_expectation_is_checked_before_the_target():
    with pytest.raises(Conflict):
        plan_alias_move("fraud", "production", alias(), ID_B, None, None, "ops", T0)


@pytest.mark.parametrize(("model_id", "target", "error", "code"), [
    (None, None, NotFound, "alias_not_found"),
    (ID_B, None, NotFound, "model_not_found"),
    (ID_B, Target(ID_B, "other", Version(1, 0)), Invalid, "invalid_alias_target"),
])
def test_what_an_alias_cannot_point_at(model_id, target, error, code):
    with pytest.raises(error) as refused:
        plan_alias_move("fraud", "production", None, model_id, target, ANY, "ops", T0)
    assert refused.value.code == code


def test_a_move_whose_clock_is_behind_the_last_one_still_follows_it():
    last = T0 + timedelta(seconds=5)
    change = plan_alias_move("fraud", "production", alias(at=last), ID_B, TARGET_B, ANY, "ops", T0)
    assert change.move.after is not None and change.move.after.updated_at == last
    assert change.event is not None and change.event.at == last


# ---- deletions ----------------------------------------------------------------------------------------

def test_a_deletion_removes_each_alias_on_record_then_records_itself():
    model = version(id=ID_A, file=file_info())
    held = [alias(), Alias("fraud", "canary", ID_A, Version(1, 0), T0, "ops")]
    plan = plan_delete(model, held, "dave", T0 + timedelta(minutes=2))
    assert [removal.move.alias for removal in plan.alias_removals] == ["production", "canary"]
    assert all(removal.move.after is None and removal.event is not None for removal in plan.alias_removals)
    assert (plan.event.kind, plan.event.data, plan.event.model_id) == (EventKind.DELETED, {"version": "v1.0"}, ID_A)


def test_retention_keeps_an_aliased_version():
    model = version(id=ID_A)
    with pytest.raises(Conflict) as refused:
        plan_delete(model, [alias(), Alias("fraud", "canary", ID_A, Version(1, 0), T0, "ops")], "dave", T0,
                    unless_aliased=True)
    assert refused.value.code == "version_aliased"
    assert refused.value.details == {"model_id": ID_A, "aliases": ["canary", "production"]}
    assert plan_delete(model, [], "dave", T0, unless_aliased=True).alias_removals == ()


@pytest.mark.parametrize(("sha256", "others", "released"),
                         [("e" * 64, 0, True), ("e" * 64, 1, False), (None, 0, False)])
def test_a_blob_goes_with_its_last_reference(sha256, others, released):
    assert releases_blob(sha256, others) is released


# ---- the retry loop ------------------------------------------------------------------------------------

def test_a_contended_attempt_is_planned_again_until_it_applies():
    pauses: list[int] = []
    outcomes = iter([Contended(), Contended(), "done"])

    def attempt() -> str:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert retrying(attempt, attempts=5, exhausted=lambda: Conflict("no"), sleep=pauses.append) == "done"
    assert pauses == [0, 1]


def test_contention_that_outlasts_the_attempts_is_the_given_refusal():
    def attempt() -> None:
        raise Contended()

    with pytest.raises(Conflict) as refused:
        retrying(attempt, attempts=3, exhausted=lambda: Conflict("busy", code="version_conflict"),
                 sleep=lambda _: None)
    assert refused.value.code == "version_conflict"
