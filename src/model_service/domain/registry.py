"""The registry service: every rule about names, versions, lineage, files and lifecycle.

It is the only place that decides; stores persist and the HTTP layer translates.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from . import naming, refusals
from .audit import AuditHook, Auditor
from .compare import Comparison, compare
from .errors import Invalid, NotFound
from .filters import parse_filter, parse_sort
from .formats import format_from_filename, normalize_format
from .ids import new_id, parse_id
from .models import (
    LATEST,
    MAX_DESCRIPTION_LENGTH,
    Alias,
    AliasMove,
    Draft,
    Event,
    FileInfo,
    ModelVersion,
    RegistryStats,
    Status,
    clean_alias,
    clean_hyperparameters,
    clean_metrics,
    clean_object,
    clean_tags,
    clean_text,
)
from .plans.aliases import ANY, Expected
from .ports import BlobReader, BlobStore, MetadataStore, NoObserver, Page, RegistryObserver
from .query import DEFAULT_SORT, FieldRef, SearchQuery, SimpleFilters, SortKey, ValueType
from .query import Comparison as Comparison_
from .scanning import LocalFile, ModelScanner, ScanResult, Verdict, assess
from .uploads import Upload
from .versions import Version

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Registration:
    """What a client asks to register. ``name=None`` asks for a generated semantic name."""

    algorithm: str
    name: str | None = None
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    dataset_info: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    description: str = ""
    created_by: str | None = None
    status: str = Status.ACTIVE.value
    format: str | None = None
    breaking_changes: bool = False

    def validated(self) -> Registration:
        """The same registration with every field checked and normalised (raises :class:`Invalid`)."""
        return replace(
            self,
            algorithm=clean_text(self.algorithm, "algorithm", max_length=128, allow_empty=False, single_line=True),
            name=None if self.name is None else naming.validate_name(self.name),
            hyperparameters=clean_hyperparameters(self.hyperparameters),
            metrics=clean_metrics(self.metrics),
            dataset_info=clean_object(self.dataset_info, "dataset_info"),
            tags=clean_tags(self.tags),
            description=clean_text(self.description, "description", max_length=MAX_DESCRIPTION_LENGTH),
            created_by=None if self.created_by is None
            else clean_text(self.created_by, "created_by", allow_empty=False, single_line=True),
            status=Status.parse(self.status).value,
            format=None if self.format is None else normalize_format(self.format),
        )


# Fields of a version that PUT may change. Everything else identifies the artifact (what was
# trained, how, from what): change those by registering a new version.
MUTABLE_FIELDS = frozenset({"description", "tags", "status", "metrics"})
IMMUTABLE_FIELDS = frozenset({
    "id", "name", "version", "algorithm", "hyperparameters", "dataset_info", "created_by", "created_at",
    "updated_at", "parent_model_id", "file_metadata", "format", "download_count",
})
INHERITED_FIELDS = ("algorithm", "hyperparameters", "metrics", "dataset_info", "tags", "description", "format")


class Registry:
    def __init__(
        self,
        metadata: MetadataStore,
        blobs: BlobStore,
        *,
        max_file_size: int,
        clock: Callable[[], datetime] = utcnow,
        observer: RegistryObserver | None = None,
        scanner: ModelScanner | None = None,
        reject_unsafe: bool = False,
    ):
        """``scanner``: reads every uploaded file for the code it would run when loaded (None:
        no scanning, every file ``unscanned``); ``reject_unsafe``: refuse a file whose verdict
        is ``unsafe`` (422 ``unsafe_model``, nothing kept)."""
        self.metadata = metadata
        self.blobs = blobs
        self.max_file_size = max_file_size
        self.clock = clock
        self.observer = observer or NoObserver()
        self.scanner = scanner
        self.reject_unsafe = reject_unsafe
        self.auditor = Auditor(metadata, clock=clock)
        """Makes the audit records of writes (the HTTP layer passes its hooks to the writes) and reads the log."""

    # ---- registration and versions ---------------------------------------------------------

    def register(self, registration: Registration, actor: str, file: Upload | None = None, *,
                 audit: AuditHook | None = None) -> ModelVersion:
        """Register a model. An existing name gets its next version, derived from its latest.
        Always consumes ``file`` (committed or discarded). Every write here takes an ``audit``
        hook, whose record the store commits with the write."""
        with _consuming(file):
            reg = registration.validated()
            now = self.clock()
            name = reg.name or naming.semantic_name(reg.algorithm, reg.metrics, now)
            draft = self._draft(reg, name=name, parent=LATEST, actor=actor, now=now)
            return self._create(draft, file, audit)

    def new_version(
        self, base_id: str, overrides: Mapping[str, Any], actor: str, file: Upload | None = None, *,
        audit: AuditHook | None = None,
    ) -> ModelVersion:
        """The seed's ``create_model_version``: a new version of ``base_id``'s name, made of the
        base's fields with ``overrides`` applied, whose parent is the base. The file is not
        inherited: the new version gets its own upload. Always consumes ``file``."""
        with _consuming(file):
            base = self.get(base_id)
            reg = self.derive(base, overrides)
            draft = self._draft(reg, name=base.name, parent=base.id, actor=actor, now=self.clock())
            return self._create(draft, file, audit)

    def derive(self, base: ModelVersion, overrides: Mapping[str, Any]) -> Registration:
        """The validated registration of a new version of ``base`` with ``overrides`` applied."""
        unknown = set(overrides) - set(INHERITED_FIELDS) - {"created_by", "status", "breaking_changes", "name"}
        if unknown:
            raise Invalid(f"Unknown or immutable fields for a new version: {', '.join(sorted(unknown))}",
                          code="invalid_fields", details={"fields": sorted(unknown)})
        if "name" in overrides and overrides["name"] != base.name:
            raise Invalid("A new version keeps its base's name; register under a new name with POST /api/v1/models",
                          code="invalid_name", details={"name": overrides["name"], "base_name": base.name})
        inherited = {key: getattr(base, key) for key in INHERITED_FIELDS}
        merged = {**inherited, **{k: v for k, v in overrides.items() if k != "name"}}
        return Registration(name=base.name, **merged).validated()

    def _draft(self, reg: Registration, *, name: str, parent: str, actor: str, now: datetime) -> Draft:
        return Draft(
            id=new_id(now.timestamp()),
            name=name,
            algorithm=reg.algorithm,
            hyperparameters=dict(reg.hyperparameters),
            metrics=dict(reg.metrics),
            dataset_info=dict(reg.dataset_info),
            tags=tuple(reg.tags),
            description=reg.description,
            created_by=reg.created_by or actor,
            status=Status(reg.status),
            format=reg.format,
            parent_model_id=parent,
            breaking=reg.breaking_changes,
            created_at=now,
        )

    def _create(self, draft: Draft, file: Upload | None, audit: AuditHook | None) -> ModelVersion:
        if file is not None:
            self._accept(file, declared_format=draft.format)
        model = self.metadata.create_version(draft, file, audit)
        self.observer.registered(model)
        if model.file is not None:
            self.observer.uploaded(model, model.file.size_bytes)
        return model

    # ---- reads -----------------------------------------------------------------------------

    def get(self, model_id: str) -> ModelVersion:
        return self.metadata.get(parse_id(model_id))

    def search(self, filters: SimpleFilters, *, filter_text: str | None = None, sort_text: str | None = None,
               page: int = 1, limit: int = 20) -> Page:
        """Versions matching the simple filters AND the filter expression, sorted, one page."""
        extra = () if not filter_text or not filter_text.strip() else (parse_filter(filter_text),)
        sort = parse_sort(sort_text) if sort_text and sort_text.strip() else DEFAULT_SORT
        where = replace(filters, extra=extra).to_node()
        return self.metadata.search(SearchQuery(where=where, sort=sort, offset=(page - 1) * limit, limit=limit))

    def recent(self, limit: int) -> list[ModelVersion]:
        return self.metadata.search(SearchQuery(sort=DEFAULT_SORT, limit=limit)).items

    def popular(self, limit: int, days: int | None = None) -> list[tuple[ModelVersion, int]]:
        """Most downloaded versions: of all time, or over the last ``days`` days."""
        since = None if days is None else self.clock() - timedelta(days=days)
        return self.metadata.popular(limit, since)

    def statistics(self) -> RegistryStats:
        """Figures for the seed's two statistics shapes: versions added in the last 7 days,
        downloads in the last 24 hours, and both since midnight UTC."""
        now = self.clock()
        return self.metadata.statistics(added_since=now - timedelta(days=7), downloads_since=now - timedelta(days=1),
                                        today=now.replace(hour=0, minute=0, second=0, microsecond=0))

    def facet_counts(self, algorithms: int, tags: int) -> dict[str, list[tuple[str, int]]]:
        """Versions per algorithm (the ``algorithms`` most common), per status, and per tag (the
        ``tags`` most used), most first: what a list can be narrowed by."""
        return {"algorithm": self.metadata.value_counts("algorithm", algorithms),
                "status": self.metadata.value_counts("status", len(Status)),
                "tags": self.metadata.value_counts("tags", tags)}

    def top_tags(self, limit: int = 20) -> list[tuple[str, int]]:
        """The most used tags of live versions with their version counts; ties by tag."""
        return self.metadata.value_counts("tags", limit)

    def downloads_per_day(self, days: int = 30) -> list[tuple[date, int]]:
        """Downloads on each of the last ``days`` UTC days, oldest first, ending today (by the
        clock): exactly ``days`` entries, a day without downloads as 0."""
        if days <= 0:
            return []
        today = self.clock().astimezone(UTC).date()
        first = today - timedelta(days=days - 1)
        start = datetime.combine(first, time.min, tzinfo=UTC)
        counts = self.metadata.downloads_by_day(start, start + timedelta(days=days))
        return [(day, counts.get(day, 0)) for day in (first + timedelta(days=n) for n in range(days))]

    def compare(self, model_ids: Sequence[str]) -> Comparison:
        ids = list(dict.fromkeys(parse_id(model_id) for model_id in model_ids))
        if not MIN_COMPARED <= len(ids) <= MAX_COMPARED:
            raise Invalid(f"Compare {MIN_COMPARED} to {MAX_COMPARED} distinct versions (got {len(ids)})",
                          code="invalid_compare", details={"count": len(ids)})
        return compare([self.metadata.get(model_id) for model_id in ids])

    # ---- names and aliases ------------------------------------------------------------------

    def versions(self, name: str, page: int, limit: int) -> Page:
        """Every version of ``name``, newest (highest) first; :class:`NotFound` if it has none."""
        name = naming.validate_name(name)
        found = self.metadata.search(SearchQuery(
            where=Comparison_(FieldRef("field", "name", ValueType.STRING), "=", name),
            sort=(SortKey(FieldRef("field", "version", ValueType.VERSION), descending=True),),
            offset=(page - 1) * limit, limit=limit))
        if found.total == 0:
            raise refusals.name_not_found(name)
        return found

    def children(self, model_id: str, limit: int) -> list[ModelVersion]:
        """Versions derived from ``model_id`` (their ``parent_model_id``), oldest first, at most ``limit``."""
        return self.metadata.search(SearchQuery(
            where=Comparison_(FieldRef("field", "parent_model_id", ValueType.STRING), "=", parse_id(model_id)),
            sort=(SortKey(FieldRef("field", "created_at", ValueType.DATETIME)),), limit=limit)).items

    def resolve(self, name: str, ref: str) -> ModelVersion:
        """``name``'s version ``ref``: a version (``v1.2``), an alias, or ``latest``."""
        name = naming.validate_name(name)
        if ref == LATEST:
            return self.metadata.latest(name)
        if _looks_like_version(ref):
            return self.metadata.find_version(name, Version.parse(ref))
        return self.metadata.get(self.metadata.get_alias(name, clean_alias(ref)).model_id)

    def aliases(self, name: str) -> list[Alias]:
        """The name's aliases; :class:`NotFound` for a name without versions."""
        name = naming.validate_name(name)
        found = self.metadata.aliases(name)
        if not found:
            self.metadata.latest(name)  # NotFound if the name has no version
        return found

    def set_alias(self, name: str, alias: str, actor: str, *, version: str | None = None, model_id: str | None = None,
                  expected: Any = ANY, audit: AuditHook | None = None) -> AliasMove:
        """Point ``name@alias`` at one version, given as ``version`` (``v1.2`` or ``latest``) or
        as ``model_id`` — exactly one. ``expected``: the version it must point at now (a
        compare-and-swap in the store), ``None`` for "not set", or :data:`ANY` for no check."""
        name, alias = naming.validate_name(name), clean_alias(alias)
        if (version is None) == (model_id is None):
            raise Invalid("Give exactly one of 'version' and 'model_id'", code="invalid_alias_target")
        if version is not None:
            target = (self.metadata.latest(name) if version == LATEST
                      else self.metadata.find_version(name, Version.parse(version)))
            model_id = target.id
        assert model_id is not None  # one of the two, checked above
        return self.metadata.move_alias(name, alias, parse_id(model_id), _expectation(expected), actor, self.clock(),
                                        audit)

    def remove_alias(self, name: str, alias: str, actor: str, *, expected: Any = ANY,
                     audit: AuditHook | None = None) -> AliasMove:
        name, alias = naming.validate_name(name), clean_alias(alias)
        return self.metadata.move_alias(name, alias, None, _expectation(expected), actor, self.clock(), audit)

    def name_history(self, name: str, *, kinds: tuple[str, ...] | None = None, alias: str | None = None,
                     since: datetime | None = None, until: datetime | None = None, limit: int = 1000,
                     newest_first: bool = False) -> list[Event]:
        """The name's events, oldest first (the first ``limit``) or newest first (the last ``limit``)."""
        name = naming.validate_name(name)
        if not self.metadata.name_events(name, limit=1):
            raise refusals.name_not_found(name)
        return self.metadata.name_events(name, kinds=kinds, alias=None if alias is None else clean_alias(alias),
                                         since=since, until=until, limit=limit, newest_first=newest_first)

    def alias_at(self, name: str, alias: str, at: datetime) -> Event | None:
        """The move that set ``name@alias`` as it was at time ``at`` (None: not set then)."""
        name, alias = naming.validate_name(name), clean_alias(alias)
        moves = self.metadata.name_events(name, alias=alias, until=at, limit=1, newest_first=True)
        if not moves or moves[0].data.get("to_model_id") is None:
            return None
        return moves[0]

    def history(self, model_id: str) -> list[Event]:
        model_id = parse_id(model_id)
        events = self.metadata.events(model_id, kinds=("created", "status", "updated", "uploaded", "scanned",
                                                        "deleted"))
        if not events:
            self.metadata.get(model_id)  # NotFound for an id that never existed
        return events

    # ---- changes ---------------------------------------------------------------------------

    def update(self, model_id: str, values: Mapping[str, Any], actor: str, *,
               audit: AuditHook | None = None) -> ModelVersion:
        model_id = parse_id(model_id)
        immutable = sorted(set(values) & IMMUTABLE_FIELDS)
        if immutable:
            raise Invalid(
                f"Cannot change {', '.join(immutable)}: these identify the artifact; register a new version instead",
                code="immutable_field",
                details={"fields": immutable, "mutable": sorted(MUTABLE_FIELDS)},
            )
        unknown = sorted(set(values) - MUTABLE_FIELDS)
        if unknown:
            raise Invalid(f"Unknown fields: {', '.join(unknown)}", code="unknown_field",
                          details={"fields": unknown, "mutable": sorted(MUTABLE_FIELDS)})
        clean: dict[str, Any] = {}
        for key, value in values.items():
            if key == "description":
                clean[key] = clean_text(value, "description", max_length=MAX_DESCRIPTION_LENGTH)
            elif key == "tags":
                clean[key] = clean_tags(value)
            elif key == "status":
                clean[key] = Status.parse(value)
            elif key == "metrics":
                clean[key] = clean_metrics(value)
        return self.metadata.update(model_id, clean, actor, self.clock(), audit)

    def delete(self, model_id: str, actor: str, *, audit: AuditHook | None = None,
               unless_aliased: bool = False) -> ModelVersion:
        """Delete a version; its file's blob goes with its last reference. ``unless_aliased``
        (retention): :class:`Conflict` ``version_aliased`` if an alias points at it."""
        model = self.metadata.delete(parse_id(model_id), self.blobs.delete, actor, self.clock(), audit,
                                     unless_aliased=unless_aliased)
        self.observer.deleted(model)
        return model

    # ---- files -----------------------------------------------------------------------------

    def ensure_can_upload(self, model_id: str) -> ModelVersion:
        """Fail before any byte is read: unknown version (404) or a file already there (409)."""
        model = self.get(model_id)
        if model.file is not None:
            raise refusals.file_exists(model)
        return model

    def begin_upload(self, expected_sha256: str | None = None) -> Upload:
        """Start receiving a file into the blob store's temporary space (through the scanner's
        local copy when the store keeps none)."""
        temp = self.blobs.begin_upload()
        if self.scanner is not None:
            try:
                temp = self.scanner.prepare(temp)
            except BaseException:
                temp.abort()
                raise
        return Upload(temp, max_size=self.max_file_size, expected_sha256=expected_sha256)

    def attach(self, model_id: str, file: Upload, actor: str, *, audit: AuditHook | None = None) -> ModelVersion:
        """Attach a finished upload to a version. Always consumes ``file`` (committed or discarded)."""
        with _consuming(file):
            model = self.ensure_can_upload(model_id)
            self._accept(file, declared_format=model.format)
            model = self.metadata.attach_file(model.id, file, actor, audit)
        self.observer.uploaded(model, file.size)
        return model

    def _accept(self, upload: Upload, *, declared_format: str | None) -> None:
        """Decide the finished file's format (the client's word for it, the version's, or its
        filename's extension) and scan it; record both on the upload for the store to write."""
        if upload.sha256 is None:
            raise RuntimeError("A file is accepted once its upload is finished")
        fmt = upload.format or declared_format or format_from_filename(upload.filename)
        fmt = None if fmt is None else normalize_format(fmt)
        upload.accept(FileInfo(
            sha256=upload.sha256,
            size_bytes=upload.size,
            format=fmt,
            filename=upload.filename,
            content_type=upload.content_type,
            uploaded_at=self.clock(),
            scan=self.scan(upload, fmt),
        ))

    def scan(self, upload: Upload, fmt: str | None) -> ScanResult:
        """Scan a finished upload (after its checksum is verified, before anything is committed);
        with ``reject_unsafe``, an ``unsafe`` verdict is :class:`Invalid` ``unsafe_model``."""
        temp = upload.temp
        path = temp.local_path if isinstance(temp, LocalFile) else None
        result = assess(self.scanner, path, fmt, upload.size, self.clock())
        if result.verdict is Verdict.UNSAFE:
            found = ", ".join(f"{g.module}.{g.name}" for g in result.globals if g.safety == "dangerous")
            log.warning("Unsafe model file (sha256 %s): imports %s", upload.sha256, found[:500])
            if self.reject_unsafe:
                raise Invalid(
                    f"Refused: loading this file would import {found[:300] or 'unknown callables'}, which can run "
                    "code (REJECT_UNSAFE_MODELS is on); nothing was stored",
                    code="unsafe_model",
                    details={"globals": [g.to_json() for g in result.globals], "scan": result.to_json(),
                             "file": {"sha256": upload.sha256, "size_bytes": upload.size}},
                )
        return result

    def open_file(self, model_id: str) -> tuple[ModelVersion, Callable[[int], BlobReader]]:
        """The version and a way to open its blob at an offset; :class:`NotFound` if it has no file."""
        model = self.get(model_id)
        if model.file is None:
            raise NotFound(f"Model {model.id} has no file; upload one with POST /api/v1/models/{model.id}/upload",
                           code="file_not_found", details={"model_id": model.id})
        key = model.file.sha256
        return model, lambda offset: self.blobs.open(key, offset)

    def record_download(self, model: ModelVersion, actor: str, size_bytes: int, byte_range: str | None) -> None:
        """Count a completed download of ``model``'s file (``byte_range`` for a ranged request
        that reached the end of the file)."""
        self.metadata.record_download(model.id, actor, self.clock(), {"bytes": size_bytes, "range": byte_range})
        self.observer.downloaded(model, size_bytes)


MIN_COMPARED, MAX_COMPARED = 2, 10
_VERSION_REF = re.compile(r"v?\d+\.\d+")


def _expectation(expected: Any) -> Expected:
    """What a move expects, as the HTTP layer passes it: :data:`ANY`, None (not set) or a version's text."""
    return expected if expected is ANY or expected is None else Version.parse(expected)


def _looks_like_version(ref: str) -> bool:
    return bool(_VERSION_REF.fullmatch(ref))


@contextmanager
def _consuming(file: Upload | None) -> Iterator[None]:
    """Release the upload's temporary bytes however the operation ends (a no-op once committed)."""
    try:
        yield
    finally:
        if file is not None:
            file.abort()
