"""The server's background re-scan (``RESCAN_INTERVAL``, ``RESCAN_BATCH``): a running app re-scans
stale files on its own, a bounded number per pass, serves the new verdict at once and counts the
worse ones in ``/metrics``. Waits are bounded (on the passes themselves), never fixed sleeps."""

from __future__ import annotations

import logging

from fastapi.testclient import TestClient

from model_service.scanner.service import PickleScanner
from model_service.server.app import create_app
from model_service.server.rescan import BackgroundRescan
from tests.conftest import make_settings

from .maintenance_fixtures import stack_fixture as stack_fixture  # the fixture `stack`
from .rescan_fixtures import OLD_SAFE, plain_data, plant, runs_a_command

MODELS = "/api/v1/models"
WORSENED = 'model_scan_verdicts_worsened_total{after="unsafe",before="safe"} 1.0'


def test_a_running_server_rescans_stale_files_and_serves_the_new_verdict(tmp_path, caplog):
    app = create_app(make_settings(tmp_path / "data", rescan_interval=0.05, rescan_batch=1))
    registry = app.state.registry
    evil = plant(registry.metadata, registry.blobs, "fraud", runs_a_command(), OLD_SAFE)
    old_upload = plant(registry.metadata, registry.blobs, "churn", plain_data(1), None)
    with caplog.at_level(logging.WARNING, logger="model_service.operations.rescan"), TestClient(app) as client:
        passes = app.state.rescan
        # one file per pass; the first pass starts at a random sha256, so three passes reach both
        assert passes.wait_for_passes(3, timeout=120), "the background pass did not run"
        assert client.head(f"{MODELS}/{evil.id}/download").headers["x-model-scan"] == "unsafe"
        assert client.get(f"{MODELS}/{evil.id}/info").json()["file_metadata"]["scan"]["verdict"] == "unsafe"
        assert client.get(f"{MODELS}/{old_upload.id}").json()["file_metadata"]["scan"]["verdict"] == "safe"
        assert WORSENED in client.get("/metrics").text
        events = client.get(f"{MODELS}/{evil.id}/history").json()["events"]
        assert [e["kind"] for e in events] == ["created", "uploaded", "scanned"]  # once, whatever the passes
    assert any(evil.file.sha256 in r.getMessage() and "safe → unsafe" in r.getMessage() for r in caplog.records)
    assert passes.join(timeout=0)  # stopped with the app


def test_each_pass_scans_at_most_its_batch_and_goes_on_where_the_last_stopped(stack):
    models = [plant(stack.metadata, stack.blobs, "fraud", plain_data(n), OLD_SAFE) for n in range(5)]
    order = sorted(m.file.sha256 for m in models)
    passes = BackgroundRescan(stack.metadata, stack.blobs, PickleScanner(timeout=30), interval=3600, batch=2,
                              start=order[3], clock=stack.clock)
    assert [passes.run_pass().files for _ in range(5)] == [2, 2, 1, 0, 0]  # [3:5], then wraps: [0:2], [2:3]
    assert all(stack.registry.get(m.id).file.scan.scanner_version == PickleScanner().version for m in models)


def test_no_pass_without_an_interval_or_a_scanner(tmp_path):
    assert create_app(make_settings(tmp_path / "a", rescan_interval=0)).state.rescan is None
    assert create_app(make_settings(tmp_path / "b", scan_models=False)).state.rescan is None
    assert create_app(make_settings(tmp_path / "c")).state.rescan.interval == 3600
