"""End to end: ``client.log_model`` of each flavour's tiny trained model against the real app
(in-process), then ``client.load_model`` by alias, by version and by id: the same predictions."""

from __future__ import annotations

import numpy as np
import pytest

from model_service.client.flavors import UntrustedTypes

from .test_flavors_roundtrip import (
    Doubler,
    data,
    predict,
    tiny_net,
    train_lightgbm_booster,
    train_onnx,
    train_sklearn,
    train_torch,
    train_xgb_classifier,
)

CASES = {
    # flavour: (train, the recorded format, algorithm, a hyperparameter the flavour read)
    "sklearn": (train_sklearn, "skops", "LogisticRegression", ("C", 0.5)),
    "xgboost": (train_xgb_classifier, "xgboost", "XGBClassifier", ("n_estimators", 4)),
    "lightgbm": (train_lightgbm_booster, "lightgbm", "LightGBM", ("num_leaves", 4)),
    "pytorch": (train_torch, "safetensors", "Sequential", ("num_parameters", 58)),
    "onnx": (train_onnx, "onnx", "LinearRegression", ("opset", 17)),
}


@pytest.mark.parametrize("flavor", list(CASES))
def test_log_model_then_load_model_by_alias_version_and_id(sdk, wire, flavor):
    train, fmt, algorithm, (param, value) = CASES[flavor]
    model = train()
    X, _ = data(seed=11)

    record = sdk.log_model(model, name=f"tiny_{flavor}", metrics={"accuracy": 0.9},
                           hyperparameters={"trained_by": "tests"}, tags=[flavor])
    sdk.set_alias(f"tiny_{flavor}", "production", "v1.0")

    assert (record["version"], record["format"], record["algorithm"]) == ("v1.0", fmt, algorithm)
    assert record["hyperparameters"][param] == value and record["hyperparameters"]["trained_by"] == "tests"
    assert record["metrics"] == {"accuracy": 0.9} and record["tags"] == [flavor]

    extra = {"model": tiny_net()} if flavor == "pytorch" else {}
    for ref in (f"tiny_{flavor}@production", f"tiny_{flavor}/v1.0", record["id"]):
        loaded = sdk.load_model(ref, **extra)
        np.testing.assert_array_equal(predict(loaded, X), predict(model, X))
    assert len(wire.sent("GET", "/download")) == 1  # the other two loads came from the cache


def test_a_torch_version_loads_as_its_state_dict(sdk):
    import torch

    net = train_torch()
    record = sdk.log_model(net, name="tiny_net")

    state = sdk.load_model(record["id"])

    assert set(state) == set(net.state_dict())
    assert all(torch.equal(state[name], tensor) for name, tensor in net.state_dict().items())


def test_trusted_types_reach_the_skops_loader(sdk):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    X, y = data()
    model = Pipeline([("double", Doubler()), ("model", LogisticRegression())]).fit(X, y)
    sdk.log_model(model, name="doubled")
    own = f"{Doubler.__module__}.Doubler"

    with pytest.raises(UntrustedTypes, match="Doubler"):
        sdk.load_model("doubled")
    loaded = sdk.load_model("doubled", trusted=[own])

    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_an_xgboost_wrapper_can_be_loaded_as_its_booster(sdk):
    model = train_xgb_classifier()
    X, _ = data(seed=12)
    sdk.log_model(model, name="boosted")

    booster = sdk.load_model("boosted/v1.0", as_booster=True)

    assert type(booster).__name__ == "Booster"
    np.testing.assert_allclose(predict(booster, X), model.predict_proba(X)[:, 1])
