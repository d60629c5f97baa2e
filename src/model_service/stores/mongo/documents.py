"""MongoDB documents ↔ domain records: the ``models``, ``events`` and ``aliases`` documents.

A version is one document in ``models``, close to the seed's schema::

    {_id: ObjectId (the model id), name, version: "v1.2", algorithm, hyperparameters, metrics,
     dataset_info, tags: [...], description, created_by, status, parent_model_id, format,
     file_metadata: {sha256, checksum, size_bytes, format, filename, content_type, uploaded_at, scan},
     created_at, updated_at, download_count,
     # beyond the seed, kept here for filtering, sorting and concurrency control:
     seq, version_major, version_minor, accuracy, p, pn, pt, search_text, rev}

* ``seq``: insertion order (a counter), the tie-breaker of every sort.
* ``version_major``/``version_minor``: the number, unique per name (the index that makes
  version allocation race-free).
* ``accuracy``: the accuracy-like metric (``naming.accuracy_of``), as in the SQL store.
* ``p``: hyperparameters flattened to dotted keys (nested objects joined with ``.``, as the
  filter language names them), values typed as given: numbers, booleans, strings, null; arrays
  as ``{"array": <JSON text>}``, which no comparison matches but ``IS NOT NULL`` sees.
  ``pn``/``pt``: each flattened key's sort value, numeric (numbers; booleans as 1/0) or text
  (strings; arrays as JSON), so hyperparameter sorts order exactly as the SQL store's.
* ``search_text``: name, algorithm, description and tags in lower case, for the seed's ``q``.
* ``rev``: bumped by every change of the mutable fields and of the file's scan (compare-and-swap
  for :meth:`update` and :meth:`record_scan`).
* ``file_metadata.scan``: the unsafe-model scan of the file (``ScanResult.to_json``, its time
  as ISO text so it keeps its microseconds); absent for a file uploaded before scanning.

Keys of free-form objects (hyperparameters, metrics, dataset_info, the flattened maps) are
escaped so that any JSON key is a valid field name on every MongoDB version and addressable in a
query path: ``%`` → ``%25``, ``.`` → ``%2E``, ``$`` → ``%24``, NUL → ``%00``, the empty key →
``%``. Ordinary keys (``max_depth``, ``test_accuracy``) are stored as they are. Integers beyond
64 bits are kept as Decimal128 and read back as ``int``.

BSON times have millisecond precision: every time is truncated to the millisecond before it is
written, and what a method returns is what was stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from bson.decimal128 import Decimal128
from bson.errors import InvalidId

from ...domain.errors import Invalid
from ...domain.models import Alias, Event, EventKind, FileInfo, ModelVersion, Status
from ...domain.scanning import ScanResult
from ...domain.versions import Version
from ..fields import changed_values, version_fields

_ESCAPES = {"%": "%25", ".": "%2E", "$": "%24", "\x00": "%00"}
_SPECIAL = re.compile(r"[%.$\x00]")
_ESCAPED = re.compile(r"%(25|2E|24|00)")
_HEX24 = re.compile(r"[0-9a-f]{24}")
INT64 = (-(1 << 63), (1 << 63) - 1)
MAX_DECIMAL_DIGITS = 34


Document = dict[str, Any]
"""What the collections hold and the driver returns (``Collection[Document]``)."""

HIDDEN = ("p", "pn", "pt", "search_text", "outbox", "deleting")
"""Fields kept for the store's own use, left out of reads."""


def read() -> dict[str, int]:
    """The projection of a read: everything but :data:`HIDDEN` (a new dict each time: a driver
    or test double may add to the projection it is given)."""
    return {field: 0 for field in HIDDEN}


# ---- keys and JSON values ------------------------------------------------------------------------

def escape_key(key: str) -> str:
    if key == "":
        return "%"
    return _SPECIAL.sub(lambda match: _ESCAPES[match.group()], key) if _SPECIAL.search(key) else key


def unescape_key(key: str) -> str:
    if key == "%":
        return ""
    return _ESCAPED.sub(lambda match: chr(int(match.group(1), 16)), key) if "%" in key else key


def _number(value: int) -> Any:
    if INT64[0] <= value <= INT64[1]:
        return value
    if len(str(abs(value))) > MAX_DECIMAL_DIGITS:
        raise Invalid(f"Integer {str(value)[:40]}… has more than {MAX_DECIMAL_DIGITS} digits", code="invalid_number")
    return Decimal128(str(value))


