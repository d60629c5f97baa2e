"""The audit log in the SQL store: rows only ever inserted, read newest first by (at, id)."""

from __future__ import annotations

from sqlalchemy import Connection, and_, insert, or_, select
from sqlalchemy.exc import IntegrityError

from ...domain.audit import AuditQuery, AuditRecord
from .base import SqlBase
from .rows import audit_row, to_audit
from .schema import audit_log


def _append(connection: Connection, record: AuditRecord) -> bool:
    if connection.execute(select(audit_log.c.id).where(audit_log.c.id == record.id)).first() is not None:
        return False
    connection.execute(insert(audit_log), audit_row(record))
    return True


def _records(connection: Connection, query: AuditQuery) -> list[AuditRecord]:
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


class SqlAuditLog(SqlBase):
    def append_audit(self, record: AuditRecord) -> bool:
        try:
            return self._transact(lambda connection: _append(connection, record))
        except IntegrityError:  # appended concurrently (PostgreSQL): it is there
            return False

    def audit_records(self, query: AuditQuery) -> list[AuditRecord]:
        with self._read() as connection:
            return _records(connection, query)
