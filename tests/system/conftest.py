"""A real ``model-service serve`` process on 127.0.0.1, for what only a real socket shows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.ports import free_port, listens_on

SERVE = [sys.executable, "-m", "model_service", "serve"]


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen
    data_dir: Path

    def rss_kib(self, field: str = "VmRSS") -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise AssertionError(f"{field} not found")


def start_server(data_dir: Path, **env: str) -> LiveServer:
    """``model-service serve`` on a free port, once it answers /health.

    The port is free when chosen, but another test process (a pytest-xdist worker) may be handed
    the same one before this server binds it: the answer counts only once this server is the one
    listening there, and a server that lost the port to another is started again on a new one."""
    for _ in range(3):
        port = free_port()
        environment = {**os.environ, "DATA_DIR": str(data_dir), "PORT": str(port), "HOST": "127.0.0.1",
                       "ACCESS_LOG": "false", "LOG_LEVEL": "WARNING", **env}
        log_path = data_dir.parent / f"server-{port}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(SERVE, env=environment, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                output = log_path.read_text()
                if "Address already in use" in output:
                    break  # taken by another process meanwhile: another port
                raise AssertionError(f"server exited: {output}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200 and listens_on(process.pid, port):
                    return LiveServer(url, process, data_dir)
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            process.kill()
            process.wait()
            raise AssertionError("server did not answer /health within 30 s")
    raise AssertionError("three ports in a row were taken by other processes before the server could bind them")


def stop_server(server: LiveServer) -> None:
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    server = start_server(data_dir)
    yield server
    stop_server(server)
