"""A real ``serve`` with several workers: any worker answers /metrics with everyone's counts,
and the request lines go out as JSON on the server's output."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from .conftest import start_server, stop_server

REGISTRATIONS = 8


def registrations(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "model_registrations_total" and sample.labels == {"algorithm": "shared"}:
                return sample.value
    return 0.0


def test_every_worker_reports_the_totals_of_all(tmp_path: Path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    server = start_server(data_dir, WORKERS="2", ACCESS_LOG="true", LOG_LEVEL="INFO", LOG_FORMAT="json")
    try:
        for i in range(REGISTRATIONS):  # a fresh connection each time: spread over the workers
            response = httpx.post(f"{server.url}/api/v1/models", json={"name": f"m{i}", "algorithm": "shared"},
                                  headers={"X-Request-ID": f"sys-{i}"})
            assert response.status_code == 201, response.text
        scrapes = [httpx.get(f"{server.url}/metrics").text for _ in range(6)]
    finally:
        stop_server(server)

    assert [registrations(text) for text in scrapes] == [REGISTRATIONS] * len(scrapes)
    log = next(tmp_path.glob("server-*.log")).read_text()
    entries = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert len(entries) == len([line for line in log.splitlines() if line.strip()]), log  # every line is JSON
    access = [e for e in entries if e["logger"] == "model_service.access" and e["route"] == "/api/v1/models"]
    assert sorted(e["request_id"] for e in access) == sorted(f"sys-{i}" for i in range(REGISTRATIONS))
    assert not [e for e in entries if e["logger"] == "uvicorn.access"]
