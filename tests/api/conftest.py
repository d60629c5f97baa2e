"""Fixtures of the HTTP tests: apps with overridden settings, and a model that has a file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from itertools import count
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from model_service.config import Settings
from model_service.server.app import create_app
from tests.conftest import make_settings

from .helpers import payload, register_model, upload


@pytest.fixture
def data_dir(settings: Settings) -> Path:
    """DATA_DIR of the default ``client``."""
    return settings.data_dir


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """Build a client on an app of its own, with settings overridden (``max_request_size=1024``, …);
    ``raise_server_exceptions=False`` shows a 500 as the user gets it instead of raising.

    The client's data folder is ``client.app.state.settings.data_dir``."""
    numbers = count(1)
    with ExitStack() as stack:

        def _make(*, raise_server_exceptions: bool = True, **overrides) -> TestClient:
            settings = make_settings(tmp_path / f"custom{next(numbers)}", **overrides)
            client = TestClient(create_app(settings), raise_server_exceptions=raise_server_exceptions)
            return stack.enter_context(client)

        yield _make


@pytest.fixture
def content() -> bytes:
    """The bytes of the standard model file: 1000 bytes, so ranges are easy to read."""
    return payload(1000)


@pytest.fixture
def stored(client: TestClient, content: bytes) -> dict:
    """``fraud_model`` v1.0 (xgboost) with ``content`` uploaded as ``model.pkl``; its model body."""
    model_id = register_model(client, name="fraud_model", algorithm="xgboost")["model_id"]
    response = upload(client, model_id, content, filename="model.pkl")
    assert response.status_code == 201, response.text
    return client.get(f"/api/v1/models/{model_id}").json()
