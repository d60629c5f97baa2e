"""``model-service import`` trusts nothing an archive says: crafted archives, made with the real
exporter from a registry prepared here and then tampered with as bytes (a verdict swapped to
``safe`` for a file that is an unsafe pickle, a key row whose key is known, forged audit lines,
the end manifest's digests fixed up as an attacker would), and each attack shown to fail.

The unsafe file is a pickle written opcode by opcode (``tests/scanfiles.py``); nothing here ever
loads one."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from model_service.cli.main import main
from model_service.config import Settings
from model_service.domain.audit import Auditor, AuditQuery, AuditRecord
from model_service.domain.callers import Scope
from model_service.domain.errors import Unauthorized
from model_service.domain.ids import new_id
from model_service.domain.keys import ApiKey, Keys, hash_secret
from model_service.domain.models import FileInfo
from model_service.domain.scanning import FoundGlobal, ScanResult, Verdict
from model_service.domain.uploads import Upload
from model_service.operations.archive import MANIFEST_END, export_registry
from model_service.operations.archive_import import import_registry
from model_service.operations.archive_policy import ImportPolicy
from model_service.operations.transfer import Stores
from model_service.scanner.service import build_scanner
from tests.contract.helpers import draft
from tests.scanfiles import os_system_protocol0

from .archive_fixtures import PAIRINGS, later, populate, read_blob
from .test_archive import CHUNK, stores_of

ACTOR = "cli:tester"
PLANTED_KEY = "tfk_feedfacecafe_" + "A" * 43  # a key the attacker knows: its hash goes into the archive
PLANTED = ApiKey(key_id="feedfacecafe", name="backdoor", scopes=(Scope.ADMIN,), name_prefix=None,
                 secret_hash=hash_secret(PLANTED_KEY), created_at=later(50), created_by="admin")
EVIL = os_system_protocol0()  # ``cos\nsystem\n(S'echo pwned'\ntR.``: loading it runs a command
EVIL_SHA = hashlib.sha256(EVIL).hexdigest()
HONEST_SCAN = ScanResult(Verdict.UNSAFE, True, later(6), "picklescan", "1.0.5",
                         (FoundGlobal("os", "system", "dangerous"),), None, "Loading this file would import os.system")


def scanner_settings(tmp_path: Path, **overrides) -> Settings:
    return Settings(data_dir=tmp_path / "settings", **overrides)


def add_evil_version(stores: Stores) -> str:
    """A version whose file is the unsafe pickle, with the verdict an honest scan gave it, and an
    alias on it; its id."""
    upload = Upload(stores.blobs.begin_upload(), max_size=len(EVIL))
    upload.write(EVIL)
    upload.finish()
    upload.accept(FileInfo(sha256=EVIL_SHA, size_bytes=len(EVIL), format="pickle", filename="weights.pkl",
                           content_type="application/octet-stream", uploaded_at=later(6), scan=HONEST_SCAN))
    try:
        model = stores.metadata.create_version(draft("evil_model", at=later(6)), upload)
    finally:
        upload.abort()
    stores.metadata.move_alias("evil_model", "production", model.id, None, "ops", later(7))
    return model.id


def tamper(path: Path, out: Path, change: Callable[[str, bytes], bytes]) -> None:
    """Rewrite an archive member by member as ``change`` returns each, then fix the end manifest's
    size, sha256 and line count of every JSON-lines member changed: what an attacker does, since
    those digests check the archive's integrity, not who wrote it."""
    fixed: dict[str, dict] = {}
    with tarfile.open(path, "r|") as original, tarfile.open(out, "w|", format=tarfile.PAX_FORMAT) as copy:
        for member in original:
            data = original.extractfile(member).read()
            if member.name == MANIFEST_END:
                end = json.loads(data)
                end["members"] = [{**entry, **fixed.get(entry["name"], {})} for entry in end["members"]]
                data = json.dumps(end).encode()
            else:
                changed = change(member.name, data)
                if changed != data and member.name.endswith(".jsonl"):
                    fixed[member.name] = {"size": len(changed), "sha256": hashlib.sha256(changed).hexdigest(),
                                          "lines": changed.count(b"\n")}
                data = changed
            member.size = len(data)
            copy.addfile(member, io.BytesIO(data))


