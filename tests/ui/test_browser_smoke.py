"""The browser fixtures work: Chromium reaches the live server, screenshots land in the output
folder, and the seeded registry is what the API serves to a read-only key."""

from __future__ import annotations

import pytest

from .browser import VIEWPORTS, output_dir


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=str)
def test_chromium_opens_the_live_server(page, viewport, screenshot):
    response = page.goto("/health")

    assert response is not None and response.status == 200
    assert response.json()["status"] == "healthy"
    # the screen the browser emulates (a phone lays a page without <meta name=viewport> out 980 px wide)
    assert page.evaluate("() => [screen.width, screen.height]") == [viewport.width, viewport.height]
    shot = screenshot(page, f"smoke-health-{viewport}")
    assert shot.parent == output_dir()
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_read_key_sees_the_seeded_registry(page, read_key, seeded):
    response = page.request.get("/api/v1/models", params={"limit": 100}, headers={"X-API-Key": read_key})

    assert response.status == 200
    listed = {(model["name"], model["version"]) for model in response.json()["models"]}
    assert listed == {(name, version) for name in seeded.names for version in seeded.versions(name)}
    assert response.json()["pagination"]["total"] == seeded.total_versions == 10


def test_seeded_registry_has_what_the_ui_tests_rely_on(live_server, read_key, seeded):
    fraud = seeded.versions("fraud_model")
    assert fraud == ["v1.0", "v1.1", "v1.2", "v2.0", "v2.1"]
    assert [seeded.model("fraud_model", v)["parent_model_id"] for v in fraud] == [
        None, *(seeded.id("fraud_model", v) for v in fraud[:-1])]
    assert len({str(seeded.model("fraud_model", v)["metrics"]) for v in fraud}) == 5
    assert len({str(seeded.model("fraud_model", v)["hyperparameters"]) for v in fraud[:4]}) == 4
    without = [(name, version) for name in seeded.names for version in seeded.versions(name)
               if seeded.model(name, version)["file_metadata"] is None]
    assert without == [seeded.without_file] == [("fraud_model", "v2.1")]
    assert {seeded.model(n, v)["status"] for n in seeded.names for v in seeded.versions(n)} == {
        "active", "deprecated", "archived"}
    assert seeded.model("fraud_model", "v1.2")["download_count"] == 3

    with live_server.client(read_key) as client:
        aliases = client.get("/api/v1/models/by-name/fraud_model/aliases").json()["aliases"]
        moves = client.get("/api/v1/models/by-name/fraud_model/history", params={"alias": "production"}).json()
        status_events = client.get(f"/api/v1/models/{seeded.id('fraud_model', 'v1.0')}/history").json()["events"]
    assert {a["alias"]: a["version"] for a in aliases} == {"production": "v1.2", "staging": "v2.0"}
    assert seeded.alias_history[("fraud_model", "production")] == ["v1.1", "v1.2"]
    assert len([e for e in moves["events"] if e["kind"] == "alias"]) == 2
    assert [(e["actor"], e["data"]) for e in status_events if e["kind"] == "status"] == [
        ("ui-writer", {"from": "active", "to": "deprecated"})]
