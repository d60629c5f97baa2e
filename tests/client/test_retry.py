"""Retries: connection failures, 429 and 503 are tried again after a wait (the server's
Retry-After, else exponential backoff with jitter); a POST only when it cannot have arrived."""

from __future__ import annotations

import httpx
import pytest

from model_service.client import ModelServiceClient, RateLimited, ServiceUnavailable, TransportError
from model_service.client.retry import RetryPolicy
from model_service.server.app import create_app
from model_service.server.metrics import ServiceMetrics
from model_service.server.ratelimit import build_rate_limiter
from tests.conftest import make_settings
from tests.ports import closed_port

BUSY = {"success": False, "error": "Too many requests", "code": "rate_limited", "details": {}}
DOWN = {"success": False, "error": "The database is unavailable", "code": "database_error", "details": {}}


def test_429_is_retried_after_retry_after(sdk, wire, sleeps):
    wire.answer(429, json=BUSY, headers={"Retry-After": "7"}, path="/health")

    assert sdk.health()["status"] == "healthy"
    assert sleeps == [7.0]
    assert len(wire.requests) == 2


def test_503_is_retried_with_growing_waits(sdk, wire, sleeps):
    wire.answer(503, json=DOWN, path="/models/search", times=3)

    assert sdk.search_models() == []
    assert len(sleeps) == 3
    assert 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0 and 1.0 <= sleeps[2] <= 2.0


def test_retries_run_out(make_sdk, sleeps):
    sdk, wire = make_sdk(retries=2)
    wire.answer(503, json=DOWN, path="/models/search", times=10)

    with pytest.raises(ServiceUnavailable) as caught:
        sdk.search_models()
    assert caught.value.code == "database_error"
    assert len(wire.requests) == 3 and len(sleeps) == 2


def test_a_retry_after_beyond_the_cap_is_not_waited(sdk, wire, sleeps):
    wire.answer(429, json={**BUSY, "details": {"retry_after": 3600}}, headers={"Retry-After": "3600"}, path="/health")

    with pytest.raises(RateLimited) as caught:
        sdk.health()
    assert caught.value.retry_after == 3600
    assert sleeps == [] and len(wire.requests) == 1


def test_a_post_is_retried_after_a_429(sdk, wire, sleeps):
    wire.answer(429, json=BUSY, headers={"Retry-After": "1"}, method="POST")

    sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})

    assert sleeps == [1.0]
    assert len(sdk.search_models(name="fraud_model")) == 1


def test_a_post_is_not_retried_after_a_503(sdk, wire, sleeps):
    wire.answer(503, json=DOWN, method="POST")

    with pytest.raises(ServiceUnavailable):
        sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})
    assert sleeps == [] and len(wire.requests) == 1


def test_a_post_that_never_left_is_retried(sdk, wire, sleeps, model_file):
    wire.fail(httpx.ConnectError, method="POST", times=2)

    record = sdk.push(model_file, name="fraud_model", algorithm="xgboost")

    assert len(sleeps) == 2
    assert record["file_metadata"]["size_bytes"] == model_file.stat().st_size  # the body was sent whole again


def test_a_post_whose_answer_was_lost_is_not_retried(sdk, wire, sleeps):
    """It may have been done: sending it again could register a second version."""
    wire.fail(httpx.ReadError, after_sending=True, method="POST")

    with pytest.raises(TransportError) as caught:
        sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})

    assert isinstance(caught.value.__cause__, httpx.ReadError)
    assert sleeps == []
    assert [m["version"] for m in sdk.search_models(name="fraud_model")] == ["v1.0"]


def test_a_get_whose_answer_was_lost_is_retried(sdk, wire, sleeps):
    wire.fail(httpx.ReadTimeout, after_sending=True, path="/api/v1/models/statistics")

    assert sdk.statistics()["total_models"] == 0
    assert len(sleeps) == 1


def test_an_upload_from_a_pipe_is_not_retried(sdk, wire, sleeps):
    """Its bytes cannot be read a second time."""
    import io

    class Pipe(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, _buffer):
            return 0

    model_id = sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})
    wire.fail(httpx.ConnectError, path="/upload")

    with pytest.raises(TransportError):
        sdk.upload(model_id, Pipe(), filename="m.onnx")
    assert sleeps == []


def test_connection_refused_is_retried_then_raised(sleeps):
    with (ModelServiceClient(f"http://127.0.0.1:{closed_port()}", retries=3, sleep=sleeps.append, timeout=2) as client,
          pytest.raises(TransportError) as caught):
        client.health()

    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert "after 4 attempts" in str(caught.value)
    assert len(sleeps) == 3
    assert caught.value.status is None


def test_the_real_rate_limiter_is_waited_out(tmp_path, make_sdk, sleeps):
    """Against the app's own limiter: the client waits what Retry-After says (here the wait
    moves the limiter's clock) and gets through."""
    now = [1_700_000_000.0]
    settings = make_settings(tmp_path / "limited", rate_limit_default="2 per minute", redis_url=None)
    limiter = build_rate_limiter(settings, metrics=ServiceMetrics(), clock=lambda: now[0])
    app = create_app(settings, rate_limiter=limiter)

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    sdk, wire = make_sdk(app, sleep=sleep)
    for _ in range(3):
        sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})

    assert len(sleeps) == 1 and 0 < sleeps[0] <= 60
    assert [r.method for r in wire.requests] == ["POST"] * 4
    assert len(sdk.versions("fraud_model")["versions"]) == 3


def test_backoff_grows_exponentially_within_its_cap():
    policy = RetryPolicy(backoff=0.5, max_backoff=4.0, random=lambda: 1.0)
    assert [policy.backoff_delay(n) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    low = RetryPolicy(backoff=0.5, max_backoff=4.0, random=lambda: 0.0)
    assert [low.backoff_delay(n) for n in range(3)] == [0.25, 0.5, 1.0]
