"""The storage ports. Each backend implements one of these protocols; the semantics stated in the
docstrings are what ``tests/contract`` checks against every backend.

Both ports are synchronous: the HTTP layer calls them from worker threads. Backends raise only
:mod:`model_service.domain.errors` exceptions (a driver's own exceptions are translated at the
backend's edge) — :class:`~.errors.NotFound`, :class:`~.errors.Conflict` and, when the backend
itself is unreachable or full, :class:`~.errors.Unavailable`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol, runtime_checkable

from .audit import AuditHook, AuditQuery, AuditRecord
from .keys import ApiKey
from .models import Alias, AliasMove, Draft, Event, FileInfo, ModelVersion, RegistryStats, Status
from .query import SearchQuery
from .versions import Version

# ---- blobs -----------------------------------------------------------------------------------


@runtime_checkable
class BlobUpload(Protocol):
    """A blob being written to temporary space, invisible under any key until :meth:`commit`."""

    def write(self, data: bytes) -> None:
        """Append bytes. Memory use does not grow with the total written."""

    def finish(self) -> None:
        """All bytes are written: make them durable in temporary space (flush, fsync)."""

    def commit(self, key: str) -> bool:
        """Make the finished bytes readable under ``key``, atomically: a reader sees either no blob
        or the whole blob, never a partial one.

        Keys are content addresses, so if ``key`` already exists its content is the same and the
        existing blob is kept: ``False``. ``True`` means this call created the blob. The temporary
        bytes stay until :meth:`abort`, so a commit whose blob was deleted again (a metadata
        transaction that failed and is retried) can be repeated.
        """

    def abort(self) -> None:
        """Release the temporary bytes. Call it once done, committed or not; safe to repeat."""


@runtime_checkable
class BlobReader(Protocol):
    size: int

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes from the current position; ``b""`` at the end."""

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Health:
    """One backend's own check: ``ok`` and a human ``detail``, plus figures for operators."""

    ok: bool
    detail: str = "healthy"
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """A committed blob as the store lists it: its key, size and when its bytes were written."""

    key: str
    size: int
    modified: datetime


@dataclass(frozen=True, slots=True)
class TempUpload:
    """What an upload left in temporary space: ``kind`` is the store's word for it (``file``,
    ``object``, ``multipart``, ``pending``, ``chunks``); ``name`` identifies it to
    :meth:`BlobStore.remove_temp_upload`; ``started`` is when it was last written to (a local
    file's mtime) or started (an S3 multipart upload, a GridFS file's id); ``size`` is what
    removing it frees, as far as the store can tell cheaply."""

    kind: str
    name: str
    size: int
    started: datetime


@runtime_checkable
class BlobStore(Protocol):
    """Content-addressed storage of model files. Keys are lowercase sha256 hex digests."""

    def begin_upload(self) -> BlobUpload:
        """Start writing a new blob to temporary space."""

    def open(self, key: str, offset: int = 0) -> BlobReader:
        """A reader positioned at ``offset``; :class:`NotFound` if there is no blob ``key``.
        Never loads the blob into memory."""

    def size(self, key: str) -> int | None:
        """The blob's size in bytes, or None if it does not exist."""

    def delete(self, key: str) -> None:
        """Remove the blob. Deleting a missing key is not an error."""

    def check(self) -> Health:
        """Whether the store can be read and written now."""

    def list_blobs(self) -> Iterator[StoredBlob]:
        """Every committed blob, ascending by key, read page by page (memory does not grow with
        the number of blobs). Uploads in temporary space are not blobs; anything else in the
        store's space that is not named like a blob is skipped."""

    def temp_uploads(self, older_than: datetime) -> Iterator[TempUpload]:
        """What uploads left in temporary space that was last written to before ``older_than``:
        temporary files or objects, unfinished multipart uploads, pending files. An upload in
        flight writes to its temporary space all along (or is younger than any sensible
        threshold), so an old enough entry belongs to an upload whose process is gone."""

    def remove_temp_upload(self, upload: TempUpload) -> int:
        """Remove an entry :meth:`temp_uploads` listed; the bytes it freed. One already gone is
        not an error (0). Committed blobs are never touched, even one that shares bytes with it."""

    def close(self) -> None: ...


# ---- observation --------------------------------------------------------------------------------


class RegistryObserver(Protocol):
    """What the registry reports as it happens (metrics, in the server). Called after the change
    is committed; an observer must be cheap and must not raise."""

    def registered(self, model: ModelVersion) -> None: ...

    def uploaded(self, model: ModelVersion, size_bytes: int) -> None: ...

    def downloaded(self, model: ModelVersion, size_bytes: int) -> None: ...

    def deleted(self, model: ModelVersion) -> None: ...


