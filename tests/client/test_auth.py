"""API keys: sent as X-API-Key, from the argument or $MODEL_SERVICE_API_KEY; refusals raise
Unauthorized (401) or Forbidden (403)."""

from __future__ import annotations

import pytest

from model_service.client import Forbidden, Unauthorized
from model_service.server.app import create_app
from tests.api.auth_helpers import issue, revoked
from tests.conftest import make_settings


@pytest.fixture
def secured(tmp_path):
    return create_app(make_settings(tmp_path / "secured", enable_auth=True))


def test_without_a_key_the_client_is_unauthorized(secured, make_sdk):
    sdk, _ = make_sdk(secured)

    with pytest.raises(Unauthorized) as caught:
        sdk.search_models()
    assert caught.value.code == "unauthenticated"
    assert caught.value.request_id


def test_with_a_key_the_client_acts_as_its_owner(secured, make_sdk):
    key = issue(secured, "fraud-ci", "read", "write")
    sdk, wire = make_sdk(secured, api_key=key)

    model_id = sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})

    assert sdk.get_model(model_id)["created_by"] == "fraud-ci"
    assert sdk.whoami()["actor"] == "fraud-ci"
    assert all(request.headers["X-API-Key"] == key for request in wire.requests)


def test_the_key_comes_from_the_environment(secured, make_sdk, monkeypatch):
    monkeypatch.setenv("MODEL_SERVICE_API_KEY", issue(secured, "from-env", "read"))
    sdk, _ = make_sdk(secured)

    assert sdk.whoami()["actor"] == "from-env"


def test_a_read_only_key_may_not_write(secured, make_sdk):
    sdk, _ = make_sdk(secured, api_key=issue(secured, "reader", "read"))

    assert sdk.search_models() == []
    with pytest.raises(Forbidden) as caught:
        sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})
    assert caught.value.code == "forbidden"


def test_a_revoked_key_is_refused_and_not_retried(secured, make_sdk, sleeps):
    sdk, wire = make_sdk(secured, api_key=revoked(secured))

    with pytest.raises(Unauthorized) as caught:
        sdk.whoami()
    assert caught.value.code == "api_key_revoked"
    assert len(wire.requests) == 1 and sleeps == []


def test_a_key_limited_to_a_prefix(secured, make_sdk):
    sdk, _ = make_sdk(secured, api_key=issue(secured, "team", "read", "write", prefix="fraud_"))

    sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"})
    with pytest.raises(Forbidden) as caught:
        sdk.register_model({"name": "churn", "algorithm": "xgboost"})
    assert caught.value.code == "forbidden_name"
