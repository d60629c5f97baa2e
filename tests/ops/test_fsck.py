"""The integrity scrub (``model-service fsck``) on the embedded default, PostgreSQL + S3 and
MongoDB + GridFS, with missing, damaged and orphan blobs and abandoned uploads planted; its
repair; the ``corrupted`` status; and the sample of it in ``/health/detailed``."""

from __future__ import annotations

import json
import random
import tracemalloc
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from model_service.cli.main import main
from model_service.domain.audit import AuditQuery
from model_service.domain.errors import Invalid
from model_service.domain.models import EventKind, Status
from model_service.operations.fsck import (
    HASH_MISMATCH,
    MISSING_BLOB,
    ORPHAN_BLOB,
    SIZE_MISMATCH,
    STALE_TEMP_UPLOAD,
    sample,
    scrub,
)

from .maintenance_fixtures import (
    abandoned_upload,
    commit_blob,
    later_than_everything,
    replace_bytes,
    stack_fixture,  # noqa: F401 - the fixture `stack`
)


def kinds(report) -> list[str]:
    return sorted(problem.kind for problem in report.problems)


def test_a_sound_registry_is_clean(stack):
    for i in range(3):
        stack.add("fraud", f"weights {i}".encode())
    stack.add("fraud", b"weights 0")  # shared content
    stack.add("fraud")  # no file
    report = scrub(stack.metadata, stack.blobs, now=datetime.now(UTC))
    assert report.ok, report.lines()
    assert (report.versions, report.blobs, report.bytes_hashed) == (4, 3, 27)
    assert report.lines()[-1].endswith("no problems")


def test_every_planted_problem_is_found_and_repaired_without_loss(stack):
    sound = stack.add("fraud", b"sound weights")
    missing = stack.add("fraud", b"weights about to vanish")
    damaged = stack.add("churn", b"weights to be flipped")
    resized = stack.add("churn", b"weights to be truncated")
    shared = stack.add("churn", b"weights to be flipped")  # a second version on the damaged blob
    stack.blobs.delete(missing.file.sha256)
    replace_bytes(stack.blobs, damaged.file.sha256, b"weights to be FLIPPED")  # same size, other bytes
    replace_bytes(stack.blobs, resized.file.sha256, b"weights to")
    orphan = commit_blob(stack.blobs, b"referenced by nobody")
    abandoned_upload(stack.blobs, b"left by a crash")

    found = scrub(stack.metadata, stack.blobs, now=later_than_everything())
    assert not found.ok
    assert kinds(found) == sorted([MISSING_BLOB, HASH_MISMATCH, SIZE_MISMATCH, HASH_MISMATCH, ORPHAN_BLOB,
                                   STALE_TEMP_UPLOAD])
    by_kind = {}
    for problem in found.problems:
        by_kind.setdefault(problem.kind, []).append(problem)
    assert by_kind[MISSING_BLOB][0].model_ids == [missing.id]
    assert sorted(by_kind[SIZE_MISMATCH][0].model_ids) == [resized.id]
    assert sorted(m for p in by_kind[HASH_MISMATCH] for m in p.model_ids) == sorted([damaged.id, shared.id,
                                                                                     resized.id])
    assert by_kind[ORPHAN_BLOB][0].sha256 == orphan
    assert all(problem.repaired is None for problem in found.problems)  # only looked
    assert stack.blobs.size(orphan) is not None and stack.registry.get(missing.id).status is Status.ACTIVE

    repaired = scrub(stack.metadata, stack.blobs, now=later_than_everything(), repair=True)
    assert kinds(repaired) == kinds(found) and all(p.repaired for p in repaired.problems)
    for model in (missing, damaged, resized, shared):
        assert stack.registry.get(model.id).status is Status.CORRUPTED
        event = stack.metadata.events(model.id)[-1]
        assert (event.kind, event.actor, event.data) == (EventKind.STATUS, "fsck", {"from": "active",
                                                                                      "to": "corrupted"})
    assert stack.registry.get(sound.id).status is Status.ACTIVE
    assert stack.blobs.size(orphan) is None  # the orphan is dropped ...
    assert stack.blobs.size(damaged.file.sha256) == len(b"weights to be FLIPPED")  # ... damaged bytes are kept
    records = stack.metadata.audit_records(AuditQuery(actor="fsck", limit=10))
    assert sorted(r.model_id for r in records) == sorted([missing.id, damaged.id, resized.id, shared.id])
    assert all(r.action == "model.update" and r.details["status"] == "corrupted" for r in records)

    after = scrub(stack.metadata, stack.blobs, now=later_than_everything())
    assert after.ok, after.lines()
    assert sorted(p.kind for p in after.known) == sorted([MISSING_BLOB, HASH_MISMATCH, SIZE_MISMATCH,
                                                          HASH_MISMATCH])


