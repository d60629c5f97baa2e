"""Each flavour saves a tiny trained model and loads it back: the loaded model predicts the same.

The model factories (``train_*``) are shared with the end-to-end tests (test_flavors_client.py).
Every library is installed by the ``test`` extra: nothing here is skipped for a missing one."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from model_service.client.flavors import (
    MissingExtra,
    SavedModel,
    UntrustedTypes,
    flavor_for_format,
    flavor_for_object,
    flavor_named,
)


def data(rows: int = 60, features: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features, and a binary label that depends on them."""
    X = np.random.RandomState(seed).rand(rows, features).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0.75).astype(np.int64)
    return X, y


def round_trip(obj, directory: Path, **load_options) -> tuple[SavedModel, object]:
    """Save ``obj`` with its flavour, then load the file with the flavour of the saved format."""
    saved = flavor_for_object(obj).save(obj, directory)
    assert saved.path.is_file() and saved.path.parent == directory
    return saved, flavor_for_format(saved.format).load(saved.path, **load_options)


# ---- the models ------------------------------------------------------------------------------------------

def train_sklearn():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = data()
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=200)).fit(X, y)


def train_xgb_classifier():
    import xgboost as xgb

    X, y = data()
    return xgb.XGBClassifier(n_estimators=4, max_depth=2, learning_rate=0.5).fit(X, y)


def train_lightgbm_booster():
    import lightgbm as lgb

    X, y = data()
    params = {"objective": "binary", "num_leaves": 4, "min_data_in_leaf": 3, "verbose": -1}
    return lgb.train(params, lgb.Dataset(X, y), num_boost_round=4)


def tiny_net():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))


def train_torch():
    import torch

    X, y = data()
    net = tiny_net()
    optimiser = torch.optim.SGD(net.parameters(), lr=0.5)
    inputs, labels = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(5):
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(net(inputs), labels).backward()
        optimiser.step()
    return net


def train_onnx():
    """A linear regression fitted by least squares, written as an ONNX graph (MatMul, Add)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    X, y = data()
    design = np.hstack([X, np.ones((len(X), 1), np.float32)])
    solution = np.linalg.lstsq(design, y.astype(np.float32), rcond=None)[0].astype(np.float32)
    weights, bias = solution[:-1].reshape(-1, 1), solution[-1:]
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["XW"]), helper.make_node("Add", ["XW", "B"], ["Y"])],
        "LinearRegression",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, X.shape[1]])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])],
        initializer=[numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tests",
                              producer_version="1")
    onnx.checker.check_model(model)
    return model


def predict(model, X: np.ndarray) -> np.ndarray:
    """What a model of any flavour predicts for ``X`` (an ONNX model runs on onnxruntime)."""
    kind = next((c.__module__.partition(".")[0] for c in type(model).__mro__
                 if c.__module__.partition(".")[0] in ("onnx", "torch", "xgboost")), None)
    if kind == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        return session.run(None, {"X": X})[0]
    if kind == "torch":
        import torch

        with torch.no_grad():
            return model(torch.from_numpy(X)).numpy()
    if kind == "xgboost" and type(model).__name__ == "Booster":
        import xgboost as xgb

        return model.predict(xgb.DMatrix(X))
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)
    return model.predict(X)


# ---- scikit-learn ----------------------------------------------------------------------------------------

def test_sklearn_pipeline_round_trips_through_skops(tmp_path):
    model = train_sklearn()
    X, _ = data(seed=1)

    saved, loaded = round_trip(model, tmp_path)

    assert (saved.format, saved.path.suffix, saved.flavor) == ("skops", ".skops", "sklearn")
    assert type(loaded).__name__ == "Pipeline"
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))


def test_sklearn_algorithm_and_hyperparameters_come_from_the_final_step(tmp_path):
    saved = flavor_for_object(train_sklearn()).save(train_sklearn(), tmp_path)

    assert saved.algorithm == "LogisticRegression"
    assert saved.hyperparameters["C"] == 0.5 and saved.hyperparameters["max_iter"] == 200
    assert saved.hyperparameters["pipeline_steps"] == ["standardscaler:StandardScaler",
                                                       "logisticregression:LogisticRegression"]


def test_sklearn_estimator_hyperparameters_are_its_own_params(tmp_path):
    from sklearn.ensemble import RandomForestRegressor

    X, y = data()
    model = RandomForestRegressor(n_estimators=3, max_depth=None, max_features=0.5, random_state=0).fit(X, y)

    saved = flavor_for_object(model).save(model, tmp_path)

    assert saved.algorithm == "RandomForestRegressor"
    assert saved.hyperparameters["n_estimators"] == 3
    assert saved.hyperparameters["max_depth"] is None
    assert saved.hyperparameters["max_features"] == 0.5
    assert "pipeline_steps" not in saved.hyperparameters


def test_a_tree_ensemble_loads_with_scikit_learns_own_types_trusted(tmp_path):
    """skops' default list leaves out the compiled ``sklearn.tree._tree.Tree``; the flavour
    trusts scikit-learn's own names, so a forest loads without ``trusted=``."""
    from sklearn.ensemble import RandomForestClassifier

    X, y = data()
    model = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y)
    saved = flavor_for_object(model).save(model, tmp_path)

    loaded = flavor_for_format("skops").load(saved.path)

    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.n_estimators == 3


