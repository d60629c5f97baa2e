"""Registries to export and compare: a populated registry on any pair of stores, everything it
holds read back for comparison, and blobs planted missing or damaged in a store."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from model_service.domain.audit import AuditQuery, AuditRecord
from model_service.domain.callers import Scope
from model_service.domain.ids import new_id
from model_service.domain.keys import ApiKey
from model_service.domain.models import FileInfo, ModelVersion, Status
from model_service.domain.plans.aliases import ANY
from model_service.domain.ports import BlobStore
from model_service.domain.scanning import FoundGlobal, ScanResult, Verdict
from model_service.domain.uploads import Upload
from model_service.domain.versions import Version
from model_service.operations.transfer import Stores
from tests.contract.helpers import draft

# Times to the millisecond: MongoDB keeps no finer (see stores/mongo/documents.py), and a round
# trip is compared field by field on every backend.
T0 = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)

# Metadata stores and blob stores of the pairings, by the names of their tests/backends factories.
PAIRINGS = {
    "embedded": ("sqlite", "local"),
    "postgresql+s3": ("postgresql", "s3"),
    "mongodb+gridfs": ("mongomock", "gridfs"),
}


def later(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def content(label: str, size: int) -> bytes:
    """``size`` bytes that differ for every label."""
    seed = hashlib.sha256(label.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def commit_blob(blobs: BlobStore, data: bytes, *, key: str | None = None) -> str:
    """Put ``data`` in the blob store under its sha256, or under ``key`` (a planted damage)."""
    sha256 = key or hashlib.sha256(data).hexdigest()
    upload = blobs.begin_upload()
    try:
        for start in range(0, len(data), 1 << 20):
            upload.write(data[start:start + (1 << 20)])
        upload.finish()
        upload.commit(sha256)
    finally:
        upload.abort()
    return sha256


def damage(blobs: BlobStore, sha256: str) -> None:
    """Replace a blob's bytes by others of the same size, under the same key."""
    reader = blobs.open(sha256)
    try:
        size = reader.size
    finally:
        reader.close()
    blobs.delete(sha256)
    commit_blob(blobs, content(f"not {sha256}", size), key=sha256)


@dataclass
class Populated:
    """What :func:`populate` made: each version with a file, by role, and its file's bytes."""

    versions: dict[str, ModelVersion]
    files: dict[str, bytes]  # sha256 → bytes


SCAN = ScanResult(verdict=Verdict.UNSAFE, executable=True, scanned_at=datetime(2026, 1, 2, 3, 4, 6, 123456, UTC),
                  scanner="picklescan", scanner_version="1.0.5",
                  globals=(FoundGlobal("posix", "system", "dangerous"), FoundGlobal("sklearn.tree", "X", "suspicious")),
                  detail="Loading this file would import posix.system")


