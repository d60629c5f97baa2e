"""The request log: one line per request, in text or JSON, with the request id; other records too."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator

import pytest

from model_service.server.logs import ACCESS_LOGGER, configure_logging

from .helpers import MODELS, UNKNOWN_ID, download, model_url, register_model


@pytest.fixture
def logged(make_client):
    """A client whose app logs its request lines (``ACCESS_LOG=true``)."""
    return make_client(access_log=True)


@pytest.fixture
def log_output() -> Iterator[Callable[..., io.StringIO]]:
    """Configure logging as ``serve`` does, into a buffer; ``log_output("json")`` returns the buffer.
    The root and uvicorn loggers are put back afterwards."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    uvicorn_access = logging.getLogger("uvicorn.access").disabled
    buffer = io.StringIO()

    def configure(log_format: str, level: str = "INFO") -> io.StringIO:
        configure_logging(level, log_format, stream=buffer)
        return buffer

    yield configure
    for handler in list(root.handlers):
        if handler not in saved[0]:
            root.removeHandler(handler)
    root.setLevel(saved[1])
    logging.getLogger("uvicorn.access").disabled = uvicorn_access


def access_records(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == ACCESS_LOGGER]


def test_one_line_per_request_with_its_fields(logged, caplog):
    model_id = register_model(logged)["model_id"]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        response = logged.get(model_url(model_id), headers={"X-Actor": "alice"})

    [record] = access_records(caplog)
    fields = record.http
    assert fields == {
        "method": "GET",
        "route": "/api/v1/models/{model_id}",
        "path": f"/api/v1/models/{model_id}",
        "status": 200,
        "duration_ms": fields["duration_ms"],
        "bytes_out": len(response.content),
        "client": "testclient:50000",
        "actor": "alice",
        "request_id": response.headers["x-request-id"],
    }
    assert fields["duration_ms"] > 0
    assert record.request_id == response.headers["x-request-id"]
    assert record.levelno == logging.INFO
    assert record.getMessage().startswith(f"GET /api/v1/models/{model_id} 200 {len(response.content)}B ")


def test_the_request_id_is_the_clients_when_it_sends_one(logged, caplog):
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        response = logged.get(model_url(UNKNOWN_ID), headers={"X-Request-ID": "trace-77"})

    assert response.headers["x-request-id"] == "trace-77"
    [record] = access_records(caplog)
    assert record.http["request_id"] == "trace-77"
    assert record.http["status"] == 404


def test_every_request_gets_exactly_one_line(logged, caplog, content):
    model_id = register_model(logged)["model_id"]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        logged.post(model_url(model_id, "/upload"), content=content,
                    headers={"content-type": "application/octet-stream"})
        download(logged, model_id)
        logged.get(MODELS, params={"limit": 5})
        logged.get("/no/such/page")

    lines = [(r.http["method"], r.http["route"], r.http["status"]) for r in access_records(caplog)]
    assert lines == [("POST", "/api/v1/models/{model_id}/upload", 201),
                     ("GET", "/api/v1/models/{model_id}/download", 200),
                     ("GET", "/api/v1/models", 200),
                     ("GET", "unmatched", 404)]
    assert access_records(caplog)[1].http["bytes_out"] == len(content)
    assert access_records(caplog)[2].http["path"] == "/api/v1/models?limit=5"


def test_probes_and_scrapes_log_at_debug(logged, caplog):
    with caplog.at_level(logging.DEBUG, logger=ACCESS_LOGGER):
        logged.get("/health")
        logged.get("/metrics")
        logged.post("/health")

    levels = [(r.http["route"], r.http["status"], r.levelname) for r in access_records(caplog)]
    assert levels == [("/health", 200, "DEBUG"), ("/metrics", 200, "DEBUG"), ("/health", 405, "INFO")]


def test_access_log_off_means_no_lines(client, caplog):
    with caplog.at_level(logging.DEBUG, logger=ACCESS_LOGGER):
        client.get(MODELS)

    assert access_records(caplog) == []


def test_control_characters_in_a_path_cannot_forge_log_lines(logged, caplog):
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        logged.get("/api/v1/x%0AERROR%20forged")

    [record] = access_records(caplog)
    assert "\n" not in record.getMessage()


def test_json_lines_parse_and_carry_the_fields(logged, log_output):
    buffer = log_output("json")
    response = logged.get(MODELS, headers={"X-Request-ID": "json-1", "X-Actor": "bob"})

    entries = [json.loads(line) for line in buffer.getvalue().splitlines()]
    [entry] = [e for e in entries if e["logger"] == ACCESS_LOGGER]
    assert entry["request_id"] == "json-1" == response.headers["x-request-id"]
    assert {key: entry[key] for key in ("level", "method", "route", "path", "status", "bytes_out", "actor")} == {
        "level": "INFO", "method": "GET", "route": "/api/v1/models", "path": "/api/v1/models", "status": 200,
        "bytes_out": len(response.content), "actor": "bob"}
    assert entry["time"].endswith("Z")
    assert isinstance(entry["duration_ms"], float)
    assert entry["message"].startswith("GET /api/v1/models 200")


def test_text_lines_end_with_the_request_id(logged, log_output):
    buffer = log_output("text")
    logged.get(MODELS, headers={"X-Request-ID": "text-1"})

    [line] = [line for line in buffer.getvalue().splitlines() if ACCESS_LOGGER in line]
    assert " INFO model_service.access: GET /api/v1/models 200 " in line
    assert line.endswith(" request_id=text-1")


def test_errors_inside_a_request_carry_its_id_and_traceback(make_client, log_output, monkeypatch):
    client = make_client(raise_server_exceptions=False, access_log=True)
    buffer = log_output("json")

    def broken(*args, **kwargs):
        logging.getLogger("model_service.test").warning("about to fail")  # in a worker thread
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(client.app.state.registry, "search", broken)
    assert client.get(MODELS, headers={"X-Request-ID": "err-9"}).status_code == 500

    entries = [json.loads(line) for line in buffer.getvalue().splitlines()]
    by_logger = {entry["logger"]: entry for entry in entries}
    assert by_logger["model_service.test"]["request_id"] == "err-9"
    error = by_logger["model_service.server"]
    assert error["level"] == "ERROR" and error["request_id"] == "err-9"
    assert "RuntimeError: secret internal detail" in error["exception"]
    assert by_logger[ACCESS_LOGGER]["status"] == 500 and by_logger[ACCESS_LOGGER]["request_id"] == "err-9"


def test_records_outside_requests_have_no_request_id(log_output):
    buffer = log_output("json")
    logging.getLogger("model_service.test").info("starting")

    [entry] = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert entry["message"] == "starting" and "request_id" not in entry


def test_the_level_filters_lines(logged, log_output):
    buffer = log_output("json", level="WARNING")
    logged.get(MODELS)

    assert buffer.getvalue() == ""
