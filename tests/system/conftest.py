"""A real ``model-service serve`` process on 127.0.0.1, for what only a real socket shows."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

SERVE = [sys.executable, "-m", "model_service", "serve"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
    port = free_port()
    environment = {**os.environ, "DATA_DIR": str(data_dir), "PORT": str(port), "HOST": "127.0.0.1",
                   "ACCESS_LOG": "false", "LOG_LEVEL": "WARNING", **env}
    log = open(data_dir.parent / f"server-{port}.log", "wb")
    process = subprocess.Popen(SERVE, env=environment, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {(data_dir.parent / f'server-{port}.log').read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return LiveServer(url, process, data_dir)
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("server did not answer /health within 30 s")


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
