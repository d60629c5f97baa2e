"""The registry's records. Plain, immutable, typed; no I/O and no framework types."""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .errors import Invalid
from .naming import accuracy_of
from .scanning import ScanResult
from .versions import Version

JSON = Any


class Status(enum.StrEnum):
    """Lifecycle of a version: ``active`` → ``deprecated`` → ``archived`` (any move is allowed and recorded).

    ``corrupted`` is set only by ``model-service fsck --repair``, on a version whose file is gone
    or damaged in the blob store: clients cannot set it (:meth:`parse` refuses it), but may move a
    corrupted version back to another status once its file is restored.
    """

    ACTIVE = "active"
    DEPRECATED = "deprecated"
    ARCHIVED = "archived"
    CORRUPTED = "corrupted"

    @property
    def settable(self) -> bool:
        """Whether a client may set this status (every one but ``corrupted``)."""
        return self is not Status.CORRUPTED

    @classmethod
    def settable_values(cls) -> list[str]:
        return [status.value for status in cls if status.settable]

    @classmethod
    def parse(cls, value: str) -> Status:
        """A status a client asks for; :class:`Invalid` (``invalid_status``) for anything else."""
        try:
            status = cls(value)
        except ValueError:
            status = None
        if status is None or not status.settable:
            reason = ("is set only by `model-service fsck --repair`" if status is Status.CORRUPTED
                      else "is not a status")
            raise Invalid(
                f"'{value}' {reason}: use one of {', '.join(cls.settable_values())}",
                code="invalid_status",
                details={"status": str(value)[:50], "allowed": cls.settable_values()},
            )
        return status


@dataclass(frozen=True, slots=True)
class FileInfo:
    """The file attached to a version. ``sha256`` is also its content address in the blob store.
    ``scan``: what the unsafe-model scan concluded at upload (None: uploaded before scanning)."""

    sha256: str
    size_bytes: int
    format: str | None
    filename: str | None
    content_type: str | None
    uploaded_at: datetime
    scan: ScanResult | None = None

    @property
    def checksum(self) -> str:
        return f"sha256:{self.sha256}"


@dataclass(frozen=True, slots=True)
class ModelVersion:
    id: str
    name: str
    version: Version
    algorithm: str
    hyperparameters: dict[str, JSON]
    metrics: dict[str, float]
    dataset_info: dict[str, JSON]
    tags: tuple[str, ...]
    description: str
    created_by: str
    status: Status
    parent_model_id: str | None
    format: str | None
    file: FileInfo | None
    created_at: datetime
    updated_at: datetime
    download_count: int = 0

    @property
    def accuracy(self) -> float | None:
        """The accuracy-like metric (:func:`~.naming.accuracy_of`): stores keep it beside the
        record, derived, for sorting and filtering by accuracy."""
        return accuracy_of(self.metrics)


LATEST = "latest"
"""``Draft.parent_model_id`` value meaning "the name's latest version at the time of insertion"."""


@dataclass(frozen=True, slots=True)
class Draft:
    """Everything a new version is made of, once the registry has decided name and lineage.

    The store assigns the version number (the next after the name's latest, under its own
    uniqueness guarantee) and writes it; ``breaking`` says which part to bump.
    """

    id: str
    name: str
    algorithm: str
    hyperparameters: dict[str, JSON]
    metrics: dict[str, float]
    dataset_info: dict[str, JSON]
    tags: tuple[str, ...]
    description: str
    created_by: str
    status: Status
    format: str | None
    parent_model_id: str | None
    breaking: bool
    created_at: datetime


class EventKind(enum.StrEnum):
    CREATED = "created"
    STATUS = "status"
    UPDATED = "updated"
    UPLOADED = "uploaded"
    DOWNLOADED = "downloaded"
    DELETED = "deleted"
    ALIAS = "alias"
    SCANNED = "scanned"


@dataclass(frozen=True, slots=True)
class Event:
    """One append-only record of something that happened to a version."""

    model_id: str
    model_name: str
    kind: EventKind
    actor: str
    at: datetime
    data: dict[str, JSON] = field(default_factory=dict)
    id: int | None = None


# ---- validation of the free-form parts -------------------------------------------------------

MAX_TAGS = 64
MAX_TAG_LENGTH = 64
MAX_KEY_LENGTH = 128
MAX_TEXT_LENGTH = 256
MAX_DESCRIPTION_LENGTH = 16_384
MAX_METRICS = 256
MAX_OBJECT_KEYS = 1024  # keys at every level of one hyperparameters or dataset_info object
MAX_VALUE_LENGTH = 16_384  # characters of one string inside hyperparameters or dataset_info
MAX_PARAM_PATH_LENGTH = 256  # a hyperparameter's dotted path, as filters name it and stores index it
TAG_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.:/+=@-]*"
METRIC_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_.:/@-]*"
_TAG = re.compile(TAG_PATTERN)
_METRIC = re.compile(METRIC_PATTERN)


