"""Names round-trip through real URLs (in process, the test client decodes paths twice)."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest


@pytest.mark.parametrize("name", ["fraud%2Fv+1", "RandomForest_95.2%_Dec16", "a%25b", "x+y.z-w_1"])
def test_every_valid_name_round_trips_through_the_url(live_server, name):
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        created = client.post("/api/v1/models", json={"name": name, "algorithm": "svm"})
        assert created.status_code == 201, created.text
        path = f"/api/v1/models/by-name/{quote(name, safe='')}"
        versions = client.get(path)
        assert versions.status_code == 200, versions.text
        assert versions.json()["name"] == name
        assert [v["id"] for v in versions.json()["versions"]] == [created.json()["model_id"]]
        latest = client.get(f"{path}/versions/latest")
        assert latest.json()["name"] == name