class Doubler:
    """A transformer of the caller's own: skops does not know it, so does not trust it."""

    def fit(self, X, y=None):  # noqa: ARG002 - scikit-learn's estimator API
        return self

    def transform(self, X):
        return X * 2

    def get_params(self, deep=True):  # noqa: ARG002 - scikit-learn passes deep= by name
        return {}

    def set_params(self, **params):
        return self


def test_a_callers_own_class_must_be_trusted_by_name(tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    X, y = data()
    model = Pipeline([("double", Doubler()), ("model", LogisticRegression())]).fit(X, y)
    saved = flavor_for_object(model).save(model, tmp_path)

    with pytest.raises(UntrustedTypes) as refused:
        flavor_for_format("skops").load(saved.path)
    own = f"{__name__}.Doubler"
    assert refused.value.types == [own]
    assert "trusted=" in str(refused.value)
    with pytest.raises(UntrustedTypes):  # trusting something else is not enough
        flavor_for_format("skops").load(saved.path, trusted=["numpy.float64"])
    assert flavor_for_format("skops").load(saved.path, trusted=own).predict(X).tolist() == model.predict(X).tolist()

    loaded = flavor_for_format("skops").load(saved.path, trusted=[own])
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_without_skops_sklearn_models_are_saved_with_joblib(tmp_path, monkeypatch):
    model = train_sklearn()
    X, _ = data(seed=2)
    monkeypatch.setitem(sys.modules, "skops.io", None)

    saved, loaded = round_trip(model, tmp_path)

    assert (saved.format, saved.path.name) == ("joblib", "model.joblib")
    assert saved.algorithm == "LogisticRegression"
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))


def test_a_file_recorded_as_skops_is_never_unpickled(tmp_path):
    import joblib

    path = tmp_path / "model.skops"
    joblib.dump(train_sklearn(), path)  # a pickle under a skops name

    with pytest.raises(ValueError, match="not one"):
        flavor_for_format("skops").load(path)
    # the unpinned flavour reads what the file is
    assert type(flavor_named("sklearn").load(path)).__name__ == "Pipeline"


# ---- XGBoost ---------------------------------------------------------------------------------------------

def test_xgboost_booster_round_trips_as_a_booster(tmp_path):
    import xgboost as xgb

    X, y = data()
    booster = xgb.train({"max_depth": 2, "objective": "binary:logistic", "eta": 0.3}, xgb.DMatrix(X, label=y),
                        num_boost_round=4)

    saved, loaded = round_trip(booster, tmp_path)

    assert (saved.format, saved.path.name, saved.algorithm) == ("xgboost", "model.json", "XGBoost")
    assert isinstance(loaded, xgb.Booster)
    np.testing.assert_array_equal(predict(loaded, X), predict(booster, X))
    params = saved.hyperparameters
    assert params["objective"] == "binary:logistic" and params["booster"] == "gbtree"
    assert params["num_boosted_rounds"] == 4 and params["num_features"] == 4
    assert params["max_depth"] == 2 and params["eta"] == 0.3


