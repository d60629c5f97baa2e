"""Request and response bodies of the HTTP API (field names and shapes as the seed shows them)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonDict

from ..domain.models import (
    MAX_DESCRIPTION_LENGTH,
    MAX_KEY_LENGTH,
    MAX_METRICS,
    MAX_OBJECT_KEYS,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    MAX_TEXT_LENGTH,
    METRIC_PATTERN,
    TAG_PATTERN,
    Event,
    ModelVersion,
    Status,
)
from ..domain.naming import MAX_NAME_LENGTH, NAME_PATTERN
from ..domain.scanning import NOT_RECORDED_RESULT, Safety, ScanResult


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# The registry's rules (domain/models.py, domain/naming.py) as the OpenAPI schema documents them.
# Only documented here: the registry enforces them, with its own error codes.
_NAME: JsonDict = {"pattern": f"^{NAME_PATTERN}$", "maxLength": MAX_NAME_LENGTH}
_ALGORITHM: JsonDict = {"minLength": 1, "maxLength": 128}
_TAGS: JsonDict = {"maxItems": MAX_TAGS,
                   "items": {"type": "string", "pattern": f"^{TAG_PATTERN}$", "maxLength": MAX_TAG_LENGTH}}
_METRICS: JsonDict = {"maxProperties": MAX_METRICS, "additionalProperties": {"type": "number"},
                      "propertyNames": {"pattern": f"^{METRIC_PATTERN}$", "maxLength": MAX_KEY_LENGTH}}
_OBJECT: JsonDict = {"maxProperties": MAX_OBJECT_KEYS, "propertyNames": {"minLength": 1, "maxLength": MAX_KEY_LENGTH}}
_DESCRIPTION: JsonDict = {"maxLength": MAX_DESCRIPTION_LENGTH}
_CREATED_BY: JsonDict = {"maxLength": MAX_TEXT_LENGTH}
_SETTABLE_STATUSES = Status.settable_values()  # not "corrupted": only fsck sets it
_STATUS: JsonDict = {"enum": [*_SETTABLE_STATUSES]}
_OPTIONAL_STATUS: JsonDict = {"enum": [*_SETTABLE_STATUSES, None]}


class RegisterRequest(_Strict):
    """A model to register. Registering an existing ``name`` creates its next version."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "name": "fraud_detector", "algorithm": "xgboost", "hyperparameters": {"max_depth": 6, "eta": 0.1},
        "metrics": {"accuracy": 0.952, "f1_score": 0.91}, "dataset_info": {"rows": 120000},
        "tags": ["fraud", "production"], "description": "Card fraud, retrained weekly"}]})

    name: str | None = Field(None, description="Omit for a generated semantic name like RandomForest_95.2%_Dec16",
                             json_schema_extra=_NAME)
    algorithm: str = Field(json_schema_extra=_ALGORITHM)
    hyperparameters: dict[str, Any] = Field(default_factory=dict, description="Nested at most 32 levels",
                                            json_schema_extra=_OBJECT)
    metrics: dict[str, Any] = Field(default_factory=dict, description="Metric name → finite number",
                                    json_schema_extra=_METRICS)
    dataset_info: dict[str, Any] = Field(default_factory=dict, json_schema_extra=_OBJECT)
    tags: list[str] = Field(default_factory=list, json_schema_extra=_TAGS)
    description: str = Field("", json_schema_extra=_DESCRIPTION)
    created_by: str | None = Field(None, description="Defaults to the caller (X-Actor header, or 'anonymous')",
                                   json_schema_extra=_CREATED_BY)
    status: str = Field("active", json_schema_extra=_STATUS)
    format: str | None = Field(None, description="File format (pickle, joblib, onnx, …); else from the file's name")
    breaking_changes: bool = Field(False, description="Start a new major version (v1.3 → v2.0)")


