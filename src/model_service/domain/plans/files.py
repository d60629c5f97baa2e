"""A version's file: attached once, and each completed download counted."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from .. import refusals
from ..models import Event, EventKind, FileInfo, ModelVersion


@dataclass(frozen=True, slots=True)
class Attachment:
    """The version with its file, and the ``uploaded`` event."""

    model: ModelVersion
    event: Event


def uploaded(model: ModelVersion, file: FileInfo, actor: str) -> Event:
    return Event(model_id=model.id, model_name=model.name, kind=EventKind.UPLOADED, actor=actor,
                 at=file.uploaded_at, data={"checksum": file.checksum, "size_bytes": file.size_bytes})


def plan_attach(current: ModelVersion, file: FileInfo, actor: str) -> Attachment:
    """Give ``current`` its file: :class:`~..errors.Conflict` ``file_exists`` if it has one
    (files are immutable)."""
    if current.file is not None:
        raise refusals.file_exists(current)
    return Attachment(replace(current, file=file, updated_at=file.uploaded_at), uploaded(current, file, actor))


def downloaded(model_id: str, name: str, actor: str, at: datetime, data: Mapping[str, Any]) -> Event:
    """The event that counts one completed download (``data``: its bytes and range)."""
    return Event(model_id=model_id, model_name=name, kind=EventKind.DOWNLOADED, actor=actor, at=at, data=dict(data))