def populate(stores: Stores, *, big: int = 300_000) -> Populated:
    """A registry with history: versions with files (two sharing one, one of ``big`` bytes, one
    with a scan result), one without, updates, downloads, aliases moved and removed, a deleted
    version whose events remain, keys (active, revoked, expired) and audit records."""
    metadata, blobs = stores.metadata, stores.blobs
    made: dict[str, ModelVersion] = {}
    files: dict[str, bytes] = {}

    def register(role: str, name: str, minutes: int, data: bytes | None, scan: ScanResult | None = None,
                 **fields) -> ModelVersion:
        upload = None
        if data is not None:
            sha256 = hashlib.sha256(data).hexdigest()
            files[sha256] = data
            upload = Upload(blobs.begin_upload(), max_size=len(data))
            upload.write(data)
            upload.finish()
            upload.accept(FileInfo(sha256=sha256, size_bytes=len(data), format="pickle", filename=f"{role}.pkl",
                                   content_type="application/octet-stream", uploaded_at=later(minutes), scan=scan))
        try:
            model = metadata.create_version(draft(name, at=later(minutes), **fields), upload)
        finally:
            if upload is not None:
                upload.abort()
        made[role] = model
        return model

    odd = {"max_depth": 6, "learning_rate": 0.1 + 0.2, "tiny": -2.5e-8, "third": 1 / 3, "huge": 2**70,
           "nested": {"layers": [64, 32, {"dropout": 0.25}], "none": None, "flag": True}, "name": "ünïcödé ✓"}
    register("first", "fraud", 0, content("first", 2_000), SCAN, hyperparameters=odd,
             metrics={"accuracy": 0.9, "loss": 1, "auc": 0.987654321012345})
    register("second", "fraud", 1, content("second", big))
    register("shared", "fraud", 2, content("first", 2_000))  # the same content as "first"
    register("no_file", "fraud", 3, None, description="line one\nline two\ttabbed", tags=("a", "b:c", "d/e"))
    register("churn", "churn_model", 4, content("churn", 50_000), algorithm="random_forest",
             dataset_info={"rows": 10**12, "columns": ["a", "b"], "split": {"train": 0.8}})
    gone = register("gone", "churn_model", 5, content("gone", 1_000))

    metadata.update(made["first"].id, {"status": Status.DEPRECATED}, "ops", later(10))
    metadata.update(made["second"].id, {"description": "better", "tags": ["production", "gold"],
                                        "metrics": {"accuracy": 0.95}}, "bob", later(11))
    metadata.record_download(made["second"].id, "deployer", later(12), {"size_bytes": big})
    metadata.record_download(made["second"].id, "deployer", later(13), {"size_bytes": big, "range": "bytes=0-9"})
    metadata.move_alias("fraud", "production", made["first"].id, None, "ops", later(14))
    metadata.move_alias("fraud", "production", made["second"].id, Version(1, 0), "ops", later(15))
    metadata.move_alias("fraud", "staging", made["no_file"].id, ANY, "ops", later(16))
    metadata.move_alias("churn_model", "champion", made["churn"].id, None, "ops", later(17))
    metadata.move_alias("churn_model", "old", made["churn"].id, None, "ops", later(18))
    metadata.move_alias("churn_model", "old", None, ANY, "ops", later(19))
    metadata.delete(gone.id, blobs.delete, "ops", later(20))
    del made["gone"]
    files.pop(gone.file.sha256)
    for role, model in made.items():
        made[role] = metadata.get(model.id)

    keys = [
        ApiKey(key_id="0123456789ab", name="fraud-ci", scopes=(Scope.READ, Scope.WRITE), name_prefix="fraud",
               secret_hash=hashlib.sha256(b"one").hexdigest(), created_at=later(30), created_by="admin"),
        ApiKey(key_id="0123456789ac", name="old", scopes=(Scope.ADMIN,), name_prefix=None,
               secret_hash=hashlib.sha256(b"two").hexdigest(), created_at=later(31), created_by="admin",
               revoked_at=later(32), revoked_by="admin"),
        ApiKey(key_id="0123456789ad", name="temp", scopes=(Scope.READ,), name_prefix=None,
               secret_hash=hashlib.sha256(b"three").hexdigest(), created_at=later(33), created_by="admin",
               expires_at=later(34)),
    ]
    for key in keys:
        metadata.add_key(key)
    for index in range(7):
        at = later(40 + index)
        metadata.append_audit(AuditRecord(
            id=new_id(at.timestamp()), at=at, action="model.update" if index % 2 else "alias.set",
            actor=f"user{index}", key_id="0123456789ab" if index % 3 == 0 else None,
            model_id=made["first"].id, name="fraud", version="v1.0",
            details={"fields": ["description"], "n": index, "ratio": index / 7, "nested": {"ok": index > 3}},
            client_ip="10.0.0.7" if index % 2 else None, request_id=f"req-{index}"))
    return Populated(made, files)


def read_blob(blobs: BlobStore, sha256: str) -> bytes | None:
    if blobs.size(sha256) is None:
        return None
    reader = blobs.open(sha256)
    try:
        parts = []
        while chunk := reader.read(1 << 20):
            parts.append(chunk)
        return b"".join(parts)
    finally:
        reader.close()


def snapshot(stores: Stores) -> dict:
    """Everything a registry holds, in comparable form: every record (the version and its events,
    less the events' store-specific ids), alias, key and audit record, and every file's bytes."""
    metadata = stores.metadata
    records, files = {}, {}
    for model_id in metadata.model_ids(limit=100_000):
        record = metadata.export_record(model_id)
        records[model_id] = (record.model, [replace(event, id=None) for event in record.events])
        if record.model is not None and record.model.file is not None:
            files[record.model.file.sha256] = read_blob(stores.blobs, record.model.file.sha256)
    audit, before = [], None
    while page := metadata.audit_records(AuditQuery(before=before, limit=3)):
        audit += page
        before = (page[-1].at, page[-1].id)
    return {"records": records, "aliases": metadata.all_aliases(), "keys": metadata.list_keys(), "audit": audit,
            "files": files}


def comparable(taken: dict) -> dict:
    """A :func:`snapshot` less what an import writes anew rather than takes from an archive: each
    file's scan result (scanned again), the ``imported`` mark in audit records' details, and the
    import's own audit record (``registry.import``)."""
    def unscanned(model: ModelVersion | None) -> ModelVersion | None:
        if model is None or model.file is None:
            return model
        return replace(model, file=replace(model.file, scan=None))

    return {**taken,
            "records": {model_id: (unscanned(model), events) for model_id, (model, events) in taken["records"].items()},
            "audit": [replace(record, details={k: v for k, v in record.details.items() if k != "imported"})
                      for record in taken["audit"] if record.action != "registry.import"]}


def empty(stores: Stores) -> bool:
    """Whether a metadata store holds nothing at all."""
    metadata = stores.metadata
    return (metadata.model_ids() == [] and metadata.all_aliases() == [] and metadata.list_keys() == []
            and metadata.audit_records(AuditQuery(limit=1)) == [])
