"""The audit log in MongoDB: ``audit_log`` documents ``{_id: ObjectId(<record id>), at, action,
actor, key_id, model_id, name, version, details, client_ip, request_id}``, only ever inserted.
Read newest first by (``at``, ``_id``); each filter has an index ending in those two (``schema.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from ...domain.audit import AuditQuery, AuditRecord
from .documents import Document, decode, encode, stamp, utc
from .errors import translated
from .schema import AUDIT_LOG

AUDIT_ORDER = [("at", -1), ("_id", -1)]


def _ceiling(value: datetime) -> datetime:
    """The first millisecond at or after ``value``: records are stored to the millisecond, so
    ``at >= _ceiling(t)`` and ``at < _ceiling(t)`` say exactly ``at >= t`` and ``at < t``."""
    stamped = stamp(value)
    return stamped if stamped == value else stamped + timedelta(milliseconds=1)


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


def append_audit(database: Database[Document], record: AuditRecord) -> bool:
    try:
        database[AUDIT_LOG].insert_one(audit_document(record))
    except DuplicateKeyError:
        return False
    return True


def audit_records(database: Database[Document], query: AuditQuery) -> list[AuditRecord]:
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


class MongoAuditLog:
    database: Database[Document]

    @translated
    def append_audit(self, record: AuditRecord) -> bool:
        return append_audit(self.database, record)

    @translated
    def audit_records(self, query: AuditQuery) -> list[AuditRecord]:
        return audit_records(self.database, query)