def test_drop_damaged_deletes_the_bytes_so_that_the_right_content_can_come_back(stack):
    damaged = stack.add("fraud", b"the real weights")
    replace_bytes(stack.blobs, damaged.file.sha256, b"the REAL weights")
    report = scrub(stack.metadata, stack.blobs, now=datetime.now(UTC), repair=True, drop_damaged=True)
    assert [p.repaired for p in report.problems] == ["1 version(s) marked corrupted; damaged blob deleted"]
    assert stack.blobs.size(damaged.file.sha256) is None
    assert scrub(stack.metadata, stack.blobs, now=datetime.now(UTC)).ok  # known: marked, its file gone
    again = stack.add("fraud", b"the real weights")  # an upload of the right content stores it again
    assert again.file.sha256 == damaged.file.sha256
    after = scrub(stack.metadata, stack.blobs, now=datetime.now(UTC))
    assert after.ok and after.known == []
    stack.registry.update(damaged.id, {"status": "active"}, "ops")  # and the operator restores its status
    assert stack.registry.get(damaged.id).status is Status.ACTIVE


def test_quick_checks_sizes_without_reading_blobs(stack):
    damaged = stack.add("fraud", b"same size, other bytes")
    replace_bytes(stack.blobs, damaged.file.sha256, b"SAME SIZE, OTHER BYTES")
    quick = scrub(stack.metadata, stack.blobs, now=datetime.now(UTC), rehash=False)
    assert quick.ok and quick.bytes_hashed == 0
    assert kinds(scrub(stack.metadata, stack.blobs, now=datetime.now(UTC))) == [HASH_MISMATCH]


def test_a_version_deleted_while_the_scrub_runs_is_not_a_problem(stack, monkeypatch):
    gone = stack.add("fraud", b"deleted meanwhile")
    stack.blobs.delete(gone.file.sha256)
    stale = stack.metadata.file_references()  # listed before the deletion ...
    stack.registry.delete(gone.id, "alice")  # ... which happens before the scrub looks again
    real = stack.metadata.file_references
    monkeypatch.setattr(stack.metadata, "file_references",
                        lambda after=None, limit=500: stale[:limit] if after is None else real(after, limit))
    report = scrub(stack.metadata, stack.blobs, now=datetime.now(UTC))
    assert report.ok, report.lines()


def test_re_hashing_keeps_memory_flat(stack):
    if stack.pairing == "postgresql+s3":
        pytest.skip("moto's S3 server runs in this process and holds whole objects: the measure would be its")
    big = stack.add("big", bytes(range(256)) * (48 << 12))  # 48 MiB
    tracemalloc.start()
    try:
        report = scrub(stack.metadata, stack.blobs, now=datetime.now(UTC))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.ok and report.bytes_hashed == big.file.size_bytes
    assert peak < 24 << 20, f"peak {peak / (1 << 20):.1f} MiB while hashing 48 MiB"


# ---- the corrupted status ---------------------------------------------------------------------