def swap_verdict_to_safe(model_id: str) -> Callable[[str, bytes], bytes]:
    def change(name: str, data: bytes) -> bytes:
        if not name.startswith("records/") or model_id.encode() not in data:
            return data
        lines = []
        for line in data.splitlines():
            record = json.loads(line)
            if record["model_id"] == model_id:
                record["model"]["file"]["scan"] = {**record["model"]["file"]["scan"], "verdict": "safe",
                                                   "globals": [], "detail": "Every import is known to be harmless"}
            lines.append(json.dumps(record).encode())
        return b"\n".join(lines) + b"\n"
    return change


def plant_key(name: str, data: bytes) -> bytes:
    if name != "keys.jsonl":
        return data
    row = {"key_id": PLANTED.key_id, "name": PLANTED.name, "scopes": ["admin"], "name_prefix": None,
           "secret_hash": PLANTED.secret_hash, "created_at": PLANTED.created_at.isoformat(),
           "created_by": "admin", "expires_at": None, "revoked_at": None, "revoked_by": None}
    return data + json.dumps(row).encode() + b"\n"


FORGED_AT = datetime(2026, 1, 2, 9, 0, tzinfo=UTC)
FORGED_ID = new_id(FORGED_AT.timestamp())


def forge_audit(name: str, data: bytes) -> bytes:
    """One more line in the first audit page: alice, it says, deleted a model; and one claiming
    to have been imported already, from an archive of its own choosing."""
    if name != "audit/000001.jsonl":
        return data
    forged = {"id": FORGED_ID, "at": FORGED_AT.isoformat(), "action": "model.delete", "actor": "alice",
              "key_id": None, "model_id": None, "name": "fraud", "version": "v1.0",
              "details": {"file": {"sha256": "0" * 64}}, "client_ip": "10.0.0.1", "request_id": "req-forged"}
    claims = {**forged, "id": new_id(FORGED_AT.timestamp()), "action": "alias.set",
              "details": {"imported": {"archive_sha256": "f" * 64, "by": "nobody", "at": "2020-01-01T00:00:00+00:00"}}}
    return data + json.dumps(forged).encode() + b"\n" + json.dumps(claims).encode() + b"\n"


def restore(path: Path, target: Stores, **policy):
    with open(path, "rb") as archive:
        return import_registry(archive, target, ImportPolicy(**{"scanner": None, "actor": ACTOR, **policy}),
                               chunk_size=CHUNK)


@pytest.fixture
def crafted(request, tmp_path) -> tuple[Path, str, Stores]:
    """An archive of a populated registry (embedded) with an unsafe version added, then tampered
    with all three ways; the unsafe version's id, and the source."""
    source = stores_of(request, "embedded")("source")
    populate(source)
    evil_id = add_evil_version(source)
    archive, crafted = tmp_path / "registry.tar", tmp_path / "crafted.tar"
    with open(archive, "wb") as out:
        assert export_registry(source, out, chunk_size=CHUNK, page_size=2).ok
    swap = swap_verdict_to_safe(evil_id)
    tamper(archive, crafted, lambda name, data: forge_audit(name, plant_key(name, swap(name, data))))
    with tarfile.open(crafted) as tar:  # the archive does say what the attacker wants it to
        lines = [json.loads(line) for member in tar.getmembers() if member.name.startswith("records/")
                 for line in tar.extractfile(member)]
    claimed = next(line["model"]["file"]["scan"] for line in lines if line["model_id"] == evil_id)
    assert claimed["verdict"] == "safe" and claimed["globals"] == []
    return crafted, evil_id, source


