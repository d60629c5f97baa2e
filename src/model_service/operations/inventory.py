"""Walking the blob store beside the metadata's references to it, in flat memory.

Both sides list in ascending sha256 order (:meth:`BlobStore.list_blobs`,
:meth:`MetadataStore.file_references`), page by page, so one merge pass pairs every blob with
the versions that reference it — and shows blobs no version references and references to no
blob — without holding either side in memory. Garbage collection (``gc.py``) and the integrity
scrub (``fsck.py``) are built on it.

The two listings are not one snapshot: a change made while they run can make a blob look
unreferenced or a reference look broken. Whatever acts on what the walk shows checks again
first (gc under the blob's reference lock, fsck with a second look).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from ..domain.ports import BlobStore, FileReference, MetadataStore, StoredBlob

PAGE = 500


@dataclass(frozen=True, slots=True)
class Entry:
    """One sha256: its blob (None if the store has none) and the versions referencing it."""

    sha256: str
    blob: StoredBlob | None
    references: list[FileReference] = field(default_factory=list)


def references(metadata: MetadataStore, page: int = PAGE) -> Iterator[FileReference]:
    """Every version's reference to its blob, by sha256 then model id."""
    after: tuple[str, str] | None = None
    while found := metadata.file_references(after, page):
        yield from found
        if len(found) < page:
            return
        after = (found[-1].sha256, found[-1].model_id)


def is_referenced(metadata: MetadataStore, sha256: str) -> bool:
    """Whether a version references ``sha256`` now (one keyset read)."""
    first = metadata.file_references((sha256, ""), 1)
    return bool(first) and first[0].sha256 == sha256


def walk(metadata: MetadataStore, blobs: BlobStore) -> Iterator[Entry]:
    """Every sha256 that has a blob or a reference, ascending."""
    stored = iter(blobs.list_blobs())
    referenced = iter(references(metadata))
    blob = next(stored, None)
    reference = next(referenced, None)
    while blob is not None or reference is not None:
        key = min(k for k in (None if blob is None else blob.key, None if reference is None else reference.sha256)
                  if k is not None)
        entry = Entry(key, blob if blob is not None and blob.key == key else None)
        if entry.blob is not None:
            blob = next(stored, None)
        while reference is not None and reference.sha256 == key:
            entry.references.append(reference)
            reference = next(referenced, None)
        yield entry
