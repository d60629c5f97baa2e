"""Backup and restore (``model-service export`` / ``import``): a round trip into every pair of
stores loses nothing, re-importing writes nothing, and missing, damaged or truncated content is
reported and never restored as good."""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from model_service.cli.main import main
from model_service.domain.errors import Malformed
from model_service.domain.models import Status
from model_service.domain.registry import Registration, Registry
from model_service.domain.scanning import Verdict
from model_service.domain.versions import Version
from model_service.operations.archive import FORMAT, MANIFEST, MANIFEST_END, ZSTD_MAGIC, export_registry
from model_service.operations.archive_import import import_registry
from model_service.operations.archive_policy import ImportPolicy
from model_service.operations.transfer import Stores
from model_service.scanner.service import PickleScanner

from .archive_fixtures import PAIRINGS, comparable, damage, empty, populate, read_blob
from .archive_fixtures import snapshot as full_snapshot

CHUNK = 64 << 10  # small chunks, so that every file of the test registry takes several


def stores_of(request, pairing: str) -> Callable[[str], Stores]:
    """Makes fresh, empty stores of a pairing (metadata + files), by name; closed after the test."""
    metadata_backend, blob_backend = PAIRINGS[pairing]
    make_metadata = request.getfixturevalue(f"{metadata_backend}_metadata_factory")
    make_blobs = request.getfixturevalue(f"{blob_backend}_blob_factory")

    def make(name: str) -> Stores:
        stores = Stores(make_metadata(name), make_blobs(name))
        request.addfinalizer(stores.metadata.close)
        return stores

    return make


@pytest.fixture(params=list(PAIRINGS))
def pairing(request) -> Callable[[str], Stores]:
    return stores_of(request, request.param)


@pytest.fixture
def embedded(request) -> Callable[[str], Stores]:
    return stores_of(request, "embedded")


@pytest.fixture
def source(embedded) -> Stores:
    stores = embedded("source")
    populate(stores)
    return stores


def export_to(stores: Stores, path: Path, **options):
    with open(path, "wb") as out:
        return export_registry(stores, out, chunk_size=CHUNK, page_size=2, **options)


# Restoring one's own backup: keys too, and no scanner (the scans are tests/ops/test_archive_trust.py's)
RESTORE = ImportPolicy(scanner=None, actor="cli:restorer", with_keys=True)


def import_from(path: Path, stores: Stores):
    with open(path, "rb") as archive:
        return import_registry(archive, stores, RESTORE, chunk_size=CHUNK)


def snapshot(stores: Stores) -> dict:
    """Everything the registry holds but what an import writes anew (scans, audit marks)."""
    return comparable(full_snapshot(stores))


