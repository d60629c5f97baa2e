"""Rows of the SQL store ↔ domain records, and the one way events are appended."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert

from ...domain.models import Event, EventKind, FileInfo, ModelVersion, Status
from ...domain.scanning import ScanResult
from ...domain.versions import Version
from .schema import events

_INSERT_EVENT = insert(events)


def append_event(connection: Connection, model_id: str, name: str, kind: EventKind, actor: str, at: datetime,
                 data: Mapping[str, Any] | None = None) -> None:
    connection.execute(_INSERT_EVENT, {"model_id": model_id, "model_name": name, "kind": kind.value,
                                       "actor": actor, "at": at, "data": dict(data or {})})


def to_event(row: Mapping[str, Any]) -> Event:
    return Event(id=row["id"], model_id=row["model_id"], model_name=row["model_name"], kind=EventKind(row["kind"]),
                 actor=row["actor"], at=row["at"], data=row["data"])


def version_of(row: Mapping[str, Any]) -> str:
    return str(Version(row["version_major"], row["version_minor"]))


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


def to_model(row: Mapping[str, Any]) -> ModelVersion:
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
