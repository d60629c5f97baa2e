"""The observability parts on their own: settings, logging set-up, the store proxy, cached figures."""

from __future__ import annotations

import io
import json
import logging

import pytest
from click.testing import CliRunner

from model_service.config import SettingsError, load_settings
from model_service.domain.errors import NotFound
from model_service.server.instrument import timed, unwrap
from model_service.server.logs import REQUEST_ID, JsonFormatter, TextFormatter, configure_logging
from model_service.server.metrics import BoundedLabel, ServiceMetrics, StoreFigures, backend_info


def sample(metrics: ServiceMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


# ---- settings ---------------------------------------------------------------------------------


def test_log_format_defaults_to_text_and_accepts_json(monkeypatch):
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    assert load_settings().log_format == "text"
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    assert load_settings().log_format == "json"


def test_an_unknown_log_format_names_the_variable(monkeypatch):
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(SettingsError, match="LOG_FORMAT"):
        load_settings()


# ---- logging ----------------------------------------------------------------------------------


@pytest.fixture
def restore_root_logger():
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in saved[0]:
            root.removeHandler(handler)
    root.setLevel(saved[1])
    logging.getLogger("uvicorn.access").disabled = False


@pytest.mark.usefixtures("restore_root_logger")
def test_configuring_twice_leaves_one_handler():
    before = len(logging.getLogger().handlers)
    buffer = io.StringIO()
    configure_logging("INFO", "text", stream=io.StringIO())
    configure_logging("DEBUG", "json", stream=buffer)

    root = logging.getLogger()
    assert len(root.handlers) == before + 1
    assert root.level == logging.DEBUG
    assert logging.getLogger("uvicorn.access").disabled
    logging.getLogger("uvicorn.error").warning("from uvicorn")
    assert json.loads(buffer.getvalue())["logger"] == "uvicorn.error"


def record(message: str = "hello", **extra) -> logging.LogRecord:
    rec = logging.LogRecord("model_service.x", logging.WARNING, __file__, 1, message, None, None)
    rec.__dict__.update(extra)
    return rec


def test_text_lines_add_the_request_id_when_there_is_one():
    assert TextFormatter().format(record(request_id="r-1")).endswith("WARNING model_service.x: hello request_id=r-1")
    assert TextFormatter().format(record(request_id=None)).endswith("WARNING model_service.x: hello")


def test_json_lines_have_the_traceback():
    try:
        raise ValueError("bad")
    except ValueError:
        import sys

        rec = record(exc_info=sys.exc_info(), request_id="r-2")
    entry = json.loads(JsonFormatter().format(rec))

    assert entry["level"] == "WARNING" and entry["request_id"] == "r-2" and entry["message"] == "hello"
    assert "ValueError: bad" in entry["exception"]


@pytest.mark.usefixtures("restore_root_logger")
def test_the_request_id_variable_reaches_records():
    buffer = io.StringIO()
    configure_logging("INFO", "json", stream=buffer)
    token = REQUEST_ID.set("ctx-1")
    try:
        logging.getLogger("model_service.x").info("inside")
    finally:
        REQUEST_ID.reset(token)

    assert json.loads(buffer.getvalue())["request_id"] == "ctx-1"


@pytest.mark.usefixtures("restore_root_logger")
def test_serve_replaces_uvicorns_access_log_and_logging(monkeypatch, tmp_path):
    import uvicorn

    from model_service.cli.main import main
    from model_service.server import lifecycle

    calls = {}
    monkeypatch.setattr(uvicorn, "Config", lambda *args, **kwargs: kwargs)
    monkeypatch.setattr(lifecycle, "run", lambda settings: calls.update(lifecycle.uvicorn_config(settings)))
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setenv("SHUTDOWN_GRACE_SECONDS", "7.5")

    result = CliRunner().invoke(main, ["serve"])

    assert result.exit_code == 0, result.output
    assert calls["access_log"] is False
    assert calls["log_config"] is None
    assert calls["timeout_graceful_shutdown"] == 7.5
    assert any(isinstance(h.formatter, JsonFormatter) for h in logging.getLogger().handlers)


# ---- the store proxy --------------------------------------------------------------------------


class FakeStore:
    local_point_reads = True

    def __init__(self):
        self.calls = 0

    def get(self, model_id: str) -> str:
        self.calls += 1
        if model_id == "missing":
            raise NotFound("no")
        return model_id.upper()


def test_a_timed_store_times_methods_and_forwards_everything_else():
    metrics = ServiceMetrics()
    store = FakeStore()
    proxy = timed(store, "metadata", metrics)

    assert proxy.get("a") == "A"
    assert proxy.get("b") == "B"
    with pytest.raises(NotFound):
        proxy.get("missing")

    assert proxy.local_point_reads is True
    assert proxy.calls == 3
    assert unwrap(proxy) is store
    assert sample(metrics, "store_operation_duration_seconds_count", store="metadata", operation="get") == 3
    assert sample(metrics, "store_operation_errors_total", store="metadata", operation="get", error="NotFound") == 1


# ---- store figures and labels -----------------------------------------------------------------


def test_store_figures_are_cached_and_a_failure_too(caplog):
    now = [0.0]
    answers = [{"total_models": 3, "active_models": 2, "stored_bytes": 10}, RuntimeError("down"),
               {"total_models": 4, "active_models": 4, "stored_bytes": 11}]
    queries = []

    def summary():
        queries.append(now[0])
        answer = answers[len(queries) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    figures = StoreFigures(ttl=5, clock=lambda: now[0])
    figures.source = summary

    def collected():
        return {m.name: m.samples[0].value for m in figures.collect()}

    assert collected() == {"model_service_store_up": 1, "models_total": 3, "active_models_total": 2,
                           "storage_usage_bytes": 10}
    now[0] = 4.9
    assert collected()["models_total"] == 3
    now[0] = 5.0
    with caplog.at_level(logging.WARNING):
        assert collected() == {"model_service_store_up": 0}
    assert "down" in caplog.text
    now[0] = 9.0
    assert collected() == {"model_service_store_up": 0}  # not asked again before the ttl
    now[0] = 10.0
    assert collected()["models_total"] == 4
    assert queries == [0.0, 5.0, 10.0]


def test_a_bounded_label_keeps_the_first_values():
    label = BoundedLabel(limit=2)

    assert [label(v) for v in ("a", "b", "c", "a", "d", "b")] == ["a", "b", "other", "a", "other", "b"]


@pytest.mark.parametrize(("database", "blobs", "expected"), [
    ("sqlite:////data/registry.db", "/data/blobs", {"metadata_store": "sqlite", "blob_store": "local"}),
    ("postgresql+psycopg://u:secret@db/x", "s3://bucket/prefix", {"metadata_store": "postgresql", "blob_store": "s3"}),
])
def test_backend_info_names_schemes_only(database, blobs, expected):
    assert backend_info(database, blobs) == expected
