"""The metadata store's versions and their history: writes, point reads, search, events."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from ..audit import AuditHook
from ..models import Draft, Event, ModelVersion
from ..query import SearchQuery
from ..versions import Version

if TYPE_CHECKING:  # uploads.py writes through the blob port, which this package defines
    from ..uploads import Upload


@dataclass(frozen=True, slots=True)
class Page:
    items: list[ModelVersion]
    total: int


class VersionRecords(Protocol):
    """Versions, their files' metadata and the append-only event log.

    Every state change is planned in the domain (:mod:`..plans`): the store reads the current
    state, calls the planner and applies its plan — the record and its events — atomically.
    Blob references: a blob (by sha256) is referenced by every version whose file has that
    sha256. Changes to the references of one sha256 are serialised by the store (a row or
    advisory lock, or a database-wide write lock), and the blob side effects (``upload.commit``,
    ``release_blob``) run inside that serialisation. So a blob is never deleted while a version
    is about to reference it, and never left behind by its last reference.

    Writes take an ``audit`` hook (:data:`~..audit.AuditHook`): the store calls it with the
    write's result and appends the record it returns in the write's transaction (a store without
    transactions appends it right after, with :func:`~..audit.append_after`).
    """

    local_point_reads: bool
    """True when :meth:`get` needs no network round trip (an embedded database), so that it is
    cheap enough to call without a worker thread."""

    def create_version(self, draft: Draft, upload: Upload | None = None,
                       audit: AuditHook | None = None) -> ModelVersion:
        """Insert a new version of ``draft.name`` (:func:`~..plans.versions.plan_version`).

        Its number follows the name's latest version, unique and gap-free under any number of
        concurrent writers (a uniqueness constraint plus :func:`~..plans.versions.allocating`).
        With ``upload`` (accepted: its ``file`` set), also attaches the file exactly as
        :meth:`attach_file` does, in the same transaction: either everything is written or
        nothing. A value the backend cannot hold although the registry's rules let it through
        is :class:`Invalid` with code ``unstorable_value``, nothing written.
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

    def update(self, model_id: str, values: Mapping[str, Any], actor: str, at: datetime,
               audit: AuditHook | None = None) -> ModelVersion:
        """Apply :func:`~..plans.updates.plan_update` atomically with its events.
        :class:`NotFound` if the version does not exist."""

    def attach_file(self, model_id: str, upload: Upload, actor: str,
                    audit: AuditHook | None = None) -> ModelVersion:
        """Give a version its file, once (:func:`~..plans.files.plan_attach`): :class:`Conflict`
        if it already has one (nothing is committed), :class:`NotFound` if it does not exist.
        Otherwise store ``upload.file``, append the ``uploaded`` event and, under the
        serialisation for the file's sha256, call ``upload.commit()``. If that fails nothing is
        written. Only a failure of the final database commit itself can leave a newly created
        blob unreferenced: an orphan, which garbage collection removes; a referenced blob is
        never deleted."""

    def delete(self, model_id: str, release_blob: Callable[[str], None], actor: str, at: datetime,
               audit: AuditHook | None = None, *, unless_aliased: bool = False) -> ModelVersion:
        """Remove a version and return it as it was (:func:`~..plans.deletions.plan_delete`);
        append a ``deleted`` event. Aliases pointing at it are removed (each with its ``alias``
        event). If it was the last reference to its file's blob, call ``release_blob(sha256)``
        before the deletion commits.

        ``unless_aliased`` (retention): if an alias points at the version when the deletion
        takes effect, :class:`Conflict` (code ``version_aliased``) and nothing changes. An
        alias move racing the deletion is either seen (and the version kept) or undone."""

    def record_download(self, model_id: str, actor: str, at: datetime, data: Mapping[str, Any]) -> None:
        """Count one completed download: increment ``download_count`` and append a ``downloaded``
        event, atomically. A version deleted meanwhile is silently skipped."""

    def events(self, model_id: str, kinds: tuple[str, ...] | None = None) -> list[Event]:
        """The version's events, oldest first (events outlive the version they describe)."""

    def name_events(self, name: str, *, kinds: tuple[str, ...] | None = None, alias: str | None = None,
                    since: datetime | None = None, until: datetime | None = None, limit: int = 1000,
                    newest_first: bool = False) -> list[Event]:
        """The name's events (every version's, including deleted ones), oldest first (or newest
        first), at most ``limit``; ``alias`` keeps only that alias's moves; ``until`` is inclusive."""
