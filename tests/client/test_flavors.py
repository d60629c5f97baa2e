"""The flavour registry: which flavour takes an object, a format or a name; what importing the
package costs; JSON-safe hyperparameters; the errors."""

from __future__ import annotations

import functools
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import model_service.client
from model_service.client.flavors import (
    FLAVORS,
    Flavor,
    MissingExtra,
    flavor_for_format,
    flavor_for_object,
    flavor_named,
    json_safe,
    known_formats,
)
from model_service.domain.formats import EXTENSIONS
from model_service.domain.models import clean_hyperparameters

from .test_flavors_roundtrip import train_lightgbm_booster, train_onnx, train_sklearn, train_torch, train_xgb_classifier

ML_LIBRARIES = ("sklearn", "skops", "joblib", "xgboost", "lightgbm", "torch", "safetensors", "onnx", "onnxruntime",
                "numpy")


def test_importing_the_flavours_and_matching_an_object_imports_no_ml_library():
    script = (
        "import sys\n"
        "import model_service.client\n"
        "from model_service.client import MissingExtra\n"
        "from model_service.client.flavors import flavor_for_object, flavor_for_format\n"
        "flavor_for_format('skops'); flavor_for_format('safetensors')\n"
        "try:\n"
        "    flavor_for_object(object())\n"
        "except TypeError:\n"
        "    pass\n"
        f"print([m for m in {ML_LIBRARIES!r} if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(("make", "flavor"), [
    (train_sklearn, "sklearn"),
    (train_xgb_classifier, "xgboost"),  # a scikit-learn estimator too: XGBoost's format wins
    (train_lightgbm_booster, "lightgbm"),
    (train_torch, "pytorch"),
    (lambda: train_torch().state_dict(), "pytorch"),
    (train_onnx, "onnx"),
])
def test_each_object_finds_its_flavour(make, flavor):
    assert flavor_for_object(make()).name == flavor


def test_lightgbm_wrappers_go_to_lightgbm_and_xgboost_boosters_to_xgboost():
    import lightgbm as lgb
    import xgboost as xgb

    from .test_flavors_roundtrip import data

    X, y = data()
    assert flavor_for_object(lgb.LGBMRegressor(n_estimators=2, verbose=-1).fit(X, y)).name == "lightgbm"
    assert flavor_for_object(xgb.train({}, xgb.DMatrix(X, label=y), 1)).name == "xgboost"


@pytest.mark.parametrize("obj", [object(), "model.pkl", {"weights": [1, 2]}, {}, 42, np.zeros(3), lambda x: x])
def test_an_unknown_object_gets_a_clear_error(obj):
    with pytest.raises(TypeError, match=r"No flavour saves a .*push\(\)"):
        flavor_for_object(obj)


def test_a_named_flavour_refuses_an_object_of_another_library(tmp_path):
    with pytest.raises(TypeError, match=r"The onnx flavour cannot save a builtins\.dict|cannot save a dict"):
        flavor_named("onnx").save({"a": 1}, tmp_path)


def test_every_format_maps_to_its_flavour_pinned_to_it():
    expected = {"skops": "sklearn", "joblib": "sklearn", "xgboost": "xgboost", "ubj": "xgboost",
                "lightgbm": "lightgbm", "safetensors": "pytorch", "onnx": "onnx"}
    assert sorted(known_formats()) == sorted(expected)
    for fmt, name in expected.items():
        flavor = flavor_for_format(fmt)
        assert (flavor.name, flavor.format) == (name, fmt)
        assert fmt in EXTENSIONS  # every format is one the server knows
    assert flavor_for_format(" SKOPS ").format == "skops"


@pytest.mark.parametrize("fmt", ["pickle", "keras", "", "gguf"])
def test_an_unknown_format_gets_a_clear_error(fmt):
    with pytest.raises(ValueError, match=r"No flavour loads the format .*skops"):
        flavor_for_format(fmt)


def test_flavours_by_name_and_alias():
    assert [f.name for f in FLAVORS] == ["xgboost", "lightgbm", "pytorch", "onnx", "sklearn"]
    assert flavor_named("torch").name == "pytorch"
    assert flavor_named("scikit-learn").name == "sklearn"
    assert flavor_named("ONNX").name == "onnx"
    assert flavor_named("sklearn").format is None
    with pytest.raises(ValueError, match="choose one of xgboost, lightgbm, pytorch, onnx, sklearn"):
        flavor_named("tensorflow")
    with pytest.raises(ValueError, match="reads"):
        flavor_named("onnx").for_format("skops")


