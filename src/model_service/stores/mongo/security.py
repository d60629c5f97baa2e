"""API keys and the audit log in MongoDB.

* ``api_keys``: ``{_id: <key id>, name, scopes: [...], name_prefix, secret_hash, created_at,
  created_by, expires_at, revoked_at, revoked_by}`` — the SHA-256 of the key, never the key.
  A revocation is one conditional update (``revoked_at: null``), so the first one wins.
* ``audit_log``: ``{_id: ObjectId(<record id>), at, action, actor, key_id, model_id, name,
  version, details, client_ip, request_id}``, only ever inserted. Read newest first by
  (``at``, ``_id``); each filter has an index ending in those two (``schema.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from ...domain.audit import AuditQuery, AuditRecord
from ...domain.errors import Conflict, NotFound
from ...domain.keys import ApiKey, Scope
from .documents import decode, encode, stamp, utc

API_KEYS, AUDIT_LOG = "api_keys", "audit_log"
AUDIT_ORDER = [("at", -1), ("_id", -1)]


def _stamp(value: datetime | None) -> datetime | None:
    return None if value is None else stamp(value)


def _ceiling(value: datetime) -> datetime:
    """The first millisecond at or after ``value``: records are stored to the millisecond, so
    ``at >= _ceiling(t)`` and ``at < _ceiling(t)`` say exactly ``at >= t`` and ``at < t``."""
    stamped = stamp(value)
    return stamped if stamped == value else stamped + timedelta(milliseconds=1)


# ---- keys ---------------------------------------------------------------------------------------


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
                  expires_at=utc(document.get("expires_at")), revoked_at=utc(document.get("revoked_at")),
                  revoked_by=document.get("revoked_by"))


def _not_found(key_id: str) -> NotFound:
    return NotFound(f"No API key {key_id}", code="key_not_found", details={"key_id": key_id})


def add_key(database: Database, key: ApiKey) -> None:
    try:
        database[API_KEYS].insert_one(key_document(key))
    except DuplicateKeyError as exc:
        raise Conflict(f"An API key with id {key.key_id} exists", code="key_exists",
                       details={"key_id": key.key_id}) from exc


def get_key(database: Database, key_id: str) -> ApiKey:
    document = database[API_KEYS].find_one({"_id": key_id}) if isinstance(key_id, str) else None
    if document is None:
        raise _not_found(key_id)
    return to_key(document)


def list_keys(database: Database) -> list[ApiKey]:
    return [to_key(document) for document in database[API_KEYS].find({}, sort=[("created_at", 1), ("_id", 1)])]


def revoke_key(database: Database, key_id: str, actor: str, at: datetime) -> ApiKey:
    document = database[API_KEYS].find_one_and_update(
        {"_id": key_id, "revoked_at": None}, {"$set": {"revoked_at": stamp(at), "revoked_by": actor}},
        return_document=ReturnDocument.AFTER)
    return get_key(database, key_id) if document is None else to_key(document)


# ---- audit --------------------------------------------------------------------------------------


def audit_document(record: AuditRecord) -> dict[str, Any]:
    return {"_id": ObjectId(record.id), "at": stamp(record.at), "action": record.action, "actor": record.actor,
            "key_id": record.key_id, "model_id": record.model_id, "name": record.name, "version": record.version,
            "details": encode(dict(record.details)), "client_ip": record.client_ip, "request_id": record.request_id}


def to_audit(document: Mapping[str, Any]) -> AuditRecord:
    return AuditRecord(id=str(document["_id"]), at=utc(document["at"]), action=document["action"],
                       actor=document["actor"], key_id=document.get("key_id"), model_id=document.get("model_id"),
                       name=document.get("name"), version=document.get("version"),
                       details=decode(document.get("details") or {}), client_ip=document.get("client_ip"),
                       request_id=document.get("request_id"))


def append_audit(database: Database, record: AuditRecord) -> bool:
    try:
        database[AUDIT_LOG].insert_one(audit_document(record))
    except DuplicateKeyError:
        return False
    return True


def audit_records(database: Database, query: AuditQuery) -> list[AuditRecord]:
    conditions: list[dict[str, Any]] = []
    if query.actor is not None:
        conditions.append({"actor": query.actor})
    if query.actions:
        conditions.append({"action": {"$in": list(query.actions)}})
    if query.model is not None:
        conditions.append({"$or": [{"model_id": query.model}, {"name": query.model}]})
    if query.key_id is not None:
        conditions.append({"key_id": query.key_id})
    if query.since is not None:
        conditions.append({"at": {"$gte": _ceiling(query.since)}})
    if query.until is not None:
        conditions.append({"at": {"$lt": _ceiling(query.until)}})
    if query.before is not None:
        at, record_id = stamp(query.before[0]), ObjectId(query.before[1])
        conditions.append({"$or": [{"at": {"$lt": at}}, {"at": at, "_id": {"$lt": record_id}}]})
    match = {"$and": conditions} if conditions else {}
    return [to_audit(document) for document in database[AUDIT_LOG].find(match, sort=AUDIT_ORDER, limit=query.limit)]
