"""Model references as users write them."""

from __future__ import annotations

import pytest

from model_service.client import ModelRef


@pytest.mark.parametrize("text, expected", [
    ("6B0A51760C3E4F2A9D1E8B7C", ModelRef(id="6b0a51760c3e4f2a9d1e8b7c")),
    ("fraud_model", ModelRef(name="fraud_model", version="latest")),
    ("fraud_model@production", ModelRef(name="fraud_model", alias="production")),
    ("fraud_model/v1.2", ModelRef(name="fraud_model", version="v1.2")),
    ("fraud_model/1.2", ModelRef(name="fraud_model", version="1.2")),
    ("fraud_model/latest", ModelRef(name="fraud_model", version="latest")),
    ("churn+v2%eu@staging-eu", ModelRef(name="churn+v2%eu", alias="staging-eu")),
    ("  fraud_model  ", ModelRef(name="fraud_model", version="latest")),
])
def test_parse(text, expected):
    assert ModelRef.parse(text) == expected


@pytest.mark.parametrize("text", ["", "@production", "fraud_model@", "fraud_model@Prod", "fraud_model/",
                                  "fraud_model/v1", "a/b/c", "fraud model", "-fraud", "fraud_model@a/v1.0"])
def test_parse_refuses_what_is_not_a_reference(text):
    with pytest.raises(ValueError):
        ModelRef.parse(text)


def test_parse_refuses_other_types():
    with pytest.raises(TypeError):
        ModelRef.parse(42)  # type: ignore[arg-type]


def test_paths_and_text():
    assert ModelRef.parse("churn+v2%eu@prod").path == "/api/v1/models/by-name/churn%2Bv2%25eu/versions/prod"
    assert ModelRef.parse("fraud_model").download_path == "/api/v1/models/by-name/fraud_model/versions/latest/download"
    by_id = ModelRef.parse("6b0a51760c3e4f2a9d1e8b7c")
    assert by_id.download_path == "/api/v1/models/6b0a51760c3e4f2a9d1e8b7c/download"
    assert str(ModelRef.parse("fraud_model@production")) == "fraud_model@production"
    assert str(ModelRef.parse("fraud_model")) == "fraud_model/latest"


def test_a_ref_is_one_thing():
    with pytest.raises(ValueError):
        ModelRef(id="6b0a51760c3e4f2a9d1e8b7c", name="x")
    with pytest.raises(ValueError):
        ModelRef(name="x", version="v1.0", alias="prod")
    with pytest.raises(ValueError):
        ModelRef()
