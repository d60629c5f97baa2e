"""Blob references in MongoDB, for garbage collection and the integrity scrub."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bson import ObjectId

from ...domain.models import Status
from ...domain.ports import FileReference
from .locks import BlobLocks
from .schema import LIVE, Collections

_LOWEST_ID = "0" * 24
_PROJECTION = {"file_metadata.sha256": 1, "file_metadata.size_bytes": 1, "name": 1, "version": 1, "status": 1}


def file_references(db: Collections, after: tuple[str, str] | None, limit: int) -> list[FileReference]:
    """See ``MetadataStore.file_references``: served by the ``file_metadata.sha256`` index."""
    if limit <= 0:
        return []
    condition: dict[str, Any] = {"file_metadata.sha256": {"$type": "string"}, **LIVE}
    if after is not None:
        sha256, model_id = after
        later: list[dict[str, Any]] = [{"file_metadata.sha256": {"$gt": sha256}}]
        if ObjectId.is_valid(model_id) and len(model_id) == 24:
            later.append({"file_metadata.sha256": sha256, "_id": {"$gt": ObjectId(model_id)}})
        elif model_id < _LOWEST_ID:  # before every id ("" included): the whole of that sha256's group
            later.append({"file_metadata.sha256": sha256})
        condition = {"$and": [condition, {"$or": later}]}
    found = db.models.find(condition, _PROJECTION, sort=[("file_metadata.sha256", 1), ("_id", 1)], limit=limit)
    return [FileReference(sha256=document["file_metadata"]["sha256"], model_id=str(document["_id"]),
                          name=document["name"], version=document["version"],
                          size_bytes=int(document["file_metadata"]["size_bytes"]), status=Status(document["status"]))
            for document in found]


def delete_blob_if_unreferenced(db: Collections, locks: BlobLocks, sha256: str,
                                release_blob: Callable[[str], None]) -> bool:
    """See ``MetadataStore.delete_blob_if_unreferenced``. Under the blob's lock, which every
    new reference holds while it commits the blob and writes the version that points at it, and
    every deletion while it releases it. A version marked ``deleting`` by a process that died
    no longer counts (no read returns it, and its deletion is finished without its blob)."""
    with locks.hold(sha256):
        if db.models.count_documents({"file_metadata.sha256": sha256, **LIVE}, limit=1):
            return False
        release_blob(sha256)
        return True