def test_clients_cannot_set_corrupted():
    with pytest.raises(Invalid) as info:
        Status.parse("corrupted")
    assert info.value.code == "invalid_status" and "fsck" in info.value.message
    assert info.value.details["allowed"] == ["active", "deprecated", "archived"]


def test_corrupted_over_http(client, register):
    model_id = register()["model_id"]
    url = f"/api/v1/models/{model_id}"
    refused = client.put(url, json={"status": "corrupted"})
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_status"
    assert client.post("/api/v1/models", json={"name": "x", "algorithm": "svm", "status": "corrupted"}) \
        .json()["code"] == "invalid_status"
    document = client.get("/openapi.json").json()
    put_status = document["paths"]["/api/v1/models/{model_id}"]["put"]["requestBody"]["content"][
        "application/json"]["schema"]["properties"]["status"]["enum"]
    assert put_status == ["active", "deprecated", "archived", None]  # not settable ...
    assert "corrupted" in document["components"]["schemas"]["Status"]["enum"]  # ... but a filter

    registry = client.app.state.registry
    registry.metadata.update(model_id, {"status": Status.CORRUPTED}, "fsck", datetime.now(UTC))
    found = client.get("/api/v1/models", params={"status": "corrupted"}).json()
    assert [m["id"] for m in found["models"]] == [model_id]
    assert client.get(url).json()["status"] == "corrupted"
    restored = client.put(url, json={"status": "active"})  # once its file is back, an operator may
    assert restored.status_code == 200 and restored.json()["model"]["status"] == "active"


# ---- the sample in /health/detailed ----------------------------------------------------------------

def test_the_health_sample_checks_newest_and_random_files_and_skips_known_corruption(stack):
    made = [stack.add("fraud", f"weights {i}".encode()) for i in range(30)]
    assert sample(stack.metadata, stack.blobs, newest=5, randomly=5, rng=random.Random(1)).ok
    stack.blobs.delete(made[-1].file.sha256)  # the newest: always sampled
    health = sample(stack.metadata, stack.blobs, newest=5, randomly=5, rng=random.Random(1))
    assert not health.ok and "model-service fsck" in health.detail
    assert health.info["problems"][0]["model_id"] == made[-1].id
    scrub(stack.metadata, stack.blobs, now=datetime.now(UTC), repair=True)
    health = sample(stack.metadata, stack.blobs, newest=5, randomly=5, rng=random.Random(1))
    assert health.ok and health.info["corrupted"] == 1
    seen = set()
    for seed in range(40):  # the random part reaches beyond the newest
        stack.blobs.delete(made[0].file.sha256) if seed == 0 else None
        health = sample(stack.metadata, stack.blobs, newest=5, randomly=5, rng=random.Random(seed))
        seen.update(problem["model_id"] for problem in health.info.get("problems", []))
    assert made[0].id in seen


# ---- the command --------------------------------------------------------------------------------

def test_the_fsck_command_exits_1_on_problems_and_0_once_repaired(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    assert runner.invoke(main, ["fsck"]).exit_code == 0

    from model_service.stores.blob_local import LocalBlobStore

    orphan = commit_blob(LocalBlobStore(tmp_path / "data" / "blobs"), b"nobody's")
    found = runner.invoke(main, ["fsck", "--json"])
    assert found.exit_code == 1, found.output
    report = json.loads(found.output)
    assert report["ok"] is False and [p["kind"] for p in report["problems"]] == ["orphan_blob"]
    assert report["problems"][0]["sha256"] == orphan and report["checked"]["blobs"] == 1

    repaired = runner.invoke(main, ["fsck", "--repair"])
    assert repaired.exit_code == 1 and "[repaired: blob deleted]" in repaired.output
    clean = runner.invoke(main, ["fsck", "--quick"])
    assert clean.exit_code == 0 and "no problems" in clean.output
    assert runner.invoke(main, ["fsck", "--drop-damaged"]).exit_code == 2  # a repair: needs --repair
