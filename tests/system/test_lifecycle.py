"""The service's life cycle through a real ``model-service serve`` process.

A graceful stop (SIGTERM): new connections are refused at once, a download in flight completes
byte for byte, the stores are closed and the process exits 0 within SHUTDOWN_GRACE_SECONDS; a
request still running when the grace period ends is cut. With ``WORKERS=2`` the same holds.
A start-up that cannot work (bad settings, a database or blob store out of reach, a schema too old
or too new, a port taken) is one ``Error:`` line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.ports import closed_port

from .conftest import SERVE, LiveServer, free_port, start_server

SIZE = 64 << 20  # far more than the loopback socket buffers hold, so the download is really in flight
CHUNK = 1 << 20
GRACE = 30  # the default grace period


def _model_with_file(server: LiveServer, size: int) -> tuple[str, str]:
    """A version with ``size`` random bytes as its file; its id and sha256."""
    content = os.urandom(size)
    response = httpx.post(f"{server.url}/api/v1/models", json={"name": "big_model", "algorithm": "transformer"})
    assert response.status_code == 201, response.text
    model_id = response.json()["model_id"]
    response = httpx.post(f"{server.url}/api/v1/models/{model_id}/upload?filename=weights.bin", content=content,
                          headers={"Content-Type": "application/octet-stream"}, timeout=120)
    assert response.status_code == 201, response.text
    return model_id, hashlib.sha256(content).hexdigest()


def _port(server: LiveServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def _refused(port: int, within: float) -> bool:
    """Whether new connections to ``port`` are refused within ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except ConnectionRefusedError:
            return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def _log(server: LiveServer) -> str:
    return (server.data_dir.parent / f"server-{_port(server)}.log").read_text()


def _stop_during_download(server: LiveServer, model_id: str, *, pace: float) -> tuple[str, int, float, bool]:
    """Start downloading, SIGTERM the server after the first few MiB, keep reading (``pace``
    seconds between MiB while the server runs). Returns the sha256 and size received, when the
    signal was sent, and whether new connections were refused while the download was in flight."""
    received, size, refused, stopped_at = hashlib.sha256(), 0, False, 0.0
    try:
        with httpx.stream("GET", f"{server.url}/api/v1/models/{model_id}/download", timeout=60) as download:
            assert download.status_code == 200
            for index, chunk in enumerate(download.iter_raw(CHUNK)):
                received.update(chunk)
                size += len(chunk)
                if index == 2:
                    server.process.send_signal(signal.SIGTERM)
                    stopped_at = time.monotonic()
                    refused = _refused(_port(server), within=3)
                if server.process.poll() is None:
                    time.sleep(pace)
    except (httpx.RemoteProtocolError, httpx.ReadError):
        pass  # cut short: the caller compares sizes
    return received.hexdigest(), size, stopped_at, refused


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


def _sigterm_during_a_download(data_dir: Path, **env: str) -> tuple[str, str]:
    """SIGTERM while a download is read slowly: it completes whole, new connections are refused,
    the server exits 0 within the grace period. The downloaded version's id and the server's log."""
    server = start_server(data_dir, LOG_LEVEL="INFO", SCAN_MODELS="false", **env)
    try:
        model_id, sha256 = _model_with_file(server, SIZE)
        received, size, stopped_at, refused = _stop_during_download(server, model_id, pace=0.02)
        assert refused, "new connections were still accepted after SIGTERM"
        assert size == SIZE and received == sha256
        assert server.process.wait(timeout=GRACE) == 0
        assert time.monotonic() - stopped_at < GRACE
    finally:
        server.process.kill()
    return model_id, _log(server)


def test_sigterm_lets_a_download_in_flight_finish(data_dir: Path):
    model_id, log = _sigterm_during_a_download(data_dir)
    assert "1 request(s) in flight get up to 30 s to finish" in log
    assert "Stores closed" in log and "Traceback" not in log, log

    # the completed download was recorded before the stores closed
    server = start_server(data_dir, SCAN_MODELS="false")
    try:
        assert httpx.get(f"{server.url}/api/v1/models/{model_id}").json()["download_count"] == 1
    finally:
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=GRACE) == 0


def test_a_request_longer_than_the_grace_period_is_cut(data_dir: Path):
    server = start_server(data_dir, LOG_LEVEL="INFO", SCAN_MODELS="false", SHUTDOWN_GRACE_SECONDS="1")
    try:
        model_id, _ = _model_with_file(server, 64 << 20)
        _, size, stopped_at, refused = _stop_during_download(server, model_id, pace=0.2)  # 5 MiB/s: > 12 s
        assert server.process.wait(timeout=15) == 0
        elapsed = time.monotonic() - stopped_at
    finally:
        server.process.kill()
    assert refused
    assert size < 64 << 20  # the client saw the response end short
    assert elapsed < 8  # the grace period (1 s), the app's shutdown, the process's exit: not the whole download
    log = _log(server)
    assert "timeout graceful shutdown exceeded" in log and "Stores closed" in log
    assert "Traceback" not in log, log  # the cut request is one line, not a traceback