def test_the_flavour_contract():
    for flavor in FLAVORS:
        assert isinstance(flavor, Flavor)
        assert flavor.formats and flavor.extra in ("sklearn", "xgboost", "lightgbm", "torch", "onnx")


def test_missing_extra_is_exported_by_the_client_and_is_an_import_error():
    assert model_service.client.MissingExtra is MissingExtra
    error = MissingExtra("onnx", "onnxruntime", "Running an ONNX model")
    assert isinstance(error, ImportError) and error.name == "onnxruntime"
    assert str(error).startswith("Running an ONNX model needs the 'onnx' extra: "
                                 "pip install 'tensorfleet-model-service[onnx]'")


def test_saving_without_the_library_names_the_extra(tmp_path, monkeypatch):
    net = train_torch()
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)

    with pytest.raises(MissingExtra, match=r"'torch' extra: pip install 'tensorfleet-model-service\[torch\]'"):
        flavor_for_object(net).save(net, tmp_path)


# ---- JSON-safe hyperparameters --------------------------------------------------------------------------

def _helper(x):
    return x


def test_json_safe_keeps_json_values_and_turns_the_rest_into_text():
    class Opaque:
        pass

    params = {
        "int": 3, "float": 0.5, "bool": True, "none": None, "text": "gini", "list": [1, "a", None],
        "nan": float("nan"), "inf": math.inf, "ninf": -math.inf, "huge": 2**70,
        "np_int": np.int64(7), "np_float": np.float32(0.25), "np_bool": np.bool_(True), "np_nan": np.float64("nan"),
        "small_array": np.arange(3), "big_array": np.zeros((200, 3)),
        "function": _helper, "builtin": len, "cls": dict, "partial": functools.partial(_helper, 1),
        "opaque": Opaque(), "nul": "a\x00b", "long": "x" * 5000, "tuple": (1, 2), "set": {3},
        "nested": {"a": {"b": {"c": {"d": {"e": 1}}}}},
        'bad"key\\\x01': 1, "": 2, "k" * 300: 3,
    }

    out = json_safe(params)

    assert json.loads(json.dumps(out, allow_nan=False)) == out
    assert out["int"] == 3 and out["float"] == 0.5 and out["bool"] is True and out["none"] is None
    assert out["list"] == [1, "a", None] and out["tuple"] == [1, 2]
    assert (out["nan"], out["inf"], out["ninf"], out["np_nan"]) == ("nan", "inf", "-inf", "nan")
    assert out["huge"] == str(2**70)
    assert out["np_int"] == 7 and type(out["np_int"]) is int and out["np_float"] == 0.25 and out["np_bool"] is True
    assert out["small_array"] == [0, 1, 2] and out["big_array"] == "ndarray(shape=(200, 3), dtype=float64)"
    assert out["function"] == f"{__name__}._helper" and out["builtin"] == "builtins.len"
    assert out["cls"] == "builtins.dict"
    assert "0x" not in out["opaque"] and "Opaque" in out["opaque"] and "0x" not in out["partial"]
    assert out["nul"] == "ab" and len(out["long"]) == 1000
    assert out["set"] == "{3}"
    assert out["nested"] == {"a": {"b": {"c": "{'d': {'e': 1}}"}}}
    assert out["bad_key__"] == 1 and out["_"] == 2 and out["k" * 60] == 3
    clean_hyperparameters(out)  # the server takes it


def test_json_safe_drops_none_on_request_and_caps_the_keys():
    assert json_safe({"a": None, "b": 1}, drop_none=True) == {"b": 1}
    many = json_safe({f"p{i}": {f"q{j}": j for j in range(100)} for i in range(100)})
    assert sum(1 + len(v) for v in many.values()) <= 512
    clean_hyperparameters(many)


def test_sklearn_hyperparameters_with_awkward_values_are_accepted_by_the_server(tmp_path):
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import FunctionTransformer

    for estimator in (SimpleImputer(missing_values=np.nan, fill_value=-1),
                      FunctionTransformer(np.log1p, kw_args={"out": None})):
        saved = flavor_for_object(estimator).save(estimator, tmp_path)
        clean_hyperparameters(saved.hyperparameters)
        assert json.dumps(saved.hyperparameters, allow_nan=False)
    assert saved.hyperparameters["func"] == "numpy.log1p"
    assert Path(saved.path).name == "model.skops"