def encode(value: Any) -> Any:
    """A JSON value as stored: object keys escaped, huge integers as Decimal128."""
    if isinstance(value, Mapping):
        return {escape_key(str(key)): encode(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return _number(value)
    return value


def decode(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {unescape_key(key): decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [decode(item) for item in value]
    if isinstance(value, Decimal128):
        return int(value.to_decimal())
    return value


# ---- times and ids ---------------------------------------------------------------------------------

def stamp(value: datetime) -> datetime:
    """A time as BSON stores it: UTC, truncated to the millisecond."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the MongoDB store")
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def utc(value: datetime) -> datetime:
    """A time read back (aware or not, depending on the client's ``tz_aware``) as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_or_none(value: datetime | None) -> datetime | None:
    """:func:`utc` of a time a document may lack."""
    return None if value is None else utc(value)


def object_id(model_id: object) -> ObjectId | None:
    """The ObjectId of a model id, or None if it cannot be one (so nothing matches it): not a
    string of 24 lowercase hex digits (a filter on ``id`` may compare it with any value)."""
    if not isinstance(model_id, str) or not _HEX24.fullmatch(model_id):
        return None
    try:
        return ObjectId(model_id)
    except InvalidId:  # pragma: no cover - the pattern already checks
        return None


# ---- hyperparameters, flattened ------------------------------------------------------------------------

def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"optimizer": {"lr": 0.1}}`` → ``{"optimizer.lr": 0.1}``; arrays and scalars are leaves."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


def param_fields(params: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``p`` (typed values, for filters), ``pn`` and ``pt`` (sort values) of a version's hyperparameters."""
    typed: dict[str, Any] = {}
    numeric: dict[str, Any] = {}
    text: dict[str, Any] = {}
    for path, value in flatten(params).items():
        key = escape_key(path)
        if isinstance(value, bool):
            typed[key], numeric[key] = value, 1.0 if value else 0.0
        elif isinstance(value, (int, float)):
            typed[key], numeric[key] = encode(value), float(value)
        elif isinstance(value, str):
            typed[key] = text[key] = value
        elif isinstance(value, (list, tuple)):
            array = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
            typed[key], text[key] = {"array": array}, array
        else:
            typed[key] = None
    return {"p": typed, "pn": numeric, "pt": text}


def search_text(name: str, algorithm: str, description: str, tags: tuple[str, ...] | list[str]) -> str:
    """What ``q`` searches, as the SQL store joins it, in lower case (case-insensitive by construction)."""
    return f"{name} {algorithm} {description} {' '.join(tags)}".lower()


# ---- versions ---------------------------------------------------------------------------------------------

def file_document(file: FileInfo) -> dict[str, Any]:
    document = {
        "sha256": file.sha256,
        "checksum": file.checksum,
        "size_bytes": file.size_bytes,
        "format": file.format,
        "filename": file.filename,
        "content_type": file.content_type,
        "uploaded_at": stamp(file.uploaded_at),
    }
    if file.scan is not None:
        document["scan"] = file.scan.to_json()
    return document


_JSON_OBJECTS = ("hyperparameters", "metrics", "dataset_info")


def _stored(values: dict[str, Any]) -> dict[str, Any]:
    """Plain field values as a document holds them: JSON objects encoded, times to the millisecond."""
    return {key: encode(value) if key in _JSON_OBJECTS else stamp(value) if isinstance(value, datetime) else value
            for key, value in values.items()}


def model_document(model: ModelVersion, seq: int) -> dict[str, Any]:
    """The document of a version (new, or imported as it is): its stored fields (``stores/fields.py``)
    and the store's own."""
    document = _stored(version_fields(model))
    document.update(
        _id=ObjectId(document.pop("id")),
        seq=seq,
        version=str(model.version),
        search_text=search_text(model.name, model.algorithm, model.description, model.tags),
        rev=0,
        **param_fields(model.hyperparameters),
    )
    if model.file is not None:
        document["file_metadata"] = file_document(model.file)
    return document


def changed_fields(model: ModelVersion, fields: tuple[str, ...]) -> dict[str, Any]:
    """The stored values of a plan's changed ``fields`` (fields of the same names), and the
    search text again when what it is made of changed."""
    values = _stored(changed_values(model, fields))
    if "tags" in values or "description" in values:
        values["search_text"] = search_text(model.name, model.algorithm, model.description, model.tags)
    return values


def to_model(document: Mapping[str, Any]) -> ModelVersion:
    stored = document.get("file_metadata")
    file = None
    if stored:
        scan = stored.get("scan")
        file = FileInfo(sha256=stored["sha256"], size_bytes=int(stored["size_bytes"]), format=stored.get("format"),
                        filename=stored.get("filename"), content_type=stored.get("content_type"),
                        uploaded_at=utc(stored["uploaded_at"]),
                        scan=None if scan is None else ScanResult.from_json(scan))
    return ModelVersion(
        id=str(document["_id"]),
        name=document["name"],
        version=Version(document["version_major"], document["version_minor"]),
        algorithm=document["algorithm"],
        hyperparameters=decode(document["hyperparameters"]),
        metrics=decode(document["metrics"]),
        dataset_info=decode(document["dataset_info"]),
        tags=tuple(document["tags"]),
        description=document["description"],
        created_by=document["created_by"],
        status=Status(document["status"]),
        parent_model_id=document.get("parent_model_id"),
        format=document.get("format"),
        file=file,
        created_at=utc(document["created_at"]),
        updated_at=utc(document["updated_at"]),
        download_count=int(document.get("download_count", 0)),
    )


# ---- events and aliases -------------------------------------------------------------------------------

def event_document(event: Event) -> dict[str, Any]:
    """An event as stored in ``events`` (or in an alias's outbox, which holds complete events),
    under a new id: ids ascend in the order events are made, the order of equal times."""
    return {"_id": ObjectId(), "model_id": ObjectId(event.model_id), "model_name": event.model_name,
            "kind": EventKind(event.kind).value, "actor": event.actor, "at": stamp(event.at),
            "data": encode(dict(event.data))}


def outbox_document(event: Event) -> dict[str, Any]:
    """An event waiting in a version's outbox: without ``model_id`` and ``model_name``, which
    are those of the document holding it, given when it is published (``outbox.py``)."""
    return {key: value for key, value in event_document(event).items() if key not in ("model_id", "model_name")}


def to_event(document: Mapping[str, Any]) -> Event:
    return Event(model_id=str(document["model_id"]), model_name=document["model_name"],
                 kind=EventKind(document["kind"]), actor=document["actor"], at=utc(document["at"]),
                 data=decode(document.get("data") or {}))


def to_alias(document: Mapping[str, Any]) -> Alias:
    return Alias(name=document["name"], alias=document["alias"], model_id=str(document["model_id"]),
                 version=Version(document["version_major"], document["version_minor"]),
                 updated_at=utc(document["updated_at"]), updated_by=document["updated_by"])
