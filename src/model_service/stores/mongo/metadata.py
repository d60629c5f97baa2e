"""``MetadataStore`` on MongoDB (pymongo 4): the seed's database, made safe for many replicas.

Collections, documents and indexes: ``schema.py`` and ``documents.py``; the filter language:
``query.py``; aliases: ``aliases.py``; deletions: ``deletion.py``; figures: ``stats.py``;
copies: ``transfer.py``; the driver's exceptions: ``errors.py``.

Consistency without multi-document transactions (standalone servers and test doubles have
none) — every guarantee of the port rests on single-document atomic operations, unique
indexes and the order of writes:

* Version numbers: read the name's latest, insert with the next number; the unique index
  (name, major, minor) refuses a number taken meanwhile and the insert is retried with a fresh
  read (DuplicateKeyError + retry): unique and gap-free under any number of writers.
* Events: a change and its events are one document write (the events ride in the document's
  ``outbox``, then are copied to ``events``: ``outbox.py``). A crash between the two loses
  nothing: the outbox is published again at start-up and by a periodic sweep.
* Blob references: changes to the references of one sha256 hold that blob's lock (``locks.py``).
  Under it, a new reference commits the blob *before* writing metadata that points at it, so a
  crash can leave an unreferenced blob (an orphan) but never metadata pointing at no blob.
  ``delete`` first marks the version ``deleting`` (from then on every read treats it as gone),
  then calls ``release_blob`` if no other live version has that content (on failure the mark is
  lifted and the version is back), then removes its aliases and the document. A crash after
  the mark leaves a version no read returns; the sweep finishes such deletions once they are
  older than the lock's lease.
* Aliases move by compare-and-swap on the alias document's revision (``aliases.py``); updates
  by compare-and-swap on the version's ``rev``; downloads by one ``$inc`` with their event.

Foreign exceptions stop at this class's methods (``errors.py``): connection and server
failures become :class:`Unavailable`, values MongoDB cannot store :class:`Invalid`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from bson import ObjectId
from pymongo import MongoClient, ReturnDocument
from pymongo.database import Database
from pymongo.errors import ConfigurationError, DuplicateKeyError, InvalidURI, PyMongoError

from ...domain.audit import AuditHook, AuditQuery, AuditRecord, append_after
from ...domain.errors import Conflict, Invalid, Malformed, NotFound
from ...domain.keys import ApiKey
from ...domain.models import Alias, AliasMove, Draft, Event, EventKind, ModelVersion, RegistryStats, Status
from ...domain.naming import accuracy_of
from ...domain.ports import COUNTED_FIELDS, LATEST, FileReference, Health, ModelRecord, Page, PendingBlob
from ...domain.query import SearchQuery
from ...domain.versions import Version, following
from . import aliases as alias_docs
from . import deletion, references, security, stats, transfer
from .documents import (
    encode,
    event_document,
    file_document,
    model_document,
    object_id,
    read,
    search_text,
    stamp,
    to_event,
    to_model,
)
from .errors import translated
from .locks import LEASE_SECONDS, BlobLocks
from .outbox import publish, publish_pending, pushed
from .query import missing_flags, needs_pipeline, sort_terms, translate
from .schema import LIVE, MODELS, Collections, ensure_indexes, live, missing_indexes

log = logging.getLogger(__name__)

T = TypeVar("T")
VERSION_ATTEMPTS = 50
UPDATE_ATTEMPTS = 50
SWEEP_SECONDS = 60.0
SERVER_SELECTION_MS = 10_000


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, 0.002 * (attempt + 1)))


class MongoMetadataStore:
    """The metadata store on one MongoDB database (any pymongo-compatible ``Database``)."""

    local_point_reads = False

    def __init__(self, database: Database, *, client: MongoClient | None = None,
                 sweep_seconds: float | None = SWEEP_SECONDS, lease_seconds: float = LEASE_SECONDS):
        """``client``: given when the store owns it (closed with the store); ``sweep_seconds``:
        how often to publish leftover outboxes and finish interrupted deletions (None: never)."""
        self.database = database
        self.db = Collections.of(database)
        self._client = client
        self._locks = BlobLocks(self.db.locks, lease_seconds=lease_seconds)
        self._lease = timedelta(seconds=lease_seconds)
        self._sweep_seconds = sweep_seconds
        self._sweeper: threading.Thread | None = None
        self._stop = threading.Event()

    @classmethod
    def from_url(cls, url: str, database: str = "tensorfleet", *, sweep_seconds: float | None = SWEEP_SECONDS,
                 **options: Any) -> MongoMetadataStore:
        """A store on ``database`` of the server at ``url`` (``mongodb://`` or ``mongodb+srv://``);
        ``options`` go to the ``MongoClient``."""
        if "serverselectiontimeoutms" not in url.lower():
            options.setdefault("serverSelectionTimeoutMS", SERVER_SELECTION_MS)
        try:
            client: MongoClient = MongoClient(url, tz_aware=True, appname="tensorfleet-model-service", **options)
        except (ConfigurationError, InvalidURI, ValueError) as exc:
            raise Invalid(f"Invalid MongoDB URL: {str(exc)[:200]}", code="invalid_setting",
                          details={"setting": "MONGODB_URL"}) from exc
        return cls(client[database], client=client, sweep_seconds=sweep_seconds)

    # ---- plumbing ----------------------------------------------------------------------------

    def _next_seq(self) -> int:
        """The next insertion number (one atomic ``$inc`` on the counter document)."""
        counter = self.db.counters.find_one_and_update({"_id": MODELS}, {"$inc": {"seq": 1}}, upsert=True,
                                                       return_document=ReturnDocument.AFTER)
        return int(counter["seq"])

    def _publish(self, oid: ObjectId, name: str, outbox: list[dict[str, Any]]) -> None:
        publish(self.db.events, self.db.models, oid, outbox, model_name=name)

    # ---- start-up, health ----------------------------------------------------------------------

    @translated
    def prepare(self, *, migrate: bool) -> None:
        """Create the indexes (idempotent) and finish what a crashed process left half-done.
        MongoDB has no schema versions, so ``migrate`` changes nothing: every start is up to date."""
        ensure_indexes(self.database)
        self.recover()
        if self._sweep_seconds and self._sweeper is None:
            self._sweeper = threading.Thread(target=self._sweep, name="mongo-metadata-sweep", daemon=True)
            self._sweeper.start()

    def _sweep(self) -> None:
        while not self._stop.wait(self._sweep_seconds):
            try:
                self.recover()
            except Exception:  # noqa: BLE001 - the next sweep tries again
                log.warning("Sweeping the MongoDB metadata store failed", exc_info=True)

    @translated
    def recover(self, *, now: datetime | None = None) -> int:
        """Publish outboxes left behind, and finish deletions marked more than a lease ago
        (their process died; their blob, if it was not released, is left as an orphan).
        Returns how many documents needed it."""
        count = publish_pending(self.db.events, self.db.models, self.db.aliases)
        count += deletion.finish_stale(self.db, self._locks, (now or datetime.now(UTC)) - self._lease)
        return count

    def check(self) -> Health:
        info: dict[str, Any] = {"backend": "mongodb", "database": self.database.name}
        try:
            started = time.perf_counter()
            self.database.command("ping")
            info["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
            missing = missing_indexes(self.database)
        except PyMongoError as exc:
            return Health(False, f"unhealthy: {str(exc).split(', Timeout:')[0][:200]}", info)
        if missing:
            return Health(False, f"unhealthy: indexes {', '.join(missing)} are missing (restart the service, or "
                                 "run `model-service db upgrade`)", info)
        return Health(True, info=info)

    def close(self) -> None:
        self._stop.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout=5)
        if self._client is not None:
            self._client.close()

    # ---- versions ------------------------------------------------------------------------------

    @translated
    def create_version(self, draft: Draft, blob: PendingBlob | None = None,
                       audit: AuditHook | None = None) -> ModelVersion:
        seq = self._next_seq()
        if blob is None:
            return self._audited(audit, self._insert_version(draft, None, seq))
        with self._locks.hold(blob.file.sha256):
            blob.commit()  # first: no metadata ever points at a blob that is not there
            model = self._insert_version(draft, blob, seq)
        return self._audited(audit, model)

    def _audited(self, audit: AuditHook | None, result: T) -> T:
        """``result`` of a write, after appending its audit record (no multi-document
        transactions here: right after the write, which stands if the append fails)."""
        append_after(lambda record: security.append_audit(self.database, record), audit, result)
        return result

    def _insert_version(self, draft: Draft, blob: PendingBlob | None, seq: int) -> ModelVersion:
        for attempt in range(VERSION_ATTEMPTS):
            latest = self.db.models.find_one({"name": draft.name}, {"version_major": 1, "version_minor": 1},
                                             sort=[("version_major", -1), ("version_minor", -1)])
            version = following(None if latest is None else Version(latest["version_major"], latest["version_minor"]),
                                breaking=draft.breaking)
            parent = (None if latest is None else str(latest["_id"])) if draft.parent_model_id == LATEST \
                else draft.parent_model_id
            model = ModelVersion(
                id=draft.id, name=draft.name, version=version, algorithm=draft.algorithm,
                hyperparameters=draft.hyperparameters, metrics=draft.metrics, dataset_info=draft.dataset_info,
                tags=draft.tags, description=draft.description, created_by=draft.created_by, status=draft.status,
                parent_model_id=parent, format=draft.format, file=None if blob is None else blob.file,
                created_at=draft.created_at, updated_at=draft.created_at, download_count=0,
            )
            document = model_document(model, seq)
            document["outbox"] = outbox = [event_document(EventKind.CREATED, draft.created_by, draft.created_at,
                                                          {"version": str(version), "parent_model_id": parent})]
            if blob is not None:
                outbox.append(event_document(EventKind.UPLOADED, draft.created_by, blob.file.uploaded_at,
                                             {"checksum": blob.file.checksum, "size_bytes": blob.file.size_bytes}))
            try:
                self.db.models.insert_one(document)
            except DuplicateKeyError as exc:
                if self.db.models.find_one({"_id": document["_id"]}, {"_id": 1}) is not None:
                    raise Conflict(f"Model {draft.id} exists already", code="model_exists",
                                   details={"model_id": draft.id}) from exc
                _backoff(attempt)  # the number was taken meanwhile: read the latest again
                continue
            self._publish(document["_id"], draft.name, outbox)
            return to_model(document)
        raise Conflict(f"Could not allocate a version of '{draft.name}' after {VERSION_ATTEMPTS} attempts",
                       code="version_conflict", details={"name": draft.name})

    @translated
    def get(self, model_id: str) -> ModelVersion:
        return to_model(live(self.db, model_id, read()))

    @translated
    def search(self, query: SearchQuery) -> Page:
        if query.offset < 0 or query.limit < 1:
            raise Malformed("A page starts at 1 and holds at least one version", code="invalid_page")
        condition = translate(query.where)
        match = {"$and": [condition, LIVE]} if condition else LIVE
        total = self.db.models.count_documents(match)
        if query.offset >= total:
            return Page([], total)
        terms = sort_terms(query.sort)
        if needs_pipeline(terms):  # a key may be missing: flag it, so that missing values sort last
            added, order = missing_flags(terms)
            found = self.db.models.aggregate([
                {"$match": match}, {"$addFields": added}, {"$sort": order},
                {"$skip": query.offset}, {"$limit": query.limit},
                {"$project": {**read(), **{flag: 0 for flag in added}}},
            ], allowDiskUse=True)
        else:
            found = self.db.models.find(match, read(), sort=[(path, direction) for path, direction, _ in terms],
                                        skip=query.offset, limit=query.limit)
        return Page([to_model(document) for document in found], total)

    @translated
    def find_version(self, name: str, version: Version) -> ModelVersion:
        document = self.db.models.find_one({"name": name, "version_major": version.major,
                                            "version_minor": version.minor, **LIVE}, read())
        if document is None:
            raise NotFound(f"'{name}' has no version {version}", code="version_not_found",
                           details={"name": name, "version": str(version)})
        return to_model(document)

    @translated
    def latest(self, name: str) -> ModelVersion:
        document = self.db.models.find_one({"name": name, **LIVE}, read(),
                                           sort=[("version_major", -1), ("version_minor", -1)])
        if document is None:
            raise NotFound(f"No model named '{name}'", code="name_not_found", details={"name": name})
        return to_model(document)

    @translated
    def statistics(self, *, added_since: datetime, downloads_since: datetime, today: datetime) -> RegistryStats:
        return stats.statistics(self.db, added_since=added_since, downloads_since=downloads_since, today=today)

    @translated
    def popular(self, limit: int, since: datetime | None = None) -> list[tuple[ModelVersion, int]]:
        return stats.popular(self.db, limit, since)

    @translated
    def value_counts(self, field: str, limit: int) -> list[tuple[str, int]]:
        if field not in COUNTED_FIELDS:
            raise ValueError(f"Cannot count versions by {field!r}")
        return stats.value_counts(self.db, field, limit)

    @translated
    def downloads_by_day(self, since: datetime, until: datetime) -> dict[date, int]:
        return stats.downloads_by_day(self.db, since, until)

    @translated
    def refresh_statistics(self) -> None:
        """MongoDB picks plans by trying candidate indexes as it runs: nothing to refresh."""

    def summary(self) -> dict[str, int]:
        return stats.summary(self.db)

    # ---- aliases and the name's history -----------------------------------------------------------

    @translated
    def aliases(self, name: str) -> list[Alias]:
        return alias_docs.aliases_of(self.db, name)

    @translated
    def get_alias(self, name: str, alias: str) -> Alias:
        found = alias_docs.find_alias(self.db, name, alias)
        if found is None:
            raise NotFound(f"{name}@{alias} is not set", code="alias_not_found", details={"name": name, "alias": alias})
        return found

    @translated
    def move_alias(self, name: str, alias: str, model_id: str | None, expected: Any, actor: str,
                   at: datetime, audit: AuditHook | None = None) -> AliasMove:
        return self._audited(audit, alias_docs.move(self.db, name, alias, model_id, expected, actor, at))

    @translated
    def name_events(self, name: str, *, kinds: tuple[str, ...] | None = None, alias: str | None = None,
                    since: datetime | None = None, until: datetime | None = None, limit: int = 1000,
                    newest_first: bool = False) -> list[Event]:
        if limit <= 0:
            return []
        conditions: list[dict[str, Any]] = [{"model_name": name}]
        if kinds:
            conditions.append({"kind": {"$in": list(kinds)}})
        if alias is not None:
            conditions.append({"kind": EventKind.ALIAS.value, "data.alias": alias})
        if since is not None:
            conditions.append({"at": {"$gte": since}})
        if until is not None:
            conditions.append({"at": {"$lte": until}})
        direction = -1 if newest_first else 1
        found = self.db.events.find({"$and": conditions}, sort=[("at", direction), ("_id", direction)], limit=limit)
        return [to_event(document) for document in found]

    @translated
    def events(self, model_id: str, kinds: tuple[str, ...] | None = None) -> list[Event]:
        oid = object_id(model_id)
        if oid is None:
            return []
        condition: dict[str, Any] = {"model_id": oid}
        if kinds:
            condition["kind"] = {"$in": list(kinds)}
        return [to_event(document) for document in self.db.events.find(condition, sort=transfer.EVENT_ORDER)]

    # ---- changes ---------------------------------------------------------------------------------

    @translated
    def update(self, model_id: str, values: Mapping[str, Any], actor: str, at: datetime,
               audit: AuditHook | None = None) -> ModelVersion:
        return self._audited(audit, self._update(model_id, values, actor, at))

    def _update(self, model_id: str, values: Mapping[str, Any], actor: str, at: datetime) -> ModelVersion:
        for _attempt in range(UPDATE_ATTEMPTS):
            document = live(self.db, model_id)
            current = to_model(document)
            fields: dict[str, Any] = {}
            outbox: list[dict[str, Any]] = []
            changed: list[str] = []
            for key, value in values.items():
                if key == "status":
                    if value != current.status:
                        fields["status"] = Status(value).value
                        outbox.append(event_document(EventKind.STATUS, actor, at, {
                            "from": current.status.value, "to": Status(value).value}))
                elif key == "tags":
                    if tuple(value) != current.tags:
                        fields["tags"] = list(value)
                        changed.append(key)
                elif getattr(current, key) != value:
                    fields[key] = encode(value)
                    changed.append(key)
                    if key == "metrics":
                        fields["accuracy"] = accuracy_of(value)
            if not fields:
                return current
            if changed:
                outbox.append(event_document(EventKind.UPDATED, actor, at, {"fields": changed}))
            if "tags" in fields or "description" in fields:
                fields["search_text"] = search_text(current.name, current.algorithm,
                                                    values.get("description", current.description),
                                                    tuple(values.get("tags", current.tags)))
            fields["updated_at"] = stamp(at)
            update: dict[str, Any] = {"$set": fields, "$inc": {"rev": 1}}
            if outbox:
                update["$push"] = pushed(outbox)
            written = self.db.models.find_one_and_update({"_id": document["_id"], "rev": document.get("rev"), **LIVE},
                                                         update, read(), return_document=ReturnDocument.AFTER)
            if written is None:
                continue  # changed (or deleted) meanwhile: read it again
            self._publish(document["_id"], current.name, outbox)
            return to_model(written)
        raise Conflict(f"Model {model_id} is being changed concurrently; try again", code="update_conflict",
                       details={"model_id": model_id})

    @translated
    def attach_file(self, model_id: str, blob: PendingBlob, actor: str,
                    audit: AuditHook | None = None) -> ModelVersion:
        return self._audited(audit, self._attach_file(model_id, blob, actor))

    def _attach_file(self, model_id: str, blob: PendingBlob, actor: str) -> ModelVersion:
        with self._locks.hold(blob.file.sha256):
            document = live(self.db, model_id, {"file_metadata": 1, "name": 1})
            if document.get("file_metadata"):
                raise self._file_exists(model_id, document["file_metadata"])
            blob.commit()  # first: no metadata ever points at a blob that is not there
            uploaded = event_document(EventKind.UPLOADED, actor, blob.file.uploaded_at,
                                      {"checksum": blob.file.checksum, "size_bytes": blob.file.size_bytes})
            written = self.db.models.find_one_and_update(
                {"_id": document["_id"], "file_metadata": None, **LIVE},
                {"$set": {"file_metadata": file_document(blob.file), "updated_at": stamp(blob.file.uploaded_at)},
                 "$push": pushed([uploaded])},
                read(), return_document=ReturnDocument.AFTER)
            if written is None:  # a file attached, or the version deleted, since the read above
                raise self._file_exists(model_id, live(self.db, model_id, {"file_metadata": 1})["file_metadata"])
            self._publish(document["_id"], document["name"], [uploaded])
            return to_model(written)

    @staticmethod
    def _file_exists(model_id: str, file: Mapping[str, Any]) -> Conflict:
        return Conflict(f"Model {model_id} already has a file; files are immutable, register a new version instead",
                        code="file_exists", details={"model_id": model_id, "checksum": file.get("checksum")})

    @translated
    def delete(self, model_id: str, release_blob: Callable[[str], None], actor: str, at: datetime,
               audit: AuditHook | None = None, *, unless_aliased: bool = False) -> ModelVersion:
        return self._audited(audit, deletion.delete(self.db, self._locks, model_id, release_blob, actor, at,
                                                    unless_aliased=unless_aliased))

    @translated
    def file_references(self, after: tuple[str, str] | None = None, limit: int = 500) -> list[FileReference]:
        return references.file_references(self.db, after, limit)

    @translated
    def delete_blob_if_unreferenced(self, sha256: str, release_blob: Callable[[str], None]) -> bool:
        return references.delete_blob_if_unreferenced(self.db, self._locks, sha256, release_blob)

    @translated
    def record_download(self, model_id: str, actor: str, at: datetime, data: Mapping[str, Any]) -> None:
        oid = object_id(model_id)
        if oid is None:
            return
        downloaded = event_document(EventKind.DOWNLOADED, actor, at, data)
        document = self.db.models.find_one_and_update(
            {"_id": oid, **LIVE}, {"$inc": {"download_count": 1}, "$push": pushed([downloaded])}, {"name": 1})
        if document is not None:  # else deleted meanwhile: nothing to count
            self._publish(oid, document["name"], [downloaded])

    # ---- moving between stores -----------------------------------------------------------------

    @translated
    def model_ids(self, after: str | None = None, limit: int = 500) -> list[str]:
        return transfer.model_ids(self.db, after, limit)

    @translated
    def export_record(self, model_id: str) -> ModelRecord:
        return transfer.export_record(self.db, model_id)

    @translated
    def import_record(self, record: ModelRecord) -> bool:
        return transfer.import_record(self.db, record, self._next_seq)

    @translated
    def all_aliases(self) -> list[Alias]:
        return alias_docs.all_aliases(self.db)

    @translated
    def import_alias(self, alias: Alias) -> bool:
        return alias_docs.import_alias(self.db, alias)

    # ---- API keys and the audit log (``security.py``) ----------------------------------------------

    @translated
    def add_key(self, key: ApiKey, audit: AuditHook | None = None) -> None:
        self._audited(audit, security.add_key(self.database, key))

    @translated
    def get_key(self, key_id: str) -> ApiKey:
        return security.get_key(self.database, key_id)

    @translated
    def list_keys(self) -> list[ApiKey]:
        return security.list_keys(self.database)

    @translated
    def revoke_key(self, key_id: str, actor: str, at: datetime, audit: AuditHook | None = None) -> ApiKey:
        return self._audited(audit, security.revoke_key(self.database, key_id, actor, at))

    @translated
    def append_audit(self, record: AuditRecord) -> bool:
        return security.append_audit(self.database, record)

    @translated
    def audit_records(self, query: AuditQuery) -> list[AuditRecord]:
        return security.audit_records(self.database, query)
