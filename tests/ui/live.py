"""A real HTTP server for browser tests: uvicorn in a background thread of the test process,
on 127.0.0.1 and a port the OS picks, serving ``create_app(settings)`` with authentication on.

In-process (rather than a ``model-service serve`` child, as tests/system does) so that a test
can also reach the registry objects behind the server (``server.app.state.registry``)."""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from model_service.config import Settings
from model_service.domain.registry import Registry
from model_service.server.app import create_app
from tests.conftest import make_settings

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class LiveServer:
    """A running server: ``base_url`` (``http://127.0.0.1:<port>``, no trailing slash), the
    bootstrap ``admin_key``, its ``settings`` and ``app``."""

    base_url: str
    admin_key: str
    settings: Settings
    app: FastAPI

    @property
    def registry(self) -> Registry:
        """The registry behind the server (stores, rules): for set-ups the API cannot make."""
        return self.app.state.registry

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    def client(self, key: str | None = None, **options) -> httpx.Client:
        """An httpx client on ``base_url`` presenting ``key`` (default: the bootstrap admin key;
        ``""`` for none). Close it, or use it as a context manager."""
        key = self.admin_key if key is None else key
        headers = {"X-API-Key": key} if key else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30, **options)


@contextmanager
def serve(data_dir: Path, **overrides) -> Iterator[LiveServer]:
    """Serve a fresh registry in ``data_dir`` until the block ends. ``overrides`` are settings
    (``enable_auth`` defaults to True, with a random bootstrap admin key)."""
    admin_key = secrets.token_urlsafe(32)
    values = {"enable_auth": True, "bootstrap_admin_key": admin_key, **overrides}
    settings = make_settings(data_dir, **values)
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # the OS picks a free port; the socket is handed to uvicorn as is
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the live server stopped while starting (see the log above)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the live server did not start within {START_TIMEOUT_S:.0f} s")
            time.sleep(0.02)
        bootstrap = settings.bootstrap_admin_key
        yield LiveServer(base_url=f"http://127.0.0.1:{port}",
                         admin_key=bootstrap.get_secret_value() if bootstrap else "", settings=settings, app=app)
    finally:
        server.should_exit = True
        thread.join(STOP_TIMEOUT_S)
        if thread.is_alive():  # a request that will not end: cut it
            server.force_exit = True
            thread.join(STOP_TIMEOUT_S)
        sock.close()
