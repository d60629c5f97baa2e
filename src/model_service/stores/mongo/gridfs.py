"""Content-addressed blobs in MongoDB GridFS (the seed's architecture: bucket ``GRIDFS_BUCKET`` =
``models`` in database ``MONGODB_DB`` = ``tensorfleet``; ``BLOB_STORE_URL=gridfs://[bucket]``).

Files are standard GridFS files (``<bucket>.files`` + ``<bucket>.chunks``, 1 MiB chunks), so
``mongofiles`` and any driver's GridFS reader can read them. A committed blob's files document
has ``filename`` = its sha256 hex digest and ``metadata: {state: "committed", sha256: <hex>}``;
a unique sparse index on ``metadata.sha256`` keeps one file per content. Files of other
applications in the same bucket (without ``metadata.sha256``) are left alone.

Uploads. Chunks are inserted as the bytes arrive, four at a time (pymongo's own ``GridIn``
buffers up to 48 MB before its first insert, so this writer follows the GridFS spec itself);
:meth:`GridFsUpload.finish` inserts the files document marked ``metadata.state: "pending"``
(filename ``upload-<id>``), invisible to :meth:`GridFsBlobStore.open`. :meth:`~GridFsUpload.commit`
renames it in one single-document update — ``filename`` and ``metadata.sha256`` set, state
``committed`` — which the unique index refuses if the content exists already (then False and the
pending file is dropped by :meth:`~GridFsUpload.abort`). Nothing is copied, whatever the size.

The contract lets a commit be repeated after its blob was deleted (a metadata transaction that
failed and is retried), so the upload keeps a hold on the file it committed until
:meth:`~GridFsUpload.abort`: ``metadata.held_since``. :meth:`GridFsBlobStore.delete` of a held
blob turns it back into that upload's pending file instead of dropping its chunks, and
``abort`` releases the hold, or drops the file if it is pending. A hold older than
``HOLD_SECONDS`` (the upload's process died between commit and abort) is ignored.

A process that dies mid-upload leaves chunks without a files document, or a pending file:
leftovers that ``model-service gc`` removes once their ``uploadDate`` (or, for chunks, their
file id's time) is older than its threshold (:meth:`GridFsBlobStore.leftovers`).

Reads go through pymongo's ``GridOut`` (seek, then chunk by chunk): a ranged read fetches only
the chunks from the offset on. The seed's index on ``metadata.algorithm`` + ``uploadDate`` is
created too. pymongo errors are translated here: :class:`Unavailable` for the server,
:class:`NotFound` for a missing blob.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import Int64, ObjectId
from gridfs.errors import CorruptGridFile
from gridfs.grid_file import GridOut
from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.errors import ConfigurationError, DuplicateKeyError, InvalidURI, PyMongoError

from ...domain.errors import Invalid, NotFound, Unavailable
from ...domain.ports import Health, Leftover, StoredBlob

log = logging.getLogger(__name__)

_KEY = re.compile(r"[0-9a-f]{64}")
CHUNK_SIZE = 1 << 20
CHUNKS_PER_WRITE = 4
HOLD_SECONDS = 600
PENDING, COMMITTED = "pending", "committed"
PAGE = 1000


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise Invalid("Blob keys are lowercase sha256 hex digests", code="invalid_blob_key")
    return key


def _missing(key: str) -> NotFound:
    return NotFound(f"Blob {key} is missing from the blob store", code="blob_missing", details={"sha256": key})


def _translate(exc: PyMongoError, action: str) -> Unavailable:
    reason = str(exc).split(", Timeout:")[0][:300]  # a server selection error lists the whole topology
    return Unavailable(f"Blob store (GridFS) failed while {action}: {reason}", code="storage_error",
                       details={"backend": "gridfs"})


def _now() -> datetime:
    return datetime.now(UTC)


def _pending_name(file_id: ObjectId) -> str:
    return f"upload-{file_id}"


class GridFsBlobStore:
    """Blobs in the GridFS bucket ``bucket`` of ``database`` (a pymongo ``Database``, or a
    mongomock one with ``mongomock.gridfs.enable_gridfs_integration()`` called)."""

    def __init__(self, database: Any, bucket: str = "models", *, chunk_size: int = CHUNK_SIZE,
                 client: MongoClient[dict[str, Any]] | None = None):
        if not 1024 <= chunk_size <= 8 << 20:
            raise ValueError("chunk_size must be between 1 KiB and 8 MiB")
        self.database = database
        self.bucket = bucket
        self.root = database[bucket]
        self.files = database[f"{bucket}.files"]
        self.chunks = database[f"{bucket}.chunks"]
        self.chunk_size = chunk_size
        self._client = client  # closed with the store when the store made it
        self.ensure_indexes()

    @classmethod
    def from_url(cls, mongodb_url: str, *, database: str = "tensorfleet", bucket: str = "models",
                 **options: Any) -> GridFsBlobStore:
        try:
            timeout: dict[str, Any] = ({} if "serverselectiontimeoutms" in mongodb_url.lower()
                                       else {"serverSelectionTimeoutMS": 10_000})
            client: MongoClient[dict[str, Any]] = MongoClient(mongodb_url, appname="model-service", **timeout)
        except (InvalidURI, ConfigurationError, ValueError) as exc:
            raise Invalid(f"MONGODB_URL is not a usable MongoDB URL: {exc}", code="invalid_setting",
                          details={"setting": "MONGODB_URL"}) from None
        try:
            return cls(client[database], bucket, client=client, **options)
        except BaseException:
            client.close()
            raise

    def ensure_indexes(self) -> None:
        """The GridFS spec's indexes, the content index, and the seed's ``metadata.algorithm`` one."""
        try:
            self.chunks.create_index([("files_id", ASCENDING), ("n", ASCENDING)], unique=True)
            self.files.create_index([("filename", ASCENDING), ("uploadDate", ASCENDING)])
            self.files.create_index([("metadata.sha256", ASCENDING)], unique=True, sparse=True,
                                    name="metadata_sha256_unique")
            self.files.create_index([("metadata.algorithm", ASCENDING), ("uploadDate", DESCENDING)])
        except PyMongoError as exc:
            raise _translate(exc, f"preparing bucket '{self.bucket}'") from None

    # ---- the BlobStore protocol -------------------------------------------------------------

    def begin_upload(self) -> GridFsUpload:
        return GridFsUpload(self)

    def _committed(self, key: str, projection: dict[str, int] | None = None) -> dict[str, Any] | None:
        return self.files.find_one({"metadata.sha256": _check_key(key)}, projection)

    def open(self, key: str, offset: int = 0) -> GridFsReader:
        _check_key(key)
        if offset < 0:
            raise Invalid("A read offset cannot be negative", code="invalid_offset")
        try:
            document = self._committed(key)
            if document is None:
                raise _missing(key)
            return GridFsReader(self, key, document, offset)
        except PyMongoError as exc:
            raise _translate(exc, "opening a blob") from None

    def size(self, key: str) -> int | None:
        try:
            document = self._committed(key, {"length": 1})
        except PyMongoError as exc:
            raise _translate(exc, "reading a blob's size") from None
        return None if document is None else int(document["length"])

    def delete(self, key: str) -> None:
        _check_key(key)
        try:
            for _ in range(5):  # each pass settles one race with the upload holding the blob
                document = self._committed(key, {"_id": 1, "metadata.held_since": 1})
                if document is None:
                    return
                file_id = document["_id"]
                if document.get("metadata", {}).get("held_since") is not None:
                    if self._return_to_upload(file_id, key):
                        return
                    continue
                if self.files.delete_one({"_id": file_id, "metadata.sha256": key,
                                          "metadata.held_since": {"$exists": False}}).deleted_count:
                    self.chunks.delete_many({"files_id": file_id})
                    return
        except PyMongoError as exc:
            raise _translate(exc, "deleting a blob") from None
        raise Unavailable(f"Blob {key} kept changing while being deleted", code="storage_error",
                          details={"backend": "gridfs"})

    def _return_to_upload(self, file_id: ObjectId, key: str) -> bool:
        """A held blob becomes its upload's pending file again (if the hold is still live)."""
        live = _now() - timedelta(seconds=HOLD_SECONDS)
        result = self.files.update_one(
            {"_id": file_id, "metadata.sha256": key, "metadata.held_since": {"$gt": live}},
            {"$set": {"filename": _pending_name(file_id), "metadata.state": PENDING},
             "$unset": {"metadata.sha256": "", "metadata.held_since": ""}})
        if result.modified_count:
            return True
        # a stale hold (its upload's process is gone): release it, then delete as usual
        self.files.update_one({"_id": file_id, "metadata.sha256": key, "metadata.held_since": {"$lte": live}},
                              {"$unset": {"metadata.held_since": ""}})
        return False

    def check(self) -> Health:
        info = {"backend": "gridfs", "database": self.database.name, "bucket": self.bucket}
        started = time.perf_counter()
        try:
            self.database.command("ping")
            self.files.find_one({}, {"_id": 1})
        except PyMongoError as exc:
            return Health(False, f"unhealthy: {_translate(exc, 'checking the server').message}", info)
        info["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
        return Health(True, info=info)

    # ---- maintenance: listing blobs and what uploads left behind ------------------------------

    def list_blobs(self) -> Iterator[StoredBlob]:
        """Committed files by ``metadata.sha256`` (its unique index), in keyset pages."""
        after = ""
        while True:
            try:
                page = list(self.files.find({"metadata.sha256": {"$gt": after}},
                                            {"metadata.sha256": 1, "length": 1, "uploadDate": 1},
                                            sort=[("metadata.sha256", ASCENDING)], limit=PAGE))
            except PyMongoError as exc:
                raise _translate(exc, "listing blobs") from None
            for document in page:
                key = document["metadata"]["sha256"]
                if isinstance(key, str) and _KEY.fullmatch(key):
                    yield StoredBlob(key, int(document["length"]), _aware(document["uploadDate"]))
            if len(page) < PAGE:
                return
            after = page[-1]["metadata"]["sha256"]

    def leftovers(self, older_than: datetime) -> Iterator[Leftover]:
        """Pending files finished before ``older_than``, and chunks without a files document
        whose file id was made (when the upload began) before it."""
        try:
            for document in self.files.find({"metadata.state": PENDING, "uploadDate": {"$lt": older_than}},
                                            {"length": 1, "uploadDate": 1}, sort=[("_id", ASCENDING)]):
                yield Leftover("pending", str(document["_id"]), int(document["length"]),
                                 _aware(document["uploadDate"]))
            yield from self._orphan_chunks(ObjectId.from_datetime(older_than))
        except PyMongoError as exc:
            raise _translate(exc, "listing temporary uploads") from None

    def _orphan_chunks(self, before: ObjectId) -> Iterator[Leftover]:
        groups = self.chunks.aggregate([{"$match": {"files_id": {"$lt": before}}},
                                        {"$group": {"_id": "$files_id", "chunks": {"$sum": 1}}},
                                        {"$sort": {"_id": 1}}])
        batch: list[dict[str, Any]] = []
        for group in groups:
            batch.append(group)
            if len(batch) >= PAGE:
                yield from self._without_files(batch)
                batch = []
        yield from self._without_files(batch)

    def _without_files(self, groups: list[dict[str, Any]]) -> Iterator[Leftover]:
        ids = [group["_id"] for group in groups if isinstance(group["_id"], ObjectId)]
        if not ids:
            return
        present = {document["_id"] for document in self.files.find({"_id": {"$in": ids}}, {"_id": 1})}
        for files_id in ids:
            if files_id not in present:
                yield Leftover("chunks", str(files_id), self._chunks_size(files_id), files_id.generation_time)

    def _chunks_size(self, files_id: ObjectId) -> int:
        """The bytes of a file's chunks: all full but the last (one read of the last one)."""
        count = self.chunks.count_documents({"files_id": files_id})
        last = self.chunks.find_one({"files_id": files_id}, {"data": 1}, sort=[("n", DESCENDING)])
        return 0 if last is None else (count - 1) * self.chunk_size + len(last["data"])

    def remove_leftover(self, leftover: Leftover) -> int:
        if leftover.kind not in ("pending", "chunks") or not ObjectId.is_valid(leftover.name):
            raise Invalid(f"Not a temporary upload of this store: {leftover.kind} {leftover.name!r}",
                          code="invalid_temp_upload")
        file_id = ObjectId(leftover.name)
        try:
            if leftover.kind == "pending":
                document = self.files.find_one_and_delete({"_id": file_id, "metadata.state": PENDING}, {"length": 1})
                if document is None:
                    return 0
                self.chunks.delete_many({"files_id": file_id})
                return int(document["length"])
            if self.files.find_one({"_id": file_id}, {"_id": 1}) is not None:
                return 0  # its upload finished meanwhile: not a leftover
            freed = self._chunks_size(file_id)
            self.chunks.delete_many({"files_id": file_id})
            return freed
        except PyMongoError as exc:
            raise _translate(exc, "removing a temporary upload") from None

    def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            client.close()

    def __repr__(self) -> str:
        return f"GridFsBlobStore(database={self.database.name!r}, bucket={self.bucket!r})"


def _aware(value: datetime) -> datetime:
    """pymongo returns naive UTC datetimes unless the client is ``tz_aware``."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class GridFsUpload:
    """Chunks of one new GridFS file, inserted as they fill; its files document at finish."""

    def __init__(self, store: GridFsBlobStore):
        self._store = store
        self.file_id = ObjectId()
        self._buffer = bytearray()
        self._next_chunk = 0
        self.size = 0
        self._finished = False
        self._released = False

    def write(self, data: bytes) -> None:
        if self._finished or self._released:
            raise RuntimeError("write() after finish() or abort()")
        self._buffer += data
        self.size += len(data)
        if len(self._buffer) >= self._store.chunk_size * CHUNKS_PER_WRITE:
            self._flush(final=False)

    def _flush(self, *, final: bool) -> None:
        """Insert the buffered bytes as chunks: only whole ones unless ``final``."""
        chunk_size = self._store.chunk_size
        end = len(self._buffer) if final else len(self._buffer) // chunk_size * chunk_size
        documents: list[dict[str, Any]] = []
        with memoryview(self._buffer) as view:
            for start in range(0, end, chunk_size):
                with view[start:min(start + chunk_size, end)] as piece:
                    documents.append({"files_id": self.file_id, "n": self._next_chunk + len(documents),
                                      "data": bytes(piece)})
        if not documents:
            return
        try:
            self._store.chunks.insert_many(documents, ordered=True)
        except PyMongoError as exc:
            raise _translate(exc, "writing an upload") from None
        self._next_chunk += len(documents)
        del self._buffer[:end]

    def finish(self) -> None:
        """Insert the last chunk and the files document, marked pending."""
        if self._finished:
            return
        self._flush(final=True)
        document = {"_id": self.file_id, "length": Int64(self.size), "chunkSize": self._store.chunk_size,
                    "uploadDate": _now(), "filename": _pending_name(self.file_id), "metadata": {"state": PENDING}}
        try:
            self._store.files.insert_one(document)
        except PyMongoError as exc:
            raise _translate(exc, "completing an upload") from None
        self._finished = True

    def commit(self, key: str) -> bool:
        _check_key(key)
        if not self._finished or self._released:
            raise RuntimeError("commit() needs a finished upload that was not aborted")
        files = self._store.files
        try:
            if files.find_one({"metadata.sha256": key}, {"_id": 1}) is not None:
                return False
            result = files.update_one(
                {"_id": self.file_id, "metadata.state": PENDING},
                {"$set": {"filename": key, "metadata.state": COMMITTED, "metadata.sha256": key,
                          "metadata.held_since": _now()}})
        except DuplicateKeyError:  # committed by another upload since the check
            return False
        except PyMongoError as exc:
            raise _translate(exc, "committing an upload") from None
        if result.matched_count == 0:
            raise Unavailable(f"The upload's temporary GridFS file {self.file_id} is gone; upload again",
                              code="storage_error", details={"backend": "gridfs"})
        return True

    def abort(self) -> None:
        """Release the hold on a committed file, or drop the pending file and its chunks. A
        failure is logged, not raised (this runs in cleanup paths)."""
        if self._released:
            return
        self._released = True
        self._buffer = bytearray()
        files, chunks = self._store.files, self._store.chunks
        try:
            if self._finished and files.update_one({"_id": self.file_id, "metadata.state": COMMITTED},
                                                   {"$unset": {"metadata.held_since": ""}}).matched_count:
                return  # it is a committed blob now: its chunks stay
            files.delete_one({"_id": self.file_id, "metadata.state": PENDING})
            chunks.delete_many({"files_id": self.file_id})
        except PyMongoError as exc:
            log.warning("Could not remove the temporary GridFS file %s: %s", self.file_id,
                        _translate(exc, "removing an upload").message)


class GridFsReader:
    def __init__(self, store: GridFsBlobStore, key: str, document: dict[str, Any], offset: int):
        self._key = key
        self.size = int(document["length"])
        self._out: GridOut | None = GridOut(store.root, file_document=document)
        if offset:
            self._out.seek(min(offset, self.size))

    def read(self, n: int) -> bytes:
        if self._out is None:
            return b""
        try:
            return self._out.read(n) or b""
        except CorruptGridFile:  # chunks gone: deleted while being read
            raise _missing(self._key) from None
        except PyMongoError as exc:
            raise _translate(exc, "reading a blob") from None

    def close(self) -> None:
        if self._out is not None:
            out, self._out = self._out, None
            out.close()