class NoObserver:
    def registered(self, model: ModelVersion) -> None:
        pass

    def uploaded(self, model: ModelVersion, size_bytes: int) -> None:
        pass

    def downloaded(self, model: ModelVersion, size_bytes: int) -> None:
        pass

    def deleted(self, model: ModelVersion) -> None:
        pass


# ---- metadata --------------------------------------------------------------------------------

ANY = object()
"""``expected`` value of :meth:`MetadataStore.move_alias`: no compare-and-swap."""

LATEST = "latest"
"""``Draft.parent_model_id`` value meaning "the name's latest version at the time of insertion"."""


@dataclass(frozen=True, slots=True)
class PendingBlob:
    """A finished upload waiting to be referenced by a version.

    The metadata store calls :attr:`commit` under its per-content serialisation (see
    :meth:`MetadataStore.attach_file`) as the last step before its transaction commits.
    """

    file: FileInfo
    commit: Callable[[], bool]


@dataclass(frozen=True, slots=True)
class Page:
    items: list[ModelVersion]
    total: int


COUNTED_FIELDS = frozenset({"algorithm", "status", "tags"})  # what MetadataStore.value_counts counts by


@dataclass(frozen=True, slots=True)
class FileReference:
    """A version's reference to a blob, as :meth:`MetadataStore.file_references` lists them."""

    sha256: str
    model_id: str
    name: str
    version: str
    size_bytes: int
    status: Status


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """Everything a metadata store holds about one model id, as ``model-service migrate`` moves
    it between stores: the version (None once deleted: its events outlive it) and its events,
    oldest first."""

    model_id: str
    model: ModelVersion | None
    events: list[Event]


class KeyStore(Protocol):
    """API keys, by key id. A store holds a key's SHA-256 (``secret_hash``), never the key itself.
    Times are stored to the millisecond (the domain truncates them before they get here)."""

    def add_key(self, key: ApiKey, audit: AuditHook | None = None) -> None:
        """Store a key exactly as given (a revoked or expired one too: ``migrate`` copies them).
        :class:`Conflict` (code ``key_exists``) if a key with this id exists; nothing changes."""

    def get_key(self, key_id: str) -> ApiKey:
        """The key with this id; :class:`NotFound` (code ``key_not_found``) if none."""

    def list_keys(self) -> list[ApiKey]:
        """Every key, revoked and expired ones included, oldest first (ties: by key id)."""

    def revoke_key(self, key_id: str, actor: str, at: datetime, audit: AuditHook | None = None) -> ApiKey:
        """Mark the key revoked by ``actor`` at ``at`` and return it, atomically. A key already
        revoked keeps its first revocation (returned as it is). :class:`NotFound` if none."""


class AuditLog(Protocol):
    """The append-only audit log: records are added, never changed or removed."""

    def append_audit(self, record: AuditRecord) -> bool:
        """Append ``record`` exactly as given (its ``id`` and ``at`` too). False, writing nothing,
        if a record with this id is already there (so that ``migrate`` can run again)."""

    def audit_records(self, query: AuditQuery) -> list[AuditRecord]:
        """The records matching every filter of ``query``, newest first: ``at`` descending, ties
        by ``id`` descending; only those after ``query.before`` in that order; at most
        ``query.limit``. ``model`` matches a record's model id or its name. Translated into the
        store's own query language, each filter served by an index."""


