"""Rows of the SQL store ↔ domain records (versions, events, keys, audit records), and the one
way events and audit records are appended."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, RowMapping, insert

from ...domain.audit import AuditRecord
from ...domain.callers import Scope
from ...domain.keys import ApiKey
from ...domain.models import Event, EventKind, FileInfo, ModelVersion, Status
from ...domain.scanning import ScanResult
from ...domain.versions import Version
from ..fields import version_fields
from .schema import audit_log, events

_INSERT_EVENT = insert(events)


def event_row(event: Event) -> dict[str, Any]:
    """An event's row; its ``id`` is the table's own (the order of insertion)."""
    return {"model_id": event.model_id, "model_name": event.model_name, "kind": event.kind.value,
            "actor": event.actor, "at": event.at, "data": dict(event.data)}


def insert_events(connection: Connection, new: Iterable[Event]) -> None:
    """Append events in order, inside the caller's transaction."""
    rows = [event_row(event) for event in new]
    if rows:
        connection.execute(_INSERT_EVENT, rows)


def to_event(row: RowMapping) -> Event:
    return Event(id=row["id"], model_id=row["model_id"], model_name=row["model_name"], kind=EventKind(row["kind"]),
                 actor=row["actor"], at=row["at"], data=row["data"])


def model_row(model: ModelVersion) -> dict[str, Any]:
    """A version's row: its stored fields (``stores/fields.py``) and its file's columns."""
    return {**version_fields(model), **file_columns(model.file)}


def file_columns(file: FileInfo | None) -> dict[str, Any]:
    if file is None:
        return {"file_sha256": None, "file_size": None, "file_format": None, "file_name": None,
                "file_content_type": None, "file_uploaded_at": None, "file_scan": None}
    return {
        "file_sha256": file.sha256,
        "file_size": file.size_bytes,
        "file_format": file.format,
        "file_name": file.filename,
        "file_content_type": file.content_type,
        "file_uploaded_at": file.uploaded_at,
        "file_scan": None if file.scan is None else file.scan.to_json(),
    }


def to_model(row: RowMapping) -> ModelVersion:
    file = None
    if row["file_sha256"] is not None:
        file = FileInfo(
            sha256=row["file_sha256"],
            size_bytes=row["file_size"],
            format=row["file_format"],
            filename=row["file_name"],
            content_type=row["file_content_type"],
            uploaded_at=row["file_uploaded_at"],
            scan=None if row.get("file_scan") is None else ScanResult.from_json(row["file_scan"]),
        )
    return ModelVersion(
        id=row["id"],
        name=row["name"],
        version=Version(row["version_major"], row["version_minor"]),
        algorithm=row["algorithm"],
        hyperparameters=row["hyperparameters"],
        metrics=row["metrics"],
        dataset_info=row["dataset_info"],
        tags=tuple(row["tags"]),
        description=row["description"],
        created_by=row["created_by"],
        status=Status(row["status"]),
        parent_model_id=row["parent_model_id"],
        format=row["format"],
        file=file,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        download_count=row["download_count"],
    )


# ---- API keys and the audit log ---------------------------------------------------------------

def key_row(key: ApiKey) -> dict[str, Any]:
    return {"key_id": key.key_id, "name": key.name, "scopes": " ".join(scope.value for scope in key.scopes),
            "name_prefix": key.name_prefix, "secret_hash": key.secret_hash, "created_at": key.created_at,
            "created_by": key.created_by, "expires_at": key.expires_at, "revoked_at": key.revoked_at,
            "revoked_by": key.revoked_by}


def to_key(row: RowMapping) -> ApiKey:
    return ApiKey(key_id=row["key_id"], name=row["name"], scopes=tuple(Scope(s) for s in row["scopes"].split()),
                  name_prefix=row["name_prefix"], secret_hash=row["secret_hash"], created_at=row["created_at"],
                  created_by=row["created_by"], expires_at=row["expires_at"], revoked_at=row["revoked_at"],
                  revoked_by=row["revoked_by"])


def audit_row(record: AuditRecord) -> dict[str, Any]:
    return {"id": record.id, "at": record.at, "action": record.action, "actor": record.actor,
            "key_id": record.key_id, "model_id": record.model_id, "name": record.name, "version": record.version,
            "details": dict(record.details), "client_ip": record.client_ip, "request_id": record.request_id}


def to_audit(row: RowMapping) -> AuditRecord:
    return AuditRecord(id=row["id"], at=row["at"], action=row["action"], actor=row["actor"], key_id=row["key_id"],
                       model_id=row["model_id"], name=row["name"], version=row["version"], details=row["details"],
                       client_ip=row["client_ip"], request_id=row["request_id"])


_INSERT_AUDIT = insert(audit_log)  # built once: a write's record is appended on every write


def insert_audit(connection: Connection, record: AuditRecord) -> None:
    """Append the record of a write, in its transaction: its id is new, so no check for one there."""
    connection.execute(_INSERT_AUDIT, audit_row(record))
