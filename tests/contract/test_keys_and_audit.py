"""The KeyStore and AuditLog contracts (domain/ports.py), run against every metadata backend."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from model_service.domain.audit import Action, Auditor, AuditQuery, AuditRecord, describe_alias_move
from model_service.domain.callers import Caller, Scope
from model_service.domain.errors import Conflict, NotFound
from model_service.domain.ids import new_id
from model_service.domain.keys import ApiKey, hash_secret
from model_service.domain.query import SearchQuery
from model_service.operations.transfer import Stores, copy_registry
from model_service.stores.blob_local import LocalBlobStore
from model_service.stores.sql import migrate
from model_service.stores.sql.store import SqlMetadataStore

from .helpers import T0, RecordingBlob, draft, later


def api_key(key_id: str = "0123456789ab", **fields) -> ApiKey:
    values = dict(key_id=key_id, name="team-fraud", scopes=(Scope.READ, Scope.WRITE), name_prefix="fraud_",
                  secret_hash=hash_secret(f"tfk_{key_id}_secret"), created_at=T0, created_by="admin",
                  expires_at=later(60 * 24), revoked_at=None, revoked_by=None)
    values.update(fields)
    return ApiKey(**values)


def record(minutes: float = 0, **fields) -> AuditRecord:
    at = T0 + timedelta(minutes=minutes)
    values = dict(id=new_id(at.timestamp()), at=at, action="model.register", actor="alice", key_id="0123456789ab",
                  model_id=new_id(at.timestamp()), name="fraud_model", version="v1.0",
                  details={"file": {"sha256": "ab" * 32, "size_bytes": 7}, "dotted.key": 1, "$dollar": [1, "x"]},
                  client_ip="10.0.0.7", request_id="req-1")
    values.update(fields)
    return AuditRecord(**values)


# ---- keys ---------------------------------------------------------------------------------------

def test_a_key_round_trips(metadata_store):
    key = api_key()
    metadata_store.add_key(key)

    stored = metadata_store.get_key(key.key_id)
    assert stored == key
    assert stored.created_at.utcoffset() == timedelta(0) and stored.expires_at.utcoffset() == timedelta(0)


def test_a_key_without_prefix_or_expiry_round_trips(metadata_store):
    key = api_key(scopes=(Scope.ADMIN,), name_prefix=None, expires_at=None)
    metadata_store.add_key(key)

    assert metadata_store.get_key(key.key_id) == key


def test_an_unknown_key_is_not_found(metadata_store):
    with pytest.raises(NotFound) as missing:
        metadata_store.get_key("ffffffffffff")
    assert missing.value.code == "key_not_found"


def test_a_taken_key_id_is_a_conflict_and_changes_nothing(metadata_store):
    key = api_key()
    metadata_store.add_key(key)

    with pytest.raises(Conflict) as taken:
        metadata_store.add_key(replace(key, name="intruder", scopes=(Scope.ADMIN,)))
    assert taken.value.code == "key_exists"
    assert metadata_store.get_key(key.key_id) == key


def test_keys_are_listed_oldest_first_revoked_ones_too(metadata_store):
    keys = [api_key("00000000000c", created_at=later(2)), api_key("00000000000a", created_at=later(1)),
            api_key("00000000000b", created_at=later(2), revoked_at=later(3), revoked_by="admin")]
    for key in keys:
        metadata_store.add_key(key)

    assert [key.key_id for key in metadata_store.list_keys()] == ["00000000000a", "00000000000b", "00000000000c"]


def test_no_keys_is_an_empty_list(metadata_store):
    assert metadata_store.list_keys() == []


def test_revoking_records_who_and_when_and_the_first_revocation_stays(metadata_store):
    key = api_key()
    metadata_store.add_key(key)

    revoked = metadata_store.revoke_key(key.key_id, "admin", later(5))
    again = metadata_store.revoke_key(key.key_id, "someone-else", later(6))

    assert (revoked.revoked_at, revoked.revoked_by) == (later(5), "admin")
    assert again == revoked == metadata_store.get_key(key.key_id)
    assert replace(revoked, revoked_at=None, revoked_by=None) == key


def test_revoking_an_unknown_key_is_not_found(metadata_store):
    with pytest.raises(NotFound):
        metadata_store.revoke_key("ffffffffffff", "admin", T0)


# ---- the audit log ------------------------------------------------------------------------------

def all_records(store, **filters) -> list[AuditRecord]:
    return store.audit_records(AuditQuery(limit=1000, **filters))


def test_a_record_round_trips(metadata_store):
    written = record()
    assert metadata_store.append_audit(written) is True

    assert all_records(metadata_store) == [written]


def test_a_record_with_only_the_required_fields_round_trips(metadata_store):
    written = AuditRecord(id=new_id(T0.timestamp()), at=T0, action="key.create", actor="anonymous")
    metadata_store.append_audit(written)

    assert all_records(metadata_store) == [written]


def test_a_record_id_is_appended_once(metadata_store):
    written = record()
    metadata_store.append_audit(written)

    assert metadata_store.append_audit(replace(written, actor="mallory")) is False
    assert all_records(metadata_store) == [written]


def test_records_come_newest_first_ties_by_id(metadata_store):
    first, second = record(1), record(2)
    tie_a = record(3, id="0" * 23 + "a")
    tie_b = record(3, id="0" * 23 + "b")
    for written in (second, tie_a, first, tie_b):
        metadata_store.append_audit(written)

    assert [r.id for r in all_records(metadata_store)] == [tie_b.id, tie_a.id, second.id, first.id]


def test_pages_follow_one_another_without_gaps_or_repeats(metadata_store):
    written = [record(minute // 3) for minute in range(11)]  # three records per minute: ties on `at`
    for each in written:
        metadata_store.append_audit(each)
    expected = sorted(written, key=lambda r: (r.at, r.id), reverse=True)

    seen: list[AuditRecord] = []
    before = None
    while page := metadata_store.audit_records(AuditQuery(limit=4, before=before)):
        assert len(page) <= 4
        seen.extend(page)
        before = (page[-1].at, page[-1].id)
    assert seen == expected


def test_filters_select_by_actor_action_model_key_and_time(metadata_store):
    model_id = new_id(T0.timestamp())
    records = {
        "register": record(1, model_id=model_id),
        "bob": record(2, actor="bob", action="model.update", model_id=model_id),
        "other": record(3, name="churn", model_id=new_id(T0.timestamp())),
        "key": record(4, action="key.create", model_id=None, name=None, version=None, key_id="bbbbbbbbbbbb"),
        "alias": record(5, action="alias.set", model_id=model_id, name="fraud_model"),
    }
    for written in records.values():
        metadata_store.append_audit(written)

    def ids(**filters):
        return {name for name, r in records.items() if r in all_records(metadata_store, **filters)}

    assert ids(actor="bob") == {"bob"}
    assert ids(actions=("model.update", "key.create")) == {"bob", "key"}
    assert ids(model=model_id) == {"register", "bob", "alias"}
    assert ids(model="churn") == {"other"}
    assert ids(model="fraud_model") == {"register", "bob", "alias"}
    assert ids(key_id="bbbbbbbbbbbb") == {"key"}
    assert ids(since=later(2), until=later(4)) == {"bob", "other"}  # since inclusive, until exclusive
    assert ids(since=later(2) + timedelta(microseconds=1)) == {"other", "key", "alias"}
    assert ids(until=later(2) + timedelta(microseconds=1)) == {"register", "bob"}
    assert ids(actor="alice", model="fraud_model", actions=("alias.set",)) == {"alias"}
    assert ids(actor="nobody") == set()


def test_limit_bounds_a_page(metadata_store):
    for minute in range(5):
        metadata_store.append_audit(record(minute))

    assert [r.at for r in metadata_store.audit_records(AuditQuery(limit=2))] == [later(4), later(3)]


# ---- SQL: the table refuses changes --------------------------------------------------------------

@pytest.fixture
def sqlite_store(tmp_path):
    store = SqlMetadataStore.from_url(f"sqlite:///{tmp_path / 'audit.db'}")
    store.prepare(migrate=True)
    yield store
    store.close()


# ---- a write and its record ----------------------------------------------------------------------

CALLER = Caller(actor="alice", key_id="0123456789ab", client_ip="10.0.0.7", request_id="req-9")


def test_every_write_appends_the_record_its_hook_makes_of_the_result(metadata_store):
    auditor = Auditor(metadata_store, clock=lambda: later(5))
    hook = auditor.hook

    model = metadata_store.create_version(draft(), audit=hook(CALLER, Action.REGISTER))
    metadata_store.attach_file(model.id, RecordingBlob().upload, "alice", audit=hook(CALLER, Action.UPLOAD))
    metadata_store.update(model.id, {"description": "new"}, "alice", later(1), audit=hook(CALLER, Action.UPDATE))
    metadata_store.move_alias("fraud", "production", model.id, None, "alice", later(2),
                              audit=hook(CALLER, Action.ALIAS_SET, describe_alias_move))
    metadata_store.delete(model.id, lambda _sha256: None, "alice", later(3), audit=hook(CALLER, Action.DELETE))
    metadata_store.add_key(api_key(), audit=hook(CALLER, Action.KEY_CREATE, lambda _: {"details": {"k": 1}}))
    metadata_store.revoke_key(api_key().key_id, "alice", later(4),
                              audit=hook(CALLER, Action.KEY_REVOKE, lambda key: {"details": {"by": key.revoked_by}}))

    records = metadata_store.audit_records(AuditQuery(limit=100))
    assert sorted(r.action for r in records) == sorted(a.value for a in (
        Action.REGISTER, Action.UPLOAD, Action.UPDATE, Action.ALIAS_SET, Action.DELETE, Action.KEY_CREATE,
        Action.KEY_REVOKE))
    by_action = {r.action: r for r in records}
    assert (by_action["model.register"].model_id, by_action["model.register"].version) == (model.id, "v1.0")
    assert by_action["alias.set"].name == "fraud" and by_action["alias.set"].details["alias"] == "production"
    assert by_action["key.revoke"].details == {"by": "alice"}
    assert all((r.actor, r.key_id, r.client_ip, r.request_id) == ("alice", "0123456789ab", "10.0.0.7", "req-9")
               for r in records)


def test_a_hook_that_records_nothing_appends_nothing(metadata_store):
    metadata_store.create_version(draft(), audit=lambda _model: None)

    assert metadata_store.audit_records(AuditQuery()) == []


def test_a_write_whose_record_cannot_be_made_is_undone_where_the_store_has_transactions(metadata_store):
    """SQL: the write and its record are one transaction. MongoDB appends the record after the
    write, which has happened by then and stands."""
    def broken(_model):
        raise RuntimeError("no record")

    with pytest.raises(RuntimeError):
        metadata_store.create_version(draft(), audit=broken)

    versions = metadata_store.search(SearchQuery()).total
    assert versions == (0 if isinstance(metadata_store, SqlMetadataStore) else 1)
    assert metadata_store.audit_records(AuditQuery()) == []


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"])
def test_the_sql_audit_log_is_append_only(sqlite_store, statement):
    sqlite_store.append_audit(record())

    with pytest.raises(DBAPIError, match="append-only"), sqlite_store.engine.begin() as connection:
        connection.execute(text(statement))
    assert len(all_records(sqlite_store)) == 1


def test_the_migration_downgrades_and_upgrades_again(sqlite_store):
    sqlite_store.add_key(api_key())
    from alembic import command

    with sqlite_store.engine.begin() as connection:
        command.downgrade(migrate._config(connection), "0005")
        tables = set(connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'")).scalars())
    assert not {"api_keys", "audit_log"} & tables

    sqlite_store.prepare(migrate=True)
    assert sqlite_store.list_keys() == []
    sqlite_store.append_audit(record())
    with pytest.raises(DBAPIError), sqlite_store.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log"))


# ---- model-service migrate ------------------------------------------------------------------------

def test_migrate_copies_keys_and_the_audit_log_and_can_run_again(metadata_store, second_metadata_store, tmp_path):
    keys = [api_key("00000000000a"), api_key("00000000000b", revoked_at=later(1), revoked_by="admin")]
    records = [record(minute // 2) for minute in range(7)]
    for key in keys:
        metadata_store.add_key(key)
    for each in records:
        metadata_store.append_audit(each)
    source = Stores(metadata_store, LocalBlobStore(tmp_path / "source"))
    target = Stores(second_metadata_store, LocalBlobStore(tmp_path / "target"))

    summary = copy_registry(source, target, page_size=3)
    again = copy_registry(source, target, page_size=3)

    assert (summary.keys_copied, summary.audit_copied) == (2, 7)
    assert (again.keys_copied, again.keys_present, again.audit_copied, again.audit_present) == (0, 2, 0, 7)
    assert second_metadata_store.list_keys() == keys
    assert all_records(second_metadata_store) == all_records(metadata_store)
