"""Garbage collection (``model-service gc``) on the embedded default, PostgreSQL + S3 and
MongoDB + GridFS: unreferenced blobs and stale temporary uploads go, with the bytes reclaimed;
referenced blobs and uploads in flight stay; a racing upload never loses its blob."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from model_service.cli.main import main
from model_service.domain.uploads import Upload
from model_service.operations.gc import collect

from .maintenance_fixtures import (
    abandoned_upload,
    commit_blob,
    later_than_everything,
    received,
    sha,
    stack_fixture,  # noqa: F401 - the fixture `stack`
)


def keys(blobs) -> list[str]:
    return [blob.key for blob in blobs.list_blobs()]


def leftovers(blobs) -> list:
    return [t for t in blobs.leftovers(later_than_everything()) if not t.name.startswith("health-")]


def test_gc_removes_unreferenced_blobs_and_stale_uploads_and_keeps_the_rest(stack):
    kept = stack.add("fraud", b"referenced weights")
    shared = stack.add("churn", b"shared")
    stack.add("churn", b"shared")
    orphans = [commit_blob(stack.blobs, b"orphan one"), commit_blob(stack.blobs, b"orphan two" * 1000)]
    abandoned_upload(stack.blobs, b"finished, never committed")
    abandoned_upload(stack.blobs, b"x" * (9 << 20), finish=False)  # S3: a multipart upload in flight

    dry = collect(stack.metadata, stack.blobs, now=later_than_everything(), dry_run=True)
    assert sorted(b.key for b in dry.orphans) == sorted(orphans)
    assert len(dry.leftovers) >= 2 and dry.bytes_reclaimed >= len(b"orphan one") + 10_000 + 25 + (8 << 20)
    assert sorted(keys(stack.blobs)) == sorted([kept.file.sha256, shared.file.sha256, *orphans])  # untouched
    assert len(leftovers(stack.blobs)) == len(dry.leftovers)

    report = collect(stack.metadata, stack.blobs, now=later_than_everything())
    assert report.ok and sorted(b.key for b in report.orphans) == sorted(orphans)
    assert report.bytes_reclaimed == dry.bytes_reclaimed
    assert report.blobs_scanned == 4
    assert keys(stack.blobs) == sorted([kept.file.sha256, shared.file.sha256])
    assert leftovers(stack.blobs) == []
    assert stack.registry.open_file(kept.id)[1](0).read(100) == b"referenced weights"

    again = collect(stack.metadata, stack.blobs, now=later_than_everything())
    assert (again.orphans, again.leftovers, again.bytes_reclaimed) == ([], [], 0)


def test_uploads_in_flight_and_young_orphans_are_left_alone(stack):
    in_flight = abandoned_upload(stack.blobs, b"being uploaded right now")
    young = commit_blob(stack.blobs, b"a copy about to reference me")
    report = collect(stack.metadata, stack.blobs, now=datetime.now(UTC), orphans_older_than=timedelta(hours=1))
    assert (report.orphans, report.leftovers) == ([], [])
    assert keys(stack.blobs) == [young]
    in_flight.commit(sha(b"being uploaded right now"))  # the upload can still finish
    in_flight.abort()


def test_gc_never_removes_a_blob_a_racing_upload_commits(stack):
    """An unreferenced blob; an upload of the same content attaches it to a version while gc
    deletes it if unreferenced, again and again: the version's blob always exists afterwards,
    and gc did delete the orphan in some rounds (so the race was run both ways)."""
    content = b"weights that keep coming back"
    key = sha(content)
    model = stack.add("race")
    rounds, removed = 30, 0
    for i in range(rounds):
        commit_blob(stack.blobs, content)  # the orphan
        version = stack.add("race")
        file: Upload = received(stack.registry, content)
        barrier = threading.Barrier(2)
        outcome: dict[str, object] = {}

        def attach(version=version, file=file, outcome=outcome, barrier=barrier) -> None:
            barrier.wait()
            outcome["model"] = stack.registry.attach(version.id, file, "alice")

        def gc(outcome=outcome, barrier=barrier) -> None:
            barrier.wait()
            # temporary uploads under a day old stay (the racing upload's among them)
            outcome["gc"] = collect(stack.metadata, stack.blobs, now=datetime.now(UTC) + timedelta(seconds=5))

        threads = [threading.Thread(target=attach), threading.Thread(target=gc)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert "model" in outcome and "gc" in outcome, f"round {i}: a side failed"
        removed += len(outcome["gc"].orphans)
        assert stack.blobs.size(key) == len(content), f"round {i}: the committed version's blob is gone"
        reader = stack.registry.open_file(version.id)[1](0)
        assert reader.read(1000) == content
        reader.close()
        stack.registry.delete(version.id, "alice")  # releases the blob: next round starts from an orphan
    assert stack.registry.get(model.id)
    assert removed > 0 or rounds == 0, "gc never got to delete the orphan first: the race was not exercised"


def test_the_gc_command_on_the_embedded_default(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    clean = runner.invoke(main, ["gc", "--json"])
    assert clean.exit_code == 0, clean.output
    assert json.loads(clean.output)["bytes_reclaimed"] == 0

    from model_service.stores.blob_local import LocalBlobStore

    blobs = LocalBlobStore(tmp_path / "data" / "blobs")
    orphan = commit_blob(blobs, b"nobody's")
    leftover = abandoned_upload(blobs, b"crashed upload")
    dry = runner.invoke(main, ["gc", "--dry-run", "--temp-older-than", "0s"])
    assert dry.exit_code == 0, dry.output
    assert f"would remove unreferenced blob {orphan}" in dry.output
    assert "would reclaim 22 bytes (1 blobs, 1 temporary uploads)" in dry.output
    assert blobs.size(orphan) == 8 and leftover.path.exists()

    done = runner.invoke(main, ["gc", "--temp-older-than", "0s", "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    assert report["bytes_reclaimed"] == 22 and [b["sha256"] for b in report["orphan_blobs"]] == [orphan]
    assert blobs.size(orphan) is None and not leftover.path.exists()


@pytest.mark.parametrize("value", ["soon", "10", "-1h", "1y"])
def test_a_bad_duration_is_a_usage_error(value, tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(main, ["gc", "--temp-older-than", value])
    assert result.exit_code == 2 and "--temp-older-than" in result.output
