"""The blob store's port: content-addressed bytes, written through temporary space."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from .health import Health


@runtime_checkable
class TempBlob(Protocol):
    """An upload's bytes in the store's temporary space, invisible under any key until :meth:`commit`."""

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
class StoredBlob:
    """A committed blob as the store lists it: its key, size and when its bytes were written."""

    key: str
    size: int
    modified: datetime


@dataclass(frozen=True, slots=True)
class Leftover:
    """What an upload left in temporary space: ``kind`` is the store's word for it (``file``,
    ``object``, ``multipart``, ``pending``, ``chunks``); ``name`` identifies it to
    :meth:`BlobStore.remove_leftover`; ``started`` is when it was last written to (a local
    file's mtime) or started (an S3 multipart upload, a GridFS file's id); ``size`` is what
    removing it frees, as far as the store can tell cheaply."""

    kind: str
    name: str
    size: int
    started: datetime


@runtime_checkable
class BlobStore(Protocol):
    """Content-addressed storage of model files. Keys are lowercase sha256 hex digests."""

    def begin_upload(self) -> TempBlob:
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

    def leftovers(self, older_than: datetime) -> Iterator[Leftover]:
        """What uploads left in temporary space that was last written to before ``older_than``:
        temporary files or objects, unfinished multipart uploads, pending files. An upload in
        flight writes to its temporary space all along (or is younger than any sensible
        threshold), so an old enough entry belongs to an upload whose process is gone."""

    def remove_leftover(self, leftover: Leftover) -> int:
        """Remove an entry :meth:`leftovers` listed; the bytes it freed. One already gone is
        not an error (0). Committed blobs are never touched, even one that shares bytes with it."""

    def close(self) -> None: ...
