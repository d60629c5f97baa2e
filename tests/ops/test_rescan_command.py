"""``model-service scan --stale`` end to end on the embedded default: a malicious file that an
older scanner judged ``safe`` is re-scanned, and the registry serves the new verdict at once
(``X-Model-Scan``, ``/info``, the web UI, the history and the audit log). Nothing is loaded: the
file is built opcode by opcode and only scanned."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from model_service.cli.main import main
from model_service.scanner.service import PickleScanner
from model_service.server.app import create_app
from model_service.stores.blob_local import LocalBlobStore
from model_service.stores.sql.store import SqlMetadataStore
from tests.conftest import make_settings

from .rescan_fixtures import NEVER_SCANNED, OLD_SAFE, current, plain_data, plant, runs_a_command

MODELS = "/api/v1/models"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    for name in ("DATABASE_URL", "BLOB_STORE_URL", "MONGODB_URL", "SCAN_MODELS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "data"


def embedded(data_dir: Path) -> tuple[SqlMetadataStore, LocalBlobStore]:
    settings = make_settings(data_dir)
    metadata = SqlMetadataStore.from_url(settings.resolved_database_url)
    metadata.prepare(migrate=True)
    return metadata, LocalBlobStore(Path(settings.resolved_blob_store_url))


def planted(data_dir: Path) -> dict[str, str]:
    """Two versions on one malicious blob judged safe by an old scanner, one plain file never
    scanned, and one file the running scanner already judged (not stale)."""
    metadata, blobs = embedded(data_dir)
    try:
        evil = runs_a_command()
        ids = {"evil_1": plant(metadata, blobs, "fraud", evil, OLD_SAFE).id,
               "evil_2": plant(metadata, blobs, "fraud", evil, OLD_SAFE).id,
               "old_upload": plant(metadata, blobs, "churn", plain_data(1), None).id}
        fresh = current(OLD_SAFE, PickleScanner().version)
        ids["fresh"] = plant(metadata, blobs, "churn", plain_data(2), fresh).id
    finally:
        metadata.close()
        blobs.close()
    return ids


def served_verdicts(client: TestClient, model_id: str) -> tuple[str, str, str]:
    """The verdict as the download header, ``/info`` and the version's JSON give it."""
    header = client.head(f"{MODELS}/{model_id}/download").headers["x-model-scan"]
    info = client.get(f"{MODELS}/{model_id}/info").json()["file_metadata"]["scan"]["verdict"]
    record = client.get(f"{MODELS}/{model_id}").json()["file_metadata"]["scan"]["verdict"]
    return header, info, record


