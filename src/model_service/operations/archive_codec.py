"""The JSON form of the registry's records in a ``model-service export`` archive: exact both ways.

One JSON object per record, every field of the dataclass under its own name: times as ISO 8601
text with their UTC offset and microseconds (``2026-01-02T03:04:05.678000+00:00``), versions as
``v1.2``, enums as their values, tuples as arrays, and JSON values (hyperparameters, metrics,
dataset info, event data, audit details) as they are — Python writes a float in the shortest
form that reads back as the same float, and integers of any size exactly. Events leave out
their store-specific ``id`` (a store numbers its own). Decoding is the inverse, so that
``from_json(to_json(x)) == x`` for every record a store returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..domain.audit import AuditRecord
from ..domain.callers import Scope
from ..domain.errors import Invalid, Malformed
from ..domain.keys import ApiKey
from ..domain.models import Alias, Event, EventKind, FileInfo, ModelVersion, Status
from ..domain.ports import ModelRecord
from ..domain.scanning import ScanResult
from ..domain.versions import Version

JSON = dict[str, Any]


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_time(value: str) -> datetime:
    """A time as :func:`_time` writes it, with its UTC offset. Null, or a time without an offset,
    is not one (TypeError, ValueError: :func:`decode` refuses the line) — no store takes either."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"the time {value[:40]!r} has no UTC offset")
    return parsed


def _parse_optional_time(value: str | None) -> datetime | None:
    return None if value is None else _parse_time(value)


# ---- versions and their events --------------------------------------------------------------------

def file_to_json(file: FileInfo) -> JSON:
    return {"sha256": file.sha256, "size_bytes": file.size_bytes, "format": file.format, "filename": file.filename,
            "content_type": file.content_type, "uploaded_at": _time(file.uploaded_at),
            "scan": None if file.scan is None else file.scan.to_json()}


def file_from_json(data: Mapping[str, Any]) -> FileInfo:
    return FileInfo(sha256=data["sha256"], size_bytes=data["size_bytes"], format=data["format"],
                    filename=data["filename"], content_type=data["content_type"],
                    uploaded_at=_parse_time(data["uploaded_at"]),
                    scan=None if data.get("scan") is None else ScanResult.from_json(data["scan"]))


def version_to_json(model: ModelVersion) -> JSON:
    return {"id": model.id, "name": model.name, "version": str(model.version), "algorithm": model.algorithm,
            "hyperparameters": model.hyperparameters, "metrics": model.metrics, "dataset_info": model.dataset_info,
            "tags": list(model.tags), "description": model.description, "created_by": model.created_by,
            "status": model.status.value, "parent_model_id": model.parent_model_id, "format": model.format,
            "file": None if model.file is None else file_to_json(model.file),
            "created_at": _time(model.created_at), "updated_at": _time(model.updated_at),
            "download_count": model.download_count}


def version_from_json(data: Mapping[str, Any]) -> ModelVersion:
    return ModelVersion(id=data["id"], name=data["name"], version=Version.parse(data["version"]),
                        algorithm=data["algorithm"], hyperparameters=data["hyperparameters"], metrics=data["metrics"],
                        dataset_info=data["dataset_info"], tags=tuple(data["tags"]), description=data["description"],
                        created_by=data["created_by"], status=Status(data["status"]),
                        parent_model_id=data["parent_model_id"], format=data["format"],
                        file=None if data["file"] is None else file_from_json(data["file"]),
                        created_at=_parse_time(data["created_at"]), updated_at=_parse_time(data["updated_at"]),
                        download_count=data["download_count"])


def event_to_json(event: Event) -> JSON:
    return {"model_id": event.model_id, "model_name": event.model_name, "kind": event.kind.value,
            "actor": event.actor, "at": _time(event.at), "data": event.data}


def event_from_json(data: Mapping[str, Any]) -> Event:
    return Event(model_id=data["model_id"], model_name=data["model_name"], kind=EventKind(data["kind"]),
                 actor=data["actor"], at=_parse_time(data["at"]), data=data["data"])


def record_to_json(record: ModelRecord) -> JSON:
    return {"model_id": record.model_id, "model": None if record.model is None else version_to_json(record.model),
            "events": [event_to_json(event) for event in record.events]}


def record_from_json(data: Mapping[str, Any]) -> ModelRecord:
    return ModelRecord(model_id=data["model_id"],
                       model=None if data["model"] is None else version_from_json(data["model"]),
                       events=[event_from_json(event) for event in data["events"]])


# ---- aliases, keys, audit ---------------------------------------------------------------------------

def alias_to_json(alias: Alias) -> JSON:
    return {"name": alias.name, "alias": alias.alias, "model_id": alias.model_id, "version": str(alias.version),
            "updated_at": _time(alias.updated_at), "updated_by": alias.updated_by}


def alias_from_json(data: Mapping[str, Any]) -> Alias:
    return Alias(name=data["name"], alias=data["alias"], model_id=data["model_id"],
                 version=Version.parse(data["version"]), updated_at=_parse_time(data["updated_at"]),
                 updated_by=data["updated_by"])


def key_to_json(key: ApiKey) -> JSON:
    """A stored key: its SHA-256 (``secret_hash``), never the key itself, which no store holds."""
    return {"key_id": key.key_id, "name": key.name, "scopes": [scope.value for scope in key.scopes],
            "name_prefix": key.name_prefix, "secret_hash": key.secret_hash, "created_at": _time(key.created_at),
            "created_by": key.created_by, "expires_at": _time(key.expires_at), "revoked_at": _time(key.revoked_at),
            "revoked_by": key.revoked_by}


def key_from_json(data: Mapping[str, Any]) -> ApiKey:
    return ApiKey(key_id=data["key_id"], name=data["name"], scopes=tuple(Scope(s) for s in data["scopes"]),
                  name_prefix=data["name_prefix"], secret_hash=data["secret_hash"],
                  created_at=_parse_time(data["created_at"]), created_by=data["created_by"],
                  expires_at=_parse_optional_time(data["expires_at"]),
                  revoked_at=_parse_optional_time(data["revoked_at"]),
                  revoked_by=data["revoked_by"])


def audit_to_json(record: AuditRecord) -> JSON:
    return {"id": record.id, "at": _time(record.at), "action": record.action, "actor": record.actor,
            "key_id": record.key_id, "model_id": record.model_id, "name": record.name, "version": record.version,
            "details": record.details, "client_ip": record.client_ip, "request_id": record.request_id}


def audit_from_json(data: Mapping[str, Any]) -> AuditRecord:
    return AuditRecord(id=data["id"], at=_parse_time(data["at"]), action=data["action"], actor=data["actor"],
                       key_id=data["key_id"], model_id=data["model_id"], name=data["name"],
                       version=data["version"], details=data["details"], client_ip=data["client_ip"],
                       request_id=data["request_id"])


DECODERS = {"records": record_from_json, "aliases": alias_from_json, "keys": key_from_json, "audit": audit_from_json}


def decode(kind: str, data: Any) -> Any:
    """The record of ``kind`` (a key of :data:`DECODERS`) that ``data`` is; :class:`Malformed` if it is none."""
    try:
        return DECODERS[kind](data)
    except (KeyError, TypeError, ValueError, AttributeError, Invalid) as exc:
        reason = exc.message if isinstance(exc, Invalid) else f"{type(exc).__name__}: {exc}"
        raise Malformed(f"not a valid {kind} line ({reason[:200]})", code="invalid_archive") from None
