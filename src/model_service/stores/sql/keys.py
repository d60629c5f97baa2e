"""API keys in the SQL store: one row per key, its SHA-256 only; a revocation is one conditional
update, so the first one wins."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from ...domain import refusals
from ...domain.audit import AuditHook
from ...domain.keys import ApiKey
from .base import SqlBase
from .rows import key_row, to_key
from .schema import api_keys


def _get_key(connection: Connection, key_id: str) -> ApiKey:
    row = connection.execute(select(api_keys).where(api_keys.c.key_id == key_id)).mappings().first()
    if row is None:
        raise refusals.key_not_found(key_id)
    return to_key(row)


def _revoke(connection: Connection, key_id: str, actor: str, at: datetime) -> ApiKey:
    connection.execute(update(api_keys).where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
                       .values(revoked_at=at, revoked_by=actor))
    return _get_key(connection, key_id)


class SqlKeys(SqlBase):
    def add_key(self, key: ApiKey, audit: AuditHook | None = None) -> None:
        try:
            self._transact(lambda connection: connection.execute(insert(api_keys), key_row(key)), audit)
        except IntegrityError as exc:
            raise refusals.key_exists(key.key_id) from exc

    def get_key(self, key_id: str) -> ApiKey:
        with self._read() as connection:
            return _get_key(connection, key_id)

    def list_keys(self) -> list[ApiKey]:
        with self._read() as connection:
            rows = connection.execute(select(api_keys).order_by(api_keys.c.created_at, api_keys.c.key_id)).mappings()
            return [to_key(row) for row in rows]

    def revoke_key(self, key_id: str, actor: str, at: datetime, audit: AuditHook | None = None) -> ApiKey:
        return self._transact(lambda connection: _revoke(connection, key_id, actor, at), audit)
