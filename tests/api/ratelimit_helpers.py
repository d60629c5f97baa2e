"""What the rate limit tests share: a clock they move, clients at addresses of their choice, and
apps whose limiter counts in memory or in Redis; the ``clock`` and ``limited`` fixtures (a plugin
of tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from model_service.server.app import create_app
from model_service.server.metrics import ServiceMetrics
from model_service.server.ratelimit import build_rate_limiter
from tests.conftest import make_settings

START = 1_700_000_000.0
LIMIT_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


class Clock:
    """Seconds since the epoch, moved by the test."""

    def __init__(self, now: float = START):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Peer:
    """The app behind a proxy that gives the peer address ``X-Test-Peer`` names (what uvicorn
    does with ``X-Forwarded-For`` from a trusted proxy)."""

    def __init__(self, app: FastAPI):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"x-test-peer":
                    scope["client"] = (value.decode(), 40000)
        await self.app(scope, receive, send)


def limits_of(response: httpx.Response) -> tuple[int, int, int] | None:
    """``(limit, remaining, reset)`` from the headers, or None if it has none of them."""
    values = [response.headers.get(name) for name in LIMIT_HEADERS]
    if all(value is None for value in values):
        return None
    assert all(value is not None and value.isdigit() for value in values), dict(response.headers)
    limit, remaining, reset = map(int, values)
    return limit, remaining, reset


class LimitedApps:
    """Builds apps with rate limits whose limiter reads ``clock``; closes them at the end."""

    def __init__(self, stack: ExitStack, root: Path, clock: Clock):
        self.stack = stack
        self.root = root
        self.clock = clock
        self.count = 0

    def __call__(self, *, trust_keys: bool = False, redis_prefix: str | None = None,
                 app_wrapper: Callable[[FastAPI], ASGIApp] = Peer, **overrides) -> TestClient:
        self.count += 1
        overrides.setdefault("redis_url", None)  # in memory unless asked, whatever the environment says
        settings = make_settings(self.root / f"limited{self.count}", **overrides)
        metrics = ServiceMetrics()
        extra = {"redis_prefix": redis_prefix} if redis_prefix is not None else {}
        limiter = build_rate_limiter(settings, metrics=metrics, clock=self.clock, **extra)
        assert limiter is not None, "no limit is set"
        limiter.trust_keys = trust_keys
        app = create_app(settings, metrics=metrics, rate_limiter=limiter)
        client = TestClient(app_wrapper(app))
        client.fastapi_app = app  # type: ignore[attr-defined]
        return self.stack.enter_context(client)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def limited(tmp_path: Path, clock: Clock) -> Iterator[LimitedApps]:
    with ExitStack() as stack:
        yield LimitedApps(stack, tmp_path, clock)