def members(path: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(path, "r:*") as tar:
        return tar.getmembers()


def rewrite(path: Path, out: Path, change: Callable[[str, bytes], bytes | None]) -> None:
    """Copy an archive member by member, each as ``change`` returns it (None: left out)."""
    with tarfile.open(path, "r|") as original, tarfile.open(out, "w|", format=tarfile.PAX_FORMAT) as copy:
        for member in original:
            data = change(member.name, original.extractfile(member).read())
            if data is not None:
                member.size = len(data)
                copy.addfile(member, io.BytesIO(data))


def manifest_end(path: Path) -> dict:
    with tarfile.open(path, "r:*") as tar:
        return json.load(tar.extractfile(MANIFEST_END))


# ---- round trips --------------------------------------------------------------------------------

def test_a_round_trip_into_every_pairing_loses_nothing_and_a_second_import_writes_nothing(source, pairing, tmp_path):
    archive = tmp_path / "registry.tar"
    exported = export_to(source, archive)
    assert exported.ok, exported.problems
    assert (exported.records, exported.versions, exported.blobs, exported.aliases, exported.keys, exported.audit) == \
           (6, 5, 3, 3, 3, 7)  # 3 distinct files of 4 versions with one; a deleted version's events

    target = pairing("target")
    imported = import_from(archive, target)
    assert imported.ok, imported.failures
    assert (imported.records_copied, imported.versions_copied, imported.events_copied) == \
           (6, 5, exported.events)
    assert (imported.blobs_copied, imported.blob_bytes_copied) == (3, exported.blob_bytes)
    assert (imported.aliases_copied, imported.keys_copied, imported.audit_copied) == (3, 3, 7)
    expected = snapshot(source)
    assert snapshot(target) == expected  # every field of every record, every file byte for byte
    restored = full_snapshot(target)  # but for the scans and audit marks the import wrote itself:
    assert {model.file.scan.reason for model, _ in restored["records"].values()
            if model is not None and model.file is not None} == {"scanning_disabled"}
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert [record.details.get("imported", {}).get("archive_sha256") for record in restored["audit"]
            if record.action != "registry.import"] == [digest] * 7
    assert [record.actor for record in restored["audit"] if record.action == "registry.import"] == ["cli:restorer"]

    again = import_from(archive, target)
    assert again.ok, again.failures
    assert (again.records_copied, again.blobs_copied, again.aliases_copied, again.keys_copied,
            again.audit_copied) == (0, 0, 0, 0, 0)
    assert (again.records_present, again.blobs_present, again.aliases_present, again.keys_present,
            again.audit_present) == (6, 3, 3, 3, 7)
    assert snapshot(target) == expected


def test_the_archive_is_laid_out_as_documented(source, tmp_path):
    archive = tmp_path / "registry.tar"
    export_to(source, archive)
    names = [member.name for member in members(archive)]
    assert names[0] == MANIFEST
    assert names[-7:] == ["aliases.jsonl", "keys.jsonl", *(f"audit/{n:06d}.jsonl" for n in range(1, 5)), MANIFEST_END]
    records = [name for name in names if name.startswith("records/")]
    assert records == [f"records/{n:06d}.jsonl" for n in range(1, 4)]  # 6 ids in pages of 2
    for sha256 in populate_files(source):  # each file once, before the first records chunk that needs it
        blob = names.index(f"blobs/{sha256}")
        assert names.count(f"blobs/{sha256}") == 1
        needing = [name for name in records if sha256 in read_member(archive, name)]
        assert blob < names.index(needing[0])
    end = manifest_end(archive)
    assert end["complete"] is True and end["problems"] == []
    assert {member["name"] for member in end["members"]} == {name for name in names if name.endswith(".jsonl")}
    with tarfile.open(archive) as tar:
        head = json.load(tar.extractfile(MANIFEST))
        keys = [json.loads(line) for line in tar.extractfile("keys.jsonl")]
    assert head["format"] == FORMAT and head["format_version"] == 1
    assert all("secret_hash" in key and len(key["secret_hash"]) == 64 for key in keys)


def populate_files(stores: Stores) -> set[str]:
    return {file.sha256 for model_id in stores.metadata.model_ids(limit=100)
            if (model := stores.metadata.export_record(model_id).model) is not None and (file := model.file)}


def read_member(path: Path, name: str) -> str:
    with tarfile.open(path) as tar:
        return tar.extractfile(name).read().decode()


def test_a_zstd_archive_round_trips(source, embedded, tmp_path):
    archive = tmp_path / "registry.tar.zst"
    assert export_to(source, archive, compress=True).ok
    assert archive.read_bytes()[:4] == ZSTD_MAGIC
    target = embedded("target")
    assert import_from(archive, target).ok  # recognised by its magic number, whatever its name
    assert snapshot(target) == snapshot(source)


# ---- missing and damaged files ---------------------------------------------------------------------

def test_files_missing_or_damaged_in_the_source_are_reported_and_the_rest_exported(pairing, embedded, tmp_path):
    source = pairing("source")
    made = populate(source)
    missing, damaged = made.versions["churn"], made.versions["second"]
    source.blobs.delete(missing.file.sha256)
    damage(source.blobs, damaged.file.sha256)
    archive = tmp_path / "registry.tar"

    exported = export_to(source, archive)
    assert not exported.ok and len(exported.problems) == 2
    assert missing.file.sha256 in exported.problems[0] or missing.file.sha256 in exported.problems[1]
    assert any("missing from the blob store" in p and f"churn_model v1.0 ({missing.id})" in p
               for p in exported.problems)
    assert any("hashes to sha256:" in p and f"fraud v1.1 ({damaged.id})" in p for p in exported.problems)
    assert exported.records == 6 and exported.blobs == 1  # the one good file; every record all the same
    assert manifest_end(archive)["problems"] == exported.problems

    target = embedded("target")
    imported = import_from(archive, target)
    assert not imported.ok and imported.export_problems == exported.problems
    assert imported.versions_copied == 3 and imported.blobs_copied == 1 and imported.blobs_rejected == 1
    assert any(f"fraud v1.1 ({damaged.id}): its file sha256:{damaged.file.sha256} is damaged in the archive" in f
               for f in imported.failures)
    assert any(f"churn_model v1.0 ({missing.id}): its file sha256:{missing.file.sha256} is not in the archive" in f
               for f in imported.failures)
    assert target.blobs.size(damaged.file.sha256) is None  # never restored as good
    expected, restored = snapshot(source), snapshot(target)
    for model_id in (missing.id, damaged.id):
        del expected["records"][model_id]
        assert model_id not in restored["records"]
    expected["files"] = {sha: data for sha, data in expected["files"].items()
                         if sha not in (missing.file.sha256, damaged.file.sha256)}
    # the aliases of the left-out versions cannot be set; everything else is as it was
    expected["aliases"] = [alias for alias in expected["aliases"] if alias.model_id not in (missing.id, damaged.id)]
    assert restored == expected


def test_files_damaged_or_missing_in_the_archive_are_refused(source, pairing, tmp_path):
    damaged = source.metadata.find_version("fraud", Version(1, 1))
    dropped = source.metadata.find_version("churn_model", Version(1, 0))
    archive, altered = tmp_path / "registry.tar", tmp_path / "altered.tar"
    export_to(source, archive)

    def change(name: str, data: bytes) -> bytes | None:
        if name == f"blobs/{damaged.file.sha256}":
            return data[:1000] + bytes([data[1000] ^ 1]) + data[1001:]  # one bit flipped
        if name == f"blobs/{dropped.file.sha256}":
            return None
        return data

    rewrite(archive, altered, change)
    target = pairing("target")
    imported = import_from(altered, target)
    assert not imported.ok
    assert imported.blobs_rejected == 1 and imported.blobs_copied == 1
    assert target.blobs.size(damaged.file.sha256) is None and target.blobs.size(dropped.file.sha256) is None
    text = "\n".join(imported.failures)
    assert f"file sha256:{damaged.file.sha256} arrived as sha256:" in text
    assert f"fraud v1.1 ({damaged.id}): its file sha256:{damaged.file.sha256} is damaged in the archive" in text
    assert f"churn_model v1.0 ({dropped.id}): its file sha256:{dropped.file.sha256} is not in the archive" in text
    assert "the archive holds 2 files, its manifest lists 3" in text
    restored = snapshot(target)
    assert damaged.id not in restored["records"] and dropped.id not in restored["records"]
    assert len(restored["records"]) == 4 and restored["keys"] == source.metadata.list_keys()

    # with the intact archive the same target is completed, and then holds everything
    completed = import_from(archive, target)
    assert completed.ok, completed.failures
    assert (completed.records_copied, completed.blobs_copied, completed.records_present) == (2, 2, 4)
    assert snapshot(target) == snapshot(source)


def test_a_damaged_records_member_is_not_imported(source, embedded, tmp_path):
    archive, altered = tmp_path / "registry.tar", tmp_path / "altered.tar"
    export_to(source, archive)
    rewrite(archive, altered, lambda name, data: data.replace(b'"fraud"', b'"frauD"')
            if name == "records/000001.jsonl" else data)
    target = embedded("target")
    imported = import_from(altered, target)
    assert not imported.ok
    assert any("records/000001.jsonl is damaged in the archive" in failure for failure in imported.failures)
    assert all(model.name != "frauD" for model, _ in snapshot(target)["records"].values() if model is not None)
    assert imported.records_copied == 4  # the other two pages


# ---- truncated and foreign archives ----------------------------------------------------------------

def cut_points(archive: Path) -> dict[str, int]:
    """Offsets inside a file member, inside a records member, and just before the end manifest."""
    with tarfile.open(archive) as tar:
        infos = tar.getmembers()
    blob = next(m for m in infos if m.name.startswith("blobs/") and m.size > 100_000)
    records = next(m for m in infos if m.name.startswith("records/"))
    end = next(m for m in infos if m.name == MANIFEST_END)
    return {"in a file": blob.offset_data + blob.size // 2, "in records": records.offset_data + 10,
            "before the end manifest": end.offset}


@pytest.mark.parametrize("where", ["in a file", "in records", "before the end manifest"])
def test_a_truncated_archive_is_refused_with_nothing_written(source, embedded, tmp_path, where):
    archive, cut = tmp_path / "registry.tar", tmp_path / "cut.tar"
    export_to(source, archive)
    cut.write_bytes(archive.read_bytes()[:cut_points(archive)[where]])
    target = embedded("target")
    with pytest.raises(Malformed) as refused:
        import_from(cut, target)
    assert "truncated" in refused.value.message and "no version, event, alias, key or audit record" in \
        refused.value.message
    assert empty(target)
    assert list((target.blobs.root / "tmp").iterdir()) == []  # no upload left half-written
    assert import_from(archive, target).ok  # the whole archive, later: everything
    assert snapshot(target) == snapshot(source)


def test_a_truncated_zstd_archive_is_refused(source, embedded, tmp_path):
    archive, cut = tmp_path / "registry.tar.zst", tmp_path / "cut.tar.zst"
    export_to(source, archive, compress=True)
    data = archive.read_bytes()
    target = embedded("target")
    for length in (len(data) // 3, len(data) - 20):
        cut.write_bytes(data[:length])
        with pytest.raises(Malformed, match="truncated"):
            import_from(cut, target)
        assert empty(target)
    cut.write_bytes(data[:100] + bytes(50) + data[150:])  # damaged inside the compressed stream
    with pytest.raises(Malformed):
        import_from(cut, target)
    assert empty(target)


def test_what_is_not_an_archive_is_refused(embedded, tmp_path):
    target = embedded("target")
    for name, data in {"empty": b"", "text": b"hello\n" * 1000}.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(Malformed):
            import_from(tmp_path / name, target)
    other = tmp_path / "other.tar"
    with tarfile.open(other, "w") as tar:
        info = tarfile.TarInfo("README")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    with pytest.raises(Malformed, match=re.escape("does not start with manifest.json")):
        import_from(other, target)
    assert empty(target)


def test_an_archive_of_a_newer_format_is_refused(source, embedded, tmp_path):
    archive, newer = tmp_path / "registry.tar", tmp_path / "newer.tar"
    export_to(source, archive)

    def bump(name: str, data: bytes) -> bytes:
        if name != MANIFEST:
            return data
        return json.dumps({**json.loads(data), "format_version": 2, "service_version": "9.0"}).encode()

    rewrite(archive, newer, bump)
    with pytest.raises(Malformed, match=re.escape("format version 2, written by model-service 9.0")):
        import_from(newer, embedded("target"))


# ---- memory --------------------------------------------------------------------------------------

def test_memory_stays_flat_whatever_the_file_size(embedded, tmp_path):
    """A 48 MiB file through export and import with 1 MiB chunks (the import also copies it to a
    local file for the scan): Python's peak allocation stays within a few chunks (tar's stream
    buffer and a chunk in flight), far below the file's size."""
    source = embedded("source")
    registry = Registry(source.metadata, source.blobs, max_file_size=1 << 30)
    model = registry.register(Registration(algorithm="xgboost", name="big"), "alice")
    upload = registry.begin_upload()
    digest, block = hashlib.sha256(), bytes(range(256)) * 4096  # 1 MiB
    for index in range(48):
        piece = block[index:] + block[:index]
        digest.update(piece)
        upload.write(piece)
    upload.finish()
    upload.filename, upload.format = "big.bin", "pickle"  # a pickle to the import's scan: copied whole to scan it
    registry.attach(model.id, upload, "alice")
    archive, chunk = tmp_path / "big.tar.zst", 1 << 20

    tracemalloc.start()
    try:
        with open(archive, "wb") as out:
            exported = export_registry(source, out, compress=True, chunk_size=chunk)
        _, export_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        target = embedded("target")
        with open(archive, "rb") as stream:
            imported = import_registry(stream, target, ImportPolicy(scanner=PickleScanner(), actor="test"),
                                       chunk_size=chunk)
        _, import_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert exported.ok and imported.ok and exported.blob_bytes == 48 << 20
    assert imported.scanned == 1 and target.metadata.get(model.id).file.scan.verdict is Verdict.UNSCANNED
    assert read_blob(target.blobs, digest.hexdigest()) is not None
    assert export_peak < 8 * chunk, export_peak
    assert import_peak < 8 * chunk, import_peak


# ---- the commands ----------------------------------------------------------------------------------

@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """The commands' configured stores: the embedded default under this DATA_DIR, populated."""
    data_dir = tmp_path / "data"
    for variable in ("DATABASE_URL", "BLOB_STORE_URL", "MONGODB_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    configured = Stores(*_open_configured(data_dir))
    populate(configured)
    configured.metadata.close()
    return data_dir


def test_the_commands_export_and_import_and_report(data_dir, tmp_path):
    runner = CliRunner()
    archive = tmp_path / "backup.tar.zst"
    exported = runner.invoke(main, ["export", str(archive), "--json"])
    assert exported.exit_code == 0, exported.output
    report = json.loads(exported.stdout)
    assert report["ok"] is True and report["records"] == 6 and report["blobs"] == 3
    assert archive.read_bytes()[:4] == ZSTD_MAGIC and not Path(f"{archive}.partial").exists()

    target = f"sqlite:///{tmp_path / 'restored' / 'registry.db'},{tmp_path / 'restored' / 'blobs'}"
    imported = runner.invoke(main, ["import", str(archive), "--to", target])
    assert imported.exit_code == 0, imported.output
    assert "6 imported, 0 already there" in imported.stdout and "each sha256 verified" in imported.stdout
    again = runner.invoke(main, ["import", str(archive), "--to", target, "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["records_present"] == 6

    # a file gone from the service's blob store: exported all the same, reported, exit status 1
    configured = Stores(*_open_configured(data_dir))
    churn = configured.metadata.find_version("churn_model", Version(1, 0))
    configured.blobs.delete(churn.file.sha256)
    configured.metadata.close()
    partial = runner.invoke(main, ["export", str(tmp_path / "partial.tar")])
    assert partial.exit_code == 1
    assert "problems: 1" in partial.stdout and "missing from the blob store" in partial.stdout
    fresh = f"sqlite:///{tmp_path / 'fresh' / 'registry.db'},{tmp_path / 'fresh' / 'blobs'}"
    skipped = runner.invoke(main, ["import", str(tmp_path / "partial.tar"), "--to", fresh])
    assert skipped.exit_code == 1 and "is not in the archive: not imported" in skipped.stdout

    (tmp_path / "cut.tar").write_bytes((tmp_path / "partial.tar").read_bytes()[:5000])
    refused = runner.invoke(main, ["import", str(tmp_path / "cut.tar"), "--to", fresh])
    assert refused.exit_code == 1 and "truncated" in refused.output and "Traceback" not in refused.output
    missing = runner.invoke(main, ["import", str(tmp_path / "nothing.tar"), "--to", fresh])
    assert missing.exit_code == 1 and "Could not read" in missing.output
    unwritable = runner.invoke(main, ["export", str(tmp_path / "no" / "such" / "dir.tar")])
    assert unwritable.exit_code == 1 and "Could not export to" in unwritable.output


@pytest.mark.usefixtures("data_dir")
def test_an_archive_streams_through_standard_output_and_input(tmp_path):
    runner = CliRunner()
    exported = runner.invoke(main, ["export", "-", "--zstd"])
    assert exported.exit_code == 0, exported.stderr
    assert exported.stdout_bytes[:4] == ZSTD_MAGIC and "records" in exported.stderr  # the summary on stderr
    target = f"sqlite:///{tmp_path / 'restored' / 'registry.db'},{tmp_path / 'restored' / 'blobs'}"
    imported = runner.invoke(main, ["import", "-", "--to", target, "--json"], input=exported.stdout_bytes)
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.stdout)["records_copied"] == 6


def _open_configured(data_dir: Path):
    from model_service.stores.blob_local import LocalBlobStore
    from model_service.stores.sql.store import SqlMetadataStore

    metadata = SqlMetadataStore.from_url(f"sqlite:///{data_dir / 'registry.db'}")
    metadata.prepare(migrate=True)
    return metadata, LocalBlobStore(data_dir / "blobs")


def test_a_status_no_client_may_set_survives_the_round_trip(source, embedded, tmp_path):
    if not any(status.value == "corrupted" for status in Status):
        pytest.skip("every status is one a client may set")
    model = source.metadata.find_version("fraud", Version(1, 1))
    source.metadata.update(model.id, {"status": Status("corrupted")}, "fsck", model.updated_at)
    archive = tmp_path / "registry.tar"
    export_to(source, archive)
    target = embedded("target")
    assert import_from(archive, target).ok
    assert target.metadata.get(model.id).status.value == "corrupted"
