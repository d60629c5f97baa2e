"""Shared fixtures: settings in a temporary DATA_DIR, the app, and an in-process client."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")

# The backends' store factories (tests/backends), for the contract suites and backend tests.
pytest_plugins = [
    "tests.backends.embedded",
    "tests.backends.postgres",
    "tests.backends.s3",
    "tests.backends.gridfs",
    "tests.backends.mongo",
    "tests.backends.redis",
    "tests.api.ratelimit_helpers",
    "tests.api.search_catalog",  # the search tests' catalog and endpoint fixtures
    "tests.fuzz.tally",
]

from fastapi.testclient import TestClient  # noqa: E402

from model_service.config import Settings  # noqa: E402
from model_service.server.app import create_app  # noqa: E402


def pytest_collection_finish() -> None:
    """What is loaded by now (the libraries, the collected tests) lives until the run ends: frozen
    out of the garbage collector's sight, each full collection walks only what the tests made since.
    The suite builds about a thousand apps, large graphs with cycles that only the collector frees;
    without this, the collector took a fifth of the API tests' time, half of it walking the
    imported libraries again and again."""
    gc.collect()
    gc.freeze()


def make_settings(data_dir: Path, **overrides) -> Settings:
    values = {"data_dir": data_dir, "max_file_size": 8 * 1024 * 1024, "access_log": False}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
def app(settings: Settings):
    return create_app(settings)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def register(client: TestClient):
    """Register a model through the API and return the response body."""

    def _register(**fields) -> dict:
        body = {"name": "fraud_model", "algorithm": "xgboost", **fields}
        response = client.post("/api/v1/models", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    return _register