def test_sigterm_with_two_workers(data_dir: Path):
    _, log = _sigterm_during_a_download(data_dir, WORKERS="2")  # the parent releases the port too
    assert log.count("Stores closed") == 2 and "Traceback" not in log, log


# ---- start-up fails fast: one line, exit status 1 ------------------------------------------------


def _serve(data_dir: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "DATA_DIR": str(data_dir), "HOST": "127.0.0.1", "PORT": str(free_port()), **env}
    return subprocess.run(SERVE, env=environment, capture_output=True, text=True, timeout=60, check=False)


def _sqlite_at(data_dir: Path, revision: str) -> None:
    """DATA_DIR's SQLite database with its schema at ``revision`` (a real one, or a made-up newer one)."""
    from model_service.stores.sql import migrate
    from model_service.stores.sql.engine import make_engine

    database = data_dir / "registry.db"
    engine = make_engine(f"sqlite:///{database}")
    try:
        migrate.upgrade(engine, revision if revision in migrate.known_revisions() else "head")
    finally:
        engine.dispose()
    if revision not in migrate.known_revisions():
        with sqlite3.connect(database) as connection:
            connection.execute("UPDATE alembic_version SET version_num = ?", (revision,))


STARTUP_FAILURES = {
    "unknown database scheme": ({"DATABASE_URL": "oracle://db.internal/registry"},
                                "Unsupported DATABASE_URL scheme 'oracle'"),
    "database out of reach": ({"DATABASE_URL": "postgresql://registry@127.0.0.1:{closed}/registry"},
                              "The metadata database failed: connection failed"),
    "mongodb out of reach": ({"DATABASE_URL": "mongodb://127.0.0.1:{closed}/?serverSelectionTimeoutMS=300"},
                             "The metadata database (MongoDB) is unreachable"),
    "blob store out of reach": ({"BLOB_STORE_URL": "s3://models/registry", "S3_ENDPOINT_URL": "http://127.0.0.1:{closed}",
                                 "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                                 "AWS_DEFAULT_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "1"},
                                "cannot reach S3 at http://127.0.0.1:"),
    "gridfs without mongodb": ({"BLOB_STORE_URL": "gridfs://"}, "set MONGODB_URL too"),
    "invalid setting": ({"MAX_FILE_SIZE": "lots"}, "Invalid configuration: MAX_FILE_SIZE"),
    "negative grace period": ({"SHUTDOWN_GRACE_SECONDS": "-5"}, "Invalid configuration: SHUTDOWN_GRACE_SECONDS"),
    "schema too old": ({"AUTO_MIGRATE": "false", "_schema": "0003"},
                       "The database schema is at revision 0003, this version needs"),
    "schema too new": ({"_schema": "0999_from_the_future"},
                       "The database schema is at revision 0999_from_the_future, which this version"),
    "data dir is a file": ({"_data_dir_file": "1"}, "is not a folder"),
    "port taken": ({"_port_taken": "1"}, "Cannot listen on 127.0.0.1:"),
}


@pytest.mark.parametrize("case", STARTUP_FAILURES)
def test_startup_failure_is_one_line_and_exit_1(case: str, data_dir: Path, tmp_path: Path):
    settings, expected = STARTUP_FAILURES[case]
    closed = closed_port()
    env = {key: value.format(closed=closed) for key, value in settings.items() if not key.startswith("_")}
    if "_schema" in settings:
        _sqlite_at(data_dir, settings["_schema"])
    if "_data_dir_file" in settings:
        data_dir = tmp_path / "not_a_folder"
        data_dir.write_text("")
    with socket.socket() as taken:
        if "_port_taken" in settings:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            env["PORT"] = str(taken.getsockname()[1])
        started = time.monotonic()
        result = _serve(data_dir, LOG_LEVEL="WARNING", **env)
    assert result.returncode == 1, result.stderr
    assert time.monotonic() - started < 30
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    assert [line for line in lines if line.startswith("Error:")] == [lines[-1]], result.stderr
    assert expected in lines[-1], lines[-1]
    if case == "port taken":  # refused before any worker started, but after the stores were checked
        assert "Address already in use" in lines[-1]


def test_db_upgrade_refuses_a_schema_newer_than_it_knows(data_dir: Path):
    _sqlite_at(data_dir, "0999_from_the_future")
    result = subprocess.run([sys.executable, "-m", "model_service", "db", "upgrade"], capture_output=True, text=True,
                            env={**os.environ, "DATA_DIR": str(data_dir)}, timeout=60, check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "which this version of the service does not know" in result.stderr
