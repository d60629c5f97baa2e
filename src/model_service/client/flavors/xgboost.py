"""XGBoost boosters and their scikit-learn wrappers, in XGBoost's own JSON model format
(format ``xgboost``, ``model.json``; UBJSON files, format ``ubj``, are read too).

How a wrapper comes back: one file per version, so what it was must be in the file itself.
XGBoost writes it there: a wrapper's ``save_model`` records ``{"_estimator_type": "classifier"}``
(or ``regressor``, ``ranker``) in the booster's ``scikit_learn`` attribute. :meth:`load` reads
that attribute and returns an ``XGBClassifier``, ``XGBRegressor`` or ``XGBRanker`` loaded from the
file (the random-forest wrappers come back as the plain wrapper of their kind: the trees are the
same, so are the predictions); a file saved from a ``Booster`` comes back as a ``Booster``.
``load(path, as_booster=True)`` returns the ``Booster`` in every case (no scikit-learn needed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .base import Flavor, SavedModel, has_class, json_safe, require

WRAPPERS = {"classifier": "XGBClassifier", "regressor": "XGBRegressor", "ranker": "XGBRanker"}

# Training parameters worth recording from a bare booster's configuration (XGBoost keeps them as text).
_TREE_PARAMS = ("eta", "max_depth", "min_child_weight", "subsample", "colsample_bytree", "lambda", "alpha",
                "gamma", "max_bin", "grow_policy", "tree_method")


class XGBoostFlavor(Flavor):
    name = "xgboost"
    extra = "xgboost"
    formats = ("xgboost", "ubj")

    def matches(self, obj: Any) -> bool:
        return has_class(obj, "xgboost", "Booster", "XGBModel")

    def save(self, obj: Any, directory: Path) -> SavedModel:
        self._check(obj)
        path = directory / "model.json"  # the extension tells XGBoost to write JSON
        obj.save_model(str(path))
        if has_class(obj, "xgboost", "XGBModel"):
            params = json_safe(obj.get_params(deep=False), drop_none=True)  # None: XGBoost's default
            params["num_boosted_rounds"] = obj.get_booster().num_boosted_rounds()
            algorithm = type(obj).__name__
        else:
            params, algorithm = booster_parameters(obj), "XGBoost"
        return SavedModel(path=path, format="xgboost", algorithm=algorithm, hyperparameters=params, flavor=self.name)

    def load(self, path: Path, *, as_booster: bool = False) -> Any:
        xgb = self._require("xgboost", "Loading an XGBoost model")
        source = _source(Path(path))
        booster = xgb.Booster(model_file=source)
        kind = _estimator_type(booster.attr("scikit_learn"))
        if as_booster or kind is None:
            return booster
        if kind not in WRAPPERS:
            raise ValueError(f"{Path(path).name} was saved from an XGBoost wrapper of unknown kind {kind!r}; "
                             "load it with as_booster=True")
        require("sklearn", "sklearn", f"Loading {Path(path).name} as an {WRAPPERS[kind]}",
                hint="or pass as_booster=True to get the Booster")
        model = getattr(xgb, WRAPPERS[kind])()
        model.load_model(source)
        return model


def _source(path: Path) -> str | bytearray:
    """What XGBoost should read: the path when its extension names the format (XGBoost picks
    JSON or UBJSON by extension, and warns when it has to guess), else the bytes (read by content)."""
    if path.suffix.lower() in (".json", ".ubj"):
        return str(path)
    return bytearray(path.read_bytes())


def _estimator_type(attribute: str | None) -> str | None:
    if not attribute:
        return None
    try:
        meta = json.loads(attribute)
    except ValueError:
        return None
    kind = meta.get("_estimator_type") if isinstance(meta, dict) else None
    return kind if isinstance(kind, str) else None


def booster_parameters(booster: Any) -> dict[str, Any]:
    """A bare booster's main settings, from its saved configuration: objective, booster kind,
    rounds, features, classes and the main tree parameters (as numbers where they are)."""
    params: dict[str, Any] = {"num_boosted_rounds": booster.num_boosted_rounds(),
                              "num_features": booster.num_features()}
    try:
        learner = json.loads(booster.save_config())["learner"]
    except (ValueError, KeyError, TypeError):
        return params
    params["objective"] = learner.get("objective", {}).get("name")
    gradient_booster = learner.get("gradient_booster", {})
    params["booster"] = gradient_booster.get("name")
    num_class = _number(learner.get("learner_model_param", {}).get("num_class"))
    if num_class:
        params["num_class"] = num_class
    tree = gradient_booster.get("tree_train_param") or gradient_booster.get("gbtree", {}).get("tree_train_param", {})
    for key in _TREE_PARAMS:
        if key in tree:
            params[key] = _number(tree[key])
    return json_safe(params, drop_none=True)


def _number(text: Any) -> Any:
    """XGBoost's configuration keeps numbers as text ("0.300000012"): a number, rounded to the
    float32 precision it was stored in, where the text is one."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return text
    return int(value) if value.is_integer() and "." not in str(text) else float(f"{value:.7g}")