class MetadataStore(KeyStore, AuditLog, Protocol):
    """Versions, their files' metadata, the append-only event log; API keys and the audit log.

    Blob references: a blob (by sha256) is referenced by every version whose file has that
    sha256. Changes to the references of one sha256 are serialised by the store (a row or
    advisory lock, or a database-wide write lock), and the blob side effects passed in
    (:class:`PendingBlob`, ``release_blob``) run inside that serialisation. So a blob is never
    deleted while a version is about to reference it, and never left behind by its last reference.

    Writes take an ``audit`` hook (:data:`~.audit.AuditHook`): the store calls it with the
    write's result and appends the record it returns in the write's transaction (a store without
    transactions appends it right after, with :func:`~.audit.append_after`). The key writes of
    :class:`KeyStore` take one too.
    """

    local_point_reads: bool
    """True when :meth:`get` needs no network round trip (an embedded database), so that it is
    cheap enough to call without a worker thread."""

    def create_version(self, draft: Draft, blob: PendingBlob | None = None,
                       audit: AuditHook | None = None) -> ModelVersion:
        """Insert a new version of ``draft.name``.

        Its number follows the name's latest version (:func:`~.versions.following`), unique and
        gap-free under any number of concurrent writers (a uniqueness constraint plus retry).
        ``draft.parent_model_id == LATEST`` sets the parent to that latest version (None for the
        first). Appends a ``created`` event; with ``blob``, also attaches the file exactly as
        :meth:`attach_file` does, in the same transaction: either everything is written or nothing.
        A value the backend cannot hold although the registry's rules let it through is
        :class:`Invalid` with code ``unstorable_value``, nothing written.
        """

    def get(self, model_id: str) -> ModelVersion:
        """The version with this id; :class:`NotFound` if none."""

    def search(self, query: SearchQuery) -> Page:
        """The versions matching ``query.where`` in ``query.sort`` order (ties: insertion order, in
        the last key's direction; versions lacking a sort value last), ``limit`` from ``offset``, and the
        total number of matches. Translated into the store's own query language: never by
        filtering in Python. Text search (``TextSearch``) is case-insensitive substring."""

    def find_version(self, name: str, version: Version) -> ModelVersion:
        """``name``'s version ``version``; :class:`NotFound` if there is none."""

    def latest(self, name: str) -> ModelVersion:
        """``name``'s highest version; :class:`NotFound` if the name has none."""

    def statistics(self, *, added_since: datetime, downloads_since: datetime, today: datetime) -> RegistryStats:
        """The registry's figures by aggregate queries: versions added since ``added_since``,
        downloads since ``downloads_since``, and both since ``today`` (its midnight)."""

    def popular(self, limit: int, since: datetime | None = None) -> list[tuple[ModelVersion, int]]:
        """The most downloaded versions with their download counts: all time (the counter), or
        counting only downloads since ``since``. Most first; ties newest first."""

    def value_counts(self, field: str, limit: int) -> list[tuple[str, int]]:
        """Each value of ``field`` (one of :data:`COUNTED_FIELDS`: ``algorithm``, ``status``, or
        ``tags``, where a version counts once for each of its tags) with the number of live (not
        deleted) versions that have it: most first, ties by value in code point order; at most
        ``limit`` (none when ``limit`` < 1). Counted by the database from the field's index."""

    def downloads_by_day(self, since: datetime, until: datetime) -> dict[date, int]:
        """How many ``downloaded`` events fall on each UTC calendar day, counting those at or
        after ``since`` and before ``until`` (half-open). Days without one are absent; the dict
        promises no order. Events of deleted versions still count: the log is append-only, as
        for :meth:`statistics`. Grouped by the database, by UTC day whatever its session's time
        zone, from the (kind, time) index: never by loading events into Python."""

    def aliases(self, name: str) -> list[Alias]:
        """Every alias of ``name``, by alias."""

    def get_alias(self, name: str, alias: str) -> Alias:
        """One alias; :class:`NotFound` if it is not set."""

    def move_alias(self, name: str, alias: str, model_id: str | None, expected: Any, actor: str,
                   at: datetime, audit: AuditHook | None = None) -> AliasMove:
        """Point ``name@alias`` at ``model_id`` (a version of ``name``), or remove it (``None``),
        atomically, appending an ``alias`` event ``{"alias", "from_version", "to_version",
        "from_model_id", "to_model_id"}``.

        ``expected`` makes it a compare-and-swap: :data:`ANY` skips the check; ``None`` requires
        that the alias is not set; a :class:`Version` that it points at that version. A mismatch
        is :class:`Conflict` (code ``alias_conflict``) and changes nothing. Removing an alias
        that is not set is :class:`NotFound`; :class:`NotFound` too if ``model_id`` does not
        exist, and :class:`Invalid` if it is a version of another name.
        """

    def name_events(self, name: str, *, kinds: tuple[str, ...] | None = None, alias: str | None = None,
                    since: datetime | None = None, until: datetime | None = None, limit: int = 1000,
                    newest_first: bool = False) -> list[Event]:
        """The name's events (every version's, including deleted ones), oldest first (or newest
        first), at most ``limit``; ``alias`` keeps only that alias's moves; ``until`` is inclusive."""

    def update(self, model_id: str, values: Mapping[str, Any], actor: str, at: datetime,
               audit: AuditHook | None = None) -> ModelVersion:
        """Set the given mutable fields and ``updated_at``. A status change appends a ``status``
        event ``{"from", "to"}``; other changed fields a ``updated`` event ``{"fields": [...]}``,
        atomically with the change. :class:`NotFound` if the version does not exist."""

    def attach_file(self, model_id: str, blob: PendingBlob, actor: str,
                    audit: AuditHook | None = None) -> ModelVersion:
        """Give a version its file, once: :class:`Conflict` if it already has one (nothing is
        committed), :class:`NotFound` if it does not exist. Otherwise store the file's metadata,
        append an ``uploaded`` event and, under the serialisation for ``blob.file.sha256`` and
        as the transaction's last step, call ``blob.commit()``. If ``blob.commit()`` fails nothing
        is written. Only a failure of the final database commit itself can leave a newly created
        blob unreferenced: an orphan, which garbage collection removes; a referenced blob is
        never deleted."""

    def delete(self, model_id: str, release_blob: Callable[[str], None], actor: str, at: datetime,
               audit: AuditHook | None = None, *, unless_aliased: bool = False) -> ModelVersion:
        """Remove a version and return it as it was; append a ``deleted`` event. Aliases pointing
        at it are removed (each with its ``alias`` event). If it was the last reference to its
        file's blob, call ``release_blob(sha256)`` before the deletion commits.

        ``unless_aliased`` (retention): if an alias points at the version when the deletion
        takes effect, :class:`Conflict` (code ``version_aliased``) and nothing changes. An
        alias move racing the deletion is either seen (and the version kept) or undone."""

    def file_references(self, after: tuple[str, str] | None = None, limit: int = 500) -> list[FileReference]:
        """Every version's reference to its file's blob, ascending by ``(sha256, model_id)``,
        only those after ``after`` in that order, at most ``limit``: keyset pages, which a
        garbage collection or a scrub walks beside :meth:`BlobStore.list_blobs`
        (``(sha256, "")`` starts at that sha256's first reference). Versions being deleted are
        not listed."""

    def delete_blob_if_unreferenced(self, sha256: str, release_blob: Callable[[str], None]) -> bool:
        """Under the serialisation of ``sha256``'s references (the one :meth:`attach_file` and
        :meth:`delete` hold), check that no version references it and, if none does, call
        ``release_blob(sha256)`` before the serialisation ends: True. False, calling nothing,
        if a version references it. So a concurrent upload that commits this blob and its
        reference either completes first (and the blob is kept) or commits after the blob is
        gone (and its commit writes the blob again from its temporary bytes)."""

    def record_download(self, model_id: str, actor: str, at: datetime, data: Mapping[str, Any]) -> None:
        """Count one completed download: increment ``download_count`` and append a ``downloaded``
        event, atomically. A version deleted meanwhile is silently skipped."""

    def events(self, model_id: str, kinds: tuple[str, ...] | None = None) -> list[Event]:
        """The version's events, oldest first (events outlive the version they describe)."""

    # ---- moving between stores (``model-service migrate``) ------------------------------------

    def model_ids(self, after: str | None = None, limit: int = 500) -> list[str]:
        """Ids of every version and of every version that events speak of (deleted ones too),
        ascending, only those greater than ``after``, at most ``limit``: keyset pages."""

    def export_record(self, model_id: str) -> ModelRecord:
        """The version with this id (None if it is gone) and all its events, oldest first."""

    def import_record(self, record: ModelRecord) -> bool:
        """Write a record read from another store exactly as it is: the version keeps its id,
        name, number, parent, status, times, download count and file metadata; the events keep
        their kinds, actors, times and data (not their store-specific ``id``). Atomic. False,
        writing nothing, if this store already holds the version or any event of this model id
        (so a copy can be re-run after an interruption); :class:`Conflict` if another version
        already has the record's name and number. Blobs are not touched."""

    def all_aliases(self) -> list[Alias]:
        """Every alias of every name, by name then alias."""

    def import_alias(self, alias: Alias) -> bool:
        """Set an alias exactly as it is (its time and actor), without appending an event (its
        history comes with the events). False, changing nothing, if the name already has that
        alias; :class:`NotFound` if its version does not exist here."""

    def refresh_statistics(self) -> None:
        """After a bulk import, let the backend's query planner see the new data. PostgreSQL:
        ``VACUUM ANALYZE`` (a never-analysed table is planned as if it held one row, which turns
        the search's joins into nested loops over thousands of rows, and the text index's
        pending list, until flushed, makes the planner scan the table instead). Nothing where
        the backend keeps its own statistics up to date."""

    def summary(self) -> dict[str, int]:
        """``total_models``, ``active_models``, ``stored_bytes`` (distinct blobs), by aggregate query."""

    def prepare(self, *, migrate: bool) -> None:
        """Make the backend ready to serve. With ``migrate``, bring its schema up to date;
        without, raise :class:`Unavailable` naming the command to run if it is not current."""

    def check(self) -> Health:
        """Whether the database answers and its schema is current."""

    def close(self) -> None: ...