class NewVersionRequest(_Strict):
    """Fields that differ from the base version; everything else is copied from it (not its file)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"metrics": {"accuracy": 0.961}, "tags": ["fraud"]}]})

    algorithm: str | None = Field(None, json_schema_extra=_ALGORITHM)
    hyperparameters: dict[str, Any] | None = Field(None, json_schema_extra=_OBJECT)
    metrics: dict[str, Any] | None = Field(None, json_schema_extra=_METRICS)
    dataset_info: dict[str, Any] | None = Field(None, json_schema_extra=_OBJECT)
    tags: list[str] | None = Field(None, json_schema_extra=_TAGS)
    description: str | None = Field(None, json_schema_extra=_DESCRIPTION)
    created_by: str | None = Field(None, json_schema_extra=_CREATED_BY)
    status: str | None = Field(None, json_schema_extra=_OPTIONAL_STATUS)
    format: str | None = None
    name: str | None = Field(None, description="Must equal the base's name if given", json_schema_extra=_NAME)
    breaking_changes: bool = False


class UpdateRequest(BaseModel):
    """Mutable fields only; anything else is rejected with the list of what may change."""

    model_config = ConfigDict(extra="allow", strict=True,
                              json_schema_extra={"examples": [{"status": "deprecated", "tags": ["legacy"]}]})

    description: str | None = Field(None, json_schema_extra=_DESCRIPTION)
    tags: list[str] | None = Field(None, json_schema_extra=_TAGS)
    status: str | None = Field(None, json_schema_extra=_OPTIONAL_STATUS)
    metrics: dict[str, Any] | None = Field(None, json_schema_extra=_METRICS)


class ScanGlobalOut(BaseModel):
    module: str
    name: str
    safety: Safety


class ScanOut(BaseModel):
    """The unsafe-model scan of the file (README, "Model file scanning")."""

    verdict: Literal["safe", "suspicious", "unsafe", "unscanned"]
    executable: bool | None = Field(description="Whether loading the format can run code: true for the pickle "
                                                "family, false for safetensors and ONNX, null if not known")
    globals: list[ScanGlobalOut] = Field(description="Dangerous and suspicious imports found (module + name)")
    scanner: str | None = Field(description="The scanner that read the file (picklescan), if one did")
    scanner_version: str | None
    scanned_at: datetime | None
    reason: str | None = Field(description="Why the verdict is what it is, as a code (e.g. scan_timeout, "
                                           "non_executable_format, format_not_scanned)")
    detail: str | None


class FileMetadataOut(BaseModel):
    file_id: str = Field(description="The file's content address (its sha256)")
    checksum: str
    size_bytes: int
    format: str | None
    filename: str | None
    content_type: str | None
    uploaded_at: datetime
    scan: ScanOut


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


def scan_out(scan: ScanResult | None) -> ScanOut:
    """A file's scan as the API shows it (a file uploaded before scanning: ``unscanned``)."""
    scan = scan or NOT_RECORDED_RESULT
    found = [ScanGlobalOut.model_construct(module=g.module, name=g.name, safety=g.safety)
             for g in scan.globals]
    return ScanOut.model_construct(
        verdict=scan.verdict.value, executable=scan.executable, globals=found,
        scanner=scan.scanner, scanner_version=scan.scanner_version, scanned_at=scan.scanned_at,
        reason=scan.reason, detail=scan.detail)


def file_out(model: ModelVersion) -> FileMetadataOut | None:
    file = model.file
    if file is None:
        return None
    return FileMetadataOut.model_construct(
        file_id=file.sha256, checksum=file.checksum, size_bytes=file.size_bytes, format=file.format,
        filename=file.filename, content_type=file.content_type, uploaded_at=file.uploaded_at,
        scan=scan_out(file.scan))


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


def uploaded_out(model: ModelVersion) -> UploadedOut:
    """The answer to an upload: ``model`` is the version as ``Registry.attach`` returns it, with its file."""
    file_metadata = file_out(model)
    if file_metadata is None:
        raise RuntimeError(f"Version {model.id} has no file after its upload")
    return UploadedOut(model_id=model.id, version=str(model.version), file_metadata=file_metadata,
                       download_url=download_url(model.id))


def event_out(event: Event) -> EventOut:
    return EventOut(kind=event.kind.value, actor=event.actor, at=event.at, data=event.data)
