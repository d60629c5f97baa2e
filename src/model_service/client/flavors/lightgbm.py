"""LightGBM boosters, in LightGBM's text model format (format ``lightgbm``, ``model.txt``).

The scikit-learn wrappers (``LGBMClassifier``, ``LGBMRegressor``, ``LGBMRanker``) are saved through
their fitted ``booster_``, with the wrapper's parameters as hyperparameters and its class as the
algorithm. They come back as a ``lightgbm.Booster``: LightGBM has no public way to rebuild a
wrapper from a model file. Its ``predict`` gives what the wrapper's ``predict`` gives for
regressors and rankers, and what ``predict_proba`` gives for classifiers (the positive class's
probability for a binary one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import Flavor, SavedModel, has_class, json_safe


class LightGBMFlavor(Flavor):
    name = "lightgbm"
    extra = "lightgbm"
    formats = ("lightgbm",)

    def matches(self, obj: Any) -> bool:
        return has_class(obj, "lightgbm", "Booster", "LGBMModel")

    def save(self, obj: Any, directory: Path) -> SavedModel:
        self._check(obj)
        path = directory / "model.txt"
        if has_class(obj, "lightgbm", "LGBMModel"):
            booster = obj.booster_  # raises scikit-learn's NotFittedError for an unfitted wrapper
            params = json_safe(obj.get_params(deep=False), drop_none=True)
            algorithm = type(obj).__name__
        else:
            booster = obj
            params = json_safe(getattr(booster, "params", None) or {}, drop_none=True)
            algorithm = "LightGBM"
        booster.save_model(str(path))
        params.setdefault("num_trees", booster.num_trees())
        params.setdefault("num_features", booster.num_feature())
        return SavedModel(path=path, format="lightgbm", algorithm=algorithm, hyperparameters=params, flavor=self.name)

    def load(self, path: Path) -> Any:
        lgb = self._require("lightgbm", "Loading a LightGBM model")
        return lgb.Booster(model_file=str(path))