def clean_tags(tags: Sequence[str]) -> tuple[str, ...]:
    """Tags are short words (no spaces or commas: ``tags=`` filters are comma lists), deduplicated in order."""
    if isinstance(tags, (str, bytes)) or not isinstance(tags, Sequence):
        raise Invalid("tags must be a list of strings", code="invalid_tags")
    if len(tags) > MAX_TAGS:  # before looking at each: a huge list costs nothing
        raise Invalid(f"At most {MAX_TAGS} tags per version", code="invalid_tags", details={"count": len(tags)})
    seen: dict[str, None] = {}
    for tag in tags:
        if not isinstance(tag, str) or not (1 <= len(tag) <= MAX_TAG_LENGTH) or not _TAG.fullmatch(tag):
            raise Invalid(
                f"Invalid tag {tag!r}: 1-{MAX_TAG_LENGTH} characters of letters, digits and _ . : / + = @ -",
                code="invalid_tags",
                details={"tag": str(tag)[:100]},
            )
        seen.setdefault(tag, None)
    return tuple(seen)


def clean_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Metrics are named finite numbers; names may not contain spaces (they appear in filters)."""
    if not isinstance(metrics, Mapping):
        raise Invalid("metrics must be an object of name → number", code="invalid_metrics")
    if len(metrics) > MAX_METRICS:
        raise Invalid(f"At most {MAX_METRICS} metrics per version", code="invalid_metrics",
                      details={"count": len(metrics), "max_metrics": MAX_METRICS})
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if not isinstance(key, str) or not (1 <= len(key) <= MAX_KEY_LENGTH) or not _METRIC.fullmatch(key):
            raise Invalid(
                f"Invalid metric name {key!r}: letters, digits and _ . : / @ -",
                code="invalid_metrics",
                details={"metric": str(key)[:100]},
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise Invalid(
                f"Metric '{key}' must be a finite number, got {value!r}"[:300],
                code="invalid_metrics",
                details={"metric": key},
            )
        out[key] = value
    return out


MAX_NESTING = 32


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of a JSON value, giving up (returning ``limit + 1``) past ``limit``."""
    if limit < 0:
        return 1
    if isinstance(value, Mapping):
        return 1 + max((_depth(v, limit - 1) for v in value.values()), default=0)
    if isinstance(value, (list, tuple)):
        return 1 + max((_depth(v, limit - 1) for v in value), default=0)
    return 0


