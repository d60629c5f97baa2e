"""The machine-readable API description and its browsable docs."""

from __future__ import annotations

import pytest

ENDPOINTS = [
    ("/api/v1/models", {"get", "post"}),
    ("/api/v1/models/{model_id}", {"get", "put", "delete"}),
    ("/api/v1/models/{model_id}/versions", {"post"}),
    ("/api/v1/models/{model_id}/history", {"get"}),
    ("/api/v1/models/{model_id}/upload", {"post"}),
    ("/api/v1/models/{model_id}/download", {"get", "head"}),
    ("/api/v1/models/{model_id}/info", {"get"}),
    ("/health", {"get"}),
    ("/health/detailed", {"get"}),
]


@pytest.fixture
def spec(client) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


@pytest.mark.parametrize(("path", "methods"), ENDPOINTS)
def test_every_endpoint_is_described(spec, path, methods):
    assert methods <= set(spec["paths"][path])


@pytest.mark.parametrize("path", ["/api/v1/models", "/api/v1/models/{model_id}/versions",
                                  "/api/v1/models/{model_id}/upload"])
def test_upload_capable_endpoints_describe_both_body_kinds(spec, path):
    content = spec["paths"][path]["post"]["requestBody"]["content"]

    assert "multipart/form-data" in content
    assert {"application/json", "application/octet-stream"} & set(content)


def test_errors_are_documented_with_the_error_schema(spec):
    responses = spec["paths"]["/api/v1/models/{model_id}"]["get"]["responses"]

    assert {"400", "404"} <= set(responses)
    assert responses["404"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")
    assert {"success", "error", "code", "details", "request_id"} <= set(spec["components"]["schemas"]["ErrorOut"]
                                                                        ["properties"])


def test_operation_ids_are_unique(spec):
    """Code generators need one operationId per operation (GET and HEAD of a path included)."""
    ids = [operation["operationId"] for path in spec["paths"].values() for operation in path.values()]

    assert sorted(ids) == sorted(set(ids))


def test_docs_serve_html(client):
    response = client.get("/docs")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in response.text