def test_xgboost_classifier_comes_back_as_a_classifier(tmp_path):
    import xgboost as xgb

    model = train_xgb_classifier()
    X, _ = data(seed=3)

    saved, loaded = round_trip(model, tmp_path)

    assert saved.algorithm == "XGBClassifier"
    assert saved.hyperparameters["n_estimators"] == 4 and saved.hyperparameters["num_boosted_rounds"] == 4
    assert None not in saved.hyperparameters.values()
    assert isinstance(loaded, xgb.XGBClassifier)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_xgboost_regressor_comes_back_as_a_regressor_or_a_booster(tmp_path):
    import xgboost as xgb

    X, y = data()
    model = xgb.XGBRegressor(n_estimators=3, max_depth=2).fit(X, y.astype(np.float32))

    saved, loaded = round_trip(model, tmp_path)
    booster = flavor_for_format("xgboost").load(saved.path, as_booster=True)

    assert isinstance(loaded, xgb.XGBRegressor) and isinstance(booster, xgb.Booster)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(predict(booster, X), model.predict(X))


def test_xgboost_reads_ubjson_and_files_named_otherwise(tmp_path):
    model = train_xgb_classifier()
    X, _ = data(seed=4)
    ubj = tmp_path / "model.ubj"
    model.save_model(str(ubj))
    unnamed = tmp_path / "model.bin"
    unnamed.write_bytes(ubj.read_bytes())

    for path in (ubj, unnamed):
        loaded = flavor_for_format("ubj").load(path)
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


# ---- LightGBM --------------------------------------------------------------------------------------------

def test_lightgbm_booster_round_trips(tmp_path):
    import lightgbm as lgb

    booster = train_lightgbm_booster()
    X, _ = data(seed=5)

    saved, loaded = round_trip(booster, tmp_path)

    assert (saved.format, saved.path.name, saved.algorithm) == ("lightgbm", "model.txt", "LightGBM")
    assert isinstance(loaded, lgb.Booster)
    np.testing.assert_allclose(loaded.predict(X), booster.predict(X))
    assert saved.hyperparameters["num_leaves"] == 4 and saved.hyperparameters["num_trees"] == 4
    assert saved.hyperparameters["objective"] == "binary"


def test_lightgbm_wrappers_come_back_as_boosters_that_predict_the_same(tmp_path):
    import lightgbm as lgb

    X, y = data()
    classifier = lgb.LGBMClassifier(n_estimators=4, num_leaves=4, min_child_samples=3, verbose=-1).fit(X, y)
    regressor = lgb.LGBMRegressor(n_estimators=4, num_leaves=4, min_child_samples=3, verbose=-1).fit(X, y * 1.0)

    (tmp_path / "c").mkdir()
    saved, loaded = round_trip(classifier, tmp_path / "c")
    assert saved.algorithm == "LGBMClassifier"
    assert saved.hyperparameters["n_estimators"] == 4 and "class_weight" not in saved.hyperparameters
    assert isinstance(loaded, lgb.Booster)
    np.testing.assert_allclose(loaded.predict(X), classifier.predict_proba(X)[:, 1])

    (tmp_path / "r").mkdir()
    saved, loaded = round_trip(regressor, tmp_path / "r")
    assert saved.algorithm == "LGBMRegressor"
    np.testing.assert_allclose(loaded.predict(X), regressor.predict(X))


# ---- PyTorch ---------------------------------------------------------------------------------------------

def test_torch_module_round_trips_as_a_state_dict_or_into_a_module(tmp_path):
    import torch

    net = train_torch()
    X, _ = data(seed=6)

    saved, state = round_trip(net, tmp_path)

    assert (saved.format, saved.path.name, saved.algorithm) == ("safetensors", "model.safetensors", "Sequential")
    assert saved.hyperparameters == {"num_parameters": 4 * 8 + 8 + 8 * 2 + 2, "trainable_parameters": 58,
                                     "dtype": "float32"}
    assert set(state) == set(net.state_dict())
    for name, tensor in net.state_dict().items():
        assert torch.equal(state[name], tensor)

    fresh = tiny_net()
    assert not np.array_equal(predict(fresh, X), predict(net, X))
    assert flavor_for_format("safetensors").load(saved.path, model=fresh) is fresh
    np.testing.assert_array_equal(predict(fresh, X), predict(net, X))


def test_torch_loading_into_a_module_is_strict(tmp_path):
    import torch

    saved = flavor_for_object(train_torch()).save(train_torch(), tmp_path)
    other = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2), torch.nn.Linear(2, 2))

    with pytest.raises(RuntimeError):
        flavor_for_format("safetensors").load(saved.path, model=other)
    flavor_for_format("safetensors").load(saved.path, model=other, strict=False)
    assert torch.equal(other[0].weight, train_torch()[0].weight)
    with pytest.raises(TypeError, match=r"nn\.Module"):
        flavor_for_format("safetensors").load(saved.path, model={"not": "a module"})