# ---- 1. verdicts are the scanner's, never the archive's ------------------------------------------

@pytest.mark.parametrize("pairing", list(PAIRINGS))
def test_a_verdict_swapped_to_safe_is_scanned_again_and_found_unsafe(crafted, request, tmp_path, pairing):
    path, evil_id, _ = crafted
    target = stores_of(request, pairing)("target")
    before = datetime.now(UTC)
    summary = restore(path, target, scanner=build_scanner(scanner_settings(tmp_path)))
    scan = target.metadata.get(evil_id).file.scan
    assert scan.verdict is Verdict.UNSAFE, scan
    assert ("os", "system") in {(found.module, found.name) for found in scan.globals}
    assert scan.scanner == "picklescan" and scan.scanned_at >= before  # scanned now, not when the archive says
    assert summary.scanned == 5 and summary.verdicts == {"unsafe": 1, "unscanned": 4}  # the populated files are
    # random bytes: as pickles (their format) they do not parse, a failed scan
    assert any(f"evil_model v1.0 ({evil_id}): the archive says safe, the scan says unsafe" in notice
               for notice in summary.rescanned_differently)
    assert read_blob(target.blobs, EVIL_SHA) == EVIL  # kept (REJECT_UNSAFE_MODELS is off), judged unsafe


def test_with_scanning_off_every_imported_file_is_unscanned(crafted, request):
    path, evil_id, source = crafted
    target = stores_of(request, "embedded")("target")
    restore(path, target, scanner=None)
    for model_id in target.metadata.model_ids(limit=100):
        model = target.metadata.export_record(model_id).model
        if model is not None and model.file is not None:
            assert model.file.scan.verdict is Verdict.UNSCANNED and model.file.scan.reason == "scanning_disabled"
    assert source.metadata.get(evil_id).file.scan.verdict is Verdict.UNSAFE  # the source is untouched


def test_under_reject_unsafe_models_the_unsafe_version_is_refused_with_its_file(crafted, request, tmp_path):
    path, evil_id, _ = crafted
    target = stores_of(request, "embedded")("target")
    summary = restore(path, target, scanner=build_scanner(scanner_settings(tmp_path)), reject_unsafe=True)
    assert not summary.ok and summary.refused_unsafe == 1
    assert any(f"evil_model v1.0 ({evil_id}): refused: loading its file would import os.system" in failure
               for failure in summary.failures)
    assert evil_id not in target.metadata.model_ids(limit=100)
    assert target.blobs.size(EVIL_SHA) is None  # stored while the archive was read, removed once refused
    assert all(alias.name != "evil_model" for alias in target.metadata.all_aliases())
    assert any("alias evil_model@production" in failure for failure in summary.failures)
    assert summary.versions_copied == 5  # every other version


# ---- 2. keys: none unless asked for ----------------------------------------------------------------

def keys_of(stores: Stores) -> Keys:
    def now() -> datetime:
        return datetime.now(UTC)
    return Keys(stores.metadata, Auditor(stores.metadata, clock=now), clock=now, cache_seconds=0)


def test_a_planted_key_does_not_authenticate_after_an_import(crafted, request):
    path, _, _ = crafted
    target = stores_of(request, "embedded")("target")
    summary = restore(path, target)
    assert target.metadata.list_keys() == [] and summary.keys_copied == 0
    assert summary.keys_ignored == 4  # the source's three and the planted one
    with pytest.raises(Unauthorized):
        keys_of(target).authenticate(PLANTED_KEY)


def test_with_keys_the_archive_key_hashes_authenticate(crafted, request):
    path, _, _ = crafted
    target = stores_of(request, "embedded")("target")
    summary = restore(path, target, with_keys=True)
    assert summary.keys_copied == 4 and summary.keys_ignored == 0
    assert keys_of(target).authenticate(PLANTED_KEY).actor == "backdoor"  # what --with-keys warns of


