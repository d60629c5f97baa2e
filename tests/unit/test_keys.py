"""The key service and the audit log's domain parts, on an in-memory store."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from model_service.domain.audit import (
    Action,
    Auditor,
    AuditQuery,
    AuditRecord,
    append_after,
    cursor_of,
    parse_cursor,
)
from model_service.domain.callers import Caller, Scope, granted
from model_service.domain.errors import Conflict, Forbidden, Invalid, Malformed, NotFound, Unauthorized
from model_service.domain.keys import ApiKey, Keys, hash_secret, key_id_of

NOW = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


class MemoryStore:
    """KeyStore + AuditLog in memory, counting lookups."""

    def __init__(self):
        self.keys: dict[str, ApiKey] = {}
        self.records: list[AuditRecord] = []
        self.lookups = 0
        self.fail_audit = False

    def add_key(self, key, audit=None):
        if key.key_id in self.keys:
            raise Conflict("taken", code="key_exists")
        self.keys[key.key_id] = key
        self._audit(audit, None)

    def get_key(self, key_id):
        self.lookups += 1
        if key_id not in self.keys:
            raise NotFound("no", code="key_not_found")
        return self.keys[key_id]

    def list_keys(self):
        return sorted(self.keys.values(), key=lambda k: (k.created_at, k.key_id))

    def revoke_key(self, key_id, actor, at, audit=None):
        key = self.get_key(key_id)
        if key.revoked_at is None:
            self.keys[key_id] = key = replace(key, revoked_at=at, revoked_by=actor)
        self._audit(audit, key)
        return key

    def _audit(self, audit, result):
        append_after(self.append_audit, audit, result)

    def append_audit(self, record):
        if self.fail_audit:
            raise OSError("disk on fire")
        self.records.append(record)
        return True


class Clock:
    def __init__(self):
        self.now, self.ticks = NOW, 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def store():
    return MemoryStore()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def keys(store, clock):
    return Keys(store, Auditor(store, clock=clock), clock=clock, cache_seconds=5, monotonic=lambda: clock.ticks,
                bootstrap_key="b" * 40)


ADMIN = Caller(actor="ops", key_id="bootstrap", client_ip="10.0.0.1", request_id="r1")


def test_a_key_is_random_and_stored_as_its_hash_only(keys, store):
    issued = keys.create(ADMIN, name="alice", scopes=["write"])
    other = keys.create(ADMIN, name="alice", scopes=["write"])

    assert issued.secret != other.secret and issued.key.key_id != other.key.key_id
    assert key_id_of(issued.secret) == issued.key.key_id
    stored = store.keys[issued.key.key_id]
    assert stored.secret_hash == hash_secret(issued.secret) and issued.secret not in repr(stored)
    assert issued.secret not in repr(issued)
    assert stored.created_at == NOW.replace(microsecond=123000)  # to the millisecond, as every store keeps it
    assert stored.created_by == "ops"


def test_creation_and_revocation_are_audited_with_the_callers_context(keys, store):
    issued = keys.create(ADMIN, name="alice", scopes=["read"], name_prefix="fraud_")
    keys.revoke(ADMIN, issued.key.key_id)
    keys.revoke(ADMIN, issued.key.key_id)  # already revoked: not audited again

    created, revoked = store.records
    assert (created.action, created.actor, created.key_id, created.client_ip, created.request_id) == (
        Action.KEY_CREATE, "ops", "bootstrap", "10.0.0.1", "r1")
    assert created.details == {"target_key_id": issued.key.key_id, "key_name": "alice", "scopes": ["read"],
                               "name_prefix": "fraud_", "expires_at": None}
    assert revoked.action == Action.KEY_REVOKE and issued.secret not in str(store.records)


def test_authenticate_gives_the_keys_caller(keys):
    issued = keys.create(ADMIN, name="fraud-ci", scopes=["write"], name_prefix="fraud_")

    caller = keys.authenticate(issued.secret)

    assert caller == Caller(actor="fraud-ci", key_id=issued.key.key_id, scopes=frozenset({Scope.READ,
                                  Scope.WRITE}), name_prefix="fraud_", authenticated=True)


@pytest.mark.parametrize("secret", ["", "tfk_", "tfk_0123456789ab_short", "tfk_0123456789ab_" + "a" * 43,
                                    "Bearer x", "b" * 39])
def test_unknown_or_malformed_keys_are_unauthorized(keys, secret):
    with pytest.raises(Unauthorized) as refused:
        keys.authenticate(secret)
    assert refused.value.code == "invalid_api_key"


def test_a_key_with_a_known_id_and_a_wrong_secret_is_invalid_not_revoked_or_expired(keys, clock):
    issued = keys.create(ADMIN, name="a", scopes=["read"], expires_at=NOW + timedelta(hours=1))
    keys.revoke(ADMIN, issued.key.key_id)
    clock.now += timedelta(hours=2)
    forged = issued.secret[:-1] + ("A" if issued.secret[-1] != "A" else "B")

    with pytest.raises(Unauthorized) as refused:
        keys.authenticate(forged)
    assert refused.value.code == "invalid_api_key"  # nothing said about a key one cannot prove to hold


def test_expiry_and_revocation(keys, clock):
    expiring = keys.create(ADMIN, name="a", scopes=["read"], expires_at=NOW + timedelta(hours=1))
    revoked = keys.create(ADMIN, name="b", scopes=["read"])
    keys.revoke(ADMIN, revoked.key.key_id)

    assert keys.authenticate(expiring.secret).actor == "a"
    clock.now += timedelta(hours=1)
    with pytest.raises(Unauthorized, match="expired"):
        keys.authenticate(expiring.secret)
    with pytest.raises(Unauthorized, match="revoked"):
        keys.authenticate(revoked.secret)


def test_a_looked_up_key_is_trusted_for_the_cache_time_then_read_again(keys, store, clock):
    issued = keys.create(ADMIN, name="a", scopes=["read"])
    keys.authenticate(issued.secret)
    assert keys.is_cached(issued.secret)
    lookups = store.lookups

    store.keys[issued.key.key_id] = replace(store.keys[issued.key.key_id], revoked_at=NOW, revoked_by="elsewhere")
    keys.authenticate(issued.secret)  # still cached
    assert store.lookups == lookups
    clock.ticks += 5
    assert not keys.is_cached(issued.secret)
    with pytest.raises(Unauthorized, match="revoked"):
        keys.authenticate(issued.secret)


def test_the_bootstrap_key_is_an_admin(keys, store):
    principal = keys.authenticate("b" * 40)

    assert principal.scopes == granted([Scope.ADMIN]) and principal.actor == "bootstrap-admin"
    assert keys.is_cached("b" * 40) and store.lookups == 0


@pytest.mark.parametrize(("fields", "code"), [
    ({"scopes": []}, "invalid_scope"),
    ({"scopes": ["root"]}, "invalid_scope"),
    ({"name": "with space"}, "invalid_key_name"),
    ({"name_prefix": "/etc"}, "invalid_name_prefix"),
    ({"scopes": ["admin"], "name_prefix": "fraud_"}, "invalid_name_prefix"),
    ({"expires_at": NOW}, "invalid_expiry"),
    ({"expires_at": datetime(2030, 1, 1)}, "invalid_expiry"),  # noqa: DTZ001 - naive on purpose: refused
])
def test_invalid_keys_are_refused_before_anything_is_stored(keys, store, fields, code):
    with pytest.raises(Invalid) as refused:
        keys.create(ADMIN, **{"name": "a", "scopes": ["read"], **fields})
    assert refused.value.code == code
    assert store.keys == {} and store.records == []


def test_scopes_imply_the_lesser_ones():
    assert granted([Scope.READ]) == {Scope.READ}
    assert granted([Scope.WRITE]) == {Scope.READ, Scope.WRITE}
    assert granted([Scope.ADMIN]) == set(Scope)


def test_a_caller_checks_scopes_names_and_created_by():
    team = Caller(actor="fraud-ci", key_id="k", scopes=granted([Scope.WRITE]), name_prefix="fraud_",
                     authenticated=True)

    team.check_name("fraud_model")
    for name in ("churn", "Fraud_model", None):
        with pytest.raises(Forbidden):
            team.check_name(name)
    with pytest.raises(Forbidden) as missing:
        team.require(Scope.ADMIN)
    assert missing.value.details["required_scope"] == "admin"
    team.claim_created_by(None)
    team.claim_created_by("fraud-ci")
    with pytest.raises(Forbidden):
        team.claim_created_by("someone")
    Caller(actor="x").claim_created_by("anyone")  # without authentication, as before


def test_a_record_appended_after_its_write_is_logged_not_raised_when_the_append_fails(store, clock, caplog):
    """MongoDB's case (no multi-document transactions): the write has happened and stands."""
    store.fail_audit = True
    hook = Auditor(store, clock=clock).hook(ADMIN, Action.DELETE, lambda _: {"model_id": "m" * 24})

    append_after(store.append_audit, hook, None)
    assert "audit log" in caplog.text and "disk on fire" in caplog.text
    assert [r.levelno for r in caplog.records] == [logging.ERROR]


def test_a_cursor_round_trips_and_garbage_is_malformed():
    record = AuditRecord(id="0123456789abcdef01234567", at=NOW.replace(microsecond=123000), action="x", actor="a")

    assert parse_cursor(cursor_of(record)) == (record.at, record.id)
    for garbage in ("", "!!", "abc", cursor_of(record)[:-3]):
        with pytest.raises(Malformed):
            parse_cursor(garbage)


def test_a_filter_holding_a_nul_character_matches_nothing_without_asking_the_store(clock):
    class Refusing(MemoryStore):
        def audit_records(self, _query):
            raise AssertionError("asked")

    auditor = Auditor(Refusing(), clock=clock)
    for query in (AuditQuery(actor="a\x00"), AuditQuery(model="\x00"), AuditQuery(key_id="\x00b"),
                  AuditQuery(actions=("model.register", "\x00"))):
        assert auditor.query(query) == []
