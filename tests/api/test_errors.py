"""The error contract across the API: one JSON shape, request ids, unknown routes and methods, 500s."""

from __future__ import annotations

import re

import pytest

from .helpers import MODELS, UNKNOWN_ID, assert_error, model_url

ERRORS = [
    ("GET", model_url("abc"), {}, 400, "invalid_id"),
    ("GET", model_url(UNKNOWN_ID), {}, 404, "model_not_found"),
    ("GET", model_url(UNKNOWN_ID, "/download"), {}, 404, "model_not_found"),
    ("POST", MODELS, {"content": b"{", "headers": {"content-type": "application/json"}}, 400, "invalid_json"),
    ("POST", MODELS, {"json": {}}, 422, "validation_error"),
    ("POST", MODELS, {"content": b"x", "headers": {"content-type": "text/plain"}}, 415, "unsupported_media_type"),
    ("GET", MODELS + "?page=0", {}, 422, "validation_error"),
    ("GET", "/api/v1/nothing-here", {}, 404, "not_found"),
    ("DELETE", "/health", {}, 405, "method_not_allowed"),
]


@pytest.mark.parametrize(("method", "url", "kwargs", "status", "code"), ERRORS)
def test_every_error_has_the_shape_and_a_request_id(client, method, url, kwargs, status, code):
    body = assert_error(client.request(method, url, **kwargs), status, code)

    assert re.fullmatch(r"[0-9a-f]{32}", body["request_id"])


@pytest.mark.parametrize(("method", "url", "kwargs", "status", "code"), ERRORS)
def test_a_client_request_id_is_echoed_in_errors(client, method, url, kwargs, status, code):
    headers = {**kwargs.get("headers", {}), "X-Request-ID": "trace-42.a:b"}

    response = client.request(method, url, **{**kwargs, "headers": headers})

    assert assert_error(response, status, code)["request_id"] == "trace-42.a:b"


def test_a_client_request_id_is_echoed_on_success(client):
    assert client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"


def test_every_response_gets_a_fresh_request_id(client):
    ids = {client.get("/health").headers["x-request-id"] for _ in range(3)}

    assert len(ids) == 3


@pytest.mark.parametrize("unsafe", ["has space", "x" * 65, "semi;colon", "new\u00e9"])
def test_an_unsafe_client_request_id_is_replaced(client, unsafe):
    response = client.get(model_url("abc"), headers={"X-Request-ID": unsafe.encode("utf-8")})

    body = assert_error(response, 400, "invalid_id")
    assert body["request_id"] != unsafe
    assert re.fullmatch(r"[0-9a-f]{32}", body["request_id"])


def test_an_unknown_route_names_it(client):
    body = assert_error(client.get("/api/v1/modelz"), 404, "not_found")

    assert "/api/v1/modelz" in body["error"]
    assert body["details"] == {}


@pytest.mark.parametrize(
    ("method", "url", "allowed"),
    [("PATCH", model_url(UNKNOWN_ID), {"GET", "PUT", "DELETE"}), ("POST", "/health", {"GET"}),
     ("DELETE", MODELS, {"GET", "POST"}), ("PUT", model_url(UNKNOWN_ID, "/download"), {"GET", "HEAD"})],
)
def test_a_wrong_method_is_405(client, method, url, allowed):
    response = client.request(method, url)

    assert_error(response, 405, "method_not_allowed")
    assert {m.strip() for m in response.headers["allow"].split(",")} <= allowed


@pytest.mark.parametrize(
    ("method", "url", "allowed"),
    [("PATCH", model_url(UNKNOWN_ID), {"GET", "PUT", "DELETE"}), ("DELETE", MODELS, {"GET", "POST"})],
)
def test_the_allow_header_lists_every_method_of_the_resource(client, method, url, allowed):
    """RFC 9110 §15.5.6: a 405 lists the methods the resource supports, not those of one route."""
    response = client.request(method, url)

    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed


def test_an_unexpected_failure_is_a_500_in_the_same_shape_without_internals(make_client, monkeypatch):
    client = make_client(raise_server_exceptions=False)

    def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(client.app.state.registry, "search", broken)

    response = client.get(MODELS, headers={"X-Request-ID": "trace-500"})

    body = assert_error(response, 500, "internal_error")
    assert body["request_id"] == "trace-500"
    assert "secret internal detail" not in response.text


@pytest.mark.parametrize("word", ["search", "compare", "statistics", "popular", "recent"])
@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
def test_the_fixed_paths_under_models_are_not_taken_for_model_ids(client, word, method):
    """``/models/search`` is the search (GET), not a model whose id is "search": any other
    method is a 405 whose Allow header names only what the resource takes."""
    response = client.request(method, f"{MODELS}/{word}")

    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET"


def test_every_fixed_path_under_models_is_reserved_from_model_ids(client):
    from model_service.server.params import RESERVED_UNDER_MODELS

    fixed = {route.path_format.removeprefix(f"{MODELS}/").split("/")[0] for route in client.app.state.api_routes
             if route.path_format.startswith(f"{MODELS}/") and not route.path_format.startswith(f"{MODELS}/{{")}

    assert fixed == set(RESERVED_UNDER_MODELS)


def test_a_malformed_id_under_a_fixed_word_is_still_a_400(client):
    assert_error(client.get(f"{MODELS}/searchx"), 400, "invalid_id")
    assert_error(client.get(f"{MODELS}/search/download"), 404, "not_found")
