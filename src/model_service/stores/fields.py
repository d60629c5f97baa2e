"""A version's stored fields, as every metadata store names them: the record's own fields in plain
values (a status as its word, tags as a list, the number as major and minor) and the derived ones
kept beside them for sorting and filtering (``accuracy``). Each store adds what is its own — the
SQL store the file's columns; the MongoDB store its ``_id``, times to the millisecond, escaped keys
and the search text — and writes a plan's changed fields under the same names."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..domain.models import ModelVersion

_PLAIN: dict[str, Callable[[ModelVersion], Any]] = {
    "status": lambda model: model.status.value,
    "tags": lambda model: list(model.tags),
}


def changed_values(model: ModelVersion, fields: Iterable[str]) -> dict[str, Any]:
    """The plain values of ``fields`` of the record (a plan's changed fields)."""
    return {name: _PLAIN[name](model) if name in _PLAIN else getattr(model, name) for name in fields}


def version_fields(model: ModelVersion) -> dict[str, Any]:
    """Every stored field of a version but its file's."""
    return {
        "id": model.id,
        "name": model.name,
        "version_major": model.version.major,
        "version_minor": model.version.minor,
        **changed_values(model, ("algorithm", "hyperparameters", "metrics", "dataset_info", "tags", "description",
                                 "created_by", "status", "parent_model_id", "format", "created_at", "updated_at",
                                 "download_count", "accuracy")),
    }
