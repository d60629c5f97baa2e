"""API keys and the audit log in the SQL store: rows ↔ records, and the statements.

Each function runs inside the caller's connection (a write transaction for the writes)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, select, update

from ...domain.audit import AuditQuery, AuditRecord
from ...domain.errors import NotFound
from ...domain.keys import ApiKey, Scope
from .schema import api_keys, audit_log

# ---- keys ---------------------------------------------------------------------------------------


def key_row(key: ApiKey) -> dict[str, Any]:
    return {"key_id": key.key_id, "name": key.name, "scopes": " ".join(scope.value for scope in key.scopes),
            "name_prefix": key.name_prefix, "secret_hash": key.secret_hash, "created_at": key.created_at,
            "created_by": key.created_by, "expires_at": key.expires_at, "revoked_at": key.revoked_at,
            "revoked_by": key.revoked_by}


def to_key(row: Mapping[str, Any]) -> ApiKey:
    return ApiKey(key_id=row["key_id"], name=row["name"], scopes=tuple(Scope(s) for s in row["scopes"].split()),
                  name_prefix=row["name_prefix"], secret_hash=row["secret_hash"], created_at=row["created_at"],
                  created_by=row["created_by"], expires_at=row["expires_at"], revoked_at=row["revoked_at"],
                  revoked_by=row["revoked_by"])


def _not_found(key_id: str) -> NotFound:
    return NotFound(f"No API key {key_id}", code="key_not_found", details={"key_id": key_id})


def add_key(connection: Connection, key: ApiKey) -> None:
    """IntegrityError (for the caller to translate) if the id is taken."""
    connection.execute(insert(api_keys), key_row(key))


def get_key(connection: Connection, key_id: str) -> ApiKey:
    row = connection.execute(select(api_keys).where(api_keys.c.key_id == key_id)).mappings().first()
    if row is None:
        raise _not_found(key_id)
    return to_key(row)


def list_keys(connection: Connection) -> list[ApiKey]:
    rows = connection.execute(select(api_keys).order_by(api_keys.c.created_at, api_keys.c.key_id)).mappings()
    return [to_key(row) for row in rows]


def revoke_key(connection: Connection, key_id: str, actor: str, at: datetime) -> ApiKey:
    connection.execute(update(api_keys).where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
                       .values(revoked_at=at, revoked_by=actor))
    return get_key(connection, key_id)


# ---- audit --------------------------------------------------------------------------------------


def audit_row(record: AuditRecord) -> dict[str, Any]:
    return {"id": record.id, "at": record.at, "action": record.action, "actor": record.actor,
            "key_id": record.key_id, "model_id": record.model_id, "name": record.name, "version": record.version,
            "details": dict(record.details), "client_ip": record.client_ip, "request_id": record.request_id}


def to_audit(row: Mapping[str, Any]) -> AuditRecord:
    return AuditRecord(id=row["id"], at=row["at"], action=row["action"], actor=row["actor"], key_id=row["key_id"],
                       model_id=row["model_id"], name=row["name"], version=row["version"], details=row["details"],
                       client_ip=row["client_ip"], request_id=row["request_id"])


_INSERT_AUDIT = insert(audit_log)  # built once: a write's record is appended on every write


def insert_audit(connection: Connection, record: AuditRecord) -> None:
    """Append the record of a write, in its transaction: its id is new, so no check for one there."""
    connection.execute(_INSERT_AUDIT, audit_row(record))


def append_audit(connection: Connection, record: AuditRecord) -> bool:
    if connection.execute(select(audit_log.c.id).where(audit_log.c.id == record.id)).first() is not None:
        return False
    connection.execute(insert(audit_log), audit_row(record))
    return True


def audit_records(connection: Connection, query: AuditQuery) -> list[AuditRecord]:
    statement = select(audit_log)
    if query.actor is not None:
        statement = statement.where(audit_log.c.actor == query.actor)
    if query.actions:
        statement = statement.where(audit_log.c.action.in_(query.actions))
    if query.model is not None:
        statement = statement.where(or_(audit_log.c.model_id == query.model, audit_log.c.name == query.model))
    if query.key_id is not None:
        statement = statement.where(audit_log.c.key_id == query.key_id)
    if query.since is not None:
        statement = statement.where(audit_log.c.at >= query.since)
    if query.until is not None:
        statement = statement.where(audit_log.c.at < query.until)
    if query.before is not None:
        at, record_id = query.before
        statement = statement.where(or_(audit_log.c.at < at, and_(audit_log.c.at == at, audit_log.c.id < record_id)))
    statement = statement.order_by(audit_log.c.at.desc(), audit_log.c.id.desc()).limit(query.limit)
    return [to_audit(row) for row in connection.execute(statement).mappings()]
