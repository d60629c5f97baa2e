"""Aliases through the SDK: set, move with compare-and-swap, remove, list."""

from __future__ import annotations

import pytest

from model_service.client import Conflict, NotFound, Unprocessable


@pytest.fixture
def three(sdk):
    """fraud_model v1.0, v1.1, v1.2: their ids."""
    return [sdk.register_model({"name": "fraud_model", "algorithm": "xgboost"}) for _ in range(3)]


def test_set_and_move_an_alias(sdk, three):
    moved = sdk.set_alias("fraud_model", "production", "v1.0")
    assert moved["alias"] == "production"
    assert sdk.get_model("fraud_model@production")["id"] == three[0]

    sdk.set_alias("fraud_model", "production", "v1.2")
    assert sdk.get_model("fraud_model@production")["id"] == three[2]


def test_set_alias_to_a_version_id(sdk, three):
    sdk.set_alias("fraud_model", "champion", three[1])

    assert sdk.get_model("fraud_model@champion")["version"] == "v1.1"


@pytest.mark.usefixtures("three")
def test_compare_and_swap(sdk):
    sdk.set_alias("fraud_model", "production", "v1.0")

    with pytest.raises(Conflict) as caught:
        sdk.set_alias("fraud_model", "production", "v1.2", expected_version="v1.1")
    assert caught.value.code == "alias_conflict"
    assert sdk.get_model("fraud_model@production")["version"] == "v1.0"

    sdk.set_alias("fraud_model", "production", "v1.2", expected_version="v1.0")
    assert sdk.get_model("fraud_model@production")["version"] == "v1.2"


@pytest.mark.usefixtures("three")
def test_only_if_unset(sdk):
    sdk.set_alias("fraud_model", "staging", "v1.0", only_if_unset=True)

    with pytest.raises(Conflict):
        sdk.set_alias("fraud_model", "staging", "v1.1", only_if_unset=True)
    with pytest.raises(ValueError):
        sdk.set_alias("fraud_model", "staging", "v1.1", only_if_unset=True, expected_version="v1.0")


@pytest.mark.usefixtures("three")
def test_aliases_and_delete_alias(sdk):
    sdk.set_alias("fraud_model", "production", "v1.0")
    sdk.set_alias("fraud_model", "staging", "v1.2")

    listed = sdk.aliases("fraud_model")
    assert {(a["alias"], a["version"]) for a in listed["aliases"]} == {("production", "v1.0"), ("staging", "v1.2")}

    sdk.delete_alias("fraud_model", "staging")
    assert [a["alias"] for a in sdk.aliases("fraud_model")["aliases"]] == ["production"]
    with pytest.raises(NotFound):
        sdk.get_model("fraud_model@staging")


@pytest.mark.usefixtures("three")
def test_delete_alias_with_expected_version(sdk):
    sdk.set_alias("fraud_model", "production", "v1.0")

    with pytest.raises(Conflict):
        sdk.delete_alias("fraud_model", "production", expected_version="v1.1")
    sdk.delete_alias("fraud_model", "production", expected_version="v1.0")
    assert sdk.aliases("fraud_model")["aliases"] == []


@pytest.mark.usefixtures("three")
def test_an_invalid_alias_is_refused(sdk):
    with pytest.raises(Unprocessable):
        sdk.set_alias("fraud_model", "latest", "v1.0")


def test_names_that_need_encoding(sdk):
    sdk.register_model({"name": "churn+v2%eu", "algorithm": "xgboost"})
    sdk.set_alias("churn+v2%eu", "production", "v1.0")

    assert sdk.get_model("churn+v2%eu@production")["name"] == "churn+v2%eu"
    assert sdk.versions("churn+v2%eu")["aliases"] == {"production": "v1.0"}
