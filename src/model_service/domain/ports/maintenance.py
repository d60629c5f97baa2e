"""The metadata store's upkeep: start-up and health, blob references for gc and fsck, and
records copied between stores (``model-service migrate``, export and import)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..models import Alias, Event, ModelVersion, Status
from .health import Health


@dataclass(frozen=True, slots=True)
class FileReference:
    """A version's reference to a blob, as :meth:`Maintenance.file_references` lists them."""

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


class Maintenance(Protocol):
    # ---- start-up and health ----------------------------------------------------------------

    def prepare(self, *, migrate: bool) -> None:
        """Make the backend ready to serve. With ``migrate``, bring its schema up to date;
        without, raise :class:`Unavailable` naming the command to run if it is not current."""

    def check(self) -> Health:
        """Whether the database answers and its schema is current."""

    def refresh_statistics(self) -> None:
        """After a bulk import, let the backend's query planner see the new data. PostgreSQL:
        ``VACUUM ANALYZE`` (a never-analysed table is planned as if it held one row, which turns
        the search's joins into nested loops over thousands of rows, and the text index's
        pending list, until flushed, makes the planner scan the table instead). Nothing where
        the backend keeps its own statistics up to date."""

    def close(self) -> None: ...

    # ---- blob references (gc, fsck) ------------------------------------------------------------

    def file_references(self, after: tuple[str, str] | None = None, limit: int = 500) -> list[FileReference]:
        """Every version's reference to its file's blob, ascending by ``(sha256, model_id)``,
        only those after ``after`` in that order, at most ``limit``: keyset pages, which a
        garbage collection or a scrub walks beside :meth:`BlobStore.list_blobs`
        (``(sha256, "")`` starts at that sha256's first reference). Versions being deleted are
        not listed."""

    def delete_blob_if_unreferenced(self, sha256: str, release_blob: Callable[[str], None]) -> bool:
        """Under the serialisation of ``sha256``'s references (the one ``attach_file`` and
        ``delete`` hold), check that no version references it and, if none does, call
        ``release_blob(sha256)`` before the serialisation ends: True. False, calling nothing,
        if a version references it. So a concurrent upload that commits this blob and its
        reference either completes first (and the blob is kept) or commits after the blob is
        gone (and its commit writes the blob again from its temporary bytes)."""

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