class TiedNet:
    """Built lazily (torch is imported inside the test): an encoder and a decoder sharing one weight."""

    @staticmethod
    def build():
        import torch

        class Tied(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.encode = torch.nn.Linear(4, 4, bias=False)
                self.decode = torch.nn.Linear(4, 4, bias=False)
                self.decode.weight = self.encode.weight

            def forward(self, x):
                return self.decode(torch.relu(self.encode(x)))

        torch.manual_seed(1)
        return Tied()


def test_torch_tied_weights_are_saved_once_and_load_back(tmp_path):
    import torch

    net = TiedNet.build()
    X, _ = data(seed=7)

    saved = flavor_for_object(net).save(net, tmp_path)
    fresh = TiedNet.build()
    with torch.no_grad():
        fresh.encode.weight.mul_(0)
    flavor_for_format("safetensors").load(saved.path, model=fresh)

    assert saved.algorithm == "Tied" and saved.hyperparameters["num_parameters"] == 16
    assert fresh.decode.weight is fresh.encode.weight
    np.testing.assert_array_equal(predict(fresh, X), predict(net, X))


def test_torch_state_dict_round_trips(tmp_path):
    import torch

    state = train_torch().state_dict()

    saved, loaded = round_trip(state, tmp_path)

    assert saved.algorithm == "state_dict" and saved.hyperparameters["num_tensors"] == 4
    assert all(torch.equal(loaded[k], v) for k, v in state.items())


# ---- ONNX ------------------------------------------------------------------------------------------------

def test_onnx_model_round_trips(tmp_path):
    import onnx

    model = train_onnx()
    X, _ = data(seed=8)

    saved, loaded = round_trip(model, tmp_path)

    assert (saved.format, saved.path.name, saved.algorithm) == ("onnx", "model.onnx", "LinearRegression")
    assert isinstance(loaded, onnx.ModelProto)
    assert loaded == model
    np.testing.assert_array_equal(predict(loaded, X), predict(model, X))
    assert saved.hyperparameters == {"ir_version": model.ir_version, "nodes": 2, "parameters": 5, "opset": 17,
                                     "producer": "tests 1"}


def test_onnx_model_with_external_data_is_refused(tmp_path):
    import onnx

    path = tmp_path / "split.onnx"
    onnx.save_model(train_onnx(), str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)
    model = onnx.load_model(str(path), load_external_data=False)
    (tmp_path / "out").mkdir()

    with pytest.raises(ValueError, match="external data"):
        flavor_for_object(model).save(model, tmp_path / "out")


# ---- a missing library -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("fmt", "module", "extra", "make"), [
    ("skops", "skops.io", "sklearn", train_sklearn),
    ("xgboost", "xgboost", "xgboost", train_xgb_classifier),
    ("lightgbm", "lightgbm", "lightgbm", train_lightgbm_booster),
    ("safetensors", "torch", "torch", train_torch),
    ("safetensors", "safetensors.torch", "torch", train_torch),
    ("onnx", "onnx", "onnx", train_onnx),
])
def test_loading_without_the_library_names_the_extra(tmp_path, monkeypatch, fmt, module, extra, make):
    obj = make()
    saved = flavor_for_object(obj).save(obj, tmp_path)
    monkeypatch.setitem(sys.modules, module, None)

    with pytest.raises(MissingExtra) as missing:
        flavor_for_format(fmt).load(saved.path)

    assert isinstance(missing.value, ImportError)
    assert missing.value.extra == extra and missing.value.name == module
    assert f"needs the '{extra}' extra: pip install 'tensorfleet-model-service[{extra}]'" in str(missing.value)


def test_an_xgboost_wrapper_without_scikit_learn_names_that_extra(tmp_path, monkeypatch):
    saved = flavor_for_object(train_xgb_classifier()).save(train_xgb_classifier(), tmp_path)
    monkeypatch.setitem(sys.modules, "sklearn", None)

    with pytest.raises(MissingExtra, match=r"'sklearn' extra.*as_booster=True"):
        flavor_for_format("xgboost").load(saved.path)
    assert type(flavor_for_format("xgboost").load(saved.path, as_booster=True)).__name__ == "Booster"
