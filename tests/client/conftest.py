"""Fixtures of the SDK tests: the real app, in-process, and clients of it.

The client reaches the app through :class:`model_service.client.testing.ASGITransport`, wrapped
when a test needs to watch the requests or break the connection (``helpers.Wire``). Sleeps are
recorded instead of slept (``sleeps``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from itertools import count
from pathlib import Path

import pytest

from model_service.client import ModelServiceClient
from model_service.client.testing import ASGITransport
from model_service.server.app import create_app
from tests.conftest import make_settings

from .helpers import Wire

BASE_URL = "http://testserver"


@pytest.fixture
def sleeps() -> list[float]:
    """Every wait the client's retry policy asked for, in seconds (nothing is slept)."""
    return []


@pytest.fixture
def make_sdk(tmp_path: Path, sleeps: list[float]) -> Iterator[Callable[..., tuple[ModelServiceClient, Wire]]]:
    """``make_sdk(app=None, **client_options)`` → (client, wire): a client of ``app`` (default: a
    fresh app on its own DATA_DIR) whose requests go through ``wire``."""
    numbers = count(1)
    with ExitStack() as stack:

        def _make(app=None, *, settings: dict | None = None, **options) -> tuple[ModelServiceClient, Wire]:
            if app is None:
                app = create_app(make_settings(tmp_path / f"data{next(numbers)}", **(settings or {})))
            wire = Wire(ASGITransport(app))
            options.setdefault("sleep", sleeps.append)
            options.setdefault("cache_dir", tmp_path / "cache")
            client = ModelServiceClient(BASE_URL, transport=wire, **options)
            stack.enter_context(client)
            return client, wire

        yield _make


@pytest.fixture
def wire_and_sdk(make_sdk) -> tuple[ModelServiceClient, Wire]:
    return make_sdk()


@pytest.fixture
def sdk(wire_and_sdk) -> ModelServiceClient:
    """A client of a fresh app."""
    return wire_and_sdk[0]


@pytest.fixture
def wire(wire_and_sdk) -> Wire:
    """What went over the wire of ``sdk``, and the faults to inject into it."""
    return wire_and_sdk[1]


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    """A 300 KB model file of random bytes (ONNX by its name: a format the server does not scan)."""
    from .helpers import payload

    path = tmp_path / "model.onnx"
    path.write_bytes(payload(300_000))
    return path
