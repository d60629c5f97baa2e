"""Security headers on every response (successes, errors, 404, 405, 413, 500, downloads, docs),
HSTS only when configured, and CORS only for the configured origins."""

from __future__ import annotations

import re

import pytest

from model_service.server.response_headers import DOCS_CSP

from .helpers import MODELS, UNKNOWN_ID, download, model_url, register_model, upload

API_CSP = "default-src 'none'; frame-ancestors 'none'"
ALWAYS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-resource-policy": "same-origin",
}


def assert_secured(response, csp: str = API_CSP) -> None:
    for name, value in ALWAYS.items():
        assert response.headers.get(name) == value, (name, dict(response.headers))
    assert response.headers.get("content-security-policy") == csp
    assert "strict-transport-security" not in response.headers
    assert len(response.headers.get_list("x-frame-options")) == 1


@pytest.fixture
def model_with_file(client) -> str:
    model_id = register_model(client)["model_id"]
    assert upload(client, model_id, b"0123456789", filename="m.pkl").status_code == 201
    return model_id


@pytest.mark.parametrize(("method", "url", "status"), [
    ("GET", "/health", 200),
    ("GET", "/health/detailed", 200),
    ("GET", "/metrics", 200),
    ("GET", "/openapi.json", 200),
    ("GET", "/", 200),
    ("GET", MODELS, 200),
    ("GET", model_url("nope"), 400),
    ("GET", model_url(UNKNOWN_ID), 404),
    ("GET", "/api/v1/nothing-here", 404),
    ("DELETE", "/health", 405),
    ("PATCH", model_url(UNKNOWN_ID), 405),
    ("POST", MODELS, 422),
    ("OPTIONS", MODELS, 405),
])
def test_every_answer_carries_the_security_headers(client, method, url, status):
    response = client.request(method, url, json={} if method == "POST" else None)

    assert response.status_code == status
    assert_secured(response)


@pytest.mark.parametrize("url", ["/health", MODELS, model_url(UNKNOWN_ID), "/api/v1/nothing-here", "/openapi.json"])
def test_api_answers_are_not_stored_by_caches(client, url):
    assert client.get(url).headers["cache-control"] == "no-store"


def test_a_route_that_sets_its_own_cache_control_keeps_it(client):
    assert client.get("/metrics").headers.get_list("cache-control") == ["no-store"]


@pytest.mark.parametrize("request_headers", [{}, {"Range": "bytes=2-5"}, {"If-None-Match": "*"}])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_downloads_carry_the_security_headers_and_keep_revalidation(client, model_with_file, method, request_headers):
    response = download(client, model_with_file, method, **{k.replace("-", "_"): v for k, v in
                                                            request_headers.items()})

    assert response.status_code in (200, 206, 304)
    assert_secured(response)
    assert response.headers.get_list("cache-control") == ["no-cache"]


def test_a_download_error_carries_them_too(client, model_with_file):
    response = download(client, model_with_file, Range="bytes=100-200")

    assert response.status_code == 416
    assert_secured(response)


def test_a_413_from_the_body_limit_carries_them(make_client):
    client = make_client(max_request_size=1024)

    response = client.post(MODELS, content=b"x" * 5000, headers={"content-type": "application/json"})

    assert response.status_code == 413
    assert_secured(response)


def test_the_last_resort_500_carries_them(make_client, monkeypatch):
    client = make_client(raise_server_exceptions=False)
    monkeypatch.setattr(client.app.state.registry, "search", lambda *a, **k: 1 / 0)

    response = client.get(MODELS)

    assert response.status_code == 500
    assert_secured(response)
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("url", ["/docs", "/redoc", "/docs/oauth2-redirect"])
def test_the_docs_pages_get_a_policy_that_lets_them_load_swagger_ui(client, url):
    response = client.get(url)

    assert response.status_code == 200
    assert_secured(response, csp=DOCS_CSP)
    assert "cache-control" not in response.headers
    policy = dict(part.strip().split(" ", 1) for part in DOCS_CSP.split(";"))
    assert policy["frame-ancestors"] == "'none'"
    for source in ("https://cdn.jsdelivr.net", "'unsafe-inline'"):  # the CDN bundle and its inline start-up
        assert source in policy["script-src"]
    for loaded in re.findall(r'(?:src|href)="(https://[^/"]+)', response.text):  # what the page loads is allowed
        assert loaded in DOCS_CSP


def test_hsts_is_sent_only_when_configured(make_client):
    plain = make_client()
    assert "strict-transport-security" not in plain.get("/health").headers

    hsts = make_client(hsts_max_age=31_536_000, hsts_include_subdomains=True)
    for url in ("/health", model_url(UNKNOWN_ID), "/docs"):
        assert hsts.get(url).headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


def test_the_policies_are_configurable(make_client):
    client = make_client(content_security_policy="default-src 'self'", cross_origin_resource_policy="cross-origin")

    response = client.get("/health")

    assert response.headers["content-security-policy"] == "default-src 'self'"
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"


def test_security_headers_can_be_left_to_a_proxy(make_client):
    response = make_client(security_headers=False).get(model_url(UNKNOWN_ID))

    assert response.status_code == 404
    for name in (*ALWAYS, "content-security-policy", "cache-control"):
        assert name not in response.headers


# ---- CORS ----------------------------------------------------------------------------------------

ORIGIN = "https://dashboard.example"


def test_no_origin_is_allowed_by_default(client):
    response = client.get(MODELS, headers={"Origin": ORIGIN})
    preflight = client.options(MODELS, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})

    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.status_code == 405


def test_a_configured_origin_is_allowed_and_sees_the_download_headers(make_client):
    client = make_client(cors_origins=f"{ORIGIN}, https://other.example")
    model_id = register_model(client)["model_id"]
    upload(client, model_id, b"weights")

    response = download(client, model_id, Origin=ORIGIN)

    assert response.headers["access-control-allow-origin"] == ORIGIN
    exposed = {name.strip().lower() for name in response.headers["access-control-expose-headers"].split(",")}
    assert {"content-disposition", "x-file-checksum", "x-model-algorithm", "x-request-id", "etag"} <= exposed
    assert_secured(response)


def test_a_configured_origin_passes_the_preflight_and_others_do_not(make_client):
    client = make_client(cors_origins=ORIGIN)
    ask = {"Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "content-type"}

    allowed = client.options(model_url(UNKNOWN_ID), headers={"Origin": ORIGIN, **ask})
    refused = client.options(model_url(UNKNOWN_ID), headers={"Origin": "https://evil.example", **ask})
    plain = client.get(MODELS, headers={"Origin": "https://evil.example"})

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "PUT" in allowed.headers["access-control-allow-methods"]
    assert_secured(allowed)
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    assert "access-control-allow-origin" not in plain.headers
    assert plain.status_code == 200


def test_cors_does_not_allow_credentials(make_client):
    client = make_client(cors_origins=ORIGIN)

    response = client.get(MODELS, headers={"Origin": ORIGIN})

    assert "access-control-allow-credentials" not in response.headers
