"""Rate limits counted in memory: off by default; per route class, per client; 429 in the error
shape with ``Retry-After``; ``X-RateLimit-*`` on every limited answer; windows that end."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from model_service.server.ratelimit import RateLimitMiddleware, build_rate_limiter
from tests.conftest import make_settings

from .helpers import MODELS, assert_error, model_url, payload, register_model, total_models, upload
from .ratelimit_helpers import Clock, LimitedApps, limits_of


def with_file(client: TestClient, name: str = "fraud_model") -> dict:
    model = register_model(client, name=name, algorithm="xgboost")
    assert upload(client, model["model_id"], payload(100)).status_code == 201
    return model


# ---- off unless configured ---------------------------------------------------------------------


def test_off_by_default(client: TestClient, settings):
    assert build_rate_limiter(settings) is None
    assert not any(m.cls is RateLimitMiddleware for m in client.app.user_middleware)
    for _ in range(30):
        response = client.get(MODELS)
        assert response.status_code == 200
        assert limits_of(response) is None
        assert "retry-after" not in response.headers


def test_a_class_switched_off_is_not_limited_by_the_default(limited: LimitedApps):
    client = limited(rate_limit_default="1 per minute", rate_limit_search="off")
    for _ in range(5):
        response = client.get(MODELS)
        assert response.status_code == 200 and limits_of(response) is None
    assert limits_of(client.get(model_url("0123456789abcdef01234567"))) is not None


# ---- the limit, the headers and the 429 --------------------------------------------------------


def test_remaining_counts_down_then_429_in_the_error_shape(limited: LimitedApps, clock: Clock):
    client = limited(rate_limit_search="3/minute")
    seen = [limits_of(client.get(MODELS)) for _ in range(3)]
    assert [remaining for _, remaining, _ in seen] == [2, 1, 0]
    assert {limit for limit, _, _ in seen} == {3}
    reset = seen[0][2]
    assert {r for _, _, r in seen} == {reset}
    assert clock.now < reset <= clock.now + 60

    refused = client.get(MODELS, headers={"X-Request-ID": "over-the-limit"})
    body = assert_error(refused, 429, "rate_limited")
    assert body["request_id"] == "over-the-limit"
    assert limits_of(refused) == (3, 0, reset)
    retry_after = int(refused.headers["retry-after"])
    assert retry_after == reset - int(clock.now)
    assert body["details"] == {"route_class": "search", "setting": "RATE_LIMIT_SEARCH", "limit": 3,
                               "window_seconds": 60, "retry_after": retry_after, "reset": reset}
    assert "3 per minute" in body["error"] and f"retry in {retry_after} second" in body["error"]


def test_retry_after_counts_down_and_the_window_resets(limited: LimitedApps, clock: Clock):
    client = limited(rate_limit_search="2 per minute")
    client.get(MODELS)
    _, _, reset = limits_of(client.get(MODELS))
    first = int(client.get(MODELS).headers["retry-after"])
    clock.advance(first - 1.5)
    refused = client.get(MODELS)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) == 2  # 1.5 seconds left, rounded up
    clock.advance(1.5)  # the window's end
    response = client.get(MODELS)
    assert response.status_code == 200
    assert limits_of(response) == (2, 1, reset + 60)


def test_refused_requests_never_reach_the_registry(limited: LimitedApps):
    client = limited(rate_limit_write="2/hour")
    register_model(client, name="one")
    register_model(client, name="two")
    refused = client.post(MODELS, json={"name": "three", "algorithm": "xgboost"})
    assert_error(refused, 429, "rate_limited")
    assert refused.headers["connection"] == "close"  # the body was not read
    assert total_models(client) == 2  # reads are not limited
    assert limits_of(client.get(MODELS)) is None


def test_errors_of_the_application_count_and_carry_the_headers(limited: LimitedApps):
    client = limited(rate_limit_read="2/minute")
    response = client.get(model_url("0123456789abcdef01234567"))
    assert_error(response, 404, "model_not_found")
    assert limits_of(response)[:2] == (2, 1)
    assert client.get("/no/such/page").status_code == 404
    assert_error(client.get("/openapi.json"), 429, "rate_limited")


# ---- route classes ----------------------------------------------------------------------------


def test_route_classes_count_independently(limited: LimitedApps):
    client = limited(rate_limit_read="3/minute", rate_limit_write="2/minute", rate_limit_search="2/minute",
                     rate_limit_download="1/minute")
    model = with_file(client)  # two writes: register, upload
    assert limits_of(client.get(model_url(model["model_id"], "/download")))[:2] == (1, 0)
    assert client.get(model_url(model["model_id"], "/download")).status_code == 429
    assert limits_of(client.get(MODELS))[:2] == (2, 1)
    assert limits_of(client.get(model_url(model["model_id"])))[:2] == (3, 2)
    assert client.delete(model_url(model["model_id"])).status_code == 429  # the write window is used up


def test_downloads_by_id_and_by_name_share_the_download_limit(limited: LimitedApps):
    client = limited(rate_limit_download="2 per minute")
    model = with_file(client)
    assert client.get(model_url(model["model_id"], "/download")).status_code == 200
    by_name = client.get(f"{MODELS}/by-name/fraud_model/versions/latest/download")
    assert by_name.status_code == 200 and limits_of(by_name)[:2] == (2, 0)
    assert_error(client.get(f"{MODELS}/by-name/fraud_model/versions/v1.0/download"), 429, "rate_limited")
    # HEAD sends no file: it is a read, and reads are not limited here
    head = client.head(model_url(model["model_id"], "/download"))
    assert head.status_code == 200 and limits_of(head) is None
    assert limits_of(client.get(model_url(model["model_id"], "/info"))) is None


def test_the_seed_limits(limited: LimitedApps):
    """``100 per hour`` in general, downloads ``10 per minute`` on their own count."""
    client = limited(rate_limit_default="100 per hour", rate_limit_download="10 per minute")
    model = with_file(client)  # two requests of the default's count
    for expected in range(9, -1, -1):
        assert limits_of(client.get(model_url(model["model_id"], "/download")))[:2] == (10, expected)
    assert client.get(model_url(model["model_id"], "/download")).status_code == 429
    assert limits_of(client.get(MODELS))[:2] == (100, 97)


def test_classes_without_a_limit_of_their_own_share_the_default(limited: LimitedApps):
    client = limited(rate_limit_default="4/minute", rate_limit_download="10/minute")
    model = with_file(client)  # write, write
    assert limits_of(client.get(MODELS))[:2] == (4, 1)  # search
    assert limits_of(client.get(model_url(model["model_id"])))[:2] == (4, 0)  # read
    body = assert_error(client.get(MODELS), 429, "rate_limited")
    assert body["details"]["setting"] == "RATE_LIMIT_DEFAULT"
    assert body["error"].startswith("Too many requests (the limit is 4 per minute)")
    assert client.get(model_url(model["model_id"], "/download")).status_code == 200


@pytest.mark.parametrize("path", ["/health", "/health/detailed", "/metrics"])
def test_health_and_metrics_are_exempt(limited: LimitedApps, path: str):
    client = limited(rate_limit_default="1/hour")
    for _ in range(5):
        response = client.get(path)
        assert response.status_code == 200 and limits_of(response) is None


def test_cors_preflights_are_exempt_and_a_429_is_readable_by_pages(limited: LimitedApps):
    client = limited(rate_limit_default="1/hour", cors_origins="https://ui.example")
    origin = {"Origin": "https://ui.example"}
    for _ in range(3):
        preflight = client.options(MODELS, headers={**origin, "Access-Control-Request-Method": "GET"})
        assert preflight.status_code == 200 and limits_of(preflight) is None
    assert client.get(MODELS, headers=origin).status_code == 200
    refused = client.get(MODELS, headers=origin)
    assert refused.status_code == 429
    assert refused.headers["access-control-allow-origin"] == "https://ui.example"
    exposed = {h.strip().lower() for h in refused.headers["access-control-expose-headers"].split(",")}
    assert {"retry-after", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= exposed


# ---- who a request counts for -----------------------------------------------------------------


def test_clients_are_counted_by_address(limited: LimitedApps):
    client = limited(rate_limit_search="1/minute")
    assert client.get(MODELS, headers={"X-Test-Peer": "198.51.100.1"}).status_code == 200
    assert client.get(MODELS, headers={"X-Test-Peer": "198.51.100.1"}).status_code == 429
    assert client.get(MODELS, headers={"X-Test-Peer": "198.51.100.2"}).status_code == 200
    # one IPv6 host is its /64
    assert client.get(MODELS, headers={"X-Test-Peer": "2001:db8:1:2::1"}).status_code == 200
    assert client.get(MODELS, headers={"X-Test-Peer": "2001:db8:1:2:ffff::9"}).status_code == 429
    assert client.get(MODELS, headers={"X-Test-Peer": "2001:db8:1:3::1"}).status_code == 200


def test_keys_are_ignored_while_they_are_not_checked(limited: LimitedApps):
    """With authentication off a key is any string: a client cannot buy counts by making them up."""
    client = limited(rate_limit_search="1/minute")
    assert client.get(MODELS, headers={"X-API-Key": "made-up-1"}).status_code == 200
    assert client.get(MODELS, headers={"X-API-Key": "made-up-2"}).status_code == 429


def test_keyed_clients_are_counted_by_key(limited: LimitedApps):
    client = limited(rate_limit_search="2/minute", trust_keys=True)
    peer = {"X-Test-Peer": "198.51.100.7"}
    assert client.get(MODELS, headers={**peer, "X-API-Key": "key-a"}).status_code == 200
    assert client.get(MODELS, headers={**peer, "Authorization": "Bearer key-a"}).status_code == 200
    assert client.get(MODELS, headers={**peer, "X-API-Key": "key-a"}).status_code == 429  # the same key, twice
    assert client.get(MODELS, headers={"X-Test-Peer": "203.0.113.9", "X-API-Key": "key-a"}).status_code == 429
    assert limits_of(client.get(MODELS, headers={**peer, "X-API-Key": "key-b"}))[:2] == (2, 1)
    assert limits_of(client.get(MODELS, headers=peer))[:2] == (2, 1)  # anonymous: by address
    assert limits_of(client.get(MODELS, headers={**peer, "Authorization": "Basic eDp5"}))[:2] == (2, 0)


# ---- metrics ----------------------------------------------------------------------------------


def test_refusals_are_counted_in_the_metrics(limited: LimitedApps):
    client = limited(rate_limit_search="1/minute", rate_limit_download="5/minute")
    client.get(MODELS)
    client.get(MODELS)
    client.get(MODELS)
    scrape = client.get("/metrics").text
    assert 'rate_limit_rejections_total{route_class="search"} 2.0' in scrape
    assert 'api_requests_total{method="GET",route="/api/v1/models",status="429"} 2.0' in scrape


def test_settings_name_the_limits(tmp_path: Path):
    settings = make_settings(tmp_path, rate_limit_default="100 per hour", rate_limit_download="10/m",
                             rate_limit_search="OFF")
    assert (settings.rate_limit_default, settings.rate_limit_download, settings.rate_limit_search) == (
        "100 per hour", "10 per minute", "off")


def test_every_limited_operation_documents_the_429(client: TestClient):
    paths = client.get("/openapi.json").json()["paths"]
    for path, operations in paths.items():
        if path.startswith("/health") or path == "/metrics":
            continue
        for method, operation in operations.items():
            assert "429" in operation["responses"], f"{method.upper()} {path}"