# ---- 3. audit records: history from the archive, marked as such ---------------------------------

def audit_log(stores: Stores) -> list[AuditRecord]:
    return stores.metadata.audit_records(AuditQuery(limit=1000))


def test_forged_audit_records_are_marked_imported_not_taken_for_native_history(crafted, request):
    path, _, _ = crafted
    target = stores_of(request, "embedded")("target")
    before = datetime.now(UTC)
    summary = restore(path, target)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    records = {record.id: record for record in audit_log(target)}
    forged = records[FORGED_ID]
    assert forged.actor == "alice" and forged.action == "model.delete"  # what the archive says, as its claim
    mark = forged.details["imported"]
    assert (mark["archive_sha256"], mark["by"]) == (digest, ACTOR)
    assert before <= datetime.fromisoformat(mark["at"]) <= datetime.now(UTC)
    assert forged.details["file"] == {"sha256": "0" * 64}  # the rest of its details as they were
    claiming = next(r for r in records.values() if r.action == "alias.set" and r.actor == "alice")
    assert claiming.details["imported"]["archive_sha256"] == digest  # its own claim does not stand...
    assert claiming.details["imported"]["earlier"]["by"] == "nobody"  # ...it is kept as the archive's word

    native = [r for r in records.values() if "imported" not in r.details]
    assert [r.action for r in native] == ["registry.import"]  # the import itself is the one native record
    assert native[0].actor == ACTOR and native[0].details["archive_sha256"] == digest
    assert native[0].details["audit_copied"] == summary.audit_copied == 9
    assert native[0].details["keys_copied"] == 0 and native[0].details["with_keys"] is False


def test_importing_again_writes_nothing_but_the_record_of_the_import(crafted, request):
    path, _, _ = crafted
    target = stores_of(request, "embedded")("target")
    first = restore(path, target)
    again = restore(path, target)
    assert (again.records_copied, again.audit_copied, again.scanned) == (0, 0, 0)
    assert again.records_present == first.records_copied and again.audit_present == first.audit_copied
    assert [r.action for r in audit_log(target)].count("registry.import") == 2


# ---- the command -------------------------------------------------------------------------------------

def test_the_command_imports_no_keys_by_default_and_warns_with_keys(crafted, tmp_path, monkeypatch):
    path, evil_id, _ = crafted
    for variable in ("DATABASE_URL", "BLOB_STORE_URL", "MONGODB_URL", "REJECT_UNSAFE_MODELS", "SCAN_MODELS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    target = f"sqlite:///{tmp_path / 'one' / 'registry.db'},{tmp_path / 'one' / 'blobs'}"
    imported = runner.invoke(main, ["import", str(path), "--to", target])
    assert imported.exit_code == 0, imported.output
    assert "API keys: not imported (4 in the archive; --with-keys imports them)" in imported.stdout
    assert "files scanned again: 5 (unsafe: 1, unscanned: 4)" in imported.stdout
    assert f"archive sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}" in imported.stdout
    assert "WARNING" not in imported.stderr

    with_keys = runner.invoke(main, ["import", str(path), "--to", target, "--with-keys", "--json"])
    assert with_keys.exit_code == 0, with_keys.output
    assert "WARNING: --with-keys" in with_keys.stderr and "will authenticate" in with_keys.stderr
    assert json.loads(with_keys.stdout)["keys_copied"] == 4

    monkeypatch.setenv("REJECT_UNSAFE_MODELS", "true")
    strict = f"sqlite:///{tmp_path / 'two' / 'registry.db'},{tmp_path / 'two' / 'blobs'}"
    refused = runner.invoke(main, ["import", str(path), "--to", strict])
    assert refused.exit_code == 1
    assert f"evil_model v1.0 ({evil_id}): refused: loading its file would import os.system" in refused.stdout
