"""Request and response bodies of the HTTP API (field names and shapes as the seed shows them)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..domain.models import Event, ModelVersion


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class RegisterRequest(_Strict):
    """A model to register. Registering an existing ``name`` creates its next version."""

    name: str | None = Field(None, description="Omit for a generated semantic name like RandomForest_95.2%_Dec16")
    algorithm: str
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict, description="Metric name → finite number")
    dataset_info: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    description: str = ""
    created_by: str | None = Field(None, description="Defaults to the caller (X-Actor header, or 'anonymous')")
    status: str = "active"
    format: str | None = Field(None, description="File format (pickle, joblib, onnx, …); else from the file's name")
    breaking_changes: bool = Field(False, description="Start a new major version (v1.3 → v2.0)")


class NewVersionRequest(_Strict):
    """Fields that differ from the base version; everything else is copied from it (not its file)."""

    algorithm: str | None = None
    hyperparameters: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    dataset_info: dict[str, Any] | None = None
    tags: list[str] | None = None
    description: str | None = None
    created_by: str | None = None
    status: str | None = None
    format: str | None = None
    name: str | None = Field(None, description="Must equal the base's name if given")
    breaking_changes: bool = False


class UpdateRequest(BaseModel):
    """Mutable fields only; anything else is rejected with the list of what may change."""

    model_config = ConfigDict(extra="allow", strict=True)

    description: str | None = None
    tags: list[str] | None = None
    status: str | None = None
    metrics: dict[str, Any] | None = None


class FileMetadataOut(BaseModel):
    file_id: str = Field(description="The file's content address (its sha256)")
    checksum: str
    size_bytes: int
    format: str | None
    filename: str | None
    content_type: str | None
    uploaded_at: datetime


class ModelOut(BaseModel):
    id: str
    name: str
    version: str
    algorithm: str
    hyperparameters: dict[str, Any]
    metrics: dict[str, float]
    dataset_info: dict[str, Any]
    tags: list[str]
    description: str
    created_by: str
    status: str
    parent_model_id: str | None
    format: str | None
    file_metadata: FileMetadataOut | None
    model_size: str | None = Field(description="Human-readable file size, e.g. '1.0 MB'")
    created_at: datetime
    updated_at: datetime
    download_count: int
    download_url: str


class RegisteredOut(BaseModel):
    success: bool = True
    message: str
    model_id: str
    name: str
    version: str
    parent_model_id: str | None
    download_url: str
    model: ModelOut


class Pagination(BaseModel):
    page: int
    limit: int
    total: int
    pages: int


class ModelListOut(BaseModel):
    models: list[ModelOut]
    pagination: Pagination


class UpdatedOut(BaseModel):
    success: bool = True
    message: str = "Model updated successfully"
    model_id: str
    model: ModelOut


class DeletedOut(BaseModel):
    success: bool = True
    message: str = "Model deleted successfully"
    deleted_id: str


class UploadedOut(BaseModel):
    success: bool = True
    message: str = "File uploaded successfully"
    model_id: str
    version: str
    file_metadata: FileMetadataOut
    download_url: str


class FileInfoOut(BaseModel):
    model_id: str
    name: str
    version: str
    algorithm: str
    has_file: bool
    file_metadata: FileMetadataOut | None
    model_size: str | None
    download_url: str
    download_count: int


class EventOut(BaseModel):
    kind: str
    actor: str
    at: datetime
    data: dict[str, Any]


class HistoryOut(BaseModel):
    model_id: str
    events: list[EventOut]


class ErrorOut(BaseModel):
    success: bool = False
    error: str
    code: str
    details: dict[str, Any] = Field(default_factory=dict)
    request_id: str | None = None


# ---- domain → response ------------------------------------------------------------------------


def download_url(model_id: str) -> str:
    return f"/api/v1/models/{model_id}/download"


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    exponent = min(int(math.log(size, 1024)), 4)
    return f"{size / 1024 ** exponent:.1f} {('B', 'KB', 'MB', 'GB', 'TB')[exponent]}"


def file_out(model: ModelVersion) -> FileMetadataOut | None:
    file = model.file
    if file is None:
        return None
    return FileMetadataOut.model_construct(
        file_id=file.sha256, checksum=file.checksum, size_bytes=file.size_bytes, format=file.format,
        filename=file.filename, content_type=file.content_type, uploaded_at=file.uploaded_at)


def model_out(model: ModelVersion) -> ModelOut:
    """The record as the API shows it. Built without re-validation: every value comes from the
    registry, already checked (and FastAPI's response validation accepts the instance as is)."""
    return ModelOut.model_construct(
        id=model.id,
        name=model.name,
        version=str(model.version),
        algorithm=model.algorithm,
        hyperparameters=model.hyperparameters,
        metrics=model.metrics,
        dataset_info=model.dataset_info,
        tags=list(model.tags),
        description=model.description,
        created_by=model.created_by,
        status=model.status.value,
        parent_model_id=model.parent_model_id,
        format=model.file.format if model.file and model.file.format else model.format,
        file_metadata=file_out(model),
        model_size=human_size(model.file.size_bytes) if model.file else None,
        created_at=model.created_at,
        updated_at=model.updated_at,
        download_count=model.download_count,
        download_url=download_url(model.id),
    )


def registered_out(model: ModelVersion, message: str) -> RegisteredOut:
    return RegisteredOut(message=message, model_id=model.id, name=model.name, version=str(model.version),
                         parent_model_id=model.parent_model_id, download_url=download_url(model.id),
                         model=model_out(model))


def event_out(event: Event) -> EventOut:
    return EventOut(kind=event.kind.value, actor=event.actor, at=event.at, data=event.data)