def test_a_stale_safe_verdict_on_a_malicious_file_becomes_unsafe_everywhere(data_dir, caplog):
    ids = planted(data_dir)
    settings = make_settings(data_dir)
    with TestClient(create_app(settings)) as client:
        assert served_verdicts(client, ids["evil_1"]) == ("safe", "safe", "safe")  # the stale verdict

    with caplog.at_level(logging.WARNING, logger="model_service"):
        result = CliRunner().invoke(main, ["scan", "--stale", "--json"])

    with TestClient(create_app(settings)) as client:
        for key in ("evil_1", "evil_2"):
            assert served_verdicts(client, ids[key]) == ("unsafe", "unsafe", "unsafe")
            scan = client.get(f"{MODELS}/{ids[key]}").json()["file_metadata"]["scan"]
            assert {"module": "os", "name": "system", "safety": "dangerous"} in scan["globals"]
            assert scan["scanner_version"] == PickleScanner().version
            page = client.get(f"/ui/models/{ids[key]}")
            assert page.status_code == 200 and 'class="badge scan-unsafe"' in page.text
            history = client.get(f"{MODELS}/{ids[key]}/history").json()["events"]
            assert [e["kind"] for e in history] == ["created", "uploaded", "scanned"]
            assert (history[-1]["actor"], history[-1]["data"]["from"], history[-1]["data"]["to"]) == \
                ("rescan", "safe", "unsafe")
        assert served_verdicts(client, ids["old_upload"]) == ("safe", "safe", "safe")  # now actually scanned
        assert served_verdicts(client, ids["fresh"]) == ("safe", "safe", "safe")
        fresh = client.get(f"{MODELS}/{ids['fresh']}").json()["file_metadata"]["scan"]
        assert fresh["scanned_at"].startswith("2025-06-01")  # not stale: not scanned again
        audit = client.get("/api/v1/audit", params={"action": "model.rescan"}).json()["records"]
        assert sorted(r["model_id"] for r in audit) == sorted([ids["evil_1"], ids["evil_2"], ids["old_upload"]])
        assert {r["actor"] for r in audit} == {"rescan"}
        evil_record = next(r for r in audit if r["model_id"] == ids["evil_1"])
        assert evil_record["details"]["from"] == "safe" and evil_record["details"]["to"] == "unsafe"
        first = client.get(f"{MODELS}/{ids['evil_1']}").json()["file_metadata"]["scan"]
        second = client.get(f"{MODELS}/{ids['evil_2']}").json()["file_metadata"]["scan"]
        assert first == second  # one scan of the shared blob, recorded on both versions

    assert result.exit_code == 1, result.output  # a verdict got worse: like fsck finding a problem
    report = json.loads(result.stdout)
    assert (report["files"], report["versions"], report["worse"], report["errors"]) == (2, 3, 2, [])
    assert sorted((c["model_id"], c["from"], c["to"]) for c in report["changed"]) == sorted(
        [(ids["evil_1"], "safe", "unsafe"), (ids["evil_2"], "safe", "unsafe"),
         (ids["old_upload"], "unscanned", "safe")])
    warnings = [r.getMessage() for r in caplog.records
                if r.name == "model_service.operations.rescan" and r.levelno == logging.WARNING]
    assert len(warnings) == 2 and all("os.system" in line and "safe → unsafe" in line for line in warnings)
    evil_sha256 = hashlib.sha256(runs_a_command()).hexdigest()
    assert all(evil_sha256 in line and "fraud v1." in line for line in warnings)

    again = CliRunner().invoke(main, ["scan", "--stale", "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["files"] == 0  # nothing stale any more


def test_a_never_recorded_verdict_is_stale_too(data_dir):
    metadata, blobs = embedded(data_dir)
    try:
        model = plant(metadata, blobs, "fraud", runs_a_command(), NEVER_SCANNED)
    finally:
        metadata.close()
        blobs.close()
    result = CliRunner().invoke(main, ["scan", "--stale"])
    assert result.exit_code == 1, result.output
    assert f"fraud v1.0 ({model.id}): unscanned → unsafe" in result.stdout
    with TestClient(create_app(make_settings(data_dir))) as client:
        assert served_verdicts(client, model.id) == ("unsafe", "unsafe", "unsafe")


def test_the_dry_run_lists_and_changes_nothing(data_dir):
    ids = planted(data_dir)
    dry = CliRunner().invoke(main, ["scan", "--stale", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    report = json.loads(dry.stdout)
    assert report["dry_run"] is True and (report["files"], report["versions"]) == (2, 3)
    assert sorted((p["model_id"], p["why"]) for p in report["pending"]) == sorted(
        [(ids["evil_1"], "older_scanner"), (ids["evil_2"], "older_scanner"), (ids["old_upload"], "not_recorded")])
    text = CliRunner().invoke(main, ["scan", "--stale", "--dry-run"])
    assert text.exit_code == 0 and "would re-scan 2 file(s) (3 version(s))" in text.stdout
    with TestClient(create_app(make_settings(data_dir))) as client:
        assert served_verdicts(client, ids["evil_1"]) == ("safe", "safe", "safe")
        assert client.get("/api/v1/audit", params={"action": "model.rescan"}).json()["records"] == []
        assert [e["kind"] for e in client.get(f"{MODELS}/{ids['evil_1']}/history").json()["events"]] == [
            "created", "uploaded"]


def test_the_limit_bounds_the_files_scanned(data_dir):
    planted(data_dir)
    first = CliRunner().invoke(main, ["scan", "--stale", "--limit", "1", "--json"])
    report = json.loads(first.stdout)
    assert report["files"] == 1 and report["resume"] is not None
    rest = json.loads(CliRunner().invoke(main, ["scan", "--stale", "--json"]).stdout)
    assert rest["files"] == 1 and (report["versions"] + rest["versions"]) == 3


@pytest.mark.usefixtures("data_dir")
def test_usage_errors():
    assert CliRunner().invoke(main, ["scan"]).exit_code == 2  # say what to scan
    assert CliRunner().invoke(main, ["scan", "--stale", "--limit", "0"]).exit_code == 2
    off = CliRunner().invoke(main, ["scan", "--stale"], env={"SCAN_MODELS": "false"})
    assert off.exit_code == 1 and "SCAN_MODELS" in off.output