def _walk(value: Any, what: str) -> None:
    """Checks every key and string of a JSON value (already depth-checked): keys of
    :data:`MAX_KEY_LENGTH` characters at most and not empty, at most :data:`MAX_OBJECT_KEYS` keys
    in all, strings of at most :data:`MAX_VALUE_LENGTH` characters, and no NUL anywhere."""
    keys = 0
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if len(item) > MAX_VALUE_LENGTH:
                raise Invalid(f"{what} holds a string of {len(item)} characters; the limit is {MAX_VALUE_LENGTH}",
                              code=f"invalid_{what}", details={"max_length": MAX_VALUE_LENGTH})
            if "\x00" in item:
                raise Invalid(f"{what} holds a NUL character (\\u0000), which is not stored", code=f"invalid_{what}")
        elif isinstance(item, Mapping):
            keys += len(item)
            if keys > MAX_OBJECT_KEYS:
                raise Invalid(f"{what} has more than {MAX_OBJECT_KEYS} keys", code=f"invalid_{what}",
                              details={"max_keys": MAX_OBJECT_KEYS})
            for key in item:
                if not isinstance(key, str) or not (1 <= len(key) <= MAX_KEY_LENGTH):
                    raise Invalid(f"{what} keys must be 1-{MAX_KEY_LENGTH} characters", code=f"invalid_{what}",
                                  details={"key": str(key)[:100]})
                if "\x00" in key:
                    raise Invalid(f"{what} holds a NUL character (\\u0000), which is not stored",
                                  code=f"invalid_{what}")
            pending.extend(item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend(item)


def clean_object(value: Mapping[str, Any], what: str) -> dict[str, JSON]:
    """A JSON object nested at most :data:`MAX_NESTING` levels, whose keys (at every level) are
    1-:data:`MAX_KEY_LENGTH` characters, :data:`MAX_OBJECT_KEYS` at most in all, whose strings
    are :data:`MAX_VALUE_LENGTH` characters at most, and with no NUL character in any string:
    PostgreSQL's text and JSON types cannot hold one, and a value one backend takes must be one
    every backend takes."""
    if not isinstance(value, Mapping):
        raise Invalid(f"{what} must be a JSON object", code=f"invalid_{what}")
    if _depth(value, MAX_NESTING) > MAX_NESTING:
        raise Invalid(f"{what} is nested more than {MAX_NESTING} levels deep", code=f"invalid_{what}",
                      details={"max_nesting": MAX_NESTING})
    _walk(value, what)
    return dict(value)


# Characters a hyperparameter's key may not hold: they change meaning in the stores' JSON paths.
_PATH_UNSAFE = re.compile(r'["\\\x00-\x1f\x7f]')


def clean_hyperparameters(value: Mapping[str, Any]) -> dict[str, JSON]:
    """:func:`clean_object`, and the names filters use are unique: nested objects flatten to
    dotted paths (``{"optimizer": {"lr": 0.1}}`` is ``optimizer.lr``), so no two keys may flatten
    to the same path (``"a.b"`` beside ``"a": {"b": …}``), a path is at most
    :data:`MAX_PARAM_PATH_LENGTH` characters, and keys hold no quote, backslash or control character."""
    cleaned = clean_object(value, "hyperparameters")
    seen: set[str] = set()
    pending: list[tuple[str, Mapping[str, Any]]] = [("", cleaned)]
    while pending:
        prefix, item = pending.pop()
        for key, child in item.items():
            if _PATH_UNSAFE.search(key):
                raise Invalid(f"Hyperparameter name {key[:80]!r} holds a quote, a backslash or a control character",
                              code="invalid_hyperparameters", details={"key": key[:100]})
            path = prefix + key
            if len(path) > MAX_PARAM_PATH_LENGTH:
                raise Invalid(f"Hyperparameter path '{path[:80]}…' is longer than {MAX_PARAM_PATH_LENGTH} characters",
                              code="invalid_hyperparameters", details={"max_path_length": MAX_PARAM_PATH_LENGTH})
            if isinstance(child, Mapping):  # an empty object is no leaf: the stores index nothing for it
                if child:
                    pending.append((path + ".", child))
                continue
            if path in seen:
                raise Invalid(f"Hyperparameter '{path[:100]}' is given twice (as a dotted key and as nested objects)",
                              code="invalid_hyperparameters", details={"path": path[:100]})
            seen.add(path)
    return cleaned


_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def clean_text(value: str, what: str, *, max_length: int = MAX_TEXT_LENGTH, allow_empty: bool = True,
               single_line: bool = False) -> str:
    """Trimmed text of ``max_length`` characters at most, without control characters (but
    tabs and line breaks, unless ``single_line``: then no line break of any kind either)."""
    if not isinstance(value, str):
        raise Invalid(f"{what} must be a string", code=f"invalid_{what}")
    value = value.strip()
    if not value and not allow_empty:
        raise Invalid(f"{what} must not be empty", code=f"invalid_{what}")
    if len(value) > max_length or any(ord(c) < 32 and c not in "\n\t\r" for c in value):
        raise Invalid(f"{what} must be at most {max_length} printable characters", code=f"invalid_{what}",
                      details={"max_length": max_length})
    if single_line and _LINE_BREAKS.search(value):
        raise Invalid(f"{what} must be one line of printable characters", code=f"invalid_{what}")
    return value


# ---- names: aliases and figures ----------------------------------------------------------------

_ALIAS = re.compile(r"[a-z][a-z0-9_-]{0,63}")
RESERVED_ALIASES = frozenset({"latest"})


def clean_alias(alias: str) -> str:
    """Aliases are lowercase words (``production``, ``champion``, ``staging-eu``); ``latest`` is
    reserved, and no alias can look like a version (they contain no dot)."""
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias) or alias in RESERVED_ALIASES:
        raise Invalid(
            f"Invalid alias {str(alias)[:80]!r}: 1-64 lowercase letters, digits, _ and -, starting with a letter "
            "('latest' is reserved)",
            code="invalid_alias",
            details={"alias": str(alias)[:80]},
        )
    return alias


@dataclass(frozen=True, slots=True)
class Alias:
    """``name@alias`` points at one version of the name."""

    name: str
    alias: str
    model_id: str
    version: Version
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True, slots=True)
class AliasMove:
    """An alias change: where it pointed before (None: it did not exist) and now (None: removed)."""

    name: str
    alias: str
    before: Alias | None
    after: Alias | None


@dataclass(frozen=True, slots=True)
class RegistryStats:
    """The registry's figures, each computed by one aggregate query in the store."""

    total_models: int
    by_algorithm: dict[str, int]
    by_status: dict[str, int]
    total_downloads: int
    stored_bytes: int  # distinct blobs, each counted once
    versions_with_file: int
    file_bytes: int  # the files of those versions (shared content counted per version)
    added_since: int  # versions created since the window's start
    downloads_since: int
    created_today: int
    downloads_today: int
