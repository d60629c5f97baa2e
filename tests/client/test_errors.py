"""Error answers come back as exceptions of the server's error codes, with message, code,
details and request id; none of these is retried."""

from __future__ import annotations

import httpx
import pytest

from model_service.client import (
    BadRequest,
    ChecksumMismatch,
    Conflict,
    ModelServiceClient,
    ModelServiceError,
    NotFound,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    Unprocessable,
)
from model_service.client.errors import error_from_response

UNKNOWN = "0123456789abcdef01234567"


def test_not_found_carries_message_code_details_and_request_id(sdk):
    with pytest.raises(NotFound) as caught:
        sdk.get_model(UNKNOWN)

    error = caught.value
    assert error.status == 404
    assert error.code == "model_not_found"
    assert UNKNOWN in error.message
    assert error.details == {"model_id": UNKNOWN}
    assert error.request_id
    assert error.request_id in str(error) and "model_not_found" in str(error)
    assert isinstance(error, ModelServiceError)


def test_the_request_id_is_the_one_the_client_sent(make_sdk):
    sdk, _ = make_sdk(headers={"X-Request-ID": "trace-42"})

    with pytest.raises(NotFound) as caught:
        sdk.get_model("nobody")
    assert caught.value.request_id == "trace-42"
    assert caught.value.code == "name_not_found"


def test_an_unset_alias_is_not_found(sdk):
    sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})

    with pytest.raises(NotFound) as caught:
        sdk.delete_model("fraud_model@production")
    assert caught.value.code == "alias_not_found"


def test_validation_errors_are_unprocessable_with_the_fields(sdk):
    with pytest.raises(Unprocessable) as caught:
        sdk.register_model({"name": "fraud_model"})  # no algorithm
    assert caught.value.status == 422
    assert caught.value.details["errors"]


@pytest.mark.parametrize("call, error", [
    (lambda sdk: sdk.get_model(UNKNOWN), NotFound),
    (lambda sdk: sdk.register_model({"name": "bad name!", "algorithm": "x"}), Unprocessable),
    (lambda sdk: sdk.update_model(UNKNOWN, description="x"), NotFound),
    (lambda sdk: sdk.delete_model(UNKNOWN), NotFound),
])
def test_client_errors_are_never_retried(sdk, wire, sleeps, call, error):
    with pytest.raises(error):
        call(sdk)

    assert len(wire.requests) == 1
    assert sleeps == []


def test_a_conflict_is_not_retried(sdk, wire, sleeps, model_file):
    model_id = sdk.push(model_file, name="fraud_model", algorithm="xgboost")["id"]
    before = len(wire.requests)

    with pytest.raises(Conflict):
        sdk.upload(model_id, model_file)

    assert len(wire.sent("POST", "/upload")) == 1
    assert len(wire.requests) == before + 1
    assert sleeps == []


@pytest.mark.parametrize("status, body, cls", [
    (400, {"error": "bad", "code": "invalid_json"}, BadRequest),
    (422, {"error": "checksum", "code": "checksum_mismatch"}, ChecksumMismatch),
    (429, {"error": "slow down", "code": "rate_limited", "details": {"retry_after": 3}}, RateLimited),
    (500, {"error": "Internal server error", "code": "internal_error"}, ServerError),
    (502, "<html>Bad Gateway</html>", ServerError),
    (503, {"error": "db down", "code": "database_error"}, ServiceUnavailable),
    (405, {"error": "no", "code": "method_not_allowed"}, ModelServiceError),
])
def test_error_classes_by_code_and_status(status, body, cls):
    request = httpx.Request("GET", "http://testserver/api/v1/models")
    if isinstance(body, dict):
        response = httpx.Response(status, json={"success": False, **body}, request=request,
                                  headers={"X-Request-ID": "r1"})
    else:
        response = httpx.Response(status, text=body, request=request)

    error = error_from_response(response)

    assert type(error) is cls
    assert error.status == status
    if isinstance(body, dict):
        assert (error.message, error.code, error.request_id) == (body["error"], body["code"], "r1")
    else:
        assert "Bad Gateway" in error.message and error.code is None


def test_rate_limited_says_when_to_come_back():
    request = httpx.Request("GET", "http://testserver/api/v1/models")
    response = httpx.Response(429, text="busy", headers={"Retry-After": "42"}, request=request)

    assert error_from_response(response).retry_after == 42.0


@pytest.mark.parametrize(("answer", "call", "what"), [
    ([1, 2], lambda sdk: sdk.statistics(), "not a JSON object"),
    ({"models": "none"}, lambda sdk: sdk.recent(), "no array 'models'"),
    ({"success": True}, lambda sdk: sdk.register_model({"name": "m"}), "no string 'model_id'"),
])
def test_a_success_answer_not_in_the_documented_shape_is_an_unexpected_answer(answer, call, what):
    transport = httpx.MockTransport(lambda _request: httpx.Response(200, json=answer))
    with ModelServiceClient("http://testserver", transport=transport, retries=0) as sdk, \
            pytest.raises(ModelServiceError) as caught:
        call(sdk)

    assert type(caught.value) is ModelServiceError
    assert (caught.value.status, caught.value.code) == (200, "unexpected_response")
    assert what in caught.value.message
