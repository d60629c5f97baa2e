"""API keys in MongoDB: ``api_keys`` documents ``{_id: <key id>, name, scopes: [...], name_prefix,
secret_hash, created_at, created_by, expires_at, revoked_at, revoked_by}`` — the SHA-256 of the
key, never the key. A revocation is one conditional update (``revoked_at: null``), so the first
one wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from ...domain import refusals
from ...domain.audit import AuditHook
from ...domain.callers import Scope
from ...domain.keys import ApiKey
from .base import MongoBase
from .documents import Document, stamp, utc, utc_or_none
from .errors import translated
from .schema import API_KEYS


def _stamp(value: datetime | None) -> datetime | None:
    return None if value is None else stamp(value)


def key_document(key: ApiKey) -> dict[str, Any]:
    return {"_id": key.key_id, "name": key.name, "scopes": [scope.value for scope in key.scopes],
            "name_prefix": key.name_prefix, "secret_hash": key.secret_hash, "created_at": stamp(key.created_at),
            "created_by": key.created_by, "expires_at": _stamp(key.expires_at),
            "revoked_at": _stamp(key.revoked_at), "revoked_by": key.revoked_by}


def to_key(document: Mapping[str, Any]) -> ApiKey:
    return ApiKey(key_id=document["_id"], name=document["name"],
                  scopes=tuple(Scope(scope) for scope in document["scopes"]),
                  name_prefix=document.get("name_prefix"), secret_hash=document["secret_hash"],
                  created_at=utc(document["created_at"]), created_by=document["created_by"],
                  expires_at=utc_or_none(document.get("expires_at")),
                  revoked_at=utc_or_none(document.get("revoked_at")),
                  revoked_by=document.get("revoked_by"))


def add_key(database: Database[Document], key: ApiKey) -> None:
    try:
        database[API_KEYS].insert_one(key_document(key))
    except DuplicateKeyError as exc:
        raise refusals.key_exists(key.key_id) from exc


def get_key(database: Database[Document], key_id: str) -> ApiKey:
    document = database[API_KEYS].find_one({"_id": key_id}) if isinstance(key_id, str) else None
    if document is None:
        raise refusals.key_not_found(key_id)
    return to_key(document)


def list_keys(database: Database[Document]) -> list[ApiKey]:
    return [to_key(document) for document in database[API_KEYS].find({}, sort=[("created_at", 1), ("_id", 1)])]


def revoke_key(database: Database[Document], key_id: str, actor: str, at: datetime) -> ApiKey:
    document = database[API_KEYS].find_one_and_update(
        {"_id": key_id, "revoked_at": None}, {"$set": {"revoked_at": stamp(at), "revoked_by": actor}},
        return_document=ReturnDocument.AFTER)
    return get_key(database, key_id) if document is None else to_key(document)


class MongoKeys(MongoBase):
    @translated
    def add_key(self, key: ApiKey, audit: AuditHook | None = None) -> None:
        add_key(self.database, key)
        self._audited(audit, None)

    @translated
    def get_key(self, key_id: str) -> ApiKey:
        return get_key(self.database, key_id)

    @translated
    def list_keys(self) -> list[ApiKey]:
        return list_keys(self.database)

    @translated
    def revoke_key(self, key_id: str, actor: str, at: datetime, audit: AuditHook | None = None) -> ApiKey:
        return self._audited(audit, revoke_key(self.database, key_id, actor, at))
